"""GitHub's tags decide the version, whatever the clone holds: a clone without tags, with stale tags or with tags
GitHub never had computes what a clone with GitHub's tags would — or refuses, saying what to fetch."""

from __future__ import annotations

import pytest

from kars_actions.github.refusals import VersionRefused, VersionUsedUp
from kars_actions.github.versioning import RepoLinks, plan_version
from tests.versioning.gitrepo import GitRepo


def released_line(repo: GitRepo) -> dict[str, str]:
    """v1.0.0 and v1.1.0 released on GitHub; the clone holds none of the tags (a laptop clone made earlier)."""
    first = repo.commit("feat: first")
    second = repo.commit("feat: invoices")
    return {"v1.0.0": first, "v1.1.0": second, "latest": second}


def two_lines(repo: GitRepo, branch: str, on_branch: str, on_main: str) -> tuple[str, str]:
    """A first commit, then one commit on ``branch`` and one on main: (the first commit, the branch's commit)."""
    first = repo.commit("feat: first")
    repo.branch(branch)
    other = repo.commit(on_branch)
    repo.checkout("main")
    repo.commit(on_main)
    return first, other


def test_a_clone_without_tags_on_a_released_commit_reuses_github_s_version(repo: GitRepo) -> None:
    on_github = released_line(repo)
    plan = plan_version(repo.path, github_tags=on_github)
    assert (plan.tag, plan.existing_tag, plan.previous_tag) == ("v1.1.0", True, "v1.0.0")
    assert plan.tags_from == "github"
    assert plan.clone_differences == (
        "this clone lacks 2 of GitHub's version tags (v1.1.0, v1.0.0): the version comes from GitHub's",
    )
    # The same clone without GitHub computes a first release: the second tag the truth exists to prevent.
    assert plan_version(repo.path).tag == "v0.1.0"


def test_a_clone_without_tags_on_a_new_commit_gets_the_next_version(repo: GitRepo) -> None:
    on_github = released_line(repo)
    repo.tag("v1.0.0", on_github["v1.0.0"])  # the clone knows the first release only
    repo.commit("feat: reports")
    plan = plan_version(repo.path, github_tags=on_github)
    assert (plan.tag, plan.previous_tag, plan.bump) == ("v1.2.0", "v1.1.0", "minor")
    assert "reports" in plan.notes_markdown and "invoices" not in plan.notes_markdown
    assert plan.clone_differences[0].startswith("this clone lacks 1 of GitHub's version tags (v1.1.0)")
    # From the clone's tags alone: v1.1.0 again, the number GitHub holds on another commit.
    local_only = plan_version(repo.path)
    assert (local_only.tag, local_only.tags_from) == ("v1.1.0", "clone")


def test_a_tag_only_in_the_clone_is_not_counted(repo: GitRepo) -> None:
    first = repo.commit("feat: first")
    repo.tag("v1.0.0")
    repo.commit("feat: second")
    repo.tag("v1.1.0")  # left behind by a release that never went live: GitHub deleted it
    plan = plan_version(repo.path, github_tags={"v1.0.0": first})
    assert (plan.tag, plan.existing_tag, plan.previous_tag) == ("v1.1.0", False, "v1.0.0")
    assert plan.clone_differences == ("v1.1.0 only in this clone, not on GitHub: not counted",)


def test_a_tag_on_another_commit_in_the_clone_follows_github(repo: GitRepo) -> None:
    first = repo.commit("feat: first")
    second = repo.commit("fix: second")
    repo.tag("v1.0.0", second)  # a stale local tag
    repo.commit("feat: third")
    plan = plan_version(repo.path, github_tags={"v1.0.0": first})
    assert (plan.tag, plan.previous_tag) == ("v1.1.0", "v1.0.0")
    assert "second" in plan.notes_markdown  # counted from GitHub's v1.0.0, not the clone's
    assert plan.clone_differences == (
        f"v1.0.0 is on {second[:7]} in this clone but on {first[:7]} on GitHub: GitHub's counts "
        "(`git fetch --tags --force` updates the clone)",
    )


def test_a_version_github_holds_on_a_commit_the_clone_lacks_is_refused_with_the_fetch_to_make(repo: GitRepo) -> None:
    first = repo.commit("feat: first")
    repo.commit("feat: old work")
    elsewhere = "f" * 40  # released from a newer commit this clone never fetched
    with pytest.raises(
        VersionRefused,
        match=r"v1\.1\.0 is already on GitHub, on commit ffffffffffff, which this clone "
        r"does not have",
    ) as refused:
        plan_version(repo.path, github_tags={"v1.0.0": first, "v1.1.0": elsewhere})
    hint = refused.value.hint or ""
    assert "git fetch --tags" in hint and "fetch-depth: 0" in hint and "delete" not in hint
    assert refused.value.exit_code == 1


