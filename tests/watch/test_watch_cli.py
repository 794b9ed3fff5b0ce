"""``kars-actions watch`` on its own, as a real process: what is live now, judged against its previous window."""

from __future__ import annotations

from tests.fakes.railway_sim import Script
from tests.fakes.railway_sim_watch import Traffic
from tests.fakes.world import World


def watch(world: World, *extra: str) -> tuple[int, dict, str]:  # type: ignore[type-arg]
    urls = world.service_urls()
    run = world.cli("watch", "--config", str(world.repo.path / "kars.yml"), *urls, *extra)
    return run.code, run.report, run.stderr


def failing_deploy_by_other_means(world: World, commit: str, *, errors_after: float = 60) -> None:
    """backend's ``commit`` deployed outside kars-actions, live for 20 s, answering 30 % 5xx ``errors_after``
    seconds after going live."""
    sim = world.sim
    sim.release_behaves(world.ids["backend"], commit, Traffic(error_ratio=0.3), after=errors_after)
    with sim.lock:
        sim._create(world.ids["backend"], world.env_id, commit, Script.success(30, 10), sim.clock.monotonic())
    sim.clock.advance(60)


def test_a_quiet_service_passes_and_the_budget_is_kept(world: World) -> None:
    code, report, err = watch(world, "--service", "backend", "--service", "frontend", "--duration", "10m")
    assert code == 0, err
    assert report["environment"] == "production"  # the Railway environment watched
    assert report["verdict"] == "passed" and report["requests"] <= report["budget"] < 100
    assert all(c["verdict"] == "passed" for s in report["services"] for c in s["checks"])


def test_a_deploy_by_other_means_that_starts_failing_is_caught(world: World) -> None:
    new = "b" * 40
    sim = world.sim
    sim.script_for(world.ids["backend"], Script.success(build=30, deploy=10), new)
    sim.release_behaves(world.ids["backend"], new, Traffic(error_ratio=0.2), after=120)
    with sim.lock:
        sim._create(world.ids["backend"], world.env_id, new, Script.success(build=30, deploy=10), sim.clock.monotonic())
    sim.clock.advance(60)  # live for 20 s when the watch starts
    code, report, err = watch(world, "--service", "backend", "--duration", "5m")
    assert code == 1, err
    backend = report["services"][0]
    assert backend["verdict"] == "failed" and backend["reason"].startswith("5xx ratio")
    assert backend["latest"]["error_ratio"] > 0.1
    assert backend["before"]["error_ratio"] < 0.01  # the old version's traffic, from before go-live


def test_metrics_railway_refuses_make_their_checks_inconclusive_not_passed(world: World) -> None:
    world.sim.refuse_metrics.add("httpDurationMetrics")
    code, report, err = watch(world, "--service", "backend", "--duration", "2m")
    assert code == 0, err
    checks = {c["name"]: c for c in report["services"][0]["checks"]}
    assert checks["5xx ratio"]["verdict"] == "passed"
    assert checks["p95 latency"]["verdict"] == "inconclusive" and "refused" in checks["p95 latency"]["seen"]
    assert report["verdict"] == "inconclusive"


def test_watch_without_a_live_deployment_says_so(world: World) -> None:
    sim = world.sim
    with sim.lock:
        for d in sim.deployments_of(world.ids["frontend"]):
            d.removed_at = sim.clock.monotonic()
    code, report, _ = watch(world, "--service", "frontend", "--duration", "1m")
    assert code == 1 and "nothing to watch" in report["error"]["message"]


def test_rollback_flag_puts_the_previous_deployment_back_after_a_failed_watch(world: World) -> None:
    failing_deploy_by_other_means(world, "c" * 40)
    code, report, err = watch(world, "--service", "backend", "--duration", "5m", "--rollback")
    assert code == 1, err
    assert report["rollbacks"][0]["service"] == "backend" and report["rollbacks"][0]["restored"] is True
    assert world.apps["backend"].live_commit() == "0" * 40


def test_without_the_rollback_flag_a_failed_watch_says_how_to_roll_back(world: World) -> None:
    new = "d" * 40
    sim = world.sim
    failing_deploy_by_other_means(world, new)
    run = world.cli("watch", "--service", "backend", "--duration", "5m", "--no-health", fmt="text")
    assert run.code == 1
    assert "to roll backend back: kars-actions rollback --service backend" in run.stdout
    assert sim.count("deploymentRollback") == 0


def test_without_kars_yml_the_folders_holding_a_railway_config_are_watched_with_its_health_path(world: World) -> None:
    """The services and their health check path come from the one resolver: the folders holding a railway.json,
    each file's healthcheckPath on the service's URL."""
    (world.repo.path / "kars.yml").unlink()
    for name in ("backend", "frontend"):
        (world.repo.path / name / "railway.json").write_text('{"deploy": {"healthcheckPath": "/api/health"}}')
    urls = world.service_urls()
    run = world.cli("watch", "--duration", "2m", *urls)
    assert run.code == 0, run.stderr
    assert [entry["said"] for entry in run.report["service_files"]] == [
        "backend: backend/railway.json (folder backend/)",
        "frontend: frontend/railway.json (folder frontend/)",
    ]
    assert [s["service"] for s in run.report["services"]] == ["backend", "frontend"]
    assert run.report["health"].endswith("target(s) healthy")
    assert "backend: backend/railway.json (folder backend/)" in run.summary


def test_a_health_check_failing_during_the_watch_fails_that_service_alone_and_rolls_back_only_it(
    world: World,
) -> None:
    failing_deploy_by_other_means(world, "e" * 40, errors_after=3600)  # backend's new version: no 5xx in the watch
    world.apps["backend"].unhealthy_after["e" * 40] = 20 + 90  # its health check answers 503 from 90 s in
    code, report, err = watch(world, "--service", "backend", "--service", "frontend", "--duration", "5m", "--rollback")
    assert code == 1, err
    backend, frontend = report["services"]
    # kars.yml's health_interval is 2m: the round at 2 minutes is the first to see it
    assert backend["reason"] == "health check failed during the watch: backend: status: expected 200, got 503"
    assert backend["verdict"] == "failed" and backend["tripped_after_seconds"] == 120
    assert report["health_rounds"] == 1 and report["health"] == "backend: status: expected 200, got 503"
    assert frontend["verdict"] == "passed" and frontend["reason"] is None  # healthy: not failed for backend's check
    assert [r["service"] for r in report["rollbacks"]] == ["backend"] and report["rollbacks"][0]["restored"]
    assert world.apps["backend"].live_commit() == "0" * 40 and world.apps["frontend"].live_commit() == "0" * 40
    assert world.sim.count("deploymentRollback") == 1


def test_a_rollback_railway_refuses_is_reported_not_done_with_railways_reason(world: World) -> None:
    new = "e" * 40
    sim = world.sim
    failing_deploy_by_other_means(world, new)
    sim.inject("graphql_error", "deploymentRollback", count=100, message="Deployment is locked by another operation")
    run = world.cli("watch", "--service", "backend", "--duration", "5m", "--rollback", "--no-health", fmt="text")
    assert run.code == 1
    why = "Railway: DeploymentRollback failed: Deployment is locked by another operation"
    assert f"rollback backend: NOT done — {why}" in run.stdout
    assert f"rollback backend: NOT done — {why}" in run.summary
    assert world.apps["backend"].live_commit() == new  # what the report says: the failed version still serves
