"""The watch loop itself (``run_watch``) against the Railway simulator, both on one test clock: the client's sleeps
move Railway's time, so a five-minute watch plays in well under a second. What each look asked Railway for, when,
and what the loop concluded from it, checked against the simulator's own state."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from kars_actions.core.timing import Deadline
from kars_actions.railway.api import Credentials, RailwayClient, TokenKind, parse_time
from kars_actions.railway.metrics import Check, clock_time
from kars_actions.release.watch import HealthRound, run_watch
from kars_actions.release.watch_report import WatchResult
from kars_actions.release.watch_state import ServiceWatch, WatchedService, WatchSettings
from tests.fakes.railway_sim import EPOCH, RailwaySim, Recorded, Script, SimClock
from tests.fakes.railway_sim_watch import Traffic

OLD = "0" * 40
NEW = "a" * 40
NEWER = "9" * 40
FIRST_LOOK = "WatchStatusExecutionsServingLogsHttpLatencyResources"  # every part: the baseline is read with it
LOOK = "WatchStatusExecutionsHttpLatencyResources"  # a look once no older deployment serves
PROBLEM = "deployments is not available to this token"  # a field Railway will not give, whatever the retries


class WatchClock(SimClock):
    """The test clock, refusing a sleep of nothing: the watch always sleeps towards a later look, and a loop that
    sleeps zero seconds on a virtual clock spins forever instead of failing."""

    def sleep(self, seconds: float) -> None:
        assert seconds > 0, f"a sleep of {seconds} s: the watch would spin without time passing"
        super().sleep(seconds)


@dataclass
class Loop:
    """Two services (api, web) serving ``OLD`` for two hours, a project token, and a client on the simulator's
    clock. The tests watch api, and web beside it when they need two services."""

    sim: RailwaySim
    clock: SimClock
    env: str
    service: str
    old: str
    web: str
    client: RailwayClient
    progress: list[str] = field(default_factory=list)

    def deploy(
        self, commit: str = NEW, *, live_in: float = 40.0, live_for: float = 20.0, script: Script | None = None
    ) -> str:
        """A deployment of api at ``commit`` made now (by other means), SUCCESS ``live_in`` seconds later; the clock
        moves on until it has been live ``live_for`` seconds."""
        return self.deploy_both(commit, live_in=live_in, live_for=live_for, script=script, services=(self.service,))[0]

    def deploy_both(
        self,
        commit: str = NEW,
        *,
        live_in: float = 40.0,
        live_for: float = 20.0,
        script: Script | None = None,
        services: tuple[str, ...] = (),
    ) -> list[str]:
        """A deployment of each service (api and web unless named) at ``commit``, made at once."""
        chosen = script or Script.success(build=live_in * 0.75, deploy=live_in * 0.25)
        with self.sim.lock:
            made = [
                self.sim._create(s, self.env, commit, chosen, self.clock.monotonic())
                for s in services or (self.service, self.web)
            ]
        self.clock.advance(live_in + live_for)
        assert all(self.sim.status_of(d.id) == "SUCCESS" for d in made)
        return [d.id for d in made]

    def watch(
        self,
        deployment_id: str,
        settings: WatchSettings | None = None,
        *,
        web: str | None = None,
        live_at: float | None = None,
        **options: Any,
    ) -> WatchResult:
        """``run_watch`` of api's ``deployment_id`` (and web's, when given)."""
        # Every caller reads Railway before it watches (the target, the deploy): Railway's time is known from then.
        self.client.deployment(deployment_id)
        watched = [WatchedService("api", self.service, deployment_id, live_at=live_at)]
        if web is not None:
            watched.append(WatchedService("web", self.web, web))
        chosen = settings or WatchSettings(duration=300, step=30)
        return run_watch(self.client, self.env, watched, chosen, progress=self.progress.append, **options)

    def watch_refusing(self, field: str) -> tuple[WatchResult, ServiceWatch]:
        """A release of api watched five minutes while Railway refuses one of the look's fields (its plan lacks it)."""
        self.sim.refuse_metrics.add(field)
        result = self.watch(self.deploy())
        return result, result.services[0]

    def after_looks(self, looks: int, action: Callable[[], Any]) -> None:
        """Run ``action`` on Railway right after the watch's ``looks``-th look (the first look is the first)."""
        self.sim.after("deploymentInstanceExecutions", action, times=looks)

    def looks(self) -> list[Recorded]:
        """The watch's requests to Railway, in order."""
        return [r for r in self.sim.requests if (r.operation or "").startswith("Watch")]

    def asked(self, request: Recorded, variable: str) -> float | None:
        """The simulator's second a look asked from (``startDate``, ``logsAfter``), None when it did not."""
        value = parse_time(request.variables.get(variable))
        return None if value is None else value - EPOCH.timestamp()

    def epoch(self, t: float) -> float:
        """Railway's time (epoch seconds) at the simulator's second ``t``."""
        return EPOCH.timestamp() + t


@pytest.fixture
def loop() -> Iterator[Loop]:
    clock = WatchClock(10_000.0)
    sim = RailwaySim(clock)
    project = sim.add_project("kars-app")
    env = sim.add_environment(project, "production")
    service = sim.add_service(project, "api", domain="api-production.up.railway.app")
    old = sim.add_deployment(service, env, OLD, took=120, age=7200)
    web = sim.add_service(project, "web", domain="web-production.up.railway.app")
    sim.add_deployment(web, env, OLD, took=120, age=7200)
    token = sim.add_project_token(project, env)
    sim.start()
    # Seeded: the retries' jittered waits move the test clock by the same amount each run.
    client = RailwayClient(Credentials(TokenKind.PROJECT, token), sim.url, clock=clock, rng=random.Random(26))
    try:
        yield Loop(sim, clock, env, service, old, web, client)
    finally:
        client.close()
        sim.stop()


