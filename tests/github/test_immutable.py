"""Immutable releases against the GitHub fake: published tags stay where they are, used-up names are named as such,
drafts stay mutable, and the major tag — a bare tag — still moves."""

from __future__ import annotations

import pytest

from kars_actions.core.errors import ExternalError
from kars_actions.github.api import Answer, GitHubApi
from kars_actions.github.client import GitHubReleases
from kars_actions.github.refusals import VersionUsedUp, ruleset_sign, used_up_sign
from kars_actions.github.versioning import plan_version
from tests.fakes.github_fake import GitHubFake
from tests.github.conftest import TOKEN, FakeClock, deadline
from tests.versioning.gitrepo import GitRepo


def client(clock: FakeClock) -> GitHubReleases:
    return GitHubReleases.from_env(TOKEN, clock=clock, deadline=deadline(clock))  # type: ignore[arg-type]


def test_publishing_makes_a_release_immutable_and_locks_its_tag(
    repo: GitRepo, fake: GitHubFake, clock: FakeClock
) -> None:
    fake.immutable_releases = True
    with client(clock) as gh:
        ref = gh.ensure_tag_and_draft(plan_version(repo.path))
        [draft] = fake.releases_for("v1.1.0")
        assert draft["immutable"] is False  # drafts stay mutable
        outcome = gh.publish(ref, move_major=True)
        assert outcome.release.immutable is True and outcome.to_json()["immutable"] is True
        assert gh.read_access().immutable == frozenset({"v1.1.0"})
        # The tag of a published immutable release is never taken back, and GitHub would refuse anyway.
        assert gh.delete_tag("v1.1.0") is False
    assert fake.locked("v1.1.0") and fake.tag_commit("v1.1.0") == repo.head()
    assert not [r for r in fake.write_attempts() if r.method == "DELETE"]
    assert fake.tag_commit("v1") == repo.head()  # the bare major tag was created, and stays movable
    assert not fake.locked("v1")


def test_only_a_draft_s_tag_is_taken_back(repo: GitRepo, fake: GitHubFake, clock: FakeClock) -> None:
    fake.add_tag("v1.0.1", repo.head())
    fake.add_release("v1.0.1", draft=False)  # published, not immutable: still what users pin
    fake.add_tag("v1.1.0", repo.head())
    fake.add_release("v1.1.0", draft=True)
    with client(clock) as gh:
        assert gh.delete_tag("v1.0.1") is False
        assert gh.delete_tag("v1.1.0") is True
    assert fake.tag_commit("v1.0.1") == repo.head() and fake.tag_commit("v1.1.0") is None
    assert [r.path for r in fake.write_attempts() if r.method == "DELETE"] == ["/repos/kars/app/git/refs/tags/v1.1.0"]


def test_the_fake_keeps_a_locked_tag_and_a_used_up_name(fake: GitHubFake, clock: FakeClock) -> None:
    sha = "a" * 40
    fake.immutable_releases = True
    fake.add_tag("v2.0.0", sha)
    release = fake.add_release("v2.0.0", draft=False, target=sha)
    assert release["immutable"] is True
    api = GitHubApi(fake.url, "kars/app", TOKEN, clock=clock, deadline=deadline(clock))  # type: ignore[arg-type]
    moved = api.request("PATCH", "/git/refs/tags/v2.0.0", what="moving", body={"sha": sha}, expect=(422,))
    assert moved.status == 422 and ruleset_sign(moved.message)
    kept = api.request("DELETE", "/git/refs/tags/v2.0.0", what="deleting", expect=(422,))
    assert kept.status == 422 and "Cannot delete this protected ref" in kept.message
    # Deleting the immutable release frees the tag, never the name.
    assert api.request("DELETE", f"/releases/{release['id']}", what="deleting the release").status == 204
    assert api.request("DELETE", "/git/refs/tags/v2.0.0", what="deleting").status == 204
    again = api.request(
        "POST", "/git/refs", what="creating", body={"ref": "refs/tags/v2.0.0", "sha": sha}, expect=(422,)
    )
    assert again.status == 422 and "creations being restricted" in again.message
    created = api.request("POST", "/releases", what="creating", body={"tag_name": "v2.0.0"}, expect=(422,))
    assert created.status == 422 and "tag_name was used by an immutable release" in created.message
    api.close()