def test_a_version_github_holds_on_another_line_is_refused_without_a_hint_to_delete_it(repo: GitRepo) -> None:
    first, hotfix = two_lines(repo, "hotfix", "feat: on the hotfix line", "feat: on main")
    with pytest.raises(VersionRefused, match=r"not in the history of the target") as refused:
        plan_version(repo.path, github_tags={"v1.0.0": first, "v1.1.0": hotfix})
    assert "delete" not in (refused.value.hint or "") and "--version" in (refused.value.hint or "")


def test_prerelease_numbers_count_github_s_tags(repo: GitRepo) -> None:
    first, staged = two_lines(repo, "staging", "feat: staged", "feat: main work")
    plan = plan_version(repo.path, prerelease="rc", github_tags={"v1.0.0": first, "v1.1.0-rc.1": staged})
    assert plan.tag == "v1.1.0-rc.2"


def test_non_version_tags_on_github_are_ignored(repo: GitRepo) -> None:
    first = repo.commit("feat: first")
    repo.commit("fix: later")
    plan = plan_version(repo.path, github_tags={"v1.0.0": first, "v1": first, "latest": first, "v9.9.9x": first})
    assert (plan.tag, plan.previous_tag) == ("v1.0.1", "v1.0.0")


# Used up by an immutable release ---------------------------------------------------------------------------------


def test_a_used_up_version_moves_to_the_next_patch_and_says_so(repo: GitRepo) -> None:
    first = repo.commit("feat: first")
    repo.commit("feat: second")
    plan = plan_version(repo.path, github_tags={"v1.0.0": first}, used_up={"v1.1.0"})
    assert (plan.tag, plan.used_up, plan.previous_tag) == ("v1.1.1", ("v1.1.0",), "v1.0.0")
    assert plan.reason.endswith("v1.1.0 used up by an immutable release, so this release is v1.1.1")
    linked = plan_version(
        repo.path, github_tags={"v1.0.0": first}, used_up={"v1.1.0"}, links=RepoLinks(repository="kars/app")
    )
    assert "compare/v1.0.0...v1.1.1" in linked.notes_markdown


def test_several_used_up_versions_and_a_taken_one_are_all_passed_over(repo: GitRepo) -> None:
    first, hotfix = two_lines(repo, "hotfix", "fix: on the hotfix line", "fix: on main")
    plan = plan_version(repo.path, github_tags={"v1.0.0": first, "v1.0.2": hotfix}, used_up={"v1.0.1", "v1.0.3"})
    assert (plan.tag, plan.used_up) == ("v1.0.4", ("v1.0.1", "v1.0.3"))


def test_a_used_up_prerelease_moves_to_the_next_number_of_its_channel(repo: GitRepo) -> None:
    first = repo.commit("feat: first")
    repo.commit("feat: second")
    plan = plan_version(repo.path, prerelease="rc", github_tags={"v1.0.0": first}, used_up={"v1.1.0-rc.1"})
    assert (plan.tag, plan.used_up) == ("v1.1.0-rc.2", ("v1.1.0-rc.1",))


def test_a_used_up_tag_on_the_target_is_not_reused(repo: GitRepo) -> None:
    first = repo.commit("feat: first")
    second = repo.commit("feat: second")
    # v1.1.0's immutable release was deleted and its tag kept: the tag is there, the number is gone.
    plan = plan_version(repo.path, github_tags={"v1.0.0": first, "v1.1.0": second}, used_up={"v1.1.0"})
    assert (plan.tag, plan.existing_tag) == ("v1.1.1", False)


def test_a_team_that_asked_to_stop_is_told_the_next_free_version(repo: GitRepo) -> None:
    first = repo.commit("feat: first")
    repo.commit("feat: second")
    with pytest.raises(VersionUsedUp, match=r"v1\.1\.0 is used up by an immutable release") as refused:
        plan_version(repo.path, github_tags={"v1.0.0": first}, used_up={"v1.1.0"}, skip_used_up=False)
    assert refused.value.next_tag == "v1.1.1" and "--version 1.1.1" in (refused.value.hint or "")
    assert refused.value.exit_code == 3


def test_an_explicit_used_up_version_is_refused_whatever_the_setting(repo: GitRepo) -> None:
    first = repo.commit("feat: first")
    repo.commit("feat: second")
    with pytest.raises(VersionUsedUp, match=r"v2\.0\.0 is used up") as refused:
        plan_version(repo.path, explicit="2.0.0", github_tags={"v1.0.0": first}, used_up={"v2.0.0"})
    assert "--version 2.0.1" in (refused.value.hint or "")


def test_without_github_a_version_on_another_line_of_the_clone_is_refused_saying_github_was_not_read(
    repo: GitRepo,
) -> None:
    _, hotfix = two_lines(repo, "hotfix", "feat: on the hotfix line", "feat: on main")
    repo.tag("v0.1.0", "HEAD~1")
    repo.tag("v0.2.0", hotfix)
    with pytest.raises(VersionRefused, match=r"tag v0\.2\.0 already exists on commit .*GitHub was not read") as e:
        plan_version(repo.path)
    assert "GITHUB_TOKEN" in (e.value.hint or "") and "delete" not in (e.value.hint or "")