def test_a_clean_release_passes_every_check_within_the_request_budget(loop: Loop) -> None:
    new = loop.deploy()
    result = loop.watch(new)
    assert result.verdict == "passed", repr([s.to_json() for s in result.services])
    [service] = result.services
    assert {c.name: c.verdict for c in service.checks} == {
        "5xx ratio": "passed",
        "p95 latency": "passed",
        "memory": "passed",
    }
    assert result.requests == len(loop.looks()) <= result.budget
    assert loop.progress[-1] == (
        "watch: 0.0s left · api: SUCCESS, 5xx 0.20% (before 0.20%), p95 180ms (before 180ms), 100 req, mem 0.30 GB"
    )


def test_health_is_asked_once_per_health_interval_and_each_round_is_counted(loop: Loop) -> None:
    new = loop.deploy()
    start = loop.clock.monotonic()
    asked: list[tuple[float, tuple[str, ...]]] = []

    def health(watched: Any) -> HealthRound:
        asked.append((loop.clock.monotonic() - start, tuple(watched)))
        return HealthRound(True, "1 target(s) healthy")

    result = loop.watch(new, WatchSettings(duration=300, step=30, health_interval=90), health=health)
    assert result.verdict == "passed"
    # After the looks of the step that reaches each interval: 90 s, then 90 s after that round.
    assert asked == [(90.0, ("api",)), (180.0, ("api",)), (270.0, ("api",))]
    assert result.health_rounds == 3 and result.health_detail == "1 target(s) healthy"


def test_a_trip_ends_the_watch_at_once_without_another_health_round_or_look(loop: Loop) -> None:
    loop.sim.release_behaves(loop.service, NEW, Traffic(error_ratio=0.3), after=90)
    new = loop.deploy()
    start = loop.clock.monotonic()
    asked: list[float] = []

    def health(watched: Any) -> HealthRound:
        asked.append(loop.clock.monotonic() - start)
        return HealthRound(True, "1 target(s) healthy")

    result = loop.watch(new, WatchSettings(duration=600, step=30, health_interval=30), health=health)
    [service] = result.services
    assert result.verdict == "failed" and service.reason is not None and service.reason.startswith("5xx ratio")
    assert service.tripped_after is not None
    # A health round after each step that passed, none after the step that tripped: the rollback waits for nothing.
    assert asked == [30.0 * n for n in range(1, round(service.tripped_after / 30))]
    assert result.health_rounds == len(asked)
    assert result.seconds == service.tripped_after  # no look, no sleep after the trip
    # A progress line after the first look and after each step that passed: none once it tripped.
    assert len(loop.progress) == 1 + len(asked)


def test_with_nothing_in_transit_the_watch_ends_at_its_duration_not_at_the_deadline(loop: Loop) -> None:
    new = loop.deploy()
    result = loop.watch(new, deadline=Deadline(900, loop.clock))
    assert result.verdict == "passed" and result.seconds == 300 and not result.cut_short


def removing_at_the_end(loop: Loop) -> str:
    """Near the end of a five-minute window, someone's deployment replaces the watched one and crashes 20 s after
    going live: the watched one keeps serving, REMOVING, for the 60 s overlap, is REMOVED 8 s later, and then
    nothing serves the service."""
    loop.sim.set_overlap(loop.service, loop.env, overlap=60)
    new = loop.deploy()

    def live_then_crashed() -> None:
        made = loop.sim.deploy_now(loop.service, loop.env, NEWER, Script((("SUCCESS", 20.0), ("CRASHED", None))))
        assert loop.sim.status_of(made) == "SUCCESS"  # Railway switched over to it

    loop.after_looks(9, live_then_crashed)  # right after the look at 240 s
    return new


def test_a_deployment_seen_removing_at_the_end_is_looked_at_until_it_gets_somewhere_within_the_deadline(
    loop: Loop,
) -> None:
    new = removing_at_the_end(loop)
    start = loop.clock.monotonic()
    result = loop.watch(new, deadline=Deadline(400, loop.clock), superseded_by_newer=True)
    [service] = result.services
    [newer] = loop.sim.deployments_of(loop.service, NEWER)
    assert loop.sim.status_of(newer.id) == "CRASHED" and loop.sim.status_of(new) == "REMOVED"
    # Looked at again after the window (300 s) until Railway removed it (at 308 s): nothing serves, so it failed.
    assert result.seconds == 330 and loop.clock.monotonic() - start == 330
    assert result.verdict == "failed" and service.reason == f"deployment {new} is REMOVED"
    assert service.verdict == "failed" and service.replaced_by is None


def test_a_deployment_still_removing_at_the_deadline_keeps_its_checks_and_its_status_is_inconclusive(
    loop: Loop,
) -> None:
    new = removing_at_the_end(loop)
    result = loop.watch(new, deadline=Deadline(305, loop.clock), superseded_by_newer=True)
    [service] = result.services
    assert loop.sim.status_of(new) == "REMOVING"
    assert result.seconds == 305 and result.verdict == "inconclusive" and service.verdict == "inconclusive"
    # What the traffic showed while it served stays; its status is no verdict: never a pass.
    assert [(c.name, c.verdict) for c in service.checks] == [
        ("5xx ratio", "passed"),
        ("p95 latency", "passed"),
        ("memory", "passed"),
        ("status", "inconclusive"),
    ]
    assert service.checks[-1] == Check(
        "status", "inconclusive", "live (SUCCESS or SLEEPING)", "still REMOVING at the deadline"
    )


