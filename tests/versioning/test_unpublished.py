"""A failed release whose tag survived is never a base: the next version covers every unpublished change."""

from __future__ import annotations

from kars_actions.github.versioning import plan_version
from tests.versioning.gitrepo import GitRepo


def test_a_fix_after_a_failed_release_still_releases_its_features(repo: GitRepo) -> None:
    repo.commit("feat: first")
    repo.tag("v1.0.0")
    repo.commit("feat: invoices")
    repo.tag("v1.1.0")  # its release failed and stayed a draft
    repo.commit("chore: fix the service name in kars.yml")
    plan = plan_version(repo.path, unpublished={"v1.1.0"})
    assert plan.released and plan.tag == "v1.2.0"
    assert plan.previous_tag == "v1.0.0"
    assert "invoices" in plan.notes_markdown and "kars.yml" in plan.notes_markdown
    assert "v1.1.0" in plan.notes_markdown and "never published" in plan.notes_markdown
    assert plan.unpublished == ("v1.1.0",) and "v1.1.0" in plan.reason


def test_without_knowing_about_the_failure_the_fix_has_nothing_to_release(repo: GitRepo) -> None:
    repo.commit("feat: first")
    repo.tag("v1.0.0")
    repo.commit("feat: invoices")
    repo.tag("v1.1.0")
    repo.commit("chore: fix the service name")
    assert plan_version(repo.path).released is False  # the behaviour the GitHub read exists to correct


def test_a_forced_patch_after_a_failed_release_lists_every_commit_since_the_published_one(repo: GitRepo) -> None:
    repo.commit("feat: first")
    repo.tag("v1.0.0")
    repo.commit("feat: invoices")
    repo.tag("v1.1.0")
    repo.commit("chore: fix")
    plan = plan_version(repo.path, bump="patch", unpublished={"v1.1.0"})
    assert plan.tag == "v1.1.1" and "invoices" in plan.notes_markdown


def test_a_failed_first_release_is_followed_by_a_published_first_release(repo: GitRepo) -> None:
    repo.commit("chore: start")
    repo.tag("v0.1.0")
    repo.commit("chore: connect the service")
    plan = plan_version(repo.path, unpublished={"v0.1.0"})
    assert plan.released and plan.tag == "v0.1.1" and plan.previous_tag is None
    assert "start" in plan.notes_markdown and "v0.1.0" in plan.notes_markdown


def test_a_rerun_on_the_failed_commit_resumes_its_version_with_notes_since_the_published_one(repo: GitRepo) -> None:
    repo.commit("feat: first")
    repo.tag("v1.0.0")
    repo.commit("feat: invoices")
    repo.tag("v1.1.0")
    plan = plan_version(repo.path, unpublished={"v1.1.0"})
    assert plan.tag == "v1.1.0" and plan.existing_tag and plan.previous_tag == "v1.0.0"


def test_published_tags_are_bases_as_before(repo: GitRepo) -> None:
    repo.commit("feat: first")
    repo.tag("v1.0.0")
    repo.commit("fix: a bug")
    plan = plan_version(repo.path, unpublished={"v0.9.0"})
    assert plan.tag == "v1.0.1" and plan.unpublished == ()
