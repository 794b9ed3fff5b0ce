"""``kars-actions config plan|apply`` as real processes against the simulator: exit codes, outputs, summaries."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.fakes.actions_files import read_outputs
from tests.fakes.cli_fork import run_kars
from tests.fakes.railway_sim import RailwaySim, SimClock
from tests.railway.test_settings import API_JSON, API_LIVE, KARS_YML, WEB_LIVE, WEB_TOML

REPO = Path(__file__).resolve().parents[2]


@dataclass
class Cli:
    sim: RailwaySim
    root: Path
    production: str
    staging: str
    api: str
    web: str
    token: str

    def run(self, *args: str, token: str | None = None) -> tuple[int, str, str, dict[str, str], str]:
        outputs = self.root.parent / "outputs.txt"
        summary = self.root.parent / "summary.md"
        for path in (outputs, summary):
            path.write_text("")
        env = {
            **os.environ,
            "PYTHONPATH": str(REPO),
            "RAILWAY_API_TOKEN": token or self.token,
            "RAILWAY_GRAPHQL_ENDPOINT": self.sim.url,
            "KARS_TEST_VIRTUAL_CLOCK": "1",
            "GITHUB_OUTPUT": str(outputs),
            "GITHUB_STEP_SUMMARY": str(summary),
            "GITHUB_SHA": "b" * 40,
        }
        for name in ("RAILWAY_TOKEN", "KARS_CONFIG", "GITHUB_ACTIONS"):
            env.pop(name, None)
        proc = run_kars(
            ["config", *args],
            cwd=self.root,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        return proc.returncode, proc.stdout, proc.stderr, read_outputs(outputs), summary.read_text()


@pytest.fixture
def cli(tmp_path: Path) -> Iterator[Cli]:
    root = tmp_path / "app"
    (root / "api").mkdir(parents=True)
    (root / "web").mkdir()
    (root / "kars.yml").write_text(KARS_YML)
    (root / "api" / "railway.json").write_text(json.dumps(API_JSON, indent=2))
    (root / "web" / "railway.toml").write_text(WEB_TOML)
    sim = RailwaySim(SimClock(), advance_per_request=1.0)
    project = sim.add_project("kars-app")
    production = sim.add_environment(project, "production")
    staging = sim.add_environment(project, "staging")
    api = sim.add_service(project, "api")
    web = sim.add_service(project, "web")
    for env in (production, staging):
        sim.set_settings(web, env, WEB_LIVE)
    sim.set_settings(api, production, {"build": {"builder": "RAILPACK"}, "deploy": {}})
    sim.set_settings(api, staging, {**API_LIVE, "deploy": {**API_LIVE["deploy"], "numReplicas": 1}})
    sim.edit_settings(staging, {"services": {api: {"deploy": {"sleepApplication": True}}}})
    sim.start()
    yield Cli(sim, root, production, staging, api, web, sim.add_account_token("acct-very-secret-token"))
    sim.stop()


def test_plan_check_exits_1_on_drift_with_outputs_and_a_summary_table(cli: Cli) -> None:
    code, out, err, outputs, summary = cli.run("plan", "--check", "--format", "text")
    assert code == 1, out + err
    assert "production / api (api/railway.json): 10 to change" in out
    assert "staging / api (api/railway.json): in sync" in out
    assert outputs["drift"] == "true"
    plan = json.loads(outputs["plan"])
    production = next(e for e in plan["environments"] if e["environment"] == "production")
    api = next(s for s in production["services"] if s["service"] == "api")
    assert {"field": "deploy.startCommand", "live": None, "repo": "node dist/main.js"} in api["changes"]
    assert "| `deploy.startCommand` | (unset) | `node dist/main.js` |" in summary
    assert cli.sim.mutations == []


def test_plan_without_check_exits_0_and_reports_json(cli: Cli) -> None:
    code, out, _, _, _ = cli.run("plan", "--format", "json")
    assert code == 0
    report = json.loads(out)
    assert report["drift"] is True and report["exit_code"] == 0


def test_apply_then_plan_check_is_clean(cli: Cli) -> None:
    code, out, err, outputs, summary = cli.run("apply", "--format", "text")
    assert code == 0, out + err
    assert outputs["applied"] == "true" and outputs["drift"] == "false"
    assert "applied: the service settings now match the repository" in out
    assert "Committed `environmentPatchCommit` to production" in summary
    assert cli.sim.count("environmentPatchCommit") == 1  # staging was already in sync
    message = cli.sim.patches[cli.production][-1]["message"]
    assert message.startswith("kars-actions: railway.json settings from " + "b" * 12)
    code, out, err, outputs, _ = cli.run("plan", "--check")
    assert code == 0, out + err
    assert outputs["drift"] == "false"
    assert "acct-very-secret-token" not in out + err + summary


def test_apply_dry_run_prints_the_patch_and_sends_nothing(cli: Cli) -> None:
    code, out, _, outputs, _ = cli.run("apply", "--dry-run", "--format", "json")
    assert code == 0
    report = json.loads(out)
    assert report["applied"][0]["committed"] is False
    assert report["applied"][0]["patch"]["services"][cli.api]["deploy"]["startCommand"] == "node dist/main.js"
    assert outputs["applied"] == "false" and outputs["drift"] == "true"
    assert cli.sim.mutations == []


def test_apply_refused_by_a_repo_iac_file_exits_1_and_says_production_was_not_changed(cli: Cli) -> None:
    (cli.root / ".railway").mkdir()
    (cli.root / ".railway" / "railway.ts").write_text("export default {}\n")
    code, out, _, outputs, summary = cli.run("apply", "--format", "text")
    assert code == 1
    assert "apply stopped; nothing was written" in out
    assert "Infrastructure as Code" in summary
    assert outputs["applied"] == "false" and outputs["drift"] == "true"
    assert cli.sim.mutations == []


def test_railway_down_exits_3_without_a_traceback(cli: Cli) -> None:
    cli.sim.inject("http", None, count=1000, status=503, message="upstream unavailable")
    code, out, err, _, _ = cli.run("plan")
    assert code == 3, out + err
    assert "Traceback" not in err and "acct-very-secret-token" not in out + err


def test_a_wrong_token_exits_3_and_is_never_printed(cli: Cli) -> None:
    code, out, err, _, _ = cli.run("plan", token="acct-wrong-token-value")
    assert code == 3
    assert "acct-wrong-token-value" not in out + err


def test_an_invalid_file_exits_2_naming_its_line_and_the_outputs_say_drift_unknown(cli: Cli) -> None:
    (cli.root / "api" / "railway.json").write_text('{\n  "deploy": {\n    "overlapSeconds": 2.5\n  }\n}\n')
    code, out, err, outputs, summary = cli.run("plan", "--check", "--format", "text")
    assert code == 2, out + err
    assert "api/railway.json:3:23: overlapSeconds is 2.5" in out
    assert outputs["drift"] == "unknown" and outputs["plan"] == ""
    assert "no plan" in summary
    assert cli.sim.mutations == []


def test_a_registry_password_in_railway_json_is_applied_but_never_printed(cli: Cli) -> None:
    data = json.loads(json.dumps(API_JSON))
    data["deploy"]["registryCredentials"] = {"username": "kars", "password": "registry-pass-very-secret"}
    (cli.root / "api" / "railway.json").write_text(json.dumps(data))
    for args in (("plan", "--format", "json"), ("apply", "--format", "text"), ("plan", "--format", "github")):
        code, out, err, outputs, summary = cli.run(*args)
        assert code == 0, out + err
        assert "registry-pass-very-secret" not in out + err + summary + json.dumps(outputs)
    held = cli.sim.settings_of(cli.api, cli.production)["deploy"]["registryCredentials"]
    assert held == {"username": "kars", "password": "registry-pass-very-secret"}
