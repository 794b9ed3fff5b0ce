"""What the GitHub side reports stays true: Latest and the major tag by semver, one deployment per commit under
races, success steps that can be done again, and a read-only token told what to grant."""

from __future__ import annotations

import pytest

from kars_actions.core.errors import AuthError, CheckFailed
from kars_actions.github.client import GitHubReleases
from kars_actions.github.releases import LatestDecision, latest_decision, major_decision
from kars_actions.github.versioning import SemVer, plan_version
from tests.fakes.github_fake import GitHubFake
from tests.github.conftest import TOKEN, FakeClock, deadline
from tests.versioning.gitrepo import GitRepo


def client(clock: FakeClock, *, dry_run: bool = False) -> GitHubReleases:
    return GitHubReleases.from_env(TOKEN, dry_run=dry_run, clock=clock, deadline=deadline(clock))  # type: ignore[arg-type]


def published(*tags: str, prerelease: bool = False, draft: bool = False) -> list[dict[str, object]]:
    return [{"tag_name": t, "draft": draft, "prerelease": prerelease} for t in tags]


def v(text: str) -> SemVer:
    parsed = SemVer.parse(text)
    assert parsed is not None
    return parsed


# Latest and the major tag ----------------------------------------------------------------------------------------


def test_latest_follows_the_highest_final_version_not_time() -> None:
    out = published("v1.3.0", "v1.2.0", "v0.9.0")
    assert latest_decision(v("1.3.1"), "v", out, "v1.3.1").yes
    hotfix = latest_decision(v("1.2.1"), "v", out, "v1.2.1")
    assert not hotfix.yes and hotfix.reason == "v1.3.0 is higher"
    assert not latest_decision(v("2.0.0-rc.1"), "v", out, "v2.0.0-rc.1").yes


def test_drafts_prereleases_and_other_prefixes_do_not_count_as_higher() -> None:
    out = [
        *published("v9.0.0", draft=True),
        *published("v8.0.0-rc.1", prerelease=True),
        *published("other-7.0.0", "v1.0.0"),
    ]
    assert latest_decision(v("1.1.0"), "v", out, "v1.1.0") == LatestDecision(True)
    assert latest_decision(v("1.1.0"), "v", [*out, *published("v1.2.0")], "v1.1.0") == LatestDecision(
        False, "v1.2.0 is higher"
    )


def test_the_major_tag_moves_only_forward_within_its_line() -> None:
    out = published("v2.0.0", "v1.3.0")
    assert major_decision(v("1.3.1"), "v", out, "v1.3.1").yes  # v2.0.0 is another line
    kept = major_decision(v("1.2.1"), "v", out, "v1.2.1")
    assert not kept.yes and kept.reason == "v1.3.0 is higher in the v1 line"
    assert not major_decision(v("1.4.0-rc.1"), "v", out, "v1.4.0-rc.1").yes


def test_a_hotfix_is_published_without_latest_and_leaves_v1(repo: GitRepo, fake: GitHubFake, clock: FakeClock) -> None:
    # v1.0.0 (from the fixture) is on HEAD~2; release v1.1.0 on HEAD~1 first, then "1.0.1" on HEAD as a hotfix.
    newer = repo.git("rev-parse", "HEAD~1")
    fake.add_tag("v1.1.0", newer)
    fake.add_release("v1.1.0", draft=False)
    fake.add_tag("v1", newer, annotated=False)
    plan = plan_version(repo.path, explicit="1.0.1", force=True)
    with client(clock) as gh:
        outcome = gh.publish(gh.ensure_tag_and_draft(plan), move_major=True)
    [hotfix] = fake.releases_for("v1.0.1")
    assert hotfix["draft"] is False and hotfix["latest"] is False
    assert fake.latest_release()["tag_name"] == "v1.1.0"  # type: ignore[index]
    assert fake.tag_commit("v1") == newer
    assert not outcome.latest and not outcome.major_moved and "v1.1.0 is higher" in outcome.major_kept_reason


def test_the_fake_models_make_latest_legacy_by_creation_then_version(fake: GitHubFake) -> None:
    fake.add_release("v1.3.0", draft=False)
    older_line = fake.add_release("v1.2.1", draft=True)
    older_line.update(draft=False)
    fake._on_publish(older_line, "legacy")
    # legacy is GitHub's old rule, newest created first: it would make the hotfix Latest, which is why publishing
    # decides explicitly instead.
    assert fake.latest_release()["tag_name"] == "v1.2.1"  # type: ignore[index]


# Deployments ------------------------------------------------------------------------------------------------------


def test_a_deployment_race_keeps_the_oldest_and_marks_ours_inactive(
    repo: GitRepo, fake: GitHubFake, clock: FakeClock
) -> None:
    head = repo.head()
    other: dict[str, object] = {}
    fake.on("POST", r"/deployments$", lambda f: other.update(f.add_deployment("production", head, state=None)))
    with client(clock) as gh:
        ref = gh.start_deployment("production", head)
    ours = max(d["id"] for d in fake.deployments_of("production", head))
    assert ref.id == other["id"] and not ref.created
    assert fake.state_of(ref.id) == "in_progress"
    assert fake.state_of(ours) == "inactive"
    assert f"duplicate of deployment {ref.id}" in fake.statuses[ours][-1]["description"]


