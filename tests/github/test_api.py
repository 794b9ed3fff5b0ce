"""The GitHub REST layer: documented headers, rate limits that never spin, a deadline no request outlives."""

from __future__ import annotations

import pytest
from pytest_httpx import HTTPXMock

from kars_actions import __version__
from kars_actions.core.errors import AuthError, ExternalError, RateLimited
from kars_actions.github.api import GitHubApi
from kars_actions.github.client import GitHubReleases
from kars_actions.github.versioning import plan_version
from tests.fakes.github_fake import GitHubFake, RateLimit
from tests.github.conftest import TOKEN, FakeClock, deadline
from tests.versioning.gitrepo import GitRepo


def client(clock: FakeClock, seconds: float = 300) -> GitHubReleases:
    return GitHubReleases.from_env(TOKEN, clock=clock, deadline=deadline(clock, seconds))  # type: ignore[arg-type]


def test_every_request_carries_the_headers_github_documents(repo: GitRepo, fake: GitHubFake, clock: FakeClock) -> None:
    with client(clock) as gh:
        ref = gh.ensure_tag_and_draft(plan_version(repo.path))
        deployment = gh.start_deployment("production", repo.head())
        gh.deployment_status(deployment, "success", "live")
        gh.publish(ref, move_major=True)
    assert len(fake.requests) > 10
    for request in fake.requests:
        assert request.headers["accept"] == "application/vnd.github+json", request.path
        assert request.headers["x-github-api-version"] == "2022-11-28", request.path
        assert request.headers["user-agent"] == f"kars-actions/{__version__}", request.path


def test_retry_after_zero_backs_off_instead_of_spinning(repo: GitRepo, fake: GitHubFake, clock: FakeClock) -> None:
    fake.rate_limit = RateLimit(remaining_requests=10_000, status=403, retry_after=0, secondary=True)
    with client(clock, seconds=120) as gh, pytest.raises(RateLimited) as caught:
        gh.ensure_tag_and_draft(plan_version(repo.path))
    assert clock.sleeps == [1.0, 2.0, 4.0, 8.0, 16.0, 32.0]  # the next wait (64 s) would pass the deadline
    assert len(fake.requests) == 7 and caught.value.exit_code == 3


def test_a_rate_limit_reset_in_the_past_backs_off_too(repo: GitRepo, fake: GitHubFake, clock: FakeClock) -> None:
    fake.rate_limit = RateLimit(remaining_requests=3, status=403, reset_after=-600)
    with client(clock) as gh:
        ref = gh.ensure_tag_and_draft(plan_version(repo.path))
    assert ref.release_created and clock.sleeps == [1.0, 2.0, 4.0]


def test_no_request_starts_once_the_deadline_passed(repo: GitRepo, fake: GitHubFake, clock: FakeClock) -> None:
    with client(clock, seconds=60) as gh:
        clock.advance(61)
        with pytest.raises(ExternalError, match="time for this run ran out") as caught:
            gh.ensure_tag_and_draft(plan_version(repo.path))
    assert fake.requests == [] and caught.value.exit_code == 3


def test_each_request_waits_no_longer_than_the_time_left(httpx_mock: HTTPXMock) -> None:
    clock = FakeClock(0.0)
    httpx_mock.add_response(url="https://api.github.test/repos/kars/app/releases?per_page=100", json=[])
    api = GitHubApi("https://api.github.test", "kars/app", TOKEN, clock=clock, deadline=deadline(clock, 7))
    try:
        assert list(api.paginate("listing releases", "/releases")) == []
    finally:
        api.close()
    [request] = httpx_mock.get_requests()
    assert request.extensions["timeout"] == {"connect": 7.0, "read": 7.0, "write": 7.0, "pool": 7.0}


def test_a_refused_permission_is_named_from_githubs_own_header(
    repo: GitRepo, fake: GitHubFake, clock: FakeClock
) -> None:
    fake.permissions["deployments"] = False
    with client(clock) as gh, pytest.raises(AuthError) as caught:
        gh.start_deployment("production", repo.head())
    assert "`deployments: write`" in caught.value.message and caught.value.exit_code == 3


def test_pagination_never_follows_a_next_link_to_another_host(httpx_mock: HTTPXMock) -> None:
    clock = FakeClock(0.0)
    httpx_mock.add_response(
        url="https://api.github.test/repos/kars/app/releases?per_page=100",
        json=[{"id": 1}],
        headers={"link": '<https://elsewhere.test/steal?page=2>; rel="next"'},
    )
    api = GitHubApi("https://api.github.test", "kars/app", TOKEN, clock=clock, deadline=deadline(clock))
    try:
        with pytest.raises(ExternalError, match="another host"):
            list(api.paginate("listing releases", "/releases"))
    finally:
        api.close()
    assert len(httpx_mock.get_requests()) == 1
