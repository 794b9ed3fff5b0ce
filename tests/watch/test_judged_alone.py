"""The watch judges the new deployment alone, through the CLI as a real process: while the replaced deployment still
takes traffic (Railway's overlapSeconds), service-level metrics mix both versions — Railway's HTTP metrics take no
deployment argument — so a bad new version hides in them and a bad old one's last errors look like the new one's.
Restarts come from Railway's instance executions, memory is judged against Railway's limit for the service."""

from __future__ import annotations

from tests.fakes.railway_sim import Script
from tests.fakes.railway_sim_watch import Traffic
from tests.fakes.world import OLD, World

NEW = "e" * 40


def service_ratio(world: World, service: str, lo: float, hi: float) -> float:
    """What Railway's service-level metrics say of [lo, hi): the 5xx share of every deployment's traffic, mixed."""
    requests, errors, *_ = world.sim._integrate(world.ids[service], world.env_id, lo, hi)
    return errors / requests


def deploy_by_other_means(world: World, service: str, commit: str, *, live_in: float = 40.0) -> None:
    sim = world.sim
    script = Script.success(build=live_in * 0.75, deploy=live_in * 0.25)
    with sim.lock:
        d = sim._create(world.ids[service], world.env_id, commit, script, sim.clock.monotonic())
    sim.clock.advance(live_in + 20)  # live for 20 s when the watch starts
    assert sim.status_of(d.id) == "SUCCESS"


def watch(world: World, *extra: str, fmt: str = "json"):  # type: ignore[no-untyped-def]
    urls = world.service_urls()
    return world.cli("watch", "--config", str(world.repo.path / "kars.yml"), *urls, *extra, fmt=fmt)


def test_a_bad_new_version_diluted_by_the_old_one_is_caught_from_its_own_logs(world: World) -> None:
    sim, backend = world.sim, world.ids["backend"]
    sim.set_overlap(backend, world.env_id, overlap=900, draining=30)
    sim.overlap_share = 0.15  # the old deployment's replicas still take most of the traffic
    sim.release_behaves(backend, NEW, Traffic(error_ratio=0.10))
    deploy_by_other_means(world, "backend", NEW)
    live = world.live_since("backend", NEW)
    run = watch(world, "--service", "backend", "--duration", "8m", "--no-health")
    assert run.code == 1, run.stderr
    service = run.report["services"][0]
    assert service["verdict"] == "failed" and service["reason"].startswith("5xx ratio")
    assert service["latest"]["error_ratio"] > 0.05  # the new deployment's own 10 %, not the mix
    old = sim.deployments_of(backend, OLD)[0]
    assert service["overlap_with"] == [old.id]
    assert sim.status_of(old.id) == "REMOVING"  # judged while the old one still served
    tripped = live + service["tripped_after_seconds"]
    # What the service-level metrics said over the same stretch: below the 2 % floor, a pass for a mixed watch
    assert service_ratio(world, "backend", live, tripped) < 0.02
    assert "its own HTTP logs" in service["judged"] and old.id in service["judged"]
    assert any("→ 500" in line for line in service["error_lines"])  # its own 5xx requests, as evidence


def test_a_bad_old_versions_last_errors_are_not_blamed_on_the_new_release(world: World) -> None:
    sim, backend = world.sim, world.ids["backend"]
    sim.set_overlap(backend, world.env_id, overlap=240, draining=20)
    sim.removing_behaves(backend, OLD, Traffic(error_ratio=0.30))  # the old version fails while shutting down
    run = world.release()
    assert run.code == 0, run.stderr
    assert run.report["outcome"] == "released" and run.report["watch"]["verdict"] == "passed"
    assert world.sim.count("deploymentRollback") == 0
    live = world.live_since("backend", world.head)
    # The service-level metrics of the overlap would have failed a mixed watch: well past 2 % and 2x before
    assert service_ratio(world, "backend", live, live + 240) > 0.05
    backend_watch = next(s for s in run.report["watch"]["services"] if s["service"] == "backend")
    old = sim.deployments_of(backend, OLD)[0]
    assert backend_watch["overlap_with"] == [old.id]
    assert backend_watch["judged_from"] is not None  # service metrics only once the old one was REMOVED
    assert "judged: new deployment only" in run.summary and "service metrics from" in run.summary
    assert world.github.releases_for("v0.1.0")[0]["draft"] is False


