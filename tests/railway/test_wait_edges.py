"""The waiter's edges, pinned on the shared test clock: its last look is at the deadline (never a poll interval
early), the settle window never reads Railway without sleeping first and never after its deadline, durations are
measured from the deploy request, the failing build step is the one Railway says, and a stale report never
rewinds a status."""

from __future__ import annotations

from dataclasses import replace

import pytest

from kars_actions.core.timing import Deadline
from kars_actions.railway.api import Deployment
from kars_actions.railway.wait import (
    PollPolicy,
    ServiceDeployment,
    ServiceRef,
    StartedDeployment,
    estimate_duration,
    failure_reason,
    settle,
    wait_for_deployments,
)
from tests.fakes.railway_sim import Script, _event
from tests.railway.conftest import NEW, World

DEADLINE = 100.0


def start(world: World, script: Script, *, at: float = 250.0) -> StartedDeployment:
    """A deployment of the api requested at simulated second ``at`` (not 0: a duration that forgets the start
    shows)."""
    world.clock.advance(at - world.clock.monotonic())
    world.sim.script_for(world.api, script)
    client = world.client()
    deployment_id = client.deploy(world.api, world.env, NEW)
    return StartedDeployment(ServiceRef(world.api, "api"), deployment_id, False, world.clock.monotonic())


def wait(world: World, started: StartedDeployment, seconds: float = DEADLINE) -> ServiceDeployment:
    rows = wait_for_deployments(
        world.client(), lambda service, deployment: "", [started], deadline=Deadline.after(seconds, world.clock)
    )
    return rows["api"]


def read_times(world: World, since: float) -> list[float]:
    return [r.at - since for r in world.sim.requests if r.operation == "Deployment"]


# --- the last look ----------------------------------------------------------------------------------------------------


def test_success_between_the_last_poll_and_the_deadline_is_seen_by_a_look_at_the_deadline(world: World) -> None:
    # Polls without an estimate at 5, 10, 20, 40 and 80 s; the next would be at 140. It goes live at 95.
    started = start(world, Script((("BUILDING", 90.0), ("DEPLOYING", 5.0), ("SUCCESS", None))))
    row = wait(world, started)
    assert row.status == "SUCCESS" and row.live
    assert read_times(world, started.started_at) == [5.0, 10.0, 20.0, 40.0, 80.0, DEADLINE]
    assert row.duration == DEADLINE and row.live_at == started.started_at + DEADLINE


def test_timed_out_is_declared_at_the_deadline_never_a_poll_interval_early(world: World) -> None:
    started = start(world, Script((("BUILDING", None),)))
    row = wait(world, started)
    assert row.status == "TIMED_OUT" and not row.live
    assert read_times(world, started.started_at)[-1] == DEADLINE
    assert row.duration == DEADLINE
    assert row.reason == "still BUILDING after 1m40s; it continues on Railway and goes live if it succeeds"
    assert world.clock.monotonic() == started.started_at + DEADLINE


def test_a_failure_is_reported_with_the_time_it_was_seen_from_the_request(world: World) -> None:
    started = start(world, Script.build_failure(build=30))
    row = wait(world, started)
    assert row.status == "FAILED"
    assert row.duration == 40.0  # FAILED at 30 s, seen at the poll at 40 s
    assert read_times(world, started.started_at) == [5.0, 10.0, 20.0, 40.0]


# --- the settle window --------------------------------------------------------------------------------------------


def live_row(world: World, live_for: float) -> ServiceDeployment:
    """The api's new deployment, live for ``live_for`` seconds already."""
    started = start(world, Script((("DEPLOYING", 10.0), ("SUCCESS", None))))
    world.clock.advance(10.0 + live_for)
    return ServiceDeployment(
        service="api",
        service_id=world.api,
        commit=NEW,
        status="SUCCESS",
        live=True,
        deployment_id=started.deployment_id,
        live_at=started.started_at + 10.0,
    )


