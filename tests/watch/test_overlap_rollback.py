"""``watch --rollback`` during the overlap: the deployment that served before the watched one is still draining
(REMOVING, canRollback false). The rollback waits until Railway has removed it and restores it — never the
deployment before it, two releases old. The real CLI against the simulator on its virtual clock."""

from __future__ import annotations

from tests.fakes.railway_sim import Script
from tests.fakes.railway_sim_watch import Traffic
from tests.fakes.world import OLD, World

TWO_RELEASES_OLD = "e" * 40
NEW = "c" * 40


def test_a_rollback_during_the_overlap_restores_the_draining_deployment_not_an_older_one(world: World) -> None:
    sim = world.sim
    backend = world.ids["backend"]
    older = sim.add_deployment(backend, world.env_id, TWO_RELEASES_OLD, status="REMOVED", age=20000)
    previous = world.deployments_of("backend", OLD)[0].id
    # Both deployments serve for four minutes after the new one goes live, then the old one drains for a minute.
    sim.set_settings(backend, world.env_id, {"deploy": {"overlapSeconds": 240, "drainingSeconds": 60}})
    sim.release_behaves(backend, NEW, Traffic(error_ratio=0.3), after=60)
    with sim.lock:
        sim._create(backend, world.env_id, NEW, Script.success(build=30, deploy=10), sim.clock.monotonic())
    sim.clock.advance(60)
    assert sim.status_of(previous) == "REMOVING"

    run = world.cli("watch", "--service", "backend", "--duration", "5m", "--rollback", "--no-health")

    assert run.code == 1, run.stderr
    [rollback] = run.report["rollbacks"]
    assert rollback["restored"] is True
    assert f"to deployment {previous} (commit {OLD[:7]})" in rollback["message"]
    assert older not in rollback["message"]
    assert "is still REMOVING" in run.stderr
    assert world.apps["backend"].live_commit() == OLD
    restored = [d for d in world.deployments_of("backend", OLD) if d.id != previous]
    assert len(restored) == 1 and sim.status_of(restored[0].id) == "SUCCESS"
    assert all(sim.status_of(d.id) != "SUCCESS" for d in world.deployments_of("backend", TWO_RELEASES_OLD))


def test_a_watched_deployment_still_removing_at_the_end_is_inconclusive_never_failed_on_the_way(world: World) -> None:
    """Someone deploys the backend again during the watch: the watched deployment is REMOVING (draining) for the
    rest of the window. A status on its way somewhere is no verdict: the status check ends inconclusive."""
    sim = world.sim
    backend = world.ids["backend"]
    watched = world.deployments_of("backend", OLD)[0].id
    sim.set_settings(backend, world.env_id, {"deploy": {"overlapSeconds": 3600}})
    sim.script_for(backend, Script.success(build=50, deploy=10), NEW)

    def someone_deploys() -> None:
        sim._create(backend, world.env_id, NEW, Script.success(build=50, deploy=10), sim.clock.monotonic())

    sim.after("httpMetricsGroupedByStatus", someone_deploys)

    run = world.cli("watch", "--service", "backend", "--duration", "3m", "--no-health")

    assert sim.status_of(watched) == "REMOVING"
    assert run.code == 0, run.stderr
    [service] = run.report["services"]
    assert service["deployment_id"] == watched and service["status"] == "REMOVING"
    assert service["verdict"] == "inconclusive" and run.report["verdict"] == "inconclusive"
    status = next(c for c in service["checks"] if c["name"] == "status")
    assert status["verdict"] == "inconclusive" and status["seen"] == "still REMOVING at the deadline"
    assert sim.count("deploymentRollback") == 0
