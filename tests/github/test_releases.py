"""Tags and releases against the GitHub REST fake."""

from __future__ import annotations

import pytest

from kars_actions.core.errors import AuthError, CheckFailed, RateLimited
from kars_actions.github.api import FAILED_MARKER
from kars_actions.github.client import GitHubReleases
from kars_actions.github.versioning import VersionPlan, plan_version
from tests.fakes.github_fake import GitHubFake, RateLimit
from tests.github.conftest import TOKEN, FakeClock, deadline
from tests.versioning.gitrepo import GitRepo


def client(
    clock: FakeClock, *, dry_run: bool = False, token: str | None = TOKEN, seconds: float = 300
) -> GitHubReleases:
    return GitHubReleases.from_env(token, dry_run=dry_run, clock=clock, deadline=deadline(clock, seconds))  # type: ignore[arg-type]


def the_plan(repo: GitRepo) -> VersionPlan:
    return plan_version(repo.path)


def test_create_then_publish(repo: GitRepo, fake: GitHubFake, clock: FakeClock) -> None:
    plan = the_plan(repo)
    assert plan.tag == "v1.1.0"
    with client(clock) as gh:
        ref = gh.ensure_tag_and_draft(plan)
        assert (ref.tag_created, ref.release_created, ref.draft) == (True, True, True)
        assert fake.tag_commit("v1.1.0") == repo.head()
        assert fake.refs["refs/tags/v1.1.0"]["type"] == "tag"  # annotated
        [release] = fake.releases_for("v1.1.0")
        assert release["draft"] and "login page" in release["body"]
        assert "https://github.example/kars/app/pull/12" in release["body"]
        outcome = gh.publish(ref, move_major=True)
    assert outcome.published_now and outcome.major_moved and outcome.major_tag == "v1"
    assert release["draft"] is False and release["latest"] is True
    assert fake.tag_commit("v1") == repo.head()
    assert outcome.release.html_url.endswith("/releases/tag/v1.1.0")


def test_major_tag_moves_when_it_already_exists(repo: GitRepo, fake: GitHubFake, clock: FakeClock) -> None:
    fake.add_tag("v1", repo.git("rev-parse", "v1.0.0^{commit}"), annotated=False)
    with client(clock) as gh:
        gh.publish(gh.ensure_tag_and_draft(the_plan(repo)), move_major=True)
    assert fake.tag_commit("v1") == repo.head()


def test_prerelease_is_not_made_latest_and_moves_no_major(repo: GitRepo, fake: GitHubFake, clock: FakeClock) -> None:
    fake.add_release("v1.0.0", draft=False)
    plan = plan_version(repo.path, prerelease="rc")
    with client(clock) as gh:
        outcome = gh.publish(gh.ensure_tag_and_draft(plan), move_major=True)
    [release] = fake.releases_for("v1.1.0-rc.1")
    assert release["prerelease"] and not release["latest"] and release["make_latest"] == "false"
    assert outcome.major_tag is None and "refs/tags/v1" not in fake.refs


def test_failure_keeps_the_draft_and_says_why(repo: GitRepo, fake: GitHubFake, clock: FakeClock) -> None:
    with client(clock) as gh:
        ref = gh.ensure_tag_and_draft(the_plan(repo))
        gh.mark_failed(ref, "health check /api/health returned 503")
    [release] = fake.releases_for("v1.1.0")
    assert release["draft"] is True
    assert release["name"] == "v1.1.0 (failed)"
    assert "health check /api/health returned 503" in release["body"]
    assert "https://github.example/kars/app/actions/runs/4242" in release["body"]
    assert "refs/tags/v1" not in fake.refs


def test_rerun_after_failure_reuses_the_draft_and_publishes_clean_notes(
    repo: GitRepo, fake: GitHubFake, clock: FakeClock
) -> None:
    with client(clock) as gh:
        gh.mark_failed(gh.ensure_tag_and_draft(the_plan(repo)), "deploy failed")
    plan = the_plan(repo)  # the rerun: the tag is local too only if fetched; here it is not
    with client(clock) as gh:
        ref = gh.ensure_tag_and_draft(plan)
        assert (ref.tag_created, ref.release_created) == (False, False)
        gh.publish(ref)
    [release] = fake.releases_for("v1.1.0")
    assert release["draft"] is False and FAILED_MARKER not in release["body"] and "deploy failed" not in release["body"]