def test_the_settle_window_looks_every_interval_and_last_at_its_end(world: World) -> None:
    row = live_row(world, live_for=0.0)
    began = world.clock.monotonic()
    out = settle(world.client(), [row], seconds=30.0, deadline=Deadline.after(120, world.clock))
    assert out[0].live
    assert read_times(world, began) == [10.0, 20.0, 30.0]
    assert world.clock.monotonic() == began + 30.0


def test_the_settle_window_stops_at_its_deadline_with_a_look_at_the_deadline_and_none_after(world: World) -> None:
    row = live_row(world, live_for=0.0)
    began = world.clock.monotonic()
    settle(world.client(), [row], seconds=30.0, deadline=Deadline.after(12, world.clock))
    assert read_times(world, began) == [10.0, 12.0]
    assert world.clock.monotonic() == began + 12.0


@pytest.mark.parametrize("deadline_left", [0.0, 60.0])
def test_settle_never_reads_railway_without_sleeping_first(world: World, deadline_left: float) -> None:
    """Past its deadline, or for a deployment whose window already ended (it was seen live since), there is nothing
    left to watch: no read at once, no busy loop."""
    row = live_row(world, live_for=45.0 if deadline_left else 0.0)
    began = world.clock.monotonic()
    said: list[str] = []
    out = settle(
        world.client(), [row], seconds=30.0, deadline=Deadline.after(deadline_left, world.clock), progress=said.append
    )
    assert out == [row]
    assert read_times(world, began) == [] and world.clock.monotonic() == began
    assert said == []  # nothing is watched, so nothing says it is


def test_settle_watches_only_live_rows_and_says_how_many(world: World) -> None:
    live = live_row(world, live_for=0.0)
    failed = replace(live, service="web", status="FAILED", live=False)
    began = world.clock.monotonic()
    said: list[str] = []
    deadline = Deadline.after(120, world.clock)
    settle(world.client(), [live, failed], seconds=30.0, deadline=deadline, progress=said.append)
    assert said == ["watching 1 live deployment(s) for 30s in case they crash"]
    assert read_times(world, began) == [10.0, 20.0, 30.0]
    said.clear()
    assert settle(world.client(), [failed], seconds=30.0, deadline=deadline, progress=said.append) == [failed]
    assert said == []


def test_a_crash_in_the_settle_window_is_dated_from_going_live(world: World) -> None:
    started = start(world, Script((("DEPLOYING", 10.0), ("SUCCESS", 14.0), ("CRASHED", None))))
    world.clock.advance(10.0)
    row = ServiceDeployment(
        "api", world.api, NEW, "SUCCESS", True, deployment_id=started.deployment_id, live_at=started.started_at + 10
    )
    out = settle(world.client(), [row], seconds=30.0, deadline=Deadline.after(120, world.clock))
    assert out[0].status == "CRASHED" and not out[0].live
    assert out[0].reason is not None and out[0].reason.startswith("CRASHED 20s after going live")


# --- the failing build step -----------------------------------------------------------------------------------------


def reason_of(world: World, script: Script, *, after: float) -> tuple[str, tuple[str, ...]]:
    """Why the api's deployment following ``script`` failed, asked ``after`` seconds into it."""
    started = start(world, script)
    world.clock.advance(after)
    client = world.client()
    return failure_reason(client, client.deployment(started.deployment_id))


def test_the_failing_step_is_the_last_one_railway_marks_failed_with_its_attempts(world: World) -> None:
    script = Script(
        (("BUILDING", 30.0), ("FAILED", None)),
        events=(
            _event("SNAPSHOT_CODE", error="retrying the snapshot"),
            _event("BUILD_IMAGE", error="Docker build failed", attempt=2, maxAttempts=2),
        ),
        build_logs=tuple(f"build line {n}" for n in range(1, 15)),
        deploy_logs=("never started",),
    )
    reason, tail = reason_of(world, script, after=31.0)
    assert reason == "BUILD_IMAGE failed after 2 attempts: Docker build failed"
    assert tail == tuple(f"build line {n}" for n in range(5, 15)), "the build log's last ten lines"