# --- The first look: where "before" ends, and what is judged at once ------------------------------------------------


def test_the_window_starts_at_go_live_read_from_railway_when_the_caller_does_not_know_it(loop: Loop) -> None:
    new = loop.deploy()  # made at 10,000 s, SUCCESS at 10,040 s, watched from 10,060 s
    result = loop.watch(new)  # as the release watches: no go-live given
    [service] = result.services
    assert service.live_at == service.split_at == loop.epoch(10_040)
    # The old deployment stopped serving at go-live and was REMOVED 8 s later: it served beside the new one until
    # then (its last requests may be in that step), and the service's metrics are the new one's from the next step.
    assert service.overlap_with == [loop.old] and service.judged_from == loop.epoch(10_048)
    assert service.judged() == (
        f"judged: new deployment only, from {clock_time(loop.epoch(10_040))} (go-live): its own HTTP logs while "
        f"{loop.old} still served, Railway's service metrics from {clock_time(loop.epoch(10_048))}"
    )
    # "before" is the old version's traffic up to go-live, less the step that holds it (it mixes both)
    assert service.baseline and service.baseline[-1].ts <= loop.epoch(10_040) - 30
    assert service.baseline[0].ts >= loop.epoch(10_040) - 300


def test_a_deployment_live_for_longer_than_the_window_is_compared_with_its_own_previous_window(loop: Loop) -> None:
    start = loop.epoch(loop.clock.monotonic())
    result = loop.watch(loop.old, live_at=loop.epoch(loop.clock.monotonic() - 7080))  # live for almost two hours
    [service] = result.services
    assert result.verdict == "passed"
    assert service.live_at is None and service.split_at == start
    assert service.judged() == f"judged: new deployment only, from {clock_time(start)}"


def test_memory_already_past_railways_limit_trips_at_the_first_look(loop: Loop) -> None:
    loop.sim.memory_limits[loop.service] = 1.0
    loop.sim.release_behaves(loop.service, NEW, Traffic(memory_gb=0.95))
    new = loop.deploy()
    result = loop.watch(new)
    [service] = result.services
    assert result.verdict == "failed" and service.tripped_after == 0 and result.seconds == 0
    assert service.reason is not None and service.reason.startswith("memory 0.95 GB")
    assert "> 90% of the 1 GB limit" in service.reason


def test_during_an_overlap_its_own_requests_since_go_live_are_judged_at_the_first_look(loop: Loop) -> None:
    """The old deployment still takes half the traffic: the service's metrics mix both versions, so the new one
    is judged on its own HTTP logs — all of them since go-live, the first look's included."""
    loop.sim.set_overlap(loop.service, loop.env, overlap=600)
    loop.sim.release_behaves(loop.service, NEW, Traffic(error_ratio=0.2))
    new = loop.deploy(live_for=40)  # 5 requests a second of its own: 200 by the first look
    result = loop.watch(new)
    [service] = result.services
    assert loop.sim.status_of(loop.old) == "REMOVING"
    assert result.verdict == "failed" and service.tripped_after == 0
    assert service.reason is not None and service.reason.startswith("5xx ratio 20.00% of ")
    assert service.overlap_with == [loop.old] and service.overlapping and service.judged_from is None
    assert f"its own HTTP logs ({loop.old} still served when the watch ended)" in service.judged()
    assert f"own logs while {loop.old} still serves" in loop.progress[0]
    assert any("→ 500" in line for line in service.error_lines)


def test_a_first_look_railway_does_not_answer_is_made_again_at_the_next_look(loop: Loop) -> None:
    new = loop.deploy()
    loop.sim.inject("http", FIRST_LOOK, count=5, status=503)  # every try of the first look
    result = loop.watch(new)
    [service] = result.services
    assert result.verdict == "passed" and service.verdict == "passed"
    assert service.unknown_looks == 1
    assert service.unknown_reason == f"Railway: {FIRST_LOOK}: HTTP 503 from {loop.sim.url}, after 5 attempt(s)"
    assert next(r.operation for r in loop.looks() if r.http_status == 200) == FIRST_LOOK
    assert service.split_at == loop.epoch(10_040)  # go-live, as if the first look had been answered
    assert service.baseline, "the baseline is read with the first look Railway answers"
    assert loop.progress[0].endswith(" left · api: UNKNOWN, not enough traffic to judge yet")


def test_a_first_look_made_again_keeps_the_watchs_start_as_the_start_of_what_is_judged(loop: Loop) -> None:
    start = loop.epoch(loop.clock.monotonic())
    loop.sim.inject("http", FIRST_LOOK, count=5, status=503)
    result = loop.watch(loop.old, live_at=loop.epoch(loop.clock.monotonic() - 7080))  # live for two hours
    [service] = result.services
    assert service.unknown_looks == 1 and result.verdict == "passed"
    assert service.split_at == start  # not the time of the first look Railway answered
    assert service.judged() == f"judged: new deployment only, from {clock_time(start)}"


# --- What each look asks Railway for ---------------------------------------------------------------------------------