def test_rerun_reuses_the_tag_on_the_same_commit(repo: GitRepo, fake: GitHubFake, clock: FakeClock) -> None:
    with client(clock) as gh:
        first = gh.ensure_tag_and_draft(the_plan(repo))
    fake.requests.clear()
    with client(clock) as gh:
        second = gh.ensure_tag_and_draft(the_plan(repo))
    assert second.release_id == first.release_id
    assert len(fake.releases_for("v1.1.0")) == 1
    assert not any(r.method == "POST" for r in fake.requests)


def test_tag_on_another_commit_stops_naming_both(repo: GitRepo, fake: GitHubFake, clock: FakeClock) -> None:
    other = repo.git("rev-parse", "HEAD~1")
    fake.add_tag("v1.1.0", other)
    with client(clock) as gh, pytest.raises(CheckFailed) as caught:
        gh.ensure_tag_and_draft(the_plan(repo))
    assert other in caught.value.message and repo.head() in caught.value.message
    assert fake.releases_for("v1.1.0") == []


def test_existing_draft_is_found_although_the_by_tag_endpoint_hides_it(
    repo: GitRepo, fake: GitHubFake, clock: FakeClock
) -> None:
    draft = fake.add_release("v1.1.0", draft=True, name="old title")
    with client(clock) as gh:
        ref = gh.ensure_tag_and_draft(the_plan(repo))
    assert ref.release_id == draft["id"] and not ref.release_created
    assert len(fake.releases_for("v1.1.0")) == 1 and draft["name"] == "v1.1.0"


def test_race_for_the_ref_reuses_the_winners_tag(repo: GitRepo, fake: GitHubFake, clock: FakeClock) -> None:
    head = repo.head()
    fake.on("POST", r"/git/refs$", lambda f: f.add_tag("v1.1.0", head))
    with client(clock) as gh:
        ref = gh.ensure_tag_and_draft(the_plan(repo))
    assert ref.tag_created is False and fake.tag_commit("v1.1.0") == head


def test_race_for_the_ref_on_another_commit_stops(repo: GitRepo, fake: GitHubFake, clock: FakeClock) -> None:
    other = repo.git("rev-parse", "HEAD~1")
    fake.on("POST", r"/git/refs$", lambda f: f.add_tag("v1.1.0", other))
    with client(clock) as gh, pytest.raises(CheckFailed, match=other):
        gh.ensure_tag_and_draft(the_plan(repo))


def test_race_for_the_release_ends_with_one(repo: GitRepo, fake: GitHubFake, clock: FakeClock) -> None:
    # The other job's draft lands between our listing and our creation: ours is the newer one and goes.
    fake.on("POST", r"/releases$", lambda f: f.add_release("v1.1.0", draft=True))
    with client(clock) as gh:
        ref = gh.ensure_tag_and_draft(the_plan(repo))
    [kept] = fake.releases_for("v1.1.0")
    assert ref.release_id == kept["id"] and ref.release_created is False
    assert any(r.method == "DELETE" for r in fake.requests)


def test_missing_contents_permission_names_the_line(repo: GitRepo, fake: GitHubFake, clock: FakeClock) -> None:
    fake.permissions["contents"] = False
    with client(clock) as gh, pytest.raises(AuthError) as caught:
        gh.ensure_tag_and_draft(the_plan(repo))
    assert "contents: write" in caught.value.message and "permissions:" in (caught.value.hint or "")
    assert caught.value.exit_code == 3


def test_bad_token_is_an_auth_error(repo: GitRepo, clock: FakeClock) -> None:
    with client(clock, token="ghs_wrong_token") as gh, pytest.raises(AuthError, match="refused"):
        gh.ensure_tag_and_draft(the_plan(repo))


def test_rate_limit_is_waited_out(repo: GitRepo, fake: GitHubFake, clock: FakeClock) -> None:
    fake.rate_limit = RateLimit(remaining_requests=2, status=403, reset_after=30)
    with client(clock) as gh:
        ref = gh.ensure_tag_and_draft(the_plan(repo))
    assert ref.release_created
    assert len(clock.sleeps) == 2 and all(25 <= s <= 31 for s in clock.sleeps)


