"""A release's rollback when Railway is still busy: the replaced deployment is REMOVING (canRollback false) for a
while after the new one went live. The release waits that out within its deadline; when Railway still refuses at
the deadline, everything it says — exit code, outputs, summary, alert title — says the rollback did not complete
and what serves each service.

The real CLI in its own process, the Railway simulator following its virtual clock, the GitHub fake, apps that
answer with the commit live on the simulator, and a webhook sink: the watch's world (``watch_world``).
"""

from __future__ import annotations

import json
from typing import Any

from tests.fakes.railway_sim import Script
from tests.fakes.world import OLD, Run, World, watch_world, world_fixture

world = world_fixture(watch_world)

FOREVER = 10**6


def old_deployment(world: World, service: str) -> str:
    return str(world.deployments_of(service, OLD)[0].id)


def stages(run: Run) -> dict[str, dict[str, Any]]:
    return {s["stage"]: s for s in run.report["stages"]}


def rows(summary: str, heading: str) -> dict[str, list[str]]:
    """The rows of the Markdown table under ``heading``, keyed by their first cell."""
    section = summary.split(heading, 1)[1].split("\n#", 1)[0]
    table = [line for line in section.splitlines() if line.startswith("|")][2:]
    return {cells[0]: cells[1:] for cells in ([c.strip() for c in line.strip("|").split("|")] for line in table)}


def test_a_rollback_target_still_removing_is_waited_out_and_the_release_says_rolled_back(world: World) -> None:
    """The backend's build FAILS while the frontend goes live; the frontend's old deployment is REMOVING for a few
    seconds. The frontend is rolled back once Railway allows it, and the backend was never touched."""
    world.sim.script_for(world.ids["backend"], Script.build_failure(build=40))
    world.sim.removing_seconds = 12.0
    old_frontend, old_backend = old_deployment(world, "frontend"), old_deployment(world, "backend")

    run = world.release()

    assert run.code == 1, run.stderr
    assert run.report["outcome"] == "rolled-back"
    assert "still REMOVING" in run.stderr and "waiting" in run.stderr
    assert world.apps["frontend"].live_commit() == OLD and world.apps["backend"].live_commit() == OLD
    rollback = run.report["rollbacks"][0]
    assert rollback["service"] == "frontend" and rollback["to"] == old_frontend and rollback["status"] == "SUCCESS"
    # Said: outputs, summary, alert — each against what the simulator serves now.
    restored = [d for d in world.deployments_of("frontend", OLD) if d.id != old_frontend]
    assert len(restored) == 1 and world.sim.status_of(restored[0].id) == "SUCCESS"
    assert run.outputs["rolled-back"] == "true"
    assert json.loads(run.outputs["serving"]) == {"backend": old_backend, "frontend": restored[0].id}
    deployments = rows(run.summary, "### Deployments")
    assert deployments["frontend"][0] == "ROLLED_BACK" and deployments["backend"][0] == "FAILED"
    assert f"commit {OLD[:7]}" in rows(run.summary, "### Rollback")["frontend"][1]
    [alert] = world.alerts.received
    assert alert["title"].startswith("🟠 Rolled back") and alert["outcome"] == "rolled-back"


def test_railway_still_refusing_at_the_deadline_is_a_rollback_that_did_not_complete(world: World) -> None:
    world.sim.script_for(world.ids["backend"], Script.build_failure(build=40))
    world.sim.removing_seconds = FOREVER  # the old frontend stays REMOVING: canRollback false until the deadline
    old_backend = old_deployment(world, "backend")

    run = world.release("--deploy-timeout", "200")

    assert run.code == 1, run.stderr
    assert run.report["outcome"] == "rollback-failed"
    new_frontend = world.deployments_of("frontend", world.head)[0].id
    assert world.apps["frontend"].live_commit() == world.head  # the split is real: the simulator says so
    assert world.apps["backend"].live_commit() == OLD
    rollback = run.report["rollbacks"][0]
    assert rollback["status"] == "TIMED_OUT" and not rollback["rolled_back"]
    assert "the rollback did not complete" in rollback["message"] and "REMOVING" in rollback["message"]
    assert stages(run)["rollback"]["status"] == "failed"
    # Every channel says the rollback did not complete, and what serves each service.
    assert run.outputs["rolled-back"] == "false" and run.outputs["production-touched"] == "true"
    assert json.loads(run.outputs["serving"]) == {"backend": old_backend, "frontend": new_frontend}
    assert "the rollback did not complete" in run.summary
    serving = rows(run.summary, "### Serving now")
    assert serving["frontend"][0].startswith(new_frontend) and serving["frontend"][2] == "this release"
    assert serving["backend"][0].startswith(old_backend) and serving["backend"][2] == "the previous version"
    assert rows(run.summary, "### Deployments")["frontend"][0] == "SUCCESS (rollback did not complete)"
    [alert] = world.alerts.received
    assert alert["title"].startswith("🔴 Rollback did not complete") and "Rolled back" not in alert["title"]
    assert f"frontend: this release (deployment {new_frontend}" in alert["summary"]
    assert f"backend: the previous version (deployment {old_backend}" in alert["summary"]
    assert world.sim.count("deploymentRollback") == 0, "Railway allowed no rollback: none was sent"


def test_a_rerun_shows_one_set_of_rollback_targets_the_ones_recorded_before_the_first_deploy(world: World) -> None:
    """Run 1 goes live, fails its health check and is rolled back: what serves now are the restored deployments.
    The rerun adopts the targets run 1 recorded (in the GitHub deployment) and shows only those."""
    recorded = {service: old_deployment(world, service) for service in ("backend", "frontend")}
    world.apps["backend"].unhealthy_after[world.head] = 0.0
    first = world.release()
    assert first.code == 1 and first.report["outcome"] == "rolled-back", first.stderr
    restored = {r["service"]: r["restored"] for r in first.report["rollbacks"]}
    assert set(restored.values()).isdisjoint(recorded.values())
    world.apps["backend"].unhealthy_after.clear()

    rerun = world.release("--watch-duration", "0", fmt="text")  # the watch names the draining deployments

    assert rerun.code == 0, rerun.stdout + rerun.stderr
    said = rerun.stdout + rerun.stderr + rerun.summary
    [line] = [line for line in rerun.stdout.splitlines() if "Record rollback targets" in line]
    assert all(target in line for target in recorded.values()), line
    assert "as the first run recorded them" in line
    for restored_id in restored.values():
        assert restored_id not in said, "a second set of rollback targets was shown"
    assert json.loads(rerun.outputs["previous-deployment-ids"]) == recorded