def test_each_look_asks_only_for_what_it_needs_and_the_service_metrics_once_the_overlap_is_over(loop: Loop) -> None:
    loop.sim.set_overlap(loop.service, loop.env, overlap=75)  # the old one serves until 75 s after go-live
    loop.sim.add_deployment(loop.service, loop.env, "e" * 40, status="REMOVED", age=20_000)  # long gone
    new = loop.deploy()
    result = loop.watch(new, WatchSettings(duration=180, step=30))
    [service] = result.services
    removed = loop.epoch(10_040 + 75 + loop.sim.removing_seconds)
    assert result.verdict == "passed"
    assert service.overlap_with == [loop.old]  # not the deployment removed before the release
    assert not service.overlapping and service.judged_from == removed
    assert [r.operation for r in loop.looks()] == [
        FIRST_LOOK,  # at go-live + 20 s: the old one serves
        "WatchStatusExecutionsServingLogsResources",  # + 50 s
        "WatchStatusExecutionsServingLogsResources",  # + 80 s: it no longer serves, but is not REMOVED yet
        "WatchStatusExecutionsServingLogsResources",  # + 110 s: REMOVED at + 83 s
        LOOK,  # + 140 s: the service's metrics are its own
        LOOK,
        LOOK,
    ]
    assert result.requests == len(loop.looks()) <= result.budget
    assert service.judged().endswith(f"Railway's service metrics from {clock_time(removed)}")
    # Each look asks for what came since the last one: its own logs since the last look during the overlap, the
    # service's metrics from the latest step read (it was still filling) after it.
    asked = [(r.at, loop.asked(r, "logsAfter"), loop.asked(r, "startDate")) for r in loop.looks()]
    assert [(at, logs) for at, logs, _ in asked[1:4]] == [(10_090, 10_060), (10_120, 10_090), (10_150, 10_120)]
    assert [(at, metrics) for at, _, metrics in asked[4:]] == [(10_180, 10_140), (10_210, 10_170), (10_240, 10_200)]
    assert asked[0][1:] == (10_060 - 420, 10_060 - 420)  # the first look: two windows and steps back, for "before"


def test_a_look_railway_does_not_answer_decides_nothing_and_says_why(loop: Loop) -> None:
    new = loop.deploy()
    loop.sim.inject("http", LOOK, count=5, status=503)  # every try of the first look after the overlap
    result = loop.watch(new)
    [service] = result.services
    assert result.verdict == "passed" and service.tripped_after is None
    assert service.unknown_looks == 1
    assert service.unknown_reason == f"Railway: {LOOK}: HTTP 503 from {loop.sim.url}, after 5 attempt(s)"


# --- Railway refuses a part -----------------------------------------------------------------------------------------


def test_when_railway_refuses_to_list_the_deployments_the_summary_says_what_the_verdict_rests_on(loop: Loop) -> None:
    loop.sim.inject("graphql_error", "deployments", count=1000, message=PROBLEM)
    new = loop.deploy()
    result = loop.watch(new)
    [service] = result.services
    assert result.verdict == "passed" and service.refused == {"serving": PROBLEM}
    assert service.judged_from == service.split_at == loop.epoch(10_040)
    assert service.judged() == (
        f"judged: from {clock_time(loop.epoch(10_040))} (go-live), on Railway's service metrics (Railway refused to "
        "list the service's deployments, so an older one still serving could not be ruled out)"
    )
    # judged on the service's metrics from the first look on: every look after it asks for them, not for logs
    assert [r.operation for r in loop.looks()][-10:] == [LOOK] * 10


def test_railway_refusing_the_http_logs_during_an_overlap_makes_the_traffic_checks_inconclusive(loop: Loop) -> None:
    loop.sim.set_overlap(loop.service, loop.env, overlap=600)
    loop.sim.refuse_metrics.add("httpLogs")
    new = loop.deploy()
    result = loop.watch(new, WatchSettings(duration=120, step=30))
    [service] = result.services
    assert service.overlapping and service.refused == {"logs": "httpLogs is not available on this plan"}
    why = "Railway refused the deployment's HTTP logs during the overlap"
    assert [(c.name, c.verdict, c.seen) for c in service.checks if c.name != "memory"] == [
        ("5xx ratio", "inconclusive", why),
        ("p95 latency", "inconclusive", why),
    ]
    assert result.verdict == "inconclusive"
    assert "nothing (Railway refused its HTTP logs)" in service.judged()


def test_two_older_deployments_still_serving_are_both_named(loop: Loop) -> None:
    loop.sim.set_overlap(loop.service, loop.env, overlap=600)
    middle = loop.deploy(NEWER)  # replaces the old one, which keeps serving for ten minutes
    new = loop.deploy()  # replaces the middle one too: three deployments serve
    result = loop.watch(new, WatchSettings(duration=60, step=30))
    [service] = result.services
    assert service.overlap_with == [middle, loop.old]
    assert f"own logs while {middle}, {loop.old} still serves" in loop.progress[-1]
    assert f"its own HTTP logs ({middle}, {loop.old} still served when the watch ended)" in service.judged()


# --- Replaced during the watch --------------------------------------------------------------------------------------


def test_the_gate_calls_a_deployment_replaced_by_a_newer_live_one_superseded_and_names_it(loop: Loop) -> None:
    new = loop.deploy()
    loop.after_looks(3, lambda: loop.sim.deploy_now(loop.service, loop.env, NEWER, Script.success(10, 5)))
    result = loop.watch(new, superseded_by_newer=True)
    [service] = result.services
    [newer] = loop.sim.deployments_of(loop.service, NEWER)
    assert loop.sim.status_of(newer.id) == "SUCCESS"
    assert result.verdict == "superseded" and service.verdict == "superseded" and service.replaced_by == newer.id
    assert service.reason == f"deployment {new} is REMOVED (replaced by deployment {newer.id}): no longer watched"
    assert f"api: {service.reason}" in loop.progress
    assert result.seconds < 300  # no longer watched: the watch ends with it


