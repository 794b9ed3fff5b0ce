"""The watch window in a release, through the CLI as a real process: a clean watch publishes; a 5xx spike, a
latency regression, a crash and a restart each roll back with their evidence; low traffic says so."""

from __future__ import annotations

import json

from tests.fakes.railway_sim import Script
from tests.fakes.railway_sim_watch import Traffic
from tests.fakes.world import OLD, World


def stages(report: dict) -> dict[str, str]:  # type: ignore[type-arg]
    return {s["stage"]: s["status"] for s in report["stages"]}


def test_a_clean_watch_publishes_within_the_request_budget(world: World) -> None:
    run = world.release()
    assert run.code == 0, run.stderr
    assert run.report["outcome"] == "released"
    assert stages(run.report)["watch"] == "ok"
    watch = run.report["watch"]
    assert watch["verdict"] == "passed" and watch["seconds"] >= 600
    assert run.outputs["watch-verdict"] == "passed"
    # a 10-minute watch of two services, one look per service per 30 s step
    assert watch["requests"] <= watch["budget"] < 100
    assert world.github.releases_for("v0.1.0")[0]["draft"] is False
    assert "xychart-beta" in run.summary and "### Watch window" in run.summary
    assert "left" in run.stderr  # progress lines say the time left and the latest figures


def test_a_5xx_spike_after_go_live_rolls_back_with_the_numbers(world: World) -> None:
    world.sim.release_behaves(world.ids["backend"], world.head, Traffic(error_ratio=0.08), after=180)
    run = world.release()
    assert run.code == 1
    assert run.report["outcome"] == "rolled-back"
    status = stages(run.report)
    assert status["health"] == "ok" and status["watch"] == "failed" and status["rollback"] == "ok"
    failure = run.report["failure"]
    assert "backend: 5xx ratio 8.00%" in failure and "before 0.20%" in failure and "tripped" in failure
    backend = next(s for s in run.report["watch"]["services"] if s["service"] == "backend")
    assert backend["verdict"] == "failed" and backend["before"]["error_ratio"] < 0.01
    assert backend["latest"]["error_ratio"] > 0.02
    for app in world.apps.values():
        assert app.live_commit() == OLD
    # the rollback started within a minute of the regression (30 s metrics step)
    regression = world.live_since("backend", world.head) + 180
    assert 0 < world.sim.rollback_requested_at[0] - regression < 60
    alert = world.alerts.received[-1]
    assert alert["event"] == "rollback" and "5xx ratio" in json.dumps(alert)
    assert world.github.releases_for("v0.1.0")[0]["draft"] is True


def test_a_latency_regression_rolls_back(world: World) -> None:
    world.sim.release_behaves(world.ids["frontend"], world.head, Traffic(p95_ms=900.0, p99_ms=1500.0), after=120)
    run = world.release()
    assert run.code == 1 and run.report["outcome"] == "rolled-back"
    assert "frontend: p95 latency 900ms (before 180ms" in run.report["failure"]
    assert world.apps["frontend"].live_commit() == OLD


def test_a_crash_during_the_watch_rolls_back_with_the_crash_log(world: World) -> None:
    crash = Script(
        (("BUILDING", 60), ("DEPLOYING", 20), ("SUCCESS", 150), ("CRASHED", None)),
        deploy_logs=("Starting Container", "FATAL: out of memory in worker", "exited with code 137"),
    )
    world.sim.script_for(world.ids["backend"], crash, world.head)
    run = world.release()
    assert run.code == 1 and run.report["outcome"] == "rolled-back"
    assert "is CRASHED" in run.report["failure"]
    backend = next(s for s in run.report["watch"]["services"] if s["service"] == "backend")
    assert "FATAL: out of memory in worker" in backend["log_tail"]
    assert world.apps["backend"].live_commit() == OLD


