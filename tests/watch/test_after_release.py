"""The long watch after a release (``kars-actions watch --after-release TAG``), its own job: through the CLI as a real
process after a real release. When it trips it rolls back only what still serves, marks the GitHub deployment and
the published release failed after the fact, and alerts; a newer release ends it without a word against it."""

from __future__ import annotations

from tests.fakes.railway_sim import Script
from tests.fakes.railway_sim_watch import Traffic
from tests.fakes.world import OLD, World

NEWER = "9" * 40


def after_release(world: World, *extra: str, **env: str):  # type: ignore[no-untyped-def]
    urls = world.service_urls()
    config = str(world.repo.path / "kars.yml")
    return world.cli("watch", "--config", config, "--after-release", "v0.1.0", *urls, *extra, **env)


def released(world: World) -> None:
    run = world.release()
    assert run.code == 0 and run.report["outcome"] == "released", run.stderr


def test_a_regression_after_the_gate_rolls_back_and_marks_the_release_failed_after_the_fact(world: World) -> None:
    # The gate watches 10 minutes; the 5xx start 20 minutes after go-live, long after the release published.
    world.sim.release_behaves(world.ids["backend"], world.head, Traffic(error_ratio=0.08), after=1200)
    released(world)
    run = after_release(world)
    assert run.code == 1, run.stderr
    report = run.report
    assert report["verdict"] == "failed" and report["duration"] == 1800  # 30 minutes by default
    assert report["rollbacks"][0]["restored"] is True
    assert "rolled back: Railway reports" in report["rollbacks"][0]["message"]
    assert world.apps["backend"].live_commit() == OLD and world.apps["frontend"].live_commit() == world.head
    release = world.github.releases_for("v0.1.0")[0]
    assert release["draft"] is False  # published, and stays so: its notes say what happened
    assert release["body"].startswith("> [!CAUTION]") and "failed the watch after release" in release["body"]
    deployment = world.github.deployments_of("production", world.head)[0]
    assert world.github.state_of(deployment["id"]) == "failure"
    alert = world.alerts.received[-1]
    assert alert["event"] == "rollback" and "5xx ratio" in str(alert)
    steps = {s["step"]: s["done"] for s in report["after_release"]["steps"]}
    assert steps == {"GitHub deployment": True, "release": True, "alert": True}
    regression = world.live_since("backend", world.head) + 1200
    assert 0 < world.sim.rollback_requested_at[-1] - regression < 60


def test_a_clean_long_watch_changes_nothing(world: World) -> None:
    released(world)
    writes = len(world.github.writes())
    run = after_release(world, "--duration", "15m")
    assert run.code == 0, run.stderr
    assert run.report["verdict"] == "passed" and run.report["seconds"] >= 900
    assert len(world.github.writes()) == writes and world.sim.count("deploymentRollback") == 0


def test_a_newer_release_ends_the_long_watch_and_nothing_is_rolled_back(world: World) -> None:
    released(world)
    sim, backend = world.sim, world.ids["backend"]
    sim.release_behaves(backend, NEWER, Traffic(error_ratio=0.5))  # judged by its own release, not this watch

    def newer_release() -> None:
        for name in ("backend", "frontend"):
            script = Script.success(build=20, deploy=10)
            sim._create(world.ids[name], world.env_id, NEWER, script, sim.clock.monotonic())

    sim.after("WatchStatusExecutionsHttpLatencyResources", newer_release, times=6)
    run = after_release(world)
    assert run.code == 0, run.stderr
    assert run.report["verdict"] == "superseded" and run.report["headline"].startswith("Watch stopped")
    assert "no longer watched" in run.report["headline"]
    assert sim.count("deploymentRollback") == 0
    assert world.github.releases_for("v0.1.0")[0]["body"].find("CAUTION") == -1


def test_a_release_whose_deployments_no_longer_serve_is_not_watched(world: World) -> None:
    released(world)
    sim = world.sim
    for name in ("backend", "frontend"):
        with sim.lock:
            script = Script.success(build=20, deploy=10)
            sim._create(world.ids[name], world.env_id, NEWER, script, sim.clock.monotonic())
    sim.clock.advance(60)
    run = after_release(world)
    assert run.code == 0, run.stderr
    assert run.report["verdict"] == "superseded"
    assert all("a newer release or a rollback replaced it" in why for why in run.report["after_release"]["not_watched"])


def test_the_long_watch_needs_a_github_token(world: World) -> None:
    released(world)
    before = len(world.sim.requests)
    run = after_release(world, GITHUB_TOKEN="")
    assert run.code == 3 and "no GitHub token" in run.report["error"]["message"]
    assert len(world.sim.requests) == before  # Railway was not even asked