def test_railway_refusing_the_deployments_list_during_an_overlap_leaves_it_judged_on_its_own_logs(loop: Loop) -> None:
    """Railway lists the service's deployments at first, then refuses to: the old one still served when it last
    said, so the new one is still judged from its own HTTP logs — never from the service's mixed metrics, and the
    summary says what it rests on."""
    loop.sim.set_overlap(loop.service, loop.env, overlap=900)
    loop.sim.overlap_share = 0.15  # the old deployment still takes most of the traffic
    loop.sim.release_behaves(loop.service, NEW, Traffic(error_ratio=0.10), after=150)
    new = loop.deploy()
    loop.after_looks(3, lambda: loop.sim.inject("graphql_error", "deployments", count=1000, message=PROBLEM))
    result = loop.watch(new)
    [service] = result.services
    assert service.refused == {"serving": PROBLEM} and service.overlap_with == [loop.old]
    assert result.verdict == "failed" and service.reason is not None and service.reason.startswith("5xx ratio")
    # Caught from its own requests: the service's metrics over the same stretch mix both versions under the floor.
    assert service.tripped_after is not None
    bad_from, tripped = 10_040 + 150, loop.clock.monotonic()
    requests, errors, *_ = loop.sim._integrate(loop.service, loop.env, bad_from, tripped)
    assert errors / requests < 0.02
    assert service.judged_from is None  # the service's metrics were never taken for its own
    assert "WatchStatusExecutionsHttpLatencyResources" not in [r.operation for r in loop.looks()]
    assert service.judged() == (
        f"judged: new deployment only, from {clock_time(loop.epoch(10_040))} (go-live): its own HTTP logs "
        f"({loop.old} still served when Railway last listed the service's deployments; it refused to list them "
        "after that)"
    )


# --- Unknown is never a pass -----------------------------------------------------------------------------------------


def test_a_watch_railway_answered_no_look_of_is_never_a_pass(loop: Loop) -> None:
    new = loop.deploy()
    loop.sim.inject("graphql_error", "deploymentInstanceExecutions", count=1000, message="Not Authorized")
    result = loop.watch(new)
    [service] = result.services
    assert service.first_look_done is False and service.unknown_looks == 11  # the first look and one per step
    refused = (
        "Railway: Railway refused the project token from RAILWAY_TOKEN (sent as Project-Access-Token): Not Authorized"
    )
    assert service.unknown_reason == refused
    assert result.verdict == "inconclusive" and service.verdict == "inconclusive"
    unknown = f"unknown: Railway answered none of 11 looks ({refused})"
    assert service.checks == [Check("status", "inconclusive", "live (SUCCESS or SLEEPING)", unknown)]
    assert result.headline() == f"Watch inconclusive: api: status {unknown}"


# --- Two services -----------------------------------------------------------------------------------------------------


def test_a_service_tripping_at_the_first_look_ends_the_watch_of_every_service_at_once(loop: Loop) -> None:
    loop.sim.memory_limits[loop.service] = 1.0
    loop.sim.release_behaves(loop.service, NEW, Traffic(memory_gb=0.95))
    api, web = loop.deploy_both()
    result = loop.watch(api, web=web)
    assert result.verdict == "failed" and result.seconds == 0
    assert result.services[0].verdict == "failed" and result.services[0].tripped_after == 0
    assert len(loop.looks()) == 2  # each service's first look, nothing after


def test_a_failed_health_round_fails_only_the_services_whose_checks_failed(loop: Loop) -> None:
    api, web = loop.deploy_both()
    rounds: list[tuple[str, ...]] = []

    def health(watched: Any) -> HealthRound:
        rounds.append(tuple(watched))
        if len(rounds) < 2:
            return HealthRound(True, "2 target(s) healthy")
        return HealthRound(False, "web: status: expected 200, got 503", frozenset({"web"}))

    result = loop.watch(api, WatchSettings(duration=300, step=30, health_interval=60), web=web, health=health)
    assert rounds == [("api", "web"), ("api", "web")]
    api_watch, web_watch = result.services
    assert web_watch.verdict == "failed" and web_watch.tripped_after == 120
    assert web_watch.reason == "health check failed during the watch: web: status: expected 200, got 503"
    assert api_watch.verdict == "passed" and api_watch.reason is None  # healthy: never failed for another
    assert result.verdict == "failed" and result.seconds == 120
    assert result.headline() == f"Watch failed: {web_watch.evidence()}"
    # A failing check of no one service (a URL given on its own) fails every service still watched.
    anyone = loop.watch(
        api,
        WatchSettings(duration=120, step=30, health_interval=60),
        web=web,
        health=lambda watched: HealthRound(False, "https://example.com/health: timed out"),
    )
    assert [s.verdict for s in anyone.services] == ["failed", "failed"]


def test_a_service_superseded_at_the_gate_is_no_longer_watched_while_the_others_are(loop: Loop) -> None:
    api, web = loop.deploy_both()
    newer = Script.success(build=10, deploy=5)
    loop.after_looks(5, lambda: loop.sim.deploy_now(loop.web, loop.env, NEWER, newer))  # api's look at 60 s
    result = loop.watch(api, web=web, superseded_by_newer=True)
    [replacement] = loop.sim.deployments_of(loop.web, NEWER)
    assert [(s.label, s.verdict) for s in result.services] == [("api", "passed"), ("web", "superseded")]
    assert result.verdict == "superseded" and result.seconds == 300
    gone = f"deployment {web} is REMOVED (replaced by deployment {replacement.id}): no longer watched"
    assert result.headline() == f"Watch stopped: web: {gone}; api passed after 5m00s"
    later = [line for line in loop.progress if "web: superseded, no longer watched" in line]
    assert later and all("api: SUCCESS, 5xx 0.20%" in line for line in later)
    # web's looks end with the one that saw it replaced (at 90 s) and the read of what replaced it
    assert loop.progress.index(f"web: {gone}") < loop.progress.index(later[0])


