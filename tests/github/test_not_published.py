"""A draft kept "not published" (a deployment the release did not make replaced it during its watch): its title and
note say so without calling the version failed, and publishing it later takes the note away."""

from __future__ import annotations

from kars_actions.github.client import GitHubReleases
from kars_actions.github.versioning import plan_version
from tests.fakes.github_fake import GitHubFake
from tests.github.conftest import TOKEN, FakeClock, deadline
from tests.versioning.gitrepo import GitRepo

WHY = "superseded during the watch: backend: deployment d1 is REMOVED, replaced by deployment d2"


def client(clock: FakeClock) -> GitHubReleases:
    return GitHubReleases.from_env(TOKEN, clock=clock, deadline=deadline(clock, 300))  # type: ignore[arg-type]


def test_a_draft_marked_not_published_says_why_and_is_not_marked_failed(
    repo: GitRepo, fake: GitHubFake, clock: FakeClock
) -> None:
    with client(clock) as gh:
        ref = gh.mark_not_published(gh.ensure_tag_and_draft(plan_version(repo.path)), WHY)
        again = gh.release_for_tag("v1.1.0")
    [release] = fake.releases_for("v1.1.0")
    assert release["draft"] is True and release["name"] == "v1.1.0 (not published)"
    banner, notes = release["body"].split("<!-- kars:release-failed -->")
    assert banner.startswith("> [!WARNING]\n> This release was not published: " + WHY)
    assert "https://github.example/kars/app/actions/runs/4242" in banner and "failed" not in banner
    assert "login page" in notes  # the release notes are kept under the note
    assert ref.failed_reason is None and again.failed_reason is None
    assert fake.tag_commit("v1.1.0") == repo.head()  # the version went live: its tag stays


def test_publishing_a_draft_marked_not_published_takes_the_note_away(
    repo: GitRepo, fake: GitHubFake, clock: FakeClock
) -> None:
    with client(clock) as gh:
        ref = gh.mark_not_published(gh.ensure_tag_and_draft(plan_version(repo.path)), WHY)
        outcome = gh.publish(ref)
    [release] = fake.releases_for("v1.1.0")
    assert release["draft"] is False and release["name"] == "v1.1.0"
    assert "not published" not in release["body"] and "login page" in release["body"]
    assert outcome.published_now and outcome.overwrote_failure is None
