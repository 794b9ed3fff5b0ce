"""The real ``deploy`` and ``rollback`` commands against the simulator: CliRunner and a real subprocess.

The CLI runs with ``KARS_TEST_VIRTUAL_CLOCK=1`` (its sleeps return at once and move its own clock) and the
simulator moves its clock 5 s per request, so a multi-minute deploy plays out in milliseconds without sleeping.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from kars_actions.cli.deploy import command as deploy_command
from kars_actions.cli.rollback import command as rollback_command
from tests.fakes.cli_fork import run_kars
from tests.fakes.railway_sim import Script
from tests.railway.conftest import NEW, World

REPO = Path(__file__).resolve().parents[2]


def invoke(command: object, args: list[str], env: dict[str, str]) -> tuple[int, str, str]:
    runner = CliRunner()
    result = runner.invoke(command, args, env=env, catch_exceptions=False)  # type: ignore[arg-type]
    return result.exit_code, result.stdout, result.stderr


def deploy_args(*extra: str) -> list[str]:
    return ["--service", "api", "--service", "web", "--commit", NEW, "--format", "json", *extra]


def test_cli_deploys_two_services_and_reports_json(cli_world: World, tmp_path: Path) -> None:
    code, out, err = invoke(deploy_command, deploy_args(), cli_world.cli_env())
    assert code == 0, out + err
    report = json.loads(out)
    assert report["deployed"] is True
    assert {s["service"]: s["status"] for s in report["services"]} == {"api": "SUCCESS", "web": "SUCCESS"}
    assert {s["previous_deployment_id"] for s in report["services"]} == {cli_world.api_old, cli_world.web_old}
    assert "api: BUILDING" in err


def test_cli_failed_build_exits_1_with_the_reason(cli_world: World) -> None:
    cli_world.sim.script_for(cli_world.api, Script.build_failure())
    code, out, _ = invoke(
        deploy_command, ["--service", "api", "--commit", NEW, "--format", "text"], cli_world.cli_env()
    )
    assert code == 1
    assert "BUILD_IMAGE failed: Docker build failed" in out and "npm ERR! missing script: build" in out


def test_cli_crashed_app_exits_1(cli_world: World) -> None:
    cli_world.sim.script_for(cli_world.web, Script.crash())
    code, out, _ = invoke(deploy_command, deploy_args(), cli_world.cli_env())
    assert code == 1
    statuses = {s["service"]: s["status"] for s in json.loads(out)["services"]}
    assert statuses == {"api": "SUCCESS", "web": "CRASHED"}


def test_cli_deploy_answer_lost_creates_exactly_one_deployment(cli_world: World) -> None:
    cli_world.sim.inject("drop", "ServiceInstanceDeployV2", after=True)
    code, out, err = invoke(
        deploy_command, ["--service", "api", "--commit", NEW, "--format", "json"], cli_world.cli_env()
    )
    assert code == 0, out + err
    assert len(cli_world.sim.deployments_of(cli_world.api, NEW)) == 1


def test_cli_rides_out_a_429_storm(cli_world: World) -> None:
    cli_world.sim.inject("rate_limit", None, count=8, retry_after=10)
    code, out, err = invoke(deploy_command, deploy_args(), cli_world.cli_env())
    assert code == 0, out + err
    assert sum(1 for r in cli_world.sim.requests if r.http_status == 429) == 8


def test_cli_rate_limit_past_the_deadline_exits_3(cli_world: World) -> None:
    cli_world.sim.inject("rate_limit", None, count=1, retry_after=3600)
    code, out, _ = invoke(deploy_command, [*deploy_args(), "--timeout", "600"], cli_world.cli_env())
    assert code == 3
    assert json.loads(out)["error"]["type"] == "RateLimited"


def test_cli_wrong_token_type_says_which_variable_to_use(cli_world: World) -> None:
    env = cli_world.cli_env(RAILWAY_TOKEN=cli_world.account_token)
    code, out, err = invoke(deploy_command, deploy_args("--format", "text"), env)
    assert code == 3
    text = out + err
    assert "project token from RAILWAY_TOKEN" in text and "RAILWAY_API_TOKEN" in text
    assert cli_world.account_token not in text


def test_cli_account_token_in_the_api_variable_works_with_project_and_environment(cli_world: World) -> None:
    env = cli_world.cli_env(RAILWAY_TOKEN="", RAILWAY_API_TOKEN=cli_world.account_token)
    code, out, err = invoke(
        deploy_command, [*deploy_args(), "--project", "kars-app", "--environment", "production"], env
    )
    assert code == 0, out + err


def test_cli_without_any_token_exits_2_naming_both_variables(cli_world: World) -> None:
    env = {"RAILWAY_GRAPHQL_ENDPOINT": cli_world.sim.url}
    code, _out, err = invoke(deploy_command, deploy_args("--format", "text"), env)
    assert code == 2 and "RAILWAY_TOKEN" in err and "RAILWAY_API_TOKEN" in err
    assert cli_world.sim.requests == []


def test_cli_dry_run_sends_no_mutation(cli_world: World) -> None:
    code, out, _ = invoke(deploy_command, deploy_args("--dry-run"), cli_world.cli_env())
    assert code == 0
    assert json.loads(out)["dry_run"] is True
    assert cli_world.sim.mutations == [] and len(cli_world.sim.requests) > 0


def test_cli_services_and_required_variables_come_from_kars_yml(cli_world: World, tmp_path: Path) -> None:
    config = tmp_path / "kars.yml"
    config.write_text(
        "services:\n"
        "  backend:\n    railway_service: api\n    required_variables: [DATABASE_URL, JWT_SECRET]\n"
        "  frontend:\n    railway_service: web\n"
    )
    code, out, err = invoke(
        deploy_command, ["--config", str(config), "--commit", NEW, "--format", "text"], cli_world.cli_env()
    )
    assert code == 1, out + err
    assert "backend: JWT_SECRET" in err and "hunter2" not in out + err
    assert cli_world.sim.mutations == []


def test_cli_rollback_restores_the_previous_deployment(cli_world: World) -> None:
    assert invoke(deploy_command, ["--service", "api", "--commit", NEW], cli_world.cli_env())[0] == 0
    code, out, err = invoke(rollback_command, ["--service", "api", "--format", "json"], cli_world.cli_env())
    assert code == 0, out + err
    report = json.loads(out)
    assert report["rolled_back"] is True and report["target_deployment_id"] == cli_world.api_old
    assert report["live"] is True


def test_cli_rollback_refused_when_railway_cannot_roll_back(cli_world: World) -> None:
    assert invoke(deploy_command, ["--service", "api", "--commit", NEW], cli_world.cli_env())[0] == 0
    cli_world.sim.deployment(cli_world.api_old).can_rollback = False
    code, _out, err = invoke(
        rollback_command, ["--service", "api", "--to", cli_world.api_old, "--format", "text"], cli_world.cli_env()
    )
    assert code == 1
    assert "no longer kept" in err and "120 h" in err
    assert cli_world.sim.count("deploymentRollback") == 0


@pytest.mark.subprocess
def test_real_process_deploys_writes_outputs_and_never_prints_the_token(cli_world: World, tmp_path: Path) -> None:
    outputs = tmp_path / "outputs"
    summary = tmp_path / "summary.md"
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("RAILWAY_", "GITHUB_", "KARS_"))},
        **cli_world.cli_env(),
        "GITHUB_ACTIONS": "true",
        "GITHUB_OUTPUT": str(outputs),
        "GITHUB_STEP_SUMMARY": str(summary),
        "PYTHONPATH": str(REPO),
    }
    proc = run_kars(
        ["deploy", "--service", "api", "--service", "web", "--commit", NEW],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    mask = f"::add-mask::{cli_world.project_token}\n"
    assert proc.stdout.startswith(mask), "the token is masked before anything else is printed"
    everything = proc.stdout.replace(mask, "") + proc.stderr + outputs.read_text() + summary.read_text()
    assert cli_world.project_token not in everything
    written = outputs.read_text()
    for name in ("deployment-ids", "previous-deployment-ids", "statuses", "environment-url", "service-urls"):
        assert f"{name}<<" in written
    assert "deployed<<" in written and "\ntrue\n" in written
    assert "| api | ✅ SUCCESS |" in summary.read_text()


@pytest.mark.subprocess
def test_real_process_failed_deploy_exits_1(cli_world: World, tmp_path: Path) -> None:
    cli_world.sim.script_for(cli_world.api, Script.healthcheck_failure())
    env = {**os.environ, **cli_world.cli_env(), "PYTHONPATH": str(REPO)}
    proc = run_kars(
        ["deploy", "--service", "api", "--commit", NEW, "--format", "text"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        cwd=tmp_path,
    )
    assert proc.returncode == 1
    assert "HEALTHCHECK failed after 10 attempts" in proc.stdout