def test_retry_after_on_429_is_honoured(repo: GitRepo, fake: GitHubFake, clock: FakeClock) -> None:
    fake.rate_limit = RateLimit(remaining_requests=1, status=429, retry_after=7, secondary=True)
    with client(clock) as gh:
        gh.ensure_tag_and_draft(the_plan(repo))
    assert clock.sleeps == [7.0]


def test_rate_limit_past_the_deadline_is_rate_limited(repo: GitRepo, fake: GitHubFake, clock: FakeClock) -> None:
    fake.rate_limit = RateLimit(remaining_requests=100, status=403, reset_after=3600)
    with client(clock, seconds=120) as gh, pytest.raises(RateLimited) as caught:
        gh.ensure_tag_and_draft(the_plan(repo))
    assert caught.value.exit_code == 3 and clock.sleeps == []


def test_dry_run_makes_no_write_request(repo: GitRepo, fake: GitHubFake, clock: FakeClock) -> None:
    with client(clock, dry_run=True) as gh:
        ref = gh.ensure_tag_and_draft(the_plan(repo))
        gh.publish(ref, move_major=True)
        gh.mark_failed(ref, "nothing")
        deployment = gh.start_deployment("production", repo.head())
        gh.deployment_status(deployment, "success")
    assert fake.requests, "dry run with a token still reads"
    assert fake.writes() == []
    assert ref.dry_run and ref.tag_created and ref.release_created


def test_dry_run_without_token_reads_nothing(repo: GitRepo, fake: GitHubFake, clock: FakeClock) -> None:
    with client(clock, dry_run=True, token=None) as gh:
        ref = gh.ensure_tag_and_draft(the_plan(repo))
        gh.publish(ref)
    assert fake.requests == [] and ref.tag == "v1.1.0"


def test_no_token_without_dry_run_is_an_auth_error(clock: FakeClock, env: dict[str, str]) -> None:
    with pytest.raises(AuthError, match="no GitHub token"):
        client(clock, token=None)


def test_release_writes_never_name_a_commit(repo: GitRepo, fake: GitHubFake, clock: FakeClock) -> None:
    # The annotated tag is made first, so no release create or update needs target_commitish.
    with client(clock) as gh:
        ref = gh.ensure_tag_and_draft(the_plan(repo))
        gh.ensure_tag_and_draft(the_plan(repo))  # a rerun updates the draft
        gh.mark_failed(ref, "health check failed")
        gh.publish(ref)
    writes = [r for r in fake.writes() if r.path.endswith("/releases") or "/releases/" in r.path]
    assert len(writes) == 4
    assert all("target_commitish" not in (r.body or {}) for r in writes)


def test_an_rc_from_a_commit_changing_workflows_gets_its_release(
    repo: GitRepo, fake: GitHubFake, clock: FakeClock
) -> None:
    # GitHub answers 404 to a release write naming such a commit unless the token has `workflows`, which
    # GITHUB_TOKEN never has.
    fake.commit_files[repo.head()] = [".github/workflows/release.yml"]
    plan = plan_version(repo.path, prerelease="rc")
    with client(clock) as gh:
        ref = gh.ensure_tag_and_draft(plan)
        gh.ensure_tag_and_draft(plan)
        gh.publish(ref)
    [release] = fake.releases_for("v1.1.0-rc.1")
    assert release["draft"] is False and fake.tag_commit("v1.1.0-rc.1") == repo.head()


def test_a_refused_release_write_on_a_workflow_commit_explains_the_workflows_permission(
    repo: GitRepo, fake: GitHubFake, clock: FakeClock
) -> None:
    fake.commit_files[repo.head()] = [".github/workflows/release.yml"]
    fake.fail("POST", r"/releases$", status=404, message="Not Found")
    with client(clock) as gh, pytest.raises(AuthError) as caught:
        gh.ensure_tag_and_draft(the_plan(repo))
    assert ".github/workflows/" in caught.value.message and "`workflows` permission" in caught.value.message
    assert "GITHUB_REPOSITORY" not in caught.value.message and caught.value.exit_code == 3