def test_a_crash_loop_fails_the_watch_while_the_deployment_still_says_success(world: World) -> None:
    sim, backend = world.sim, world.ids["backend"]
    crash = Script(
        (("BUILDING", 60), ("DEPLOYING", 20), ("SUCCESS", None)),
        deploy_logs=("Starting Container", "Error: connect ECONNREFUSED 10.0.0.9:6379", "exited with code 1"),
    )
    sim.script_for(backend, crash, world.head)
    sim.crash_loop(backend, world.head, after=90, every=60)  # 10 restarts: SUCCESS for another ten minutes
    run = world.release()
    assert run.code == 1 and run.report["outcome"] == "rolled-back"
    failure = run.report["failure"]
    assert "-exec-0 CRASHED" in failure and "is CRASHED" not in failure
    ours = sim.deployments_of(backend, world.head)[0]
    tripped_at = world.live_since("backend", world.head) + 90
    assert ours.crashed_at is not None and ours.crashed_at > tripped_at + 500  # Railway's status would say so later
    backend_watch = next(s for s in run.report["watch"]["services"] if s["service"] == "backend")
    assert "Error: connect ECONNREFUSED 10.0.0.9:6379" in backend_watch["log_tail"]
    assert world.apps["backend"].live_commit() == OLD


def test_memory_fails_past_ninety_percent_of_railways_limit_for_the_new_deployment_only(world: World) -> None:
    sim, backend = world.sim, world.ids["backend"]
    sim.memory_limits[backend] = 1.0
    sim.set_traffic(backend, Traffic(memory_gb=0.97))  # the old version sat near the limit: not the new one's
    sim.release_behaves(backend, world.head, Traffic(memory_gb=0.4, memory_growth_gb_per_min=0.1))
    run = world.release()
    assert run.code == 1 and run.report["outcome"] == "rolled-back"
    failure = run.report["failure"]
    assert "backend: memory" in failure and "> 90% of the 1 GB limit" in failure
    # It tripped on the new deployment's growth (0.4 GB + 0.1 a minute passes 0.9 after 5 minutes), not at once
    backend_watch = next(s for s in run.report["watch"]["services"] if s["service"] == "backend")
    assert backend_watch["tripped_after_seconds"] > 180


def test_memory_limit_ratio_from_the_flag_overrides_kars_yml(world: World) -> None:
    sim, backend = world.sim, world.ids["backend"]
    sim.memory_limits[backend] = 1.0
    sim.set_traffic(backend, Traffic(memory_gb=0.7))
    passed = watch(world, "--service", "backend", "--duration", "2m", "--no-health")
    assert passed.code == 0, passed.stderr
    tight = watch(world, "--service", "backend", "--duration", "2m", "--no-health", "--memory-limit-ratio", "0.5")
    assert tight.code == 1 and "> 50% of the 1 GB limit" in tight.report["services"][0]["reason"]


def test_the_plan_and_the_summary_state_the_detection_bound(world: World) -> None:
    planned = world.release("--dry-run")
    assert planned.code == 0, planned.stderr
    detail = next(s["detail"] for s in planned.report["stages"] if s["stage"] == "watch")
    assert "a 5xx regression above the thresholds is caught within ~60 s (2 looks × 30 s" in detail
    run = world.release()
    assert run.code == 0, run.stderr
    # 600 requests a minute before: a 30 s step holds 300, enough for the 100 a verdict needs
    assert "caught within ~60 s (2 looks × 30 s at the 300 requests a step seen before)" in run.summary
    assert run.report["watch"]["detection"].startswith("a 5xx regression above the thresholds is caught within ~60 s")


def test_thin_traffic_lengthens_the_detection_bound_and_says_so(world: World) -> None:
    world.sim.set_traffic(world.ids["backend"], Traffic(rpm=60))
    run = watch(world, "--service", "backend", "--duration", "2m", "--no-health")
    assert run.code == 0, run.stderr
    # 30 requests a step: 4 steps hold the 100 a verdict needs, plus the step the regression starts in
    assert run.report["detection"].startswith("a 5xx regression above the thresholds is caught within ~150 s")
    assert run.report["services"][0]["judged"].startswith("judged: new deployment only, from")