# --- After the overlap: the service's metrics -------------------------------------------------------------------------


def test_a_5xx_rise_after_the_overlap_is_caught_from_the_service_metrics_judged_without_a_gap(loop: Loop) -> None:
    loop.sim.set_overlap(loop.service, loop.env, overlap=60)  # the old one serves until 60 s after go-live
    loop.sim.release_behaves(loop.service, NEW, Traffic(error_ratio=0.1), after=150)
    new = loop.deploy()
    result = loop.watch(new)
    [service] = result.services
    assert service.judged_from == loop.epoch(10_040 + 60 + loop.sim.removing_seconds)
    assert result.verdict == "failed" and service.reason is not None and service.reason.startswith("5xx ratio")
    assert service.tripped_after == 150  # the first look after a step with enough bad requests
    # its own logs for the steps before the first metrics step after the overlap, then the service's metrics:
    # every step from the one holding go-live, each once
    steps = [s.ts for s in service.window]
    assert steps == [int(loop.epoch(t)) for t in range(10_020, 10_230, 30)]
    first_metrics = service.metrics_from(30)
    assert first_metrics == loop.epoch(10_110)
    own = [s for s in service.window if s.ts < first_metrics]
    assert sum(s.requests for s in own) == len([line for line in service.lines if line.at < first_metrics])


def test_railway_refusing_the_http_logs_leaves_the_checks_inconclusive_only_during_the_overlap(loop: Loop) -> None:
    loop.sim.set_overlap(loop.service, loop.env, overlap=60)
    loop.sim.refuse_metrics.add("httpLogs")
    new = loop.deploy()
    result = loop.watch(new)
    [service] = result.services
    assert result.verdict == "passed"
    assert [(c.name, c.verdict) for c in service.checks] == [
        ("5xx ratio", "passed"),
        ("p95 latency", "passed"),
        ("memory", "passed"),
    ]
    assert "nothing (Railway refused its HTTP logs)" in service.judged()


def test_railway_refusing_resource_metrics_leaves_memory_unjudged_and_the_rest_judged(loop: Loop) -> None:
    result, service = loop.watch_refusing("metrics")
    assert service.refused == {"resources": "metrics is not available on this plan"}
    assert [(c.name, c.verdict) for c in service.checks] == [("5xx ratio", "passed"), ("p95 latency", "passed")]
    assert result.verdict == "passed"


# --- Status and restarts ----------------------------------------------------------------------------------------------


def test_every_check_that_fails_at_once_is_named_in_the_reason(loop: Loop) -> None:
    loop.sim.release_behaves(loop.service, NEW, Traffic(error_ratio=0.3, p95_ms=900.0, p99_ms=1500.0), after=100)
    new = loop.deploy()
    result = loop.watch(new)
    [service] = result.services
    assert result.verdict == "failed" and service.reason is not None
    errors, latency = service.reason.split("; p95 latency ")
    assert errors.startswith("5xx ratio 30.00% of ") and errors.endswith(
        "(before 0.20%; fails when > 2.00% and > 2× before)"
    )
    assert latency.startswith("900ms (before 180ms; fails when > 1.5× before and +50ms)")


def test_a_crash_during_the_watch_trips_at_the_next_look_with_the_last_twenty_log_lines(loop: Loop) -> None:
    logs = tuple(f"worker {n}: {'FATAL: out of memory' if n == 29 else 'ok'}" for n in range(30))
    crash = Script((("BUILDING", 30.0), ("DEPLOYING", 10.0), ("SUCCESS", 100.0), ("CRASHED", None)), deploy_logs=logs)
    new = loop.deploy(script=crash)  # live at 40 s, CRASHED at 140 s: 80 s into the watch
    result = loop.watch(new)
    [service] = result.services
    assert result.verdict == "failed" and service.reason == f"deployment {new} is CRASHED"
    assert service.tripped_after == 90
    assert service.log_tail == logs[-20:]


def test_an_instance_that_crashed_and_came_back_between_two_looks_trips_the_next_look(loop: Loop) -> None:
    loop.sim.restart_after(loop.service, NEW, 35)  # 15 s after the first look; RESTARTING for 5 s, then RUNNING
    new = loop.deploy()
    result = loop.watch(new)
    [service] = result.services
    assert result.verdict == "failed" and service.tripped_after == 30
    crashed = f"{new[:8]}-exec-0 CRASHED at {clock_time(loop.epoch(10_075))}"
    assert service.reason == f"deployment {new} instance {crashed}"
    assert loop.sim.status_of(new) == "SUCCESS"  # Railway's status alone would not say so


def test_an_instance_that_crashed_before_the_watch_began_trips_the_first_look(loop: Loop) -> None:
    loop.sim.restart_after(loop.service, NEW, 10)  # 10 s after go-live: before the first look, 20 s after it
    new = loop.deploy()
    result = loop.watch(new)
    [service] = result.services
    assert result.verdict == "failed" and service.tripped_after == 0 and result.seconds == 0
    assert service.reason == f"deployment {new} instance {new[:8]}-exec-0 CRASHED at {clock_time(loop.epoch(10_050))}"


def test_the_long_watch_stops_watching_a_deployment_removed_by_hand_without_failing_it(loop: Loop) -> None:
    new = loop.deploy()

    def removed_by_hand() -> None:
        loop.sim.deployment(new).removed_at = loop.clock.monotonic()

    loop.after_looks(3, removed_by_hand)
    result = loop.watch(new, stop_when_replaced=True)
    [service] = result.services
    assert result.verdict == "superseded" and service.replaced_by is None
    assert service.reason == f"deployment {new} is REMOVED: no longer watched"
    assert result.seconds == 90


