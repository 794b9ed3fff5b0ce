"""``config migrate``: the .railway/railway.ts it writes, evaluated by Railway's own SDK (npm ``railway``) on Node,
yields key for key the settings ``config apply`` sends for the same files, in every environment.

Node loads TypeScript through tsx (a dependency of the SDK), so Node 20 is enough. The SDK is installed by .ci/run
into tests/.npm from its committed lock file; the test never installs anything itself.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from kars_actions.core.config import load_config
from kars_actions.railway.api import Credentials, RailwayClient, TokenKind
from kars_actions.railway.environment_config import apply_settings, plan_settings, resolve_scope
from kars_actions.railway_config.settings import ApplyOptions
from tests.fakes.cli_fork import run_kars
from tests.fakes.railway_sim import RailwaySim, SimClock
from tests.railway.test_settings import service_files

REPO = Path(__file__).resolve().parents[2]
NODE_MODULES = REPO / "tests" / ".npm" / "node_modules"
EVALUATE = Path(__file__).with_name("iac_eval.mjs")

KARS_YML = """\
project: kars-app
services:
  backend:
    directory: backend
  web-app:
    railway_service: web-app
    railway_config: frontend/railway.toml
  worker:
    directory: jobs/worker
"""

BACKEND: dict[str, Any] = {
    "$schema": "https://railway.com/railway.schema.json",
    "build": {
        "builder": "dockerfile",
        "dockerfilePath": "backend/Dockerfile",
        "watchPatterns": ["backend/**", "!**/*.md"],
    },
    "deploy": {
        "startCommand": "node dist/main.js",
        "preDeployCommand": "npm run migrate",
        "healthcheckPath": "/api/health",
        "healthcheckTimeout": 120,
        "restartPolicyType": "on_failure",
        "restartPolicyMaxRetries": 5,
        "overlapSeconds": 30,
        "drainingSeconds": 10.0,
        "multiRegionConfig": {"us-west2": {"numReplicas": 2}, "europe-west4-drams3a": {"numReplicas": 1}},
    },
    "environments": {
        "staging": {
            "deploy": {"sleepApplication": True, "multiRegionConfig": {"us-west2": {"numReplicas": 1}}},
            "build": {"watchPatterns": ["backend/**"]},
        },
        "pr": {"deploy": {"sleepApplication": False, "restartPolicyMaxRetries": None, "startCommand": "npm run pr"}},
    },
}
FRONTEND_TOML = """\
[build]
builder = "NIXPACKS"
buildCommand = "npm run build"
nixpacksPlan = { providers = ["node"], phases = { setup = { nixPkgs = ["nodejs_20"] } } }

[deploy]
startCommand = "npx serve dist"
restartPolicyType = "ALWAYS"

