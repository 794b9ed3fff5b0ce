"""The poller against real loopback servers with scripted behaviour (sleeps pass at once on the fake clock)."""

from __future__ import annotations

import email.utils
import time
import tracemalloc

from kars_actions.core import gha
from kars_actions.core.timing import Clock
from kars_actions.health.assertions import HealthCheck, JsonExpectation
from kars_actions.health.poll import PollSettings, check_health
from kars_actions.health.targets import HealthTarget
from tests.fakes.health_servers import Reply, ScriptedServer, Seen, big_body, sequence
from tests.health.conftest import FakeClock

OK = Reply.json({"status": "ok", "version": "1.4.0", "database": "connected"})
STATUS_OK = HealthCheck(json=(JsonExpectation.parse("status=ok"),))


def settings(**changes: object) -> PollSettings:
    base: dict[str, object] = {"deadline": 60.0, "timeout": 5.0, "interval": 1.0, "jitter": "none"}
    base.update(changes)
    return PollSettings(**base)  # type: ignore[arg-type]


def test_refused_connections_are_retried_until_the_app_comes_up(clock: FakeClock) -> None:
    server = ScriptedServer(sequence(OK), listening=False)
    lines: list[str] = []

    def progress(line: str) -> None:
        lines.append(line)
        if len(lines) == 2:  # the deployment finishes starting after two refused attempts
            server.open()

    with server:
        result = check_health(
            [HealthTarget("api", server.url("/api/health"), STATUS_OK)],
            settings=settings(),
            progress=progress,
            clock=clock,
        )
    outcome = result.outcomes[0]
    assert result.healthy and outcome.healthy
    assert outcome.attempts == 4  # two refused, two passes for stability
    assert "connection refused" in lines[0]
    assert server.count == 2


def test_503_then_200_becomes_healthy_after_two_steady_passes(clock: FakeClock) -> None:
    down = Reply.json({"status": "degraded"}, status=503)
    with ScriptedServer(sequence(down, down, OK)) as server:
        result = check_health([HealthTarget("api", server.url(), STATUS_OK)], settings=settings(), clock=clock)
    assert result.healthy
    assert result.outcomes[0].attempts == 4
    assert result.exit_code() == 0


def test_a_flapping_endpoint_is_healthy_only_after_consecutive_passes(clock: FakeClock) -> None:
    bad = Reply.json({"status": "ok"}, status=500)
    with ScriptedServer(sequence(OK, bad, OK, bad, OK, OK)) as server:
        result = check_health(
            [HealthTarget("api", server.url(), STATUS_OK)], settings=settings(stable_passes=2), clock=clock
        )
    assert result.healthy
    assert result.outcomes[0].attempts == 6


def test_stable_for_requires_passing_for_a_duration(clock: FakeClock) -> None:
    with ScriptedServer(sequence(OK)) as server:
        result = check_health(
            [HealthTarget("api", server.url(), STATUS_OK)],
            settings=settings(stable_passes=1, stable_for=5.0, confirm_interval=1.0),
            clock=clock,
        )
    assert result.healthy
    assert result.outcomes[0].attempts == 6  # passes at t=0..5
    assert result.outcomes[0].elapsed >= 5.0


def test_a_server_that_never_answers_hits_the_request_timeout(clock: FakeClock) -> None:
    with ScriptedServer(lambda seen: Reply(hang=hang)) as server:
        hang = server.hang_event()
        started = time.monotonic()
        result = check_health(
            [HealthTarget("api", server.url())], settings=settings(timeout=0.2, retries=2), clock=clock
        )
    outcome = result.outcomes[0]
    assert not outcome.healthy and outcome.reason == "retries" and outcome.attempts == 2
    assert outcome.failure is not None and outcome.failure.actual == "timed out"
    assert time.monotonic() - started < 3


def test_the_overall_deadline_cuts_a_hanging_request_short() -> None:
    with ScriptedServer(lambda seen: Reply(hang=hang)) as server:
        hang = server.hang_event()
        started = time.monotonic()
        result = check_health(
            [HealthTarget("api", server.url())], settings=settings(timeout=30.0, deadline=0.4), clock=Clock()
        )
    elapsed = time.monotonic() - started
    outcome = result.outcomes[0]
    assert not result.healthy and outcome.reason == "deadline"
    assert elapsed < 3  # not the 30 s request timeout
    assert result.exit_code() == 1


