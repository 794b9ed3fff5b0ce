"""``deploy`` and ``rollback`` as real processes under Railway trouble: each ends with the true state of production
in the exit code, the outputs and the step summary.

The CLI runs on a virtual clock (``KARS_TEST_VIRTUAL_CLOCK=1``) and the simulator follows that clock, so deadlines,
poll counts and reporting delays are the ones a real run would have, measured on the simulator's clock.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.fakes.actions_files import parse_outputs
from tests.fakes.cli_fork import run_kars
from tests.fakes.railway_sim import Script
from tests.fakes.railway_stream import stream_control
from tests.railway.conftest import NEW, OLD, World
from tests.versioning.gitrepo import GIT_ENV, GitRepo

REPO = Path(__file__).resolve().parents[2]
PROBLEM = "Problem processing request"
FOREVER = 10**6


@dataclass
class Run:
    code: int
    report: dict[str, Any]
    stdout: str
    stderr: str
    outputs: dict[str, str]
    summary: str

    def output(self, name: str) -> Any:
        return json.loads(self.outputs[name])


def cli(world: World, tmp_path: Path, *args: str, cwd: Path | None = None, real_timeout: float = 60) -> Run:
    outputs, summary = tmp_path / "outputs", tmp_path / "summary.md"
    for f in (outputs, summary):
        f.write_text("")
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("RAILWAY_", "GITHUB_", "KARS_"))},
        **GIT_ENV,
        **world.cli_env(),
        "GITHUB_OUTPUT": str(outputs),
        "GITHUB_STEP_SUMMARY": str(summary),
        "PYTHONPATH": str(REPO),
    }
    proc = run_kars(
        [*args, "--format", "json"],
        capture_output=True,
        text=True,
        env=env,
        timeout=real_timeout,
        cwd=cwd or tmp_path,
    )
    assert "Traceback" not in proc.stdout + proc.stderr, proc.stderr
    assert world.project_token not in proc.stdout + proc.stderr + outputs.read_text() + summary.read_text()
    try:
        report = json.loads(proc.stdout)
    except json.JSONDecodeError:
        raise AssertionError(f"no JSON report:\n{proc.stdout}\n{proc.stderr}") from None
    return Run(
        proc.returncode, report, proc.stdout, proc.stderr, parse_outputs(outputs.read_text()), summary.read_text()
    )


def deploy(world: World, tmp_path: Path, *extra: str, service: str = "api", **kw: Any) -> Run:
    return cli(world, tmp_path, "deploy", "--service", service, "--commit", NEW, *extra, **kw)


def span(world: World) -> float:
    """Simulated seconds from the first request the simulator saw to the last."""
    times = [r.at for r in world.sim.requests]
    return max(times) - min(times)


def status_polls(world: World) -> int:
    return world.sim.count("Deployment")


# --- item 1: a GraphQL error in an HTTP 200 answer --------------------------------------------------------------------


def test_one_graphql_error_in_a_200_on_a_status_poll_is_retried_not_a_lost_deployment(
    timed_world: World, tmp_path: Path
) -> None:
    stream_control(timed_world.sim).refuse = FOREVER  # every status is asked for: the poll path is what is tested
    timed_world.sim.inject("graphql_error", "Deployment", count=1, message=PROBLEM)
    run = deploy(timed_world, tmp_path)
    assert run.code == 0, run.stdout + run.stderr
    assert run.report["services"][0]["status"] == "SUCCESS"
    assert run.outputs["deployed"] == "true"
    assert len(timed_world.sim.deployments_of(timed_world.api, NEW)) == 1


def test_graphql_errors_until_the_deadline_end_unknown_exit_3_naming_the_deployment(
    timed_world: World, tmp_path: Path
) -> None:
    timed_world.sim.inject("graphql_error", "Deployment", count=FOREVER, message=PROBLEM)
    stream_control(timed_world.sim).refuse = FOREVER  # no status pushed either: Railway cannot be asked at all
    run = deploy(timed_world, tmp_path, "--timeout", "120")
    assert run.code == 3, run.stdout + run.stderr
    (created,) = timed_world.sim.deployments_of(timed_world.api, NEW)
    row = run.report["services"][0]
    assert row["status"] == "UNKNOWN" and row["possibly_live"] is True and row["deployment_id"] == created.id
    assert "may be live" in row["reason"] and PROBLEM in row["reason"]
    assert run.output("deployment-ids") == {"api": created.id}
    assert run.output("statuses") == {"api": "UNKNOWN"} and run.outputs["deployed"] == "false"
    assert "state of production is unknown" in run.summary and created.id in run.summary
    assert span(timed_world) <= 120 + 1


# --- items 4 and 5: errors during the wait, Railway unreachable -------------------------------------------------------


def test_railway_unreachable_for_the_whole_wait_is_unknown_within_the_timeout(
    timed_world: World, tmp_path: Path
) -> None:
    timed_world.sim.inject("http", "Deployment", count=FOREVER, status=502)
    stream_control(timed_world.sim).refuse = FOREVER  # the status stream is unreachable too
    run = deploy(timed_world, tmp_path, "--timeout", "60")
    assert run.code == 3, run.stdout + run.stderr
    row = run.report["services"][0]
    assert row["status"] == "UNKNOWN" and "QUEUED" not in row["reason"] and "never read" in row["reason"]
    assert "HTTP 502" in row["reason"]
    assert run.output("deployment-ids")["api"] == row["deployment_id"]
    assert "state of production is unknown" in run.summary
    assert span(timed_world) <= 60 + 1, "the deadline is hard"


def test_rate_limit_past_the_deadline_during_the_wait_still_writes_outputs_and_summary(
    timed_world: World, tmp_path: Path
) -> None:
    stream_control(timed_world.sim).refuse = FOREVER  # the status stream is unreachable too
    timed_world.sim.inject("rate_limit", "Deployment", count=FOREVER, retry_after=3600)
    run = deploy(timed_world, tmp_path, "--timeout", "300")
    assert run.code == 3
    row = run.report["services"][0]
    assert row["status"] == "UNKNOWN" and "rate limit" in row["reason"]
    assert run.output("deployment-ids") == {"api": timed_world.sim.deployments_of(timed_world.api, NEW)[0].id}
    assert "### Railway deploy" in run.summary and "state of production is unknown" in run.summary


@pytest.mark.parametrize(
    ("retry_after", "reset_in"),
    [(0.0, None), (None, -30.0)],
    ids=["retry-after-0", "reset-in-the-past"],
)
def test_a_429_that_says_retry_now_never_becomes_a_busy_loop(
    timed_world: World, tmp_path: Path, retry_after: float | None, reset_in: float | None
) -> None:
    stream_control(timed_world.sim).refuse = FOREVER  # the status stream is unreachable too
    timed_world.sim.inject("rate_limit", "Deployment", count=FOREVER, retry_after=retry_after, reset_in=reset_in)
    run = deploy(timed_world, tmp_path, "--timeout", "120", real_timeout=30)
    assert run.code == 3
    limited = [r for r in timed_world.sim.requests if r.http_status == 429]
    assert len(limited) <= 60, f"{len(limited)} requests refused in 120 s"
    busiest = max(sum(1 for r in limited if second <= r.at < second + 1) for second in range(int(span(timed_world))))
    assert busiest <= 3, "at most a few requests a second"
    assert span(timed_world) <= 120 + 1


def test_an_error_before_anything_started_still_writes_the_outputs(timed_world: World, tmp_path: Path) -> None:
    run = deploy(timed_world, tmp_path, service="worker")
    assert run.code == 2 and run.report["error"]["type"] == "ConfigError"
    assert run.outputs["deployed"] == "false" and run.output("deployment-ids") == {"worker": ""}
    assert "production was not touched" in run.summary
    assert timed_world.sim.mutations == []


# --- item 10: reuse ---------------------------------------------------------------------------------------------------


def test_reusing_a_deployment_that_is_already_live_does_not_wait(timed_world: World, tmp_path: Path) -> None:
    assert deploy(timed_world, tmp_path, "--settle", "0").code == 0
    polls = status_polls(timed_world)
    run = deploy(timed_world, tmp_path, "--settle", "0")
    assert run.code == 0
    row = run.report["services"][0]
    assert row["reused"] is True and row["duration_seconds"] == 0
    assert status_polls(timed_world) == polls, "it was seen live a moment ago: no poll needed"
    assert len(timed_world.sim.deployments_of(timed_world.api, NEW)) == 1


# --- item 6: the wait estimate ----------------------------------------------------------------------------------------


def five_minute_deploy(world: World, *, previous: str | None) -> str:
    """A service whose next deploy takes 3.5 min BUILDING + 1.5 min DEPLOYING, with a previous deployment that
    is SLEEPING (served a day ago, asleep now), SUCCESS, or none."""
    worker = world.sim.add_service(world.project, "worker", domain="worker.up.railway.app")
    if previous is not None:
        world.sim.add_deployment(worker, world.env, OLD, status=previous, age=86400, took=300)
    world.sim.script_for(worker, Script.success(build=210, deploy=90))
    return worker


@pytest.mark.parametrize(
    ("previous", "most_polls"), [("SLEEPING", 15), ("SUCCESS", 15), (None, 20)], ids=["sleeping", "success", "first"]
)
def test_a_five_minute_deploy_is_reported_within_5s_on_few_requests(
    timed_world: World, tmp_path: Path, previous: str | None, most_polls: int
) -> None:
    five_minute_deploy(timed_world, previous=previous)
    run = deploy(timed_world, tmp_path, "--settle", "0", service="worker")
    assert run.code == 0, run.stdout + run.stderr
    row = run.report["services"][0]
    assert row["duration_seconds"] - 300 <= 5, f"SUCCESS reported {row['duration_seconds'] - 300:.0f}s late"
    assert status_polls(timed_world) <= most_polls, f"{status_polls(timed_world)} status polls"


# --- items 7 and 8: the evidence, and a crash after SUCCESS -----------------------------------------------------------


def test_a_healthcheck_failure_shows_railways_healthcheck_lines_from_the_build_log(
    timed_world: World, tmp_path: Path
) -> None:
    timed_world.sim.script_for(timed_world.api, Script.healthcheck_failure(attempts=3))
    run = deploy(timed_world, tmp_path)
    assert run.code == 1
    tail = run.report["services"][0]["log_tail"]
    assert "Path: /api/health" in tail and "1/1 replicas never became healthy!" in tail
    assert any(line.startswith("Attempt #1 failed with service unavailable") for line in tail)
    assert "> npm run build" not in tail, "only the healthcheck's lines from the build log"
    assert any("ECONNREFUSED" in line for line in tail), "then the app's own last lines"


def test_a_crash_within_the_settle_window_fails_the_deploy_with_the_crash_log(
    timed_world: World, tmp_path: Path
) -> None:
    timed_world.sim.script_for(timed_world.api, Script.crash_after_success(up=20))
    run = deploy(timed_world, tmp_path)
    assert run.code == 1, run.stdout
    row = run.report["services"][0]
    assert row["status"] == "CRASHED" and "after going live" in row["reason"]
    assert "Error: Cannot find module './jobs/cleanup'" in row["log_tail"]
    assert run.outputs["deployed"] == "false"


@pytest.mark.parametrize("settle", ["0", "15"])
def test_a_crash_after_the_settle_window_is_not_the_deploys_to_catch(
    timed_world: World, tmp_path: Path, settle: str
) -> None:
    timed_world.sim.script_for(timed_world.api, Script.crash_after_success(up=20))
    run = deploy(timed_world, tmp_path, "--settle", settle)
    assert run.code == 0, run.stdout
    assert run.report["services"][0]["status"] == "SUCCESS"


# --- item 9: commits --------------------------------------------------------------------------------------------------


def test_a_short_sha_is_resolved_with_local_git_and_the_full_one_is_sent(timed_world: World, tmp_path: Path) -> None:
    repo = GitRepo(tmp_path / "app")
    (repo.path / "a.txt").write_text("a")
    full = repo.commit("feat: a")
    run = cli(timed_world, tmp_path, "deploy", "--service", "api", "--commit", full[:8], "--settle", "0", cwd=repo.path)
    assert run.code == 0, run.stdout + run.stderr
    assert [d.commit for d in timed_world.sim.deployments_of(timed_world.api)][-1] == full


def test_a_short_sha_local_git_cannot_resolve_is_refused_asking_for_the_full_one(
    timed_world: World, tmp_path: Path
) -> None:
    run = cli(timed_world, tmp_path, "deploy", "--service", "api", "--commit", "abc1234")
    assert run.code == 2
    assert "full 40-character SHA" in run.report["error"]["hint"]
    assert timed_world.sim.mutations == []


def test_commit_not_found_says_where_railway_looked_not_push_it(timed_world: World, tmp_path: Path) -> None:
    timed_world.sim.known_commits = set()
    run = deploy(timed_world, tmp_path)
    assert run.code == 1
    reason = run.report["services"][0]["reason"]
    assert NEW in reason and "repository connected to service api" in reason and "push it" not in reason
    assert timed_world.sim.deployments_of(timed_world.api, NEW) == []


# --- item 2: rollback after a FAILED deploy ---------------------------------------------------------------------------


def test_rollback_after_a_failed_deploy_touches_nothing_and_says_why(timed_world: World, tmp_path: Path) -> None:
    healthy = "c" * 40
    assert cli(timed_world, tmp_path, "deploy", "--service", "api", "--commit", healthy, "--settle", "0").code == 0
    timed_world.sim.script_for(timed_world.api, Script.build_failure())
    assert deploy(timed_world, tmp_path).code == 1
    live = timed_world.sim.deployments_of(timed_world.api, healthy)[0]
    run = cli(timed_world, tmp_path, "rollback", "--service", "api")
    assert run.code == 0, run.stdout + run.stderr
    assert run.report["rolled_back"] is False and run.report["status"] == "NOTHING_TO_DO"
    assert "FAILED before going live" in run.report["message"] and live.id in run.report["message"]
    assert timed_world.sim.count("deploymentRollback") == 0
    assert timed_world.sim.status_of(live.id) == "SUCCESS"
    assert run.outputs["rolled-back"] == "false"


def test_rollback_after_a_deploy_that_went_live_restores_the_one_before_it(timed_world: World, tmp_path: Path) -> None:
    assert deploy(timed_world, tmp_path, "--settle", "0").code == 0
    run = cli(timed_world, tmp_path, "rollback", "--service", "api")
    assert run.code == 0 and run.report["rolled_back"] is True
    assert run.report["target_deployment_id"] == timed_world.api_old


def test_a_rerun_of_a_deploy_that_went_live_keeps_the_deployment_before_it_as_the_rollback_target(
    timed_world: World, tmp_path: Path
) -> None:
    assert deploy(timed_world, tmp_path, "--settle", "0").code == 0
    run = deploy(timed_world, tmp_path, "--settle", "0")
    assert run.code == 0
    row = run.report["services"][0]
    assert row["reused"] is True
    assert row["previous_deployment_id"] == timed_world.api_old, "never the rerun's own live deployment"
    assert run.output("previous-deployment-ids") == {"api": timed_world.api_old}