[environments.staging.deploy]
startCommand = "npx serve dist --debug"
"""
WORKER: dict[str, Any] = {
    "build": {"builder": "RAILPACK"},
    "deploy": {"cronSchedule": "*/15 * * * *", "restartPolicyType": "NEVER", "runtime": "v2"},
    "environments": {"production": {"deploy": {"cronSchedule": "0 * * * *"}}},
}

ENVIRONMENTS = [
    {"name": "production"},
    {"name": "staging"},
    {"name": "kars-app-pr-3", "pr": {"number": 3, "branch": "feat/x", "base": "staging"}},
]


def write_repo(root: Path) -> None:
    (root / "backend").mkdir(parents=True)
    (root / "frontend").mkdir()
    (root / "jobs" / "worker").mkdir(parents=True)
    (root / "kars.yml").write_text(KARS_YML)
    (root / "backend" / "railway.json").write_text(json.dumps(BACKEND, indent=2))
    (root / "frontend" / "railway.toml").write_text(FRONTEND_TOML)
    (root / "jobs" / "worker" / "railway.json").write_text(json.dumps(WORKER, indent=2))


def cli(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    env.pop("KARS_CONFIG", None)
    return run_kars(
        ["config", *args], cwd=root, env=env, capture_output=True, text=True
    )


def what_apply_sends(root: Path) -> dict[str, dict[str, Any]]:
    """The patches `config apply` sends to services whose settings are empty, by environment and service name."""
    sim = RailwaySim(SimClock())
    project = sim.add_project("kars-app")
    production = sim.add_environment(project, "production")
    staging = sim.add_environment(project, "staging")
    sim.add_environment(project, "kars-app-pr-3", ephemeral=True, source=staging, pr=3)
    names = {sim.add_service(project, name): name for name in ("backend", "web-app", "worker")}
    for env in sim.environments:
        for service_id in names:
            sim.set_settings(service_id, env, {"build": {}, "deploy": {}})
    token = sim.add_account_token()
    sim.start()
    try:
        with RailwayClient(Credentials(TokenKind.ACCOUNT, token), sim.url, clock=sim.clock) as client:
            config = load_config(None, root)
            scope = resolve_scope(client, config.project, (), service_files(config), root=root)
            plan = plan_settings(client, scope)
            applied = apply_settings(client, plan, ApplyOptions(dry_run=True))
    finally:
        sim.stop()
    assert production
    return {step.environment: {names[sid]: entry for sid, entry in step.patch["services"].items()} for step in applied}


def with_both_sections(services: dict[str, Any]) -> dict[str, Any]:
    return {name: {"build": v.get("build", {}), "deploy": v.get("deploy", {})} for name, v in services.items()}


def test_migrate_prints_by_default_and_never_overwrites_without_force(tmp_path: Path) -> None:
    root = tmp_path / "app"
    write_repo(root)
    printed = cli(root, "migrate")
    assert printed.returncode == 0, printed.stderr
    assert 'import { defineRailway, project, service } from "railway/iac";' in printed.stdout
    assert not (root / ".railway").exists()
    assert cli(root, "migrate", "--write").returncode == 0
    written = (root / ".railway" / "railway.ts").read_text()
    assert written.rstrip("\n") == printed.stdout.rstrip("\n")
    again = cli(root, "migrate", "--write")
    assert again.returncode == 2
    assert "already exists" in again.stderr and "--force" in again.stderr
    assert cli(root, "migrate", "--write", "--force").returncode == 0


def test_migrate_keeps_every_setting_and_override_as_code_not_comments(tmp_path: Path) -> None:
    root = tmp_path / "app"
    write_repo(root)
    text = cli(root, "migrate").stdout
    for needle in (
        'builder: "DOCKERFILE"',
        'dockerfilePath: "backend/Dockerfile"',
        "restartPolicyType:",
        'cronSchedule: "*/15 * * * *"',
        "overlapSeconds: 30",
        "drainingSeconds: 10",
        "nixpacksPlan:",
        'ctx.isEnvironment("staging")',
        'ctx.isEnvironment("production")',
        "pr !== null",
        'forkedFrom("staging")',
    ):
        assert needle in text, needle
    assert "from CaC" not in text


@pytest.mark.node
@pytest.mark.skipif(shutil.which("node") is None or shutil.which("npm") is None, reason="needs Node.js and npm")
def test_railway_sdk_evaluates_the_migrated_file_to_exactly_what_apply_sends(tmp_path: Path) -> None:
    assert NODE_MODULES.joinpath("railway", "package.json").is_file(), (
        "Railway's SDK is not installed: run `npm ci --prefix tests/.npm` (.ci/run does)"
    )
    root = tmp_path / "app"
    write_repo(root)
    assert cli(root, "migrate", "--write").returncode == 0
    # Node resolves "railway/iac" from the importing file's folders up, as in a user's repository.
    (root / "node_modules").symlink_to(NODE_MODULES, target_is_directory=True)
    shutil.copy(EVALUATE, root / "evaluate.mjs")
    evaluated = subprocess.run(
        ["node", "--import", "tsx", "evaluate.mjs", ".railway/railway.ts", json.dumps(ENVIRONMENTS)],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert evaluated.returncode == 0, evaluated.stderr
    result = json.loads(evaluated.stdout)
    assert result["partial"] == "railway-json"
    sent = what_apply_sends(root)
    assert set(sent) == {e["name"] for e in ENVIRONMENTS}
    for env in ENVIRONMENTS:
        name = env["name"]
        assert result["environments"][name] == with_both_sections(sent[name]), name
    # The overrides really differ per environment (a file that ignored them would not pass the loop above).
    assert sent["staging"]["backend"]["deploy"]["sleepApplication"] is True
    assert sent["kars-app-pr-3"]["backend"]["deploy"]["sleepApplication"] is False
    assert "restartPolicyMaxRetries" not in sent["kars-app-pr-3"]["backend"]["deploy"]
    assert sent["production"]["worker"]["deploy"]["cronSchedule"] == "0 * * * *"
    assert sent["staging"]["web-app"]["deploy"]["startCommand"] == "npx serve dist --debug"