def test_a_rerun_reuses_the_oldest_of_several_deployments(repo: GitRepo, fake: GitHubFake, clock: FakeClock) -> None:
    first = fake.add_deployment("production", repo.head(), state="failure")
    fake.add_deployment("production", repo.head(), state="inactive")
    with client(clock) as gh:
        ref = gh.start_deployment("production", repo.head())
    assert ref.id == first["id"] and len(fake.deployments_of("production")) == 2


def test_older_deployments_go_inactive_but_a_newer_one_is_left_alone(
    repo: GitRepo, fake: GitHubFake, clock: FakeClock
) -> None:
    older = fake.add_deployment("production", repo.git("rev-parse", "HEAD~1"), state="success")
    never_started = fake.add_deployment("production", repo.git("rev-parse", "HEAD~1"), state=None)
    with client(clock) as gh:
        ref = gh.start_deployment("production", repo.head())
        newer = fake.add_deployment("production", repo.git("rev-parse", "HEAD~2"), state="success")
        assert gh.deactivate_superseded("production", ref) == [older["id"]]
        assert gh.deployments.superseded_by(ref) == newer["id"]
    assert fake.state_of(newer["id"]) == "success" and fake.state_of(never_started["id"]) is None


def test_the_fakes_auto_inactive_skips_transient_and_unsuccessful_deployments(fake: GitHubFake) -> None:
    fake.add_commit("a" * 40, "b" * 40)
    ok = fake.add_deployment("staging", "a" * 40, state="success")
    preview = fake.add_deployment("staging", "a" * 40, state="success", transient=True)
    failed = fake.add_deployment("staging", "a" * 40, state="failure")
    new = fake.add_deployment("staging", "b" * 40, state=None)
    fake._make_status(new["id"], {"state": "success"})  # auto_inactive defaults to true
    assert fake.state_of(ok["id"]) == "inactive"
    assert fake.state_of(preview["id"]) == "success" and fake.state_of(failed["id"]) == "failure"


# Visibility and permissions ---------------------------------------------------------------------------------------


def test_a_read_only_token_cannot_see_the_draft_and_is_told_to_grant_contents_write(
    repo: GitRepo, fake: GitHubFake, clock: FakeClock
) -> None:
    with client(clock) as gh:
        gh.ensure_tag_and_draft(plan_version(repo.path))
    fake.permissions["contents"] = False
    fake.requests.clear()
    with client(clock) as gh, pytest.raises(AuthError) as caught:
        gh.release_for_tag("v1.1.0")
    assert "`contents: write`" in caught.value.message and caught.value.exit_code == 3
    assert [r.status for r in fake.requests if r.is_write] == [403]  # the probe GitHub can only refuse


def test_a_dry_run_with_a_read_only_token_says_the_draft_may_be_hidden(
    repo: GitRepo, fake: GitHubFake, clock: FakeClock
) -> None:
    with client(clock) as gh:
        gh.ensure_tag_and_draft(plan_version(repo.path))
    fake.permissions["contents"] = False
    fake.requests.clear()
    with client(clock, dry_run=True) as gh, pytest.raises(AuthError, match="contents: write"):
        gh.release_for_tag("v1.1.0")
    assert not any(r.is_write for r in fake.requests)


def test_no_tag_and_no_release_means_run_the_tag_step(repo: GitRepo, fake: GitHubFake, clock: FakeClock) -> None:
    with client(clock) as gh, pytest.raises(CheckFailed, match=r"no tag v1\.1\.0") as caught:
        gh.release_for_tag("v1.1.0")
    assert "run `kars-actions tag` first" in (caught.value.hint or "") and caught.value.exit_code == 1


def test_a_writer_with_a_tag_but_no_release_is_told_to_create_it(
    repo: GitRepo, fake: GitHubFake, clock: FakeClock
) -> None:
    fake.add_tag("v1.1.0", repo.head())
    with client(clock) as gh, pytest.raises(CheckFailed, match="the tag exists"):
        gh.release_for_tag("v1.1.0")
    assert fake.writes() == []


def test_publishing_puts_back_a_tag_that_vanished_before_github_makes_one_on_main(
    repo: GitRepo, fake: GitHubFake, clock: FakeClock
) -> None:
    with client(clock) as gh:
        ref = gh.ensure_tag_and_draft(plan_version(repo.path))
        del fake.refs["refs/tags/v1.1.0"]
        gh.publish(ref)
    assert fake.tag_commit("v1.1.0") == repo.head()


def test_a_user_token_without_push_is_told_without_any_write(repo: GitRepo, fake: GitHubFake, clock: FakeClock) -> None:
    with client(clock) as gh:
        gh.ensure_tag_and_draft(plan_version(repo.path))
    fake.permissions["contents"] = False
    fake.user_token = True  # the repository answer carries permissions.push
    fake.requests.clear()
    with client(clock) as gh, pytest.raises(AuthError, match="contents: write"):
        gh.release_for_tag("v1.1.0")
    assert not any(r.is_write for r in fake.requests)


def test_a_deployment_is_created_with_only_documented_fields(repo: GitRepo, fake: GitHubFake, clock: FakeClock) -> None:
    with client(clock) as gh:
        gh.start_deployment("production", repo.head())
        gh.start_deployment("staging", repo.head(), payload={"rollback": {"backend": "dep-1"}})
    created = [r.body for r in fake.requests if r.method == "POST" and r.path.endswith("/deployments")]
    assert "payload" not in created[0] and created[1]["payload"] == {"rollback": {"backend": "dep-1"}}
    assert set(created[0]) == {
        "ref", "task", "auto_merge", "required_contexts", "environment", "description",
        "transient_environment", "production_environment",
    }  # fmt: skip
