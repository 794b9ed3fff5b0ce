"""A pull request's world, the release's world (``tests/fakes/world.py``) seen from a pull request: the Railway
simulator (PR environments on or off), the GitHub fake with the pull request, and one app server per service
answering with the commit live in the PR's environment right now.

The CLI runs as a real process on a virtual clock the simulator follows, so minutes of building play out in
milliseconds; the health servers read the simulator's state, as a real app reports its own commit.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.fakes.alert_sink import AlertSink
from tests.fakes.github_fake import GitHubFake
from tests.fakes.railway_sim import RailwaySim, SimClock, SimDeployment
from tests.fakes.world import GITHUB_TOKEN, OLD, AppServer, Run
from tests.fakes.world import World as ReleaseWorld
from tests.versioning.gitrepo import GitRepo

PR = 12
HEADS = ["a" * 40, "b" * 40, "c" * 40]

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

    def live(self, now: float) -> list[SimDeployment]:
        ephemeral = {e for e, env in self.sim.environments.items() if env.get("ephemeral")}
        return [d for d in super().live(now) if d.environment_id in ephemeral]


class World(ReleaseWorld):
    """A release's world seen from a pull request: the CLI holds an account token, the app servers answer from
    the PR's environment, and ``preview`` runs as a step inside Actions."""

    @property
    def project(self) -> str:
        return next(iter(self.sim.projects))

    @property
    def staging(self) -> str:
        staging = self.sim.environment_named("staging")
        assert staging is not None
        return staging

    def event(self, action: str = "opened", *, fork: bool = False, pr: int = PR) -> Path:
        """A pull_request event payload, as GitHub writes it to GITHUB_EVENT_PATH."""
        pull = json.loads(json.dumps(self.github.pulls[pr]))
        if fork:
            pull["head"]["repo"] = {"full_name": "contributor/app"}
        path = self.tmp / f"event-{action}.json"
        path.write_text(json.dumps({"action": action, "number": pr, "pull_request": pull}))
        return path

    def preview(self, *args: str, drop: tuple[str, ...] = (), **env: str) -> Run:
        """``kars-actions preview`` as a real process inside Actions (every secret announced with ::add-mask::)."""
        urls = self.service_urls()
        argv = ["--config", str(self.config), "--health-deadline", "20", *urls, *args]
        return self.cli("preview", *argv, drop=drop, **({"GITHUB_ACTIONS": "true"} | env))

    def comments(self) -> list[dict[str, Any]]:
        return self.github.comments_on(PR)

    def preview_deployments(self) -> list[dict[str, Any]]:
        return sorted(self.github.deployments_of(f"pr-{PR}"), key=lambda d: d["id"])

    def pr_environment(self) -> str | None:
        return next((e for e, env in self.sim.environments.items() if env.get("pr") == PR), None)


def _world(tmp_path: Path, *, pr_environments: bool, kars_yml: str = KARS_YML) -> Iterator[World]:
    repo = GitRepo(tmp_path / "app")
    (repo.path / "kars.yml").write_text(kars_yml)
    head = repo.commit("feat: previews")
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
    github = GitHubFake("kars/app", token=GITHUB_TOKEN).start()
    github.add_pull(PR, HEADS[0])
    apps: dict[str, AppServer] = {name: PreviewApp(sim, ids[name]) for name in ids}
    alerts = AlertSink()
    world = World(repo, github, sim, token, production, ids, apps, alerts, head, tmp_path)
    world.token_variable = "RAILWAY_API_TOKEN"
    try:
        yield world
    finally:
        for app in apps.values():
            app.stop()
        alerts.stop()
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