def test_an_answer_slower_than_the_max_response_time_fails(clock: FakeClock) -> None:
    slow = Reply(200, {"Content-Type": "application/json"}, b'{"status": "ok"}', delay=0.25)
    with ScriptedServer(sequence(slow)) as server:
        check = HealthCheck(max_response_time=0.05)
        result = check_health([HealthTarget("api", server.url(), check)], settings=settings(retries=2), clock=clock)
    failure = result.outcomes[0].failure
    assert failure is not None and failure.check == "response time" and failure.expected == "<= 0.05s"


def test_a_100_mb_body_is_cut_at_the_cap_and_never_loaded(clock: FakeClock) -> None:
    total = 100 * 1024 * 1024
    huge = Reply(200, {"Content-Type": "application/json"}, big_body(total), content_length=total)
    with ScriptedServer(lambda seen: huge if seen.number == 1 else Reply(200, body=b"")) as server:
        tracemalloc.start()
        try:
            result = check_health(
                [HealthTarget("api", server.url(), STATUS_OK)],
                settings=settings(retries=1, max_body=1024 * 1024),
                clock=clock,
            )
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    failure = result.outcomes[0].failure
    assert failure is not None and failure.check == "json body" and "larger than" in failure.actual
    assert peak < 16 * 1024 * 1024
    assert server.streamed < total // 4  # the client hung up long before the end


def test_invalid_json_is_reported_with_an_excerpt(clock: FakeClock) -> None:
    with ScriptedServer(sequence(Reply(200, body=b"<html>Bad gateway</html>"))) as server:
        result = check_health([HealthTarget("api", server.url(), STATUS_OK)], settings=settings(retries=2), clock=clock)
    failure = result.outcomes[0].failure
    assert failure is not None and "invalid JSON" in failure.actual and "Bad gateway" in failure.actual


def test_the_old_version_answering_is_not_taken_for_the_new_one(clock: FakeClock) -> None:
    old = Reply.json({"status": "ok", "version": "1.3.0"})
    lines: list[str] = []
    with ScriptedServer(sequence(old, old, old, OK)) as server:
        result = check_health(
            [HealthTarget("api", server.url(), STATUS_OK)],
            expect_version="v1.4.0",
            settings=settings(),
            progress=lines.append,
            clock=clock,
        )
    assert result.healthy
    assert result.outcomes[0].attempts == 5
    assert "another version" in lines[0]


def test_only_the_old_version_until_the_deadline_is_unhealthy(clock: FakeClock) -> None:
    old = Reply.json({"status": "ok", "version": "1.3.0"})
    with ScriptedServer(sequence(old)) as server:
        result = check_health(
            [HealthTarget("api", server.url())], expect_version="1.4.0", settings=settings(deadline=20), clock=clock
        )
    outcome = result.outcomes[0]
    assert not outcome.healthy and outcome.reason == "deadline"
    assert outcome.failure is not None and outcome.failure.expected == "1.4.0"
    assert outcome.failure.actual.startswith("1.3.0")
    assert result.outputs()["healthy"] == "false"


def test_404_and_connection_resets_while_the_deploy_comes_up_are_retried(clock: FakeClock) -> None:
    with ScriptedServer(sequence(Reply(drop=True), Reply(404, body=b"Not Found"), OK)) as server:
        lines: list[str] = []
        result = check_health(
            [HealthTarget("api", server.url(), STATUS_OK)], settings=settings(), progress=lines.append, clock=clock
        )
    assert result.healthy
    assert "no answer" in lines[0]
    assert "HTTP 404" in lines[1]


def test_a_redirect_loop_is_detected(clock: FakeClock) -> None:
    def script(seen: Seen) -> Reply:
        return Reply.redirect("/b" if seen.path == "/a" else "/a")

    with ScriptedServer(script) as server:
        result = check_health([HealthTarget("api", server.url("/a"))], settings=settings(retries=1), clock=clock)
    failure = result.outcomes[0].failure
    assert failure is not None and "redirect loop" in failure.actual


def test_too_many_redirects_stop_at_the_limit(clock: FakeClock) -> None:
    def script(seen: Seen) -> Reply:
        return Reply.redirect(f"/hop{seen.number}")

    with ScriptedServer(script) as server:
        result = check_health(
            [HealthTarget("api", server.url("/start"))], settings=settings(retries=1, max_redirects=3), clock=clock
        )
    failure = result.outcomes[0].failure
    assert failure is not None and "more than 3 redirects" in failure.actual
    assert server.count == 4


def test_same_host_redirects_are_followed_with_the_headers(clock: FakeClock) -> None:
    def script(seen: Seen) -> Reply:
        return OK if seen.path == "/api/health" else Reply.redirect("/api/health", 301)

    with ScriptedServer(script) as server:
        target = HealthTarget("api", server.url("/health"), STATUS_OK, headers={"Authorization": "Bearer same-host"})
        result = check_health([target], settings=settings(), clock=clock)
    assert result.healthy
    assert all(s.headers.get("authorization") == "Bearer same-host" for s in server.seen)


