"""``watch --rollback`` during the overlap: the deployment that served before the watched one is still draining
(REMOVING, canRollback false). The rollback waits until Railway has removed it and restores it — never the
deployment before it, two releases old. The real CLI against the simulator on its virtual clock."""

from __future__ import annotations

from tests.fakes.railway_sim import Script
from tests.fakes.railway_sim_watch import Traffic
from tests.watch.conftest import OLD, World

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
