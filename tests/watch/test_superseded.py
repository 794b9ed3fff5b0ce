"""Someone else deploys a service while the release watches it (the dashboard, Railway's auto-deploy, another job):
the watched deployment is replaced by one the release did not make. That is "superseded", not a failure: nothing is
rolled back over the newer deployment, the release is not published, and every channel says what serves now.
The real CLI in its own process against the Railway simulator, the GitHub fake and a webhook sink."""

from __future__ import annotations

import json

from tests.fakes.railway_sim import Script
from tests.fakes.railway_sim_watch import Traffic
from tests.fakes.world import OLD, World

NEWER = "9" * 40
LOOK = "WatchStatusExecutionsHttpLatencyResources"  # a look at one service once the overlap is over


def someone_deploys(world: World, service: str, *, after_looks: int, build: float = 20, deploy: float = 10) -> None:
    """After ``after_looks`` looks of the watch (both services' together), a deployment of NEWER starts on
    ``service`` outside the release."""
    sim = world.sim
    world.github.add_commit(NEWER)

    def deploy_newer() -> None:
        sim.deploy_now(world.ids[service], world.env_id, NEWER, Script.success(build=build, deploy=deploy))

    sim.after(LOOK, deploy_newer, times=after_looks)


def newer_deployment(world: World, service: str) -> str:
    [newer] = world.deployments_of(service, NEWER)
    return newer.id


def test_a_deployment_made_elsewhere_during_the_watch_supersedes_the_release_and_nothing_is_rolled_back(
    world: World,
) -> None:
    someone_deploys(world, "backend", after_looks=4)
    run = world.release()

    sim = world.sim
    newer = newer_deployment(world, "backend")
    [ours] = world.deployments_of("backend", world.head)
    # Railway afterwards: the newer deployment serves; no rollback was asked for, nothing after the release's deploys.
    assert sim.status_of(newer) == "SUCCESS" and sim.status_of(ours.id) == "REMOVED"
    assert world.apps["backend"].live_commit() == NEWER and world.apps["frontend"].live_commit() == world.head
    assert sim.count("deploymentRollback") == 0
    assert [m.operation for m in sim.mutations] == ["ServiceInstanceDeployV2", "ServiceInstanceDeployV2"]

    assert run.code == 1, run.stderr
    report = run.report
    assert report["outcome"] == "superseded" and report["production_touched"] is True
    assert report["headline"].startswith("Superseded: not published")
    assert report["rollbacks"] == []
    assert report["serving"]["backend"]["id"] == newer and report["serving"]["backend"]["commit"] == NEWER
    assert report["serving"]["frontend"]["commit"] == world.head
    watch = report["watch"]
    assert watch["verdict"] == "superseded"
    backend = next(s for s in watch["services"] if s["service"] == "backend")
    assert backend["verdict"] == "superseded" and backend["replaced_by"] == newer
    frontend = next(s for s in watch["services"] if s["service"] == "frontend")
    assert frontend["verdict"] == "passed"  # watched to the end, and left serving
    assert f"replaced by deployment {newer}" in report["failure"]
    assert "this release did not make" in report["failure"]

    assert run.outputs["outcome"] == "superseded" and run.outputs["released"] == "false"
    assert run.outputs["rolled-back"] == "false" and run.outputs["production-touched"] == "true"
    assert json.loads(run.outputs["serving"]) == {"backend": newer, "frontend": ours_id(world, "frontend")}
    assert run.outputs["watch-verdict"] == "superseded"

    summary = run.summary
    assert "Superseded: not published" in summary and "Rolled back" not in summary
    assert f"| backend | {newer} (SUCCESS) | {NEWER[:12]} | a deployment this release did not make |" in summary
    assert "the previous version" not in summary  # nothing was put back: the newer deployment is not the old one
    assert "SUPERSEDED" in summary  # the release's own backend deployment, in the deployments table

    release = world.github.releases_for("v0.1.0")[0]
    assert release["draft"] is True and release["name"] == "v0.1.0 (not published)"
    assert release["body"].startswith("> [!WARNING]") and newer in release["body"]
    assert "failed" not in release["body"].split("<!--")[0]
    [deployment] = world.github.deployments_of("production", world.head)
    assert world.github.state_of(deployment["id"]) == "inactive"

    alert = world.alerts.received[-1]
    assert alert["event"] == "failure" and alert["outcome"] == "superseded"
    assert alert["title"].startswith("🟠 Superseded, not published: ")
    assert newer in json.dumps(alert) and "Rolled back" not in json.dumps(alert)


def test_superseded_says_so_on_the_console(world: World) -> None:
    someone_deploys(world, "backend", after_looks=4)
    urls = world.service_urls()
    config = str(world.repo.path / "kars.yml")
    run = world.cli("release", "--config", config, "--health-deadline", "20", *urls, fmt="text")
    newer = newer_deployment(world, "backend")
    text = run.stdout
    assert run.code == 1, run.stderr
    assert "Superseded: not published" in text
    assert f"backend: a deployment this release did not make (deployment {newer}, commit {NEWER[:7]})" in text
    assert "rolled back" not in text.lower().replace("nothing was rolled back", "")
    assert "backend: deployment" in run.stderr and "replaced by deployment" in run.stderr