def test_without_railways_latency_metrics_p95_during_the_overlap_is_its_own_logs_figure(loop: Loop) -> None:
    """No latency metrics on the plan: the old version's p95 is unknown, but the new deployment's own requests
    still give its p95 during the overlap — shown, and inconclusive for want of a baseline, not for a refusal."""
    loop.sim.set_overlap(loop.service, loop.env, overlap=600)
    loop.sim.refuse_metrics.add("httpDurationMetrics")
    new = loop.deploy()
    result = loop.watch(new, WatchSettings(duration=120, step=30))
    [service] = result.services
    assert service.overlapping and "latency" in service.refused
    p95 = next(c for c in service.checks if c.name == "p95 latency")
    assert (p95.verdict, p95.seen) == ("inconclusive", "179ms; no baseline to compare with")
    assert next(c for c in service.checks if c.name == "5xx ratio").verdict == "passed"


def test_a_bad_release_without_an_overlap_is_judged_at_the_first_look_from_both_sources(loop: Loop) -> None:
    """No overlap: the old deployment stops serving at go-live and is REMOVED 8 s later. The first look, 20 s in,
    judges the new deployment's own requests until the first metrics step after that, the service's metrics from
    it: 50 requests of each, together enough for a verdict."""
    loop.sim.release_behaves(loop.service, NEW, Traffic(rpm=300, error_ratio=0.2))
    new = loop.deploy()
    result = loop.watch(new)
    [service] = result.services
    assert service.metrics_from(30) == loop.epoch(10_050)
    assert [(s.ts, round(s.requests)) for s in service.window] == [
        (int(loop.epoch(10_020)), 50),  # its own logged requests from go-live (10,040 s) to 10,050 s
        (int(loop.epoch(10_050)), 50),  # the service's metrics, 10,050 s to the first look at 10,060 s
    ]
    assert result.verdict == "failed" and service.tripped_after == 0
    assert service.reason is not None and service.reason.startswith("5xx ratio 20.00% of 100 requests")


def test_a_deployment_already_crashed_at_the_first_look_fails_at_once_and_its_crash_is_not_its_go_live(
    loop: Loop,
) -> None:
    crashed = Script((("BUILDING", 30.0), ("DEPLOYING", 10.0), ("SUCCESS", 5.0), ("CRASHED", None)))
    with loop.sim.lock:
        new = loop.sim._create(loop.service, loop.env, NEW, crashed, loop.clock.monotonic()).id
    loop.clock.advance(42)
    assert loop.sim.status_of(new) == "SUCCESS"  # live at 40 s: Railway switches over to it
    loop.clock.advance(18)
    assert loop.sim.status_of(new) == "CRASHED"  # at 45 s
    result = loop.watch(new)  # as the release watches: no go-live given
    [service] = result.services
    assert result.verdict == "failed" and service.reason == f"deployment {new} is CRASHED"
    assert service.tripped_after == 0
    start = loop.epoch(10_060)
    assert service.live_at is None and service.judged() == f"judged: new deployment only, from {clock_time(start)}"


def test_a_crashed_deployment_whose_logs_railway_does_not_give_still_fails_saying_so(loop: Loop) -> None:
    loop.sim.inject("graphql_error", "deploymentLogs", count=1000, message="Problem processing request")
    crash = Script((("BUILDING", 30.0), ("DEPLOYING", 10.0), ("SUCCESS", 100.0), ("CRASHED", None)))
    new = loop.deploy(script=crash)
    result = loop.watch(new)
    [service] = result.services
    assert result.verdict == "failed" and service.reason == f"deployment {new} is CRASHED"
    assert service.log_tail == () and result.to_json()["services"][0]["log_tail"] == []


def test_a_newer_deployment_replacing_it_while_an_older_one_still_drains_supersedes_it_at_the_gate(
    loop: Loop,
) -> None:
    loop.sim.set_overlap(loop.service, loop.env, overlap=3600)  # every replaced deployment serves for an hour
    new = loop.deploy()
    loop.after_looks(3, lambda: loop.sim.deploy_now(loop.service, loop.env, NEWER, Script.success(10, 5)))
    result = loop.watch(new, superseded_by_newer=True)
    [service] = result.services
    [newer] = loop.sim.deployments_of(loop.service, NEWER)
    assert service.overlapping and loop.sim.status_of(new) == "REMOVING"
    assert service.verdict == "superseded" and service.replaced_by == newer.id
    assert service.reason == f"deployment {new} is REMOVING (replaced by deployment {newer.id}): no longer watched"
    assert result.seconds == 90


def test_a_replacement_railway_does_not_name_at_once_is_named_at_the_next_look(loop: Loop) -> None:
    new = loop.deploy()
    loop.after_looks(3, lambda: loop.sim.deploy_now(loop.service, loop.env, NEWER, Script.success(10, 5)))
    loop.sim.inject("http", "WatchServing", count=5, status=503)  # every try of the read of what replaced it
    result = loop.watch(new, superseded_by_newer=True)
    [service] = result.services
    [newer] = loop.sim.deployments_of(loop.service, NEWER)
    assert service.unknown_looks == 1 and "WatchServing" in (service.unknown_reason or "")
    # seen REMOVED at 90 s with its replacement unknown (five tries): no verdict; named by the next look
    assert service.verdict == "superseded" and service.replaced_by == newer.id and 120 < result.seconds < 150
    assert [r.operation for r in loop.looks()][-1] == "WatchStatusExecutionsServingHttpLatencyResources"


