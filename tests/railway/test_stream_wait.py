"""The deploy waiter with Railway's status stream as its primary source, through the CLI as a real process on a
virtual clock that the simulator follows: pushes arrive at the second they happen, and every way the stream can
fail ends in polling the same deployment, never a lost or a second one."""

from __future__ import annotations

from pathlib import Path

from tests.fakes.railway_sim import Script
from tests.fakes.railway_stream import stream_control
from tests.railway.conftest import NEW, World
from tests.railway.test_truth import FOREVER, deploy, status_polls

BUILD, GO_LIVE = 210.0, 90.0  # a five-minute deploy


def five_minutes(world: World) -> None:
    world.sim.script_for(world.api, Script.success(build=BUILD, deploy=GO_LIVE))


def test_a_five_minute_deploy_takes_one_subscription_two_reads_and_is_reported_within_a_second(
    timed_world: World, tmp_path: Path
) -> None:
    five_minutes(timed_world)
    run = deploy(timed_world, tmp_path, "--settle", "0")  # the crash watch after going live reads on its own
    assert run.code == 0, run.stdout + run.stderr
    row = run.report["services"][0]
    assert row["status"] == "SUCCESS"
    assert stream_control(timed_world.sim).subscribed == [row["deployment_id"]]
    assert status_polls(timed_world) <= 3  # the read when subscribing, and a look after two minutes of silence
    assert row["duration_seconds"] - (BUILD + GO_LIVE) <= 1.0, "SUCCESS reported more than a second late"
    assert "following 1 deployment(s) through Railway's status stream" in run.stderr
    assert stream_control(timed_world.sim).closed == 1, "the waiter closes the subscription socket when it is done"


def test_a_refused_stream_falls_back_to_polling_and_still_reports_success(timed_world: World, tmp_path: Path) -> None:
    five_minutes(timed_world)
    stream_control(timed_world.sim).refuse = FOREVER
    run = deploy(timed_world, tmp_path)
    assert run.code == 0, run.stdout + run.stderr
    assert run.report["services"][0]["status"] == "SUCCESS"
    assert "status stream is not available (Railway refused the subscription socket (HTTP 503))" in run.stderr
    assert status_polls(timed_world) > 3
    assert len(timed_world.sim.deployments_of(timed_world.api, NEW)) == 1


def test_a_dropped_stream_falls_back_without_losing_or_duplicating_the_deployment(
    timed_world: World, tmp_path: Path
) -> None:
    five_minutes(timed_world)
    stream_control(timed_world.sim).drop_after = 1  # right after it pushed DEPLOYING
    run = deploy(timed_world, tmp_path)
    assert run.code == 0, run.stdout + run.stderr
    row = run.report["services"][0]
    assert row["status"] == "SUCCESS"
    assert stream_control(timed_world.sim).dropped == 1
    assert "status stream was lost (the subscription socket dropped" in run.stderr
    (created,) = timed_world.sim.deployments_of(timed_world.api, NEW)
    assert row["deployment_id"] == created.id
    assert not timed_world.sim.mutations[1:], "one deploy request, no other write"


def test_a_stream_gone_silent_is_found_out_and_polling_takes_over(timed_world: World, tmp_path: Path) -> None:
    five_minutes(timed_world)
    stream_control(timed_world.sim).silent = True
    run = deploy(timed_world, tmp_path)
    assert run.code == 0, run.stdout + run.stderr
    assert run.report["services"][0]["status"] == "SUCCESS"
    assert "it did not push api's change to DEPLOYING" in run.stderr
    assert len(timed_world.sim.deployments_of(timed_world.api, NEW)) == 1


def test_a_failure_pushed_by_the_stream_carries_its_reason_and_log(timed_world: World, tmp_path: Path) -> None:
    timed_world.sim.script_for(timed_world.api, Script.build_failure())
    run = deploy(timed_world, tmp_path)
    assert run.code == 1, run.stdout + run.stderr
    row = run.report["services"][0]
    assert row["status"] == "FAILED" and row["reason"] == "BUILD_IMAGE failed: Docker build failed"
    assert status_polls(timed_world) == 1


def test_the_stream_reports_success_even_while_status_reads_fail(timed_world: World, tmp_path: Path) -> None:
    """Railway's own word, pushed, is as good as a read: reads failing with 502 do not make the outcome unknown."""
    five_minutes(timed_world)
    timed_world.sim.inject("http", "Deployment", count=FOREVER, status=502)
    run = deploy(timed_world, tmp_path)
    assert run.code == 0, run.stdout + run.stderr
    assert run.report["services"][0]["status"] == "SUCCESS"


def test_a_lost_stream_is_followed_by_a_look_at_once_not_at_the_next_poll(timed_world: World, tmp_path: Path) -> None:
    """The socket drops right after pushing DEPLOYING: what happened while nobody listened is unknown, so the waiter
    reads the deployment that second — not at the next look the silence rule had planned (two minutes on)."""
    five_minutes(timed_world)
    stream_control(timed_world.sim).drop_after = 2  # BUILDING when it subscribed, then DEPLOYING, then the cut
    run = deploy(timed_world, tmp_path, "--settle", "0")
    assert run.code == 0, run.stdout + run.stderr
    assert stream_control(timed_world.sim).dropped == 1 and "status stream was lost" in run.stderr
    (created,) = timed_world.sim.deployments_of(timed_world.api, NEW)
    dropped_at = created.created + BUILD
    after = [r.at - dropped_at for r in timed_world.sim.requests if r.operation == "Deployment" and r.at >= dropped_at]
    assert after and after[0] <= 2.0, f"first look {after[:1]} s after the stream was lost"