def test_a_used_up_name_is_named_with_the_version_to_release_instead(
    repo: GitRepo, fake: GitHubFake, clock: FakeClock
) -> None:
    fake.add_used_up("v1.1.0")
    with client(clock) as gh, pytest.raises(VersionUsedUp, match=r"v1\.1\.0 is used up by an immutable release") as e:
        gh.ensure_tag_and_draft(plan_version(repo.path))
    assert e.value.next_tag == "v1.1.1" and "creations being restricted" in e.value.message
    assert fake.releases_for("v1.1.0") == [] and fake.tag_commit("v1.1.0") is None


def test_a_used_up_tag_that_is_still_there_is_named_when_its_release_is_refused(
    repo: GitRepo, fake: GitHubFake, clock: FakeClock
) -> None:
    fake.add_used_up("v1.1.0")
    fake.add_tag("v1.1.0", repo.head())  # its immutable release was deleted, the tag kept
    with client(clock) as gh, pytest.raises(VersionUsedUp, match="tag_name was used by an immutable release") as e:
        gh.ensure_tag_and_draft(plan_version(repo.path))
    assert e.value.tag == "v1.1.0" and e.value.next_tag == "v1.1.1"


def test_moving_past_used_up_names_stops_when_every_name_is_refused(
    repo: GitRepo, fake: GitHubFake, clock: FakeClock
) -> None:
    """A ruleset that restricts creating any tag words its refusal as a used-up name does: after a few in a row,
    the release says it is more likely a ruleset."""
    for patch in range(1, 10):
        fake.add_used_up(f"v1.1.{patch}")
    fake.add_used_up("v1.1.0")
    plan = plan_version(repo.path)
    with client(clock) as gh, pytest.raises(ExternalError, match="ruleset restricts creating tags") as e:
        gh.ensure_free_tag_and_draft(plan, lambda used: plan_version(repo.path, used_up=used))
    assert "v1.1.0, v1.1.1, v1.1.2, v1.1.3" in e.value.message
    assert fake.releases_for("v1.1.3") == []


@pytest.mark.parametrize(
    "message",
    [
        "Validation Failed (tag_name was used by an immutable release)",
        "Validation Failed (pre_receive Repository rule violations found\n\nCannot create ref due to creations "
        "being restricted.)",
        "Validation Failed (Published releases must have a valid tag)",
        "remote: error: GH013: Repository rule violations found for refs/tags/v1.4.0.",
    ],
)
def test_each_way_github_says_a_name_is_used_up_is_read_as_used_up(message: str, clock: FakeClock) -> None:
    assert used_up_sign(message)
    api = GitHubApi("http://127.0.0.1:9", "kars/app", TOKEN, clock=clock)  # type: ignore[arg-type]
    error = api.translate("creating the release for v1.4.0", "contents", Answer(422, {"message": message}))
    assert "used up by an immutable release" in error.message and "--version" in (error.hint or "")
    assert error.exit_code == 3
    api.close()


def test_an_upload_to_an_immutable_release_says_its_assets_are_locked(clock: FakeClock) -> None:
    api = GitHubApi("http://127.0.0.1:9", "kars/app", TOKEN, clock=clock)  # type: ignore[arg-type]
    answer = Answer(422, {"message": "Cannot upload assets to an immutable release."})
    error = api.translate("uploading app.tar.gz", "contents", answer)
    assert "assets are locked" in error.message and "draft" in (error.hint or "")
    assert not used_up_sign("Validation Failed (name already exists)")
    api.close()