def test_without_railways_http_metrics_the_5xx_ratio_is_inconclusive_not_judged_on_old_figures(loop: Loop) -> None:
    result, service = loop.watch_refusing("httpMetricsGroupedByStatus")
    assert service.refused == {"http": "httpMetricsGroupedByStatus is not available on this plan"}
    errors = next(c for c in service.checks if c.name == "5xx ratio")
    assert (errors.verdict, errors.seen) == ("inconclusive", "Railway refused http metrics")
    assert result.verdict == "inconclusive"
    # The progress line says so too, instead of a 5xx figure from samples read before the refusal.
    assert "api: SUCCESS, 5xx not read (Railway refused http metrics), p95 " in loop.progress[-1]
    assert " req" not in loop.progress[-1]


def test_once_railway_names_what_replaced_it_and_nothing_live_did_its_removal_fails_the_watch(loop: Loop) -> None:
    new = loop.deploy()

    def replaced_then_crashed() -> None:
        made = loop.sim.deploy_now(loop.service, loop.env, NEWER, Script((("SUCCESS", 10.0), ("CRASHED", None))))
        assert loop.sim.status_of(made) == "SUCCESS"  # Railway switched over to it, then it crashed

    loop.after_looks(3, replaced_then_crashed)  # at 60 s: the watched one is REMOVED at 68 s
    loop.sim.inject("http", "WatchServing", count=5, status=503)  # the read of what replaced it, at 90 s
    result = loop.watch(new, superseded_by_newer=True)
    [service] = result.services
    assert service.unknown_looks == 1  # no verdict at 90 s; the next look names the crashed replacement
    assert result.verdict == "failed" and service.reason == f"deployment {new} is REMOVED"
    assert service.replaced_by is None and 120 < result.seconds < 150


def test_a_replacement_railway_never_names_by_the_deadline_leaves_the_status_inconclusive(loop: Loop) -> None:
    new = loop.deploy()
    loop.after_looks(3, lambda: loop.sim.deploy_now(loop.service, loop.env, NEWER, Script.success(10, 5)))
    # From the look that sees it REMOVED (at 90 s) on, Railway answers no request that lists the deployments.
    loop.after_looks(4, lambda: loop.sim.inject("http", "deployments", count=1000, status=503))
    result = loop.watch(new, deadline=Deadline(360, loop.clock), superseded_by_newer=True)
    [service] = result.services
    assert loop.sim.status_of(new) == "REMOVED" and service.status == "REMOVED"
    assert service.verdict == "inconclusive" and service.replaced_by is None and service.reason is None
    assert service.checks[-1] == Check(
        "status", "inconclusive", "live (SUCCESS or SLEEPING)", "REMOVED, and Railway did not answer what replaced it"
    )
    # Looked at until the deadline (its last look, at 360 s, tried five times): no verdict on looks not answered.
    assert 360 < result.seconds < 390 and service.unknown_looks >= 5


def test_a_failure_ends_the_watch_at_once_even_with_another_service_still_undecided(loop: Loop) -> None:
    """web is seen REMOVED at 90 s and Railway does not answer what replaced it (no verdict yet); api's 5xx trip at
    the next look, at 120 s. The gate stops there — the rollback waits for nothing — and web's status is said
    undecided, not judged."""
    loop.sim.release_behaves(loop.service, NEW, Traffic(error_ratio=0.3), after=115)  # 5xx from 10,155 s
    api, web = loop.deploy_both()
    loop.after_looks(6, lambda: loop.sim.deploy_now(loop.web, loop.env, NEWER, Script.success(10, 5)))  # at 60 s
    loop.sim.inject("http", "WatchServing", count=5, status=503)  # every try of the read of what replaced web
    result = loop.watch(api, web=web, deadline=Deadline(360, loop.clock), superseded_by_newer=True)
    api_watch, web_watch = result.services
    assert api_watch.verdict == "failed" and api_watch.reason is not None and api_watch.reason.startswith("5xx")
    assert api_watch.tripped_after is not None and 120 < api_watch.tripped_after < 150  # after web's five tries
    assert result.seconds == api_watch.tripped_after and result.verdict == "failed"
    assert web_watch.verdict == "inconclusive" and web_watch.replaced_by is None
    assert web_watch.checks[-1].seen == "REMOVED, and Railway did not answer what replaced it"


def test_a_service_still_removing_when_another_fails_is_said_undecided_at_the_failure_not_the_deadline(
    loop: Loop,
) -> None:
    loop.sim.release_behaves(loop.service, NEW, Traffic(error_ratio=0.3), after=115)  # api trips at 120 s
    loop.sim.set_overlap(loop.web, loop.env, overlap=60)
    api, web = loop.deploy_both()

    def web_replaced_then_crashed() -> None:
        made = loop.sim.deploy_now(loop.web, loop.env, NEWER, Script((("SUCCESS", 20.0), ("CRASHED", None))))
        assert loop.sim.status_of(made) == "SUCCESS"

    loop.after_looks(6, web_replaced_then_crashed)  # after web's look at 60 s: REMOVING until 128 s
    result = loop.watch(api, web=web, deadline=Deadline(360, loop.clock), superseded_by_newer=True)
    api_watch, web_watch = result.services
    assert api_watch.verdict == "failed" and api_watch.tripped_after == 120 and result.seconds == 120
    assert loop.sim.status_of(web) == "REMOVING"
    assert web_watch.verdict == "inconclusive"
    assert web_watch.checks[-1].seen == "still REMOVING when the watch stopped at a failure"