def test_a_newer_deployment_still_draining_the_old_one_supersedes_it_too(world: World) -> None:
    """With a long overlap the watched deployment stays REMOVING (still taking traffic) for the rest of the window:
    Railway has made the newer one the service's deployment, so the release's version is on its way out."""
    world.sim.set_settings(world.ids["backend"], world.env_id, {"deploy": {"overlapSeconds": 3600}})
    someone_deploys(world, "backend", after_looks=4)
    run = world.release()
    newer = newer_deployment(world, "backend")
    assert run.code == 1, run.stderr
    assert run.report["outcome"] == "superseded"
    assert world.sim.count("deploymentRollback") == 0 and world.sim.status_of(newer) == "SUCCESS"
    backend = next(s for s in run.report["watch"]["services"] if s["service"] == "backend")
    assert backend["status"] == "REMOVING" and backend["replaced_by"] == newer


def test_a_failed_service_is_rolled_back_but_never_over_a_newer_deployment_of_another(world: World) -> None:
    """frontend fails its watch (5xx) while backend, watched too, was replaced by someone else's deployment: the
    failure path rolls frontend back and leaves backend's newer deployment serving."""
    world.sim.set_settings(world.ids["backend"], world.env_id, {"deploy": {"overlapSeconds": 3600}})
    someone_deploys(world, "backend", after_looks=2)
    world.sim.release_behaves(world.ids["frontend"], world.head, Traffic(error_ratio=0.3), after=240)
    run = world.release()
    newer = newer_deployment(world, "backend")

    assert run.code == 1, run.stderr
    report = run.report
    assert report["outcome"] == "superseded"
    rollbacks = {r["service"]: r for r in report["rollbacks"]}
    assert rollbacks["frontend"]["rolled_back"] is True
    assert rollbacks["backend"]["rolled_back"] is False and rollbacks["backend"]["status"] == "SUPERSEDED"
    assert world.apps["frontend"].live_commit() == OLD and world.apps["backend"].live_commit() == NEWER
    assert world.sim.count("deploymentRollback") == 1
    assert report["serving"]["backend"]["id"] == newer
    assert run.outputs["rolled-back"] == "false"  # not every service is back on the previous version
    assert "5xx ratio" in report["failure"]
    alert = world.alerts.received[-1]
    assert alert["outcome"] == "superseded" and newer in json.dumps(alert)


def test_the_failure_path_never_rolls_back_a_service_replaced_by_a_newer_deployment(world: World) -> None:
    """The watch trips on backend, and before the failure path reaches it a newer deployment made elsewhere is live:
    the rollback reads what serves first and puts nothing back over it."""
    sim = world.sim
    backend = world.ids["backend"]
    world.github.add_commit(NEWER)
    sim.release_behaves(backend, world.head, Traffic(error_ratio=0.3), after=120)

    def newer_goes_live() -> None:
        sim.deploy_now(backend, world.env_id, NEWER, Script((("SUCCESS", None),)))

    sim.after("WatchErrorLines", newer_goes_live)  # read when the 5xx ratio trips, right before the failure path
    run = world.release()
    newer = newer_deployment(world, "backend")

    assert run.code == 1, run.stderr
    assert sim.status_of(newer) == "SUCCESS" and world.apps["backend"].live_commit() == NEWER
    rollbacks = {r["service"]: r for r in run.report["rollbacks"]}
    assert rollbacks["backend"]["rolled_back"] is False and rollbacks["backend"]["status"] == "SUPERSEDED"
    assert f"replaced by deployment {newer}" in rollbacks["backend"]["message"]
    assert rollbacks["frontend"]["rolled_back"] is True  # the release's own frontend is undone as usual
    restored = [r for r in sim.mutations if r.operation == "DeploymentRollback"]
    assert len(restored) == 1
    assert run.report["outcome"] == "superseded"


def ours_id(world: World, service: str) -> str:
    [ours] = world.deployments_of(service, world.head)
    return ours.id


def test_watch_rollback_on_its_own_never_puts_an_older_version_over_a_newer_deployment(world: World) -> None:
    """``kars-actions watch --rollback`` after a deploy by other means: the watched deployment is replaced (REMOVED)
    by someone else's; the rollback reads what serves and leaves the newer deployment alone."""
    someone_deploys(world, "backend", after_looks=2)
    run = world.cli("watch", "--service", "backend", "--duration", "5m", "--rollback", "--no-health")
    newer = newer_deployment(world, "backend")
    assert run.code == 1, run.stderr
    [(service, restored, message)] = [(r["service"], r["restored"], r["message"]) for r in run.report["rollbacks"]]
    assert service == "backend" and restored is False
    assert f"replaced by deployment {newer} (commit {NEWER[:7]}), made after it" in message
    assert "nothing was rolled back over it" in message
    assert world.sim.count("deploymentRollback") == 0 and world.apps["backend"].live_commit() == NEWER


def test_the_long_watch_names_the_deployment_that_replaced_the_release_as_the_gate_does(world: World) -> None:
    run = world.release()
    assert run.code == 0 and run.report["outcome"] == "released", run.stderr
    someone_deploys(world, "backend", after_looks=4)
    urls = world.service_urls()
    config = str(world.repo.path / "kars.yml")
    run = world.cli("watch", "--config", config, "--after-release", "v0.1.0", *urls)
    newer = newer_deployment(world, "backend")
    assert run.code == 0, run.stderr
    backend = next(s for s in run.report["services"] if s["service"] == "backend")
    assert backend["verdict"] == "superseded" and backend["replaced_by"] == newer
    assert f"replaced by deployment {newer}" in backend["reason"]
    assert run.report["verdict"] == "superseded" and world.sim.count("deploymentRollback") == 0
