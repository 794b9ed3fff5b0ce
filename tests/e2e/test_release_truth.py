"""The release under Railway trouble and reruns: it ends with the true state of production in the exit code, the
outputs and the step summary — from what Railway says, never from what was hoped.

Same world as ``test_release.py``: the real CLI, the Railway simulator (5 simulated seconds per request), the
GitHub fake, and health servers that answer with the commit live on the simulator right now.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

from tests.fakes.railway_sim import Script
from tests.fakes.railway_stream import stream_control
from tests.fakes.world import OLD, World, process_environment, stage_status

PROBLEM = "Problem processing request"
FOREVER = 10**6


def summary_of(world: World, tmp_path: Path, *extra: str) -> tuple[int, dict[str, Any], str, str]:
    summary = tmp_path / "summary.md"
    summary.write_text("")
    code, report, err = world.invoke(*extra, GITHUB_STEP_SUMMARY=str(summary))
    return code, report, err, summary.read_text()


def live_commits(world: World) -> dict[str, str | None]:
    return {name: app.live_commit() for name, app in world.apps.items()}


def test_one_graphql_error_on_a_status_poll_does_not_fail_the_release(world: World) -> None:
    stream_control(world.sim).refuse = FOREVER  # no pushed statuses either: every one is asked for
    world.sim.inject("graphql_error", "Deployment", count=1, message=PROBLEM)
    code, report, err = world.invoke()
    assert code == 0, err
    assert report["outcome"] == "released" and report["outputs"]["production-touched"] == "true"
    assert all(len(world.deployments_of(s, world.head)) == 1 for s in ("backend", "frontend"))


def test_a_successful_release_says_production_was_touched_and_announces_each_stage_once(world: World) -> None:
    code, report, err = world.invoke()
    assert code == 0, err
    assert report["outputs"]["production-touched"] == "true"
    headings = [line for line in err.splitlines() if line.startswith("▶ ")]
    assert "▶ Tag + draft release" in headings and "▶ Record rollback targets" in headings
    assert len(headings) == len(set(headings)), f"a stage announced twice: {headings}"
    ours = {s["deployment_id"] for s in report["deployments"]}
    assert {v["id"] for v in report["serving"].values()} == ours, "Railway confirms the release serves"


def test_status_unknown_until_the_deadline_is_treated_as_live_and_rolled_back(world: World, tmp_path: Path) -> None:
    stream_control(world.sim).refuse = FOREVER  # no pushed statuses either: every one is asked for
    world.sim.inject("graphql_error", "Deployment", count=FOREVER, message=PROBLEM)
    code, report, err, summary = summary_of(world, tmp_path, "--deploy-timeout", "120")
    assert code == 1, err
    assert {s["status"] for s in report["deployments"]} == {"UNKNOWN"}
    assert report["outcome"] == "rolled-back" and report["production_touched"] is True
    outputs = report["outputs"]
    assert outputs["production-touched"] == "true" and outputs["rolled-back"] == "true"
    assert all(outputs["deployment-ids"].count(d.id) for d in world.deployments_of("backend", world.head))
    assert "production was not touched" not in (summary + err).lower()
    assert live_commits(world) == {"backend": OLD, "frontend": OLD}
    assert stage_status(report)["restored-health"] == "ok"
    assert [a.get("event") for a in world.alerts.received] == ["rollback"]


def test_when_even_the_rollback_cannot_be_confirmed_the_state_of_production_is_unknown(
    world: World, tmp_path: Path
) -> None:
    stream_control(world.sim).refuse = FOREVER  # no pushed statuses either: every one is asked for
    def railway_goes_dark() -> None:
        for operation in ("Deployment", "Deployments", "ServiceInstance", "DeploymentRollback", "DeploymentCancel"):
            world.sim.inject("graphql_error", operation, count=FOREVER, message=PROBLEM)

    world.sim.after("serviceInstanceDeployV2", railway_goes_dark, times=2)
    code, report, err, summary = summary_of(world, tmp_path, "--deploy-timeout", "120")
    assert code == 3, err
    assert report["outcome"] == "production-unknown" and report["outputs"]["production-touched"] == "true"
    assert "state of production is unknown — check Railway now" in summary
    assert "production was not touched" not in (summary + err).lower()
    alert = world.alerts.received[-1]
    assert "state of production is unknown" in alert.get("summary", "") + str(alert)


def test_a_crash_right_after_going_live_is_caught_by_the_health_stage_and_rolled_back(world: World) -> None:
    world.sim.script_for(world.ids["backend"], Script.crash_after_success(up=15))
    code, report, err = world.invoke()
    assert code == 1, err
    assert stage_status(report)["health"] == "failed" and "CRASHED" in report["failure"]
    assert report["outcome"] == "rolled-back" and report["outputs"]["rolled-back"] == "true"
    assert world.apps["backend"].live_commit() == OLD


def test_an_error_before_the_release_began_still_writes_the_outputs(world: World, tmp_path: Path) -> None:
    outputs = tmp_path / "outputs"
    outputs.write_text("")
    from click.testing import CliRunner

    from kars_actions.cli.release import command

    result = CliRunner().invoke(
        command, world.args("--environment", "nowhere", "--format", "json"), env=world.env(GITHUB_OUTPUT=str(outputs))
    )
    assert result.exit_code == 2
    written = outputs.read_text()
    assert "production-touched<<" in written and "\nfalse\n" in written and "deployment-ids<<" in written


def test_rerun_after_a_run_killed_during_health_checks_rolls_back_to_what_served_before(
    world: World, tmp_path: Path
) -> None:
    """Run 1 deploys, goes live and is killed while checking health. The rerun reuses the live deployment — and
    must still roll back to the deployment that served before run 1, which run 1 recorded."""
    world.apps["backend"].bad_commits.add(world.head)
    old_ids = {s: world.sim.deployments_of(world.ids[s], OLD)[0].id for s in ("backend", "frontend")}
    checking = threading.Event()
    app = world.apps["backend"]
    handler = app.server.RequestHandlerClass

    class Signalling(handler):  # type: ignore[misc, valid-type]
        def do_GET(self) -> None:
            checking.set()
            super().do_GET()

    app.server.RequestHandlerClass = Signalling
    env = process_environment(**world.env())
    args = world.args("--health-deadline", "600")
    first = subprocess.Popen(
        [sys.executable, "-m", "kars_actions", "release", *args],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        assert checking.wait(60), "run 1 never reached the health checks"
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait(30)
    assert live_commits(world) == {"backend": world.head, "frontend": world.head}
    world.repo.git("tag", "v0.1.0")  # a rerun's checkout (fetch-depth: 0) brings the tag run 1 pushed
    code, report, err = world.invoke()
    assert code == 1, err
    assert report["rollback_targets"] == old_ids
    assert report["outcome"] == "rolled-back" and report["outputs"]["rolled-back"] == "true"
    assert {r["to"] for r in report["rollbacks"]} == set(old_ids.values())
    assert live_commits(world) == {"backend": OLD, "frontend": OLD}
    for service in ("backend", "frontend"):
        assert len(world.deployments_of(service, world.head)) == 1, "the rerun reused run 1's deployment"