def test_a_cross_host_redirect_is_not_followed_by_default(clock: FakeClock) -> None:
    with ScriptedServer(sequence(OK)) as other:
        with ScriptedServer(sequence(Reply.redirect(other.url("/api/health", host="localhost")))) as first:
            target = HealthTarget("api", first.url("/"), headers={"Authorization": "Bearer top-secret-1"})
            result = check_health([target], settings=settings(retries=2), clock=clock)
        assert other.seen == []
    failure = result.outcomes[0].failure
    assert failure is not None and "another host" in failure.actual
    assert "top-secret-1" not in str(result.to_json())


def test_a_followed_cross_host_redirect_never_carries_the_authorization_header(clock: FakeClock) -> None:
    with ScriptedServer(sequence(OK)) as other:
        with ScriptedServer(sequence(Reply.redirect(other.url("/api/health", host="localhost")))) as first:
            target = HealthTarget(
                "api", first.url("/"), STATUS_OK, headers={"Authorization": "Bearer top-secret-2", "X-Api-Key": "k-42"}
            )
            result = check_health([target], settings=settings(allow_cross_host_redirects=True), clock=clock)
        assert result.healthy
        assert first.seen[0].headers["authorization"] == "Bearer top-secret-2"
        assert other.seen, "the redirect was followed"
        for seen in other.seen:
            assert "authorization" not in seen.headers
            assert "x-api-key" not in seen.headers


def test_retry_after_seconds_is_honoured(clock: FakeClock) -> None:
    busy = Reply(503, {"Retry-After": "7"}, b"busy")
    with ScriptedServer(sequence(busy, OK)) as server:
        result = check_health([HealthTarget("api", server.url())], settings=settings(), clock=clock)
    assert result.healthy
    assert clock.sleeps[0] == 7.0


def test_retry_after_as_an_http_date_is_capped_by_the_deadline(clock: FakeClock) -> None:
    later = email.utils.formatdate(time.time() + 3600, usegmt=True)
    with ScriptedServer(sequence(Reply(429, {"Retry-After": later}, b"slow down"))) as server:
        result = check_health([HealthTarget("api", server.url())], settings=settings(deadline=30), clock=clock)
    assert not result.healthy
    assert clock.sleeps == [30.0]
    assert result.outcomes[0].attempts == 1


def test_head_requests_and_custom_headers_are_sent(clock: FakeClock) -> None:
    with ScriptedServer(sequence(Reply(200, body=b"ok"))) as server:
        target = HealthTarget("api", server.url(), method="HEAD", headers={"X-Probe": "yes"})
        assert check_health([target], settings=settings(), clock=clock).healthy
    assert {s.method for s in server.seen} == {"HEAD"}
    assert server.seen[0].headers["x-probe"] == "yes"


def test_header_values_and_url_passwords_are_registered_as_secrets() -> None:
    target = HealthTarget("api", "http://user:url-pass-word@127.0.0.1:1/", headers={"Authorization": "Bearer masked"})
    assert gha.SECRETS.redact("token Bearer masked") == "token ***"
    assert gha.SECRETS.redact("p=url-pass-word") == "p=***"
    assert target.shown_url == "http://127.0.0.1:1/"


def test_many_targets_are_checked_together_over_one_pool(clock: FakeClock) -> None:
    with ScriptedServer(lambda seen: Reply.json({"status": "ok", "path": seen.path})) as server:
        targets = [HealthTarget(f"t{i}", server.url(f"/h/{i}"), STATUS_OK) for i in range(40)]
        result = check_health(targets, settings=settings(concurrency=8), clock=clock)
    assert result.healthy and len(result.outcomes) == 40
    assert server.count == 80
    assert {s.path for s in server.seen} == {f"/h/{i}" for i in range(40)}


def test_one_unhealthy_target_makes_the_whole_result_unhealthy(clock: FakeClock) -> None:
    with ScriptedServer(lambda seen: OK if seen.path == "/good" else Reply(500, body=b"boom")) as server:
        result = check_health(
            [HealthTarget("good", server.url("/good")), HealthTarget("bad", server.url("/bad"))],
            settings=settings(retries=3),
            clock=clock,
        )
    assert [o.healthy for o in result.outcomes] == [True, False]
    assert result.exit_code() == 1
    annotations = result.annotations()
    assert len(annotations) == 1
    assert "bad" in annotations[0].message and "expected 200, got 500" in annotations[0].message
