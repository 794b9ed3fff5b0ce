"""The validate action in a workflow, run the way GitHub Actions runs it (its own run: lines, setup.sh and run.sh)
against the Railway simulator: with a Railway token it validates each service's file where Railway builds the
service from — the file the release validates — and without one, the folders' files."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fakes.railway_sim import RailwaySim, SimClock
from tests.fakes.workflow_runner import Runner, StepRun, install_fake_uv
from tests.versioning.gitrepo import GIT_ENV, GitRepo

ROOT = Path(__file__).resolve().parents[2]
PIN = "0123456789abcdef0123456789abcdef01234567"
GOOD = {"build": {"builder": "RAILPACK"}, "deploy": {"healthcheckPath": "/api/health"}}
BAD = {"build": {"builder": "RAILPACK"}, "deploy": {"restartPolicyType": "SOMETIMES"}}  # not one of Railway's

WORKFLOW = f"""\
name: Validate
on:
  pull_request:
permissions: {{}}
jobs:
  validate:
    runs-on: ubuntu-latest
    permissions:
      contents: read
    steps:
      - name: Validate
        uses: kars/deploy-action/validate@{PIN} # v1.0.0
        with:
          railway-token: ${{{{ secrets.RAILWAY_TOKEN_PRODUCTION }}}}
"""

pytestmark = pytest.mark.subprocess


def validate_step(
    tmp_path: Path, secrets: dict[str, str], sim: RailwaySim, files: dict[str, str] | None = None
) -> StepRun:
    repo = GitRepo(tmp_path / "app")
    configs = {"backend/railway.json": GOOD, "services/api/railway.json": BAD}
    written = {path: json.dumps(data, indent=2) for path, data in configs.items()}
    for path, text in {**written, **(files or {})}.items():
        (repo.path / path).parent.mkdir(parents=True, exist_ok=True)
        (repo.path / path).write_text(text)
    (repo.path / ".github" / "workflows").mkdir(parents=True)
    (repo.path / ".github" / "workflows" / "validate.yml").write_text(WORKFLOW)
    repo.commit("feat: the backend")
    temp = tmp_path / "runner-temp"
    temp.mkdir()
    install_fake_uv(temp)
    env = {
        "PATH": os.environ["PATH"],
        "HOME": os.environ.get("HOME", str(temp)),
        **GIT_ENV,
        "RAILWAY_GRAPHQL_ENDPOINT": sim.url,
        "KARS_TEST_VIRTUAL_CLOCK": "1",
        "GITHUB_ACTIONS": "true",
        "GITHUB_REPOSITORY": "kars/app",
        "GITHUB_WORKSPACE": str(repo.path),
    }
    runner = Runner(repo.path, ROOT, temp, pin=PIN, secrets=secrets, github={"ref": "refs/pull/7/merge"}, env=env)
    (job,) = runner.run(repo.path / ".github" / "workflows" / "validate.yml", "pull_request")
    return job.step("kars/deploy-action/validate@")


@pytest.fixture
def railway() -> Iterator[tuple[RailwaySim, str]]:
    """Railway builds the backend from /services/api (its root directory), which only a token can tell."""
    sim = RailwaySim(SimClock(), advance_per_request=1.0)
    project = sim.add_project("kars-app")
    env = sim.add_environment(project, "production")
    sim.add_service(project, "backend", root_directory="/services/api")
    token = sim.add_project_token(project, env)
    with sim:
        yield sim, token


def test_with_a_railway_token_validate_checks_the_file_railway_builds_the_service_from(
    tmp_path: Path, railway: tuple[RailwaySim, str]
) -> None:
    sim, token = railway
    step = validate_step(tmp_path, {"RAILWAY_TOKEN_PRODUCTION": token}, sim)
    assert step.inputs["railway-token"] == token
    assert step.code == 1, step.log
    assert step.outputs["valid"] == "false" and step.outputs["errors"] == "1"
    assert "backend: services/api/railway.json (Railway root directory /services/api)" in step.summary
    assert "services/api/railway.json" in step.log and "restartPolicyType" in step.log
    shown = [line for line in (step.log + step.summary).splitlines() if not line.startswith("::add-mask::")]
    assert step.log.count(f"::add-mask::{token}") == 1 and not any(token in line for line in shown)
    assert sim.mutations == [] and sim.count("serviceInstance") >= 1


def test_without_the_secret_validate_checks_the_folders_files(tmp_path: Path, railway: tuple[RailwaySim, str]) -> None:
    """A pull request from a fork gets no secrets: the same workflow validates what the repository's folders hold."""
    sim, _ = railway
    step = validate_step(tmp_path, {}, sim)
    assert step.code == 0, step.log
    assert step.outputs["valid"] == "true" and step.outputs["files"] == "1"
    assert "backend: backend/railway.json (folder backend/)" in step.summary
    assert sim.requests == []


def test_the_repository_s_own_kars_actions_or_yaml_never_runs_in_the_action_s_place(
    tmp_path: Path, railway: tuple[RailwaySim, str]
) -> None:
    """The step runs in the repository's folder: scripts/run.sh starts the interpreter isolated (-I), so a package
    or module there named like the action's (kars_actions, yaml) is never imported in their place."""
    sim, _ = railway
    own = "raise SystemExit(\"the repository's own {} ran in the action's place\")\n"
    files = {
        "kars_actions/__init__.py": own.format("kars_actions"),
        "kars_actions/cli/__init__.py": own.format("kars_actions.cli"),
        "kars_actions/cli/inputs.py": own.format("kars_actions.cli.inputs"),
        "yaml.py": own.format("yaml.py"),
    }
    step = validate_step(tmp_path, {}, sim, files)
    assert "the repository's own" not in step.log
    assert step.code == 0, step.log
    assert step.outputs["valid"] == "true" and step.outputs["files"] == "1"