def test_a_failure_after_the_build_shows_the_application_log_not_the_build_log(world: World) -> None:
    script = Script(
        (("BUILDING", 30.0), ("DEPLOYING", 10.0), ("FAILED", None)),
        events=(_event("BUILD_IMAGE"), _event("PRE_DEPLOY_COMMAND", error="migration failed")),
        build_logs=("build ok",),
        deploy_logs=("running migrations", "relation users already exists"),
    )
    reason, tail = reason_of(world, script, after=41.0)
    assert reason == "PRE_DEPLOY_COMMAND failed: migration failed"
    assert tail == ("running migrations", "relation users already exists")


# --- statuses only move forward ---------------------------------------------------------------------------------


def report(status: str, at: str | None) -> Deployment:
    return Deployment("d", status, status_updated_at=at)


@pytest.mark.parametrize(
    ("incoming", "known", "fresher"),
    [
        (report("INITIALIZING", "2026-03-01T00:00:00Z"), report("BUILDING", "2026-03-01T00:00:03Z"), False),
        (report("BUILDING", "2026-03-01T00:00:03Z"), report("INITIALIZING", "2026-03-01T00:00:00Z"), True),
        (report("SUCCESS", "2026-03-01T01:00:00Z"), report("SLEEPING", "2026-03-01T00:30:00Z"), True),  # woke up
        (report("INITIALIZING", None), report("BUILDING", None), False),  # no timestamps: Railway's order decides
        (report("DEPLOYING", "2026-03-01T00:00:03Z"), report("BUILDING", "2026-03-01T00:00:03Z"), True),
        (report("BUILDING", "2026-03-01T00:00:03Z"), report("DEPLOYING", "2026-03-01T00:00:03Z"), False),
        (report("BUILDING", None), None, True),
    ],
)
def test_a_report_is_fresher_by_its_timestamp_then_by_railways_order(
    incoming: Deployment, known: Deployment | None, fresher: bool
) -> None:
    assert incoming.fresher_than(known) is fresher



# --- a rerun that found the deployment -----------------------------------------------------------------------------


def test_a_rerun_that_found_the_deployment_live_reports_it_without_asking_railway_again(world: World) -> None:
    started = start(world, Script.success(build=30, deploy=10))
    world.clock.advance(60)
    seen = world.client().deployment(started.deployment_id)
    assert seen.live
    rerun = StartedDeployment(started.service, started.deployment_id, True, world.clock.monotonic(), seen=seen)
    reads = world.sim.count("Deployment")
    row = wait(world, rerun)
    assert row.live and row.status == "SUCCESS" and row.reused and row.live_at == world.clock.monotonic()
    assert world.sim.count("Deployment") == reads  # what it just read is the answer


def test_a_rerun_that_found_the_deployment_building_waits_from_the_status_it_saw(world: World) -> None:
    started = start(world, Script.success(build=30, deploy=10))
    world.clock.advance(5)
    seen = world.client().deployment(started.deployment_id)
    assert seen.status == "BUILDING"
    rerun = StartedDeployment(started.service, started.deployment_id, True, world.clock.monotonic(), seen=seen)
    lines: list[str] = []
    rows = wait_for_deployments(
        world.client(),
        lambda service, deployment: "",
        [rerun],
        deadline=Deadline.after(DEADLINE, world.clock),
        progress=lines.append,
    )
    assert rows["api"].live
    # the status it saw is where it starts: BUILDING is not announced again as if new
    assert not any("api: BUILDING" in line for line in lines), lines


def test_a_status_railway_cannot_give_is_said_once_asked_again_after_the_interval_and_its_return_is_said(
    world: World,
) -> None:
    started = start(world, Script.success(build=60, deploy=20))
    world.sim.inject("http", "Deployment", count=5, status=503)  # the client's five attempts at the first look
    lines: list[str] = []
    rows = wait_for_deployments(
        world.client(),
        lambda service, deployment: "",
        [started],
        deadline=Deadline.after(DEADLINE * 2, world.clock),
        progress=lines.append,
    )
    assert rows["api"].live
    said = "api: cannot read the status from Railway, will ask again (Railway: Deployment: HTTP 503"
    assert lines[0].startswith(said)
    assert lines[1] == "api: Railway answers again"
    assert [line for line in lines if "cannot read" in line or "answers again" in line] == lines[:2]
    reads = read_times(world, started.started_at)
    assert reads[5] - reads[4] == pytest.approx(PollPolicy().min_interval)  # one unanswered look: the shortest wait