def test_a_restart_during_the_watch_rolls_back(world: World) -> None:
    world.sim.restart_after(world.ids["backend"], world.head, 200)
    run = world.release()
    assert run.code == 1 and run.report["outcome"] == "rolled-back"
    # Railway's instance executions tell it: the first instance CRASHED (and another took its place)
    assert "-exec-0 CRASHED at" in run.report["failure"]


def test_a_health_check_failing_during_the_watch_rolls_back(world: World) -> None:
    world.apps["backend"].unhealthy_after[world.head] = 240
    run = world.release()
    assert run.code == 1 and run.report["outcome"] == "rolled-back"
    assert "health check failed during the watch" in run.report["failure"]


def test_low_traffic_says_so_and_publishes_with_a_warning(world: World) -> None:
    for name in ("backend", "frontend"):
        world.sim.set_traffic(world.ids[name], Traffic(rpm=3))
    run = world.release()
    assert run.code == 0, run.stderr
    assert run.report["watch"]["verdict"] == "inconclusive"
    assert stages(run.report)["watch"] == "warning"
    assert "not enough traffic to judge" in json.dumps(run.report["watch"])
    assert run.outputs["watch-verdict"] == "inconclusive"


def test_low_traffic_fails_when_kars_yml_says_so(world: World) -> None:
    world.write_config((world.repo.path / "kars.yml").read_text() + "  on_inconclusive: fail\n")
    world.sim.set_traffic(world.ids["backend"], Traffic(rpm=3))
    run = world.release()
    assert run.code == 1 and run.report["outcome"] == "rolled-back"
    assert "not enough traffic to judge" in run.report["failure"]


def test_watch_duration_zero_turns_the_watch_off(world: World) -> None:
    run = world.release("--watch-duration", "0")
    assert run.code == 0, run.stderr
    assert "watch" not in stages(run.report) and run.report["watch"] is None


def test_memory_past_its_ceiling_rolls_back(world: World) -> None:
    world.write_config((world.repo.path / "kars.yml").read_text() + "  memory_ceiling_gb: 0.5\n")
    leaking = Traffic(memory_gb=0.3, memory_growth_gb_per_min=0.1)
    world.sim.release_behaves(world.ids["backend"], world.head, leaking)
    run = world.release()
    assert run.code == 1 and run.report["outcome"] == "rolled-back"
    assert "backend: memory" in run.report["failure"] and "> 0.5 GB" in run.report["failure"]


def test_looks_railway_does_not_answer_decide_nothing_and_roll_nothing_back(world: World) -> None:
    # Five tries of one look fail (it is unknown), then Railway answers again: the release is judged on the rest.
    world.sim.inject("http", "WatchStatusExecutionsHttpLatencyResources", count=5, status=503)
    run = world.release()
    assert run.code == 0, run.stderr
    assert run.report["watch"]["verdict"] == "passed"
    assert sum(s["unknown_looks"] for s in run.report["watch"]["services"]) == 1
    assert world.sim.count("deploymentRollback") == 0
    assert "could not be asked 1 time(s)" in run.summary


def test_a_dry_run_plans_the_watch_and_the_backup_and_takes_nothing(world: World) -> None:
    world.write_config((world.repo.path / "kars.yml").read_text() + "backup:\n  service: Postgres\n")
    run = world.release("--dry-run")
    assert run.code == 0, run.stderr
    status = stages(run.report)
    assert status["watch"] == "planned" and status["backup"] == "planned"
    assert "would watch backend, frontend for 10m00s" in json.dumps(run.report)
    assert world.sim.mutations == []


def test_a_failed_watch_alert_names_the_backup_and_how_to_restore_it(world: World) -> None:
    world.write_config((world.repo.path / "kars.yml").read_text() + "backup:\n  service: Postgres\n")
    world.sim.release_behaves(world.ids["backend"], world.head, Traffic(error_ratio=0.5), after=60)
    run = world.release()
    assert run.code == 1 and run.report["outcome"] == "rolled-back"
    backup_id = world.sim.backups[0].id
    alert = json.dumps(world.alerts.received[-1])
    assert f"kars-actions restore --backup {backup_id} --service Postgres" in alert
