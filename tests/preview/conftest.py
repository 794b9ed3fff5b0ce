"""A pull request's world: the Railway simulator (PR environments on or off), the GitHub fake with the pull
request, and one app server per service answering with the commit live in the PR's environment right now.

The CLI runs as a real process on a virtual clock the simulator follows, so minutes of building play out in
milliseconds; the health servers read the simulator's state, as a real app reports its own commit.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.test_release import AppServer
from tests.fakes.actions_files import read_outputs
from tests.fakes.github_fake import GitHubFake
from tests.fakes.railway_sim import LIVE, RailwaySim, SimClock

PR = 12
HEADS = ["a" * 40, "b" * 40, "c" * 40]
OLD = "0" * 40

KARS_YML = """\
project: kars-app
services:
  backend:
    health:
      path: /api/health
      interval: 0.05
      timeout: 2
      retries: 4
      stable_passes: 1
      expect_json: {status: ok}
  frontend:
    health:
      url: https://www.example.com/healthz
      interval: 0.05
      timeout: 2
      retries: 4
      stable_passes: 1
environments:
  staging: {}
  production: {requires: staging}
"""


class PreviewApp(AppServer):
    """One service as the world sees it in the PR's environment: answers with the commit live there now."""

    def live_commit(self) -> str | None:
        now = self.sim.clock.monotonic()
        with self.sim.lock:
            ephemeral = {e for e, env in self.sim.environments.items() if env.get("ephemeral")}
            live = [
                d
                for d in self.sim.deployments
                if d.service_id == self.service_id and d.environment_id in ephemeral and d.status(now)[0] in LIVE
            ]
        return max(live, key=lambda d: d.created).commit if live else None


@dataclass
class Run:
    code: int
    report: dict[str, Any]
    stderr: str
    outputs: dict[str, str]
    summary: str


@dataclass
class World:
    tmp: Path
    sim: RailwaySim
    github: GitHubFake
    project: str
    staging: str
    ids: dict[str, str]
    apps: dict[str, PreviewApp]
    token: str
    extra_env: dict[str, str] = field(default_factory=dict)
    runs: int = 0

    @property
    def config(self) -> Path:
        return self.tmp / "kars.yml"

    def event(self, action: str = "opened", *, fork: bool = False, pr: int = PR) -> Path:
        """A pull_request event payload, as GitHub writes it to GITHUB_EVENT_PATH."""
        pull = json.loads(json.dumps(self.github.pulls[pr]))
        if fork:
            pull["head"]["repo"] = {"full_name": "contributor/app"}
        path = self.tmp / f"event-{action}.json"
        path.write_text(json.dumps({"action": action, "number": pr, "pull_request": pull}))
        return path

    def env(self, **extra: str) -> dict[str, str]:
        base = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "RAILWAY_", "KARS_"))}
        return {
            **base,
            "RAILWAY_API_TOKEN": self.token,
            "RAILWAY_GRAPHQL_ENDPOINT": self.sim.url,
            "KARS_TEST_VIRTUAL_CLOCK": "1",
            "GITHUB_TOKEN": "ghs_fake_token",
            "GITHUB_API_URL": self.github.url,
            "GITHUB_SERVER_URL": "https://github.example",
            "GITHUB_REPOSITORY": "kars/app",
            "GITHUB_RUN_ID": "4242",
            **self.extra_env,
            **extra,
        }

    def preview(self, *args: str, drop: tuple[str, ...] = (), **env: str) -> Run:
        """``kars-actions preview`` as a real process inside Actions: outputs and step summary to files."""
        self.runs += 1
        outputs = self.tmp / f"outputs-{self.runs}"
        summary = self.tmp / f"summary-{self.runs}.md"
        outputs.write_text("")
        summary.write_text("")
        environ = self.env(
            GITHUB_ACTIONS="true", GITHUB_OUTPUT=str(outputs), GITHUB_STEP_SUMMARY=str(summary), **env
        )
        for name in drop:
            environ.pop(name, None)
        urls = [f"--service-url={name}={app.url}" for name, app in self.apps.items()]
        argv = ["--config", str(self.config), "--format", "json", "--health-deadline", "20", *urls, *args]
        proc = subprocess.run(
            [sys.executable, "-m", "kars_actions", "preview", *argv],
            env=environ,
            capture_output=True,
            text=True,
            timeout=180,
        )
        # Inside Actions every secret is announced (::add-mask::) before anything else is printed.
        shown = "\n".join(line for line in proc.stdout.splitlines() if not line.startswith("::"))
        try:
            report = json.loads(shown)
        except json.JSONDecodeError:
            raise AssertionError(f"no JSON report:\n{proc.stdout}\n{proc.stderr}") from None
        return Run(proc.returncode, report, proc.stderr, read_outputs(outputs), summary.read_text())

    def comments(self) -> list[dict[str, Any]]:
        return self.github.comments_on(PR)

    def preview_deployments(self) -> list[dict[str, Any]]:
        return sorted(self.github.deployments_of(f"pr-{PR}"), key=lambda d: d["id"])

    def pr_environment(self) -> str | None:
        return next((e for e, env in self.sim.environments.items() if env.get("pr") == PR), None)


def _world(tmp_path: Path, *, pr_environments: bool, kars_yml: str = KARS_YML) -> Iterator[World]:
    (tmp_path / "kars.yml").write_text(kars_yml)
    sim = RailwaySim(SimClock(), follow_client_clock=True)
    project = sim.add_project("kars-app")
    production = sim.add_environment(project, "production")
    staging = sim.add_environment(project, "staging")
    ids = {
        name: sim.add_service(project, name, domain=f"{name}-production.up.railway.app")
        for name in ("backend", "frontend")
    }
    for service in ids.values():
        sim.add_deployment(service, production, OLD)
        sim.add_deployment(service, staging, OLD)
        sim.set_variables(service, staging, {"DATABASE_URL": "postgres://staging-secret@db/app"})
    sim.set_pr_environments(project, pr_environments, base=staging if pr_environments else None)
    token = sim.add_account_token("acct-preview-secret-token")
    sim.start()
    github = GitHubFake("kars/app", token="ghs_fake_token").start()
    github.add_pull(PR, HEADS[0])
    apps = {name: PreviewApp(sim, ids[name]) for name in ids}
    world = World(tmp_path, sim, github, project, staging, ids, apps, token)
    try:
        yield world
    finally:
        for app in apps.values():
            app.stop()
        github.stop()
        sim.stop()


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    """Railway's PR environments are on: Railway makes kars-app-pr-12 and deploys each push itself."""
    yield from _world(tmp_path, pr_environments=True)


@pytest.fixture
def bare_world(tmp_path: Path) -> Iterator[World]:
    """PR environments are off: kars.yml asks kars to create pr-12 from staging."""
    kars_yml = KARS_YML + "previews: {mode: create, base: staging}\n"
    yield from _world(tmp_path, pr_environments=False, kars_yml=kars_yml)