def test_a_crash_railway_gives_no_failing_step_for_is_said_as_the_app_exiting_with_its_log(world: World) -> None:
    script = Script(
        (("BUILDING", 30.0), ("DEPLOYING", 10.0), ("CRASHED", None)),
        events=(_event("BUILD_IMAGE"),),
        deploy_logs=("Starting Container", "exited with code 1"),
    )
    reason, tail = reason_of(world, script, after=41.0)
    assert reason == "the app exited after it started"
    assert tail == ("Starting Container", "exited with code 1")


def test_a_failure_without_a_failing_step_or_healthcheck_lines_shows_the_build_log(world: World) -> None:
    script = Script(
        (("BUILDING", 30.0), ("FAILED", None)),
        events=(),
        build_logs=("step 1/3", "npm ERR! code ELIFECYCLE"),
        deploy_logs=("never started",),
    )
    reason, tail = reason_of(world, script, after=31.0)
    assert reason == "the build or deploy failed (the previous deployment keeps serving)"
    assert tail == ("step 1/3", "npm ERR! code ELIFECYCLE")


# --- how long a deploy should take ----------------------------------------------------------------------------------


def history(world: World, **past: object) -> list[Deployment]:
    """The service's history as Railway lists it, with one past deployment of its own (the world's are left out)."""
    world.sim.add_deployment(world.api, world.env, "b" * 40, age=7200.0, **past)  # type: ignore[arg-type]
    listed = world.client().deployments(world.project, world.env, world.api, first=20)
    return [d for d in listed if d.commit_hash == "b" * 40]


@pytest.mark.parametrize(("took", "expected"), [(300.0, 300.0), (5.0, 5.0), (4.0, None), (3601.0, None)])
def test_the_estimate_is_how_long_the_last_good_deploy_took_within_five_seconds_and_an_hour(
    world: World, took: float, expected: float | None
) -> None:
    past = history(world, took=took)
    estimate = estimate_duration(world.client(), past)
    assert estimate == (pytest.approx(expected) if expected is not None else None)


def test_a_replaced_deployment_that_can_be_rolled_back_to_still_gives_the_estimate(world: World) -> None:
    past = history(world, status="REMOVED", took=200.0)
    assert estimate_duration(world.client(), past) == pytest.approx(200.0)
    assert estimate_duration(world.client(), []) is None


def test_a_failed_healthcheck_shows_railways_attempts_then_the_apps_last_five_lines(world: World) -> None:
    script = Script.healthcheck_failure(build=30.0, deploy=10.0, attempts=3)
    script = replace(script, deploy_logs=tuple(f"app line {n}" for n in range(1, 9)))
    reason, tail = reason_of(world, script, after=41.0)
    assert reason == "HEALTHCHECK failed after 3 attempts: service unavailable"
    checks, app = tail[: tail.index("-- application log --")], tail[tail.index("-- application log --") + 1 :]
    assert checks[0] == "Starting Healthcheck" and checks[-1] == "Healthcheck failed!"
    assert app == ("app line 4", "app line 5", "app line 6", "app line 7", "app line 8")


def test_a_failure_with_no_step_and_no_healthcheck_lines_is_not_called_a_healthcheck_failure(world: World) -> None:
    """Railway marked it FAILED without saying which step, and its build log has no healthcheck in it: the reason
    stays Railway's own, and the evidence is the build log's tail (a step-less failure is a build's, most often) —
    not an invented healthcheck story."""
    script = Script(
        (("BUILDING", 30.0), ("DEPLOYING", 10.0), ("FAILED", None)),
        build_logs=("build ok",),
        deploy_logs=("starting", "out of memory"),
    )
    reason, tail = reason_of(world, script, after=41.0)
    assert "HEALTHCHECK" not in reason and "healthcheck" not in reason
    assert tail == ("build ok",)
