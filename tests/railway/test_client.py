"""The GraphQL client against mocked HTTP: headers, error shapes, retries, rate limits — every request it makes."""

from __future__ import annotations

import json
import re

import httpx
import pytest
from pytest_httpx import HTTPXMock

from kars_actions.core.errors import AuthError, ConfigError, RateLimited
from kars_actions.core.timing import Deadline
from kars_actions.railway.api import (
    DEFAULT_ENDPOINT,
    Credentials,
    OutcomeUnknown,
    RailwayAPIError,
    RailwayClient,
    RailwayUnavailable,
    RetryPolicy,
    TokenKind,
)
from tests.fakes.railway_sim import SimClock

URL = "https://railway.test/graphql/v2"


def client(kind: TokenKind = TokenKind.PROJECT, clock: SimClock | None = None, **kw: object) -> RailwayClient:
    return RailwayClient(Credentials(kind, "tok-123456"), URL, clock=clock or SimClock(), **kw)  # type: ignore[arg-type]


def body(request: httpx.Request) -> dict[str, object]:
    return json.loads(request.content)  # type: ignore[no-any-return]


def test_project_token_goes_in_project_access_token_header(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(url=URL, json={"data": {"projectToken": {"projectId": "p", "environmentId": "e"}}})
    assert client().project_token() == ("p", "e")
    request = httpx_mock.get_request()
    assert request is not None
    assert request.headers["Project-Access-Token"] == "tok-123456"
    assert "Authorization" not in request.headers
    assert body(request)["operationName"] == "ProjectToken"


def test_account_token_goes_in_bearer_header(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(url=URL, json={"data": {"projects": {"edges": [{"node": {"id": "p1", "name": "app"}}]}}})
    assert client(TokenKind.ACCOUNT).projects() == [("p1", "app")]
    request = httpx_mock.get_request()
    assert request is not None
    assert request.headers["Authorization"] == "Bearer tok-123456"
    assert "Project-Access-Token" not in request.headers


def test_no_token_is_a_config_error_naming_both_variables() -> None:
    with pytest.raises(ConfigError) as caught:
        RailwayClient.from_env(environ={})
    assert "RAILWAY_TOKEN" in caught.value.message and "RAILWAY_API_TOKEN" in caught.value.message
    assert caught.value.exit_code == 2


def test_project_token_wins_and_endpoint_is_overridable() -> None:
    c = RailwayClient.from_env(
        environ={"RAILWAY_TOKEN": "p-tok-1", "RAILWAY_API_TOKEN": "a-tok-1", "RAILWAY_GRAPHQL_ENDPOINT": URL}
    )
    assert c.credentials.kind is TokenKind.PROJECT and c.endpoint == URL
    assert RailwayClient.from_env(environ={"RAILWAY_API_TOKEN": "a-tok-1"}).endpoint == DEFAULT_ENDPOINT


def test_http_200_with_errors_raises_even_though_status_is_ok(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(url=URL, json={"data": None, "errors": [{"message": "Project not found"}]})
    with pytest.raises(RailwayAPIError) as caught:
        client().project("nope")
    assert caught.value.messages == ["Project not found"] and caught.value.exit_code == 3


@pytest.mark.parametrize("message", ["Not Authorized", "Project Token not found"])
def test_refused_project_token_says_which_variable_was_used_and_which_is_needed(
    httpx_mock: HTTPXMock, message: str
) -> None:
    httpx_mock.add_response(url=URL, json={"data": None, "errors": [{"message": message}]})
    with pytest.raises(AuthError) as caught:
        client().project_token()
    error = caught.value
    assert "RAILWAY_TOKEN" in error.message and "Project-Access-Token" in error.message and message in error.message
    assert error.hint is not None and "RAILWAY_API_TOKEN" in error.hint
    assert error.exit_code == 3


def test_refused_account_token_points_at_railway_token(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(url=URL, json={"errors": [{"message": "Not Authorized"}]})
    with pytest.raises(AuthError) as caught:
        client(TokenKind.ACCOUNT).projects()
    assert "RAILWAY_API_TOKEN" in caught.value.message and "Bearer" in caught.value.message
    assert caught.value.hint is not None and "RAILWAY_TOKEN" in caught.value.hint


@pytest.mark.parametrize("status", [401, 403])
def test_http_401_and_403_are_auth_errors(httpx_mock: HTTPXMock, status: int) -> None:
    httpx_mock.add_response(url=URL, status_code=status, text="denied")
    with pytest.raises(AuthError, match=f"refused the project token from RAILWAY_TOKEN .*: HTTP {status}"):
        client().deployment("d1")


def test_429_waits_retry_after_on_the_clock_then_succeeds(httpx_mock: HTTPXMock) -> None:
    clock = SimClock()
    httpx_mock.add_response(url=URL, status_code=429, headers={"Retry-After": "7"})
    httpx_mock.add_response(url=URL, json={"data": {"deployment": {"id": "d1", "status": "BUILDING"}}})
    assert client(clock=clock).deployment("d1").status == "BUILDING"
    assert clock.sleeps == [7.0]


def test_429_uses_x_ratelimit_reset_without_retry_after(httpx_mock: HTTPXMock) -> None:
    clock = SimClock()
    httpx_mock.add_response(url=URL, status_code=429, headers={"X-RateLimit-Reset": "12"})
    httpx_mock.add_response(url=URL, json={"data": {"deployment": {"id": "d1", "status": "SUCCESS"}}})
    client(clock=clock).deployment("d1")
    assert clock.sleeps == [12.0]


def test_429_past_the_deadline_is_rate_limited_exit_3(httpx_mock: HTTPXMock) -> None:
    clock = SimClock()
    httpx_mock.add_response(url=URL, status_code=429, headers={"Retry-After": "600"})
    with pytest.raises(RateLimited) as caught:
        client(clock=clock).deployment("d1", Deadline.after(60, clock))
    assert caught.value.exit_code == 3 and clock.sleeps == []


def test_reads_retry_5xx_with_capped_jittered_backoff(httpx_mock: HTTPXMock) -> None:
    clock = SimClock()
    for _ in range(3):
        httpx_mock.add_response(url=URL, status_code=502)
    httpx_mock.add_response(url=URL, json={"data": {"deployment": {"id": "d1", "status": "SUCCESS"}}})
    assert client(clock=clock, retry=RetryPolicy(base=1, cap=3)).deployment("d1").live
    assert len(clock.sleeps) == 3
    assert all(0.5 <= s <= 3 for s in clock.sleeps) and clock.sleeps[2] <= 3


def test_reads_retry_timeouts_and_connection_errors(httpx_mock: HTTPXMock) -> None:
    clock = SimClock()
    httpx_mock.add_exception(httpx.ReadTimeout("slow"), url=URL)
    httpx_mock.add_exception(httpx.ConnectError("refused"), url=URL)
    httpx_mock.add_response(url=URL, json={"data": {"deployment": {"id": "d1", "status": "DEPLOYING"}}})
    assert client(clock=clock).deployment("d1").status == "DEPLOYING"
    assert len(clock.sleeps) == 2


def test_reads_give_up_after_the_attempts(httpx_mock: HTTPXMock) -> None:
    for _ in range(3):
        httpx_mock.add_response(url=URL, status_code=503)
    with pytest.raises(RailwayUnavailable) as caught:
        client(retry=RetryPolicy(attempts=3)).deployment("d1")
    assert "after 3 attempt" in caught.value.message


def test_deploy_mutation_5xx_is_never_retried_blindly(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(url=URL, status_code=500)
    with pytest.raises(OutcomeUnknown, match=r"HTTP 500 from .*; the request may have been applied"):
        client().deploy("svc", "env", "abc1234")
    assert len(httpx_mock.get_requests()) == 1


def test_deploy_mutation_timeout_is_never_retried_blindly(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_exception(httpx.ReadTimeout("slow"), url=URL)
    with pytest.raises(OutcomeUnknown, match=r"no answer from .* \(ReadTimeout\); the request may have been applied"):
        client().deploy("svc", "env", "abc1234")
    assert len(httpx_mock.get_requests()) == 1


def test_deploy_sends_the_exact_commit_and_returns_the_deployment_id(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(url=URL, json={"data": {"serviceInstanceDeployV2": "dep-9"}})
    assert client().deploy("svc", "env", "abc1234") == "dep-9"
    sent = body(httpx_mock.get_requests()[0])
    assert sent["variables"] == {"serviceId": "svc", "environmentId": "env", "commitSha": "abc1234"}


def test_rollback_mutation_has_no_selection_set(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(url=URL, json={"data": {"deploymentRollback": True}})
    assert client().rollback("dep-1") is True
    query = str(body(httpx_mock.get_requests()[0])["query"])
    assert "deploymentRollback(id: $id) }" in query


def test_variable_values_are_dropped_only_names_are_kept(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(url=URL, json={"data": {"variables": {"DATABASE_URL": "postgres://secret", "PORT": "1"}}})
    names = client().variable_names("p", "e", "s")
    assert names == frozenset({"DATABASE_URL", "PORT"})
    sent = body(httpx_mock.get_requests()[0])
    assert sent["variables"] == {"projectId": "p", "environmentId": "e", "serviceId": "s"}


def test_service_instance_reads_domains_custom_first(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(
        url=URL,
        json={
            "data": {
                "serviceInstance": {
                    "id": "si",
                    "serviceName": "web",
                    "latestDeployment": None,
                    "activeDeployments": [{"id": "d1", "status": "SUCCESS", "meta": {"commitHash": "abc"}}],
                    "domains": {
                        "serviceDomains": [{"domain": "web.up.railway.app"}],
                        "customDomains": [{"domain": "x.io"}],
                    },
                }
            }
        },
    )
    info = client().service_instance("s", "e")
    assert info.url == "https://x.io" and info.active[0].commit_hash == "abc"


def test_events_and_logs_are_parsed(httpx_mock: HTTPXMock) -> None:
    node = {"step": "HEALTHCHECK", "payload": {"error": "unavailable", "attempt": 10, "maxAttempts": 10}}
    httpx_mock.add_response(url=URL, json={"data": {"deploymentEvents": {"edges": [{"node": node}]}}})
    httpx_mock.add_response(url=URL, json={"data": {"deploymentLogs": [{"message": "boom"}]}})
    c = client()
    event = c.deployment_events("d")[0]
    assert (event.step, event.attempt, event.error) == ("HEALTHCHECK", 10, "unavailable")
    assert c.logs("d", build=False) == ["boom"]


def test_non_json_answer_is_an_external_error(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(url=URL, text="<html>gateway</html>")
    with pytest.raises(RailwayUnavailable, match="HTTP 200 with a body that is not JSON"):
        client().deployment("d1")


def test_a_transient_graphql_error_in_a_200_is_retried_like_a_5xx(httpx_mock: HTTPXMock) -> None:
    problem = {"data": None, "errors": [{"message": "Problem processing request"}]}
    httpx_mock.add_response(json=problem)
    httpx_mock.add_response(json=problem)
    httpx_mock.add_response(json={"data": {"deployment": {"id": "d1", "status": "SUCCESS"}}})
    clock = SimClock()
    assert client(clock=clock).deployment("d1").status == "SUCCESS"
    assert len(httpx_mock.get_requests()) == 3 and len(clock.sleeps) == 2


@pytest.mark.parametrize(
    "message", ["Deployment not found", 'Cannot query field "nope" on type "Deployment".', "Not Authorized"]
)
def test_a_graphql_error_that_is_an_answer_is_not_retried(httpx_mock: HTTPXMock, message: str) -> None:
    httpx_mock.add_response(json={"data": None, "errors": [{"message": message}]})
    with pytest.raises((RailwayAPIError, AuthError), match=re.escape(message)):
        client().deployment("d1")
    assert len(httpx_mock.get_requests()) == 1


def test_a_transient_graphql_error_on_a_mutation_is_an_unknown_outcome_never_a_blind_retry(
    httpx_mock: HTTPXMock,
) -> None:
    httpx_mock.add_response(json={"data": None, "errors": [{"message": "Problem processing request"}]})
    with pytest.raises(OutcomeUnknown, match="answered 'Problem processing request'; the request may have been"):
        client().deploy("svc", "env", "a" * 40)
    assert len(httpx_mock.get_requests()) == 1
