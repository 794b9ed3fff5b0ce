"""A release world for the watch window and the backup: the real CLI in its own process against the Railway
simulator (which follows the CLI's virtual clock, so a 10-minute watch is 10 simulated minutes played in
milliseconds), the GitHub fake, apps that answer with the commit live on the simulator, and a webhook sink."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.fakes.actions_files import read_outputs
from tests.fakes.alert_sink import AlertSink
from tests.fakes.github_fake import GitHubFake
from tests.fakes.railway_sim import LIVE, RailwaySim, SimClock
from tests.versioning.gitrepo import GIT_ENV, GitRepo

REPO = Path(__file__).resolve().parents[2]
OLD = "0" * 40

KARS_YML = """\
project: kars-app
services:
  backend:
    directory: backend
    health:
      path: /api/health
      interval: 0.05
      timeout: 2
      retries: 4
      stable_passes: 1
      expect_json: {status: ok}
  frontend:
    directory: frontend
    health:
      path: /api/health
      interval: 0.05
      timeout: 2
      retries: 4
      stable_passes: 1
environments:
  production: {branch: main}
alerts:
  webhook_url_env: ALERT_URL
  on: [failure, rollback, recovery]
watch:
  duration: 10m
  interval: 30s
  health_interval: 2m
"""


class AppServer:
    """A service's app: answers its health check with the commit live on the simulator right now."""

    def __init__(self, sim: RailwaySim, service_id: str) -> None:
        self.sim = sim
        self.service_id = service_id
        self.unhealthy_after: dict[str, float] = {}  # commit -> seconds after go-live when /api/health turns 503
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                return None

            def do_GET(self) -> None:
                commit, broken = outer.state()
                body = json.dumps({"status": "degraded" if broken else "ok", "version": commit}).encode()
                self.send_response(503 if broken else 200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def state(self) -> tuple[str | None, bool]:
        now = self.sim.clock.monotonic()
        with self.sim.lock:
            live = [d for d in self.sim.deployments if d.service_id == self.service_id and d.status(now)[0] in LIVE]
        if not live:
            return None, True
        current = max(live, key=lambda d: d.created)
        after = self.unhealthy_after.get(current.commit or "")
        broken = after is not None and current.promoted_at is not None and now - current.promoted_at >= after
        return current.commit, broken

    def live_commit(self) -> str | None:
        return self.state()[0]

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@dataclass
class Run:
    code: int
    report: dict[str, Any]
    stderr: str
    outputs: dict[str, str]
    summary: str


@dataclass
class World:
    repo: GitRepo
    github: GitHubFake
    sim: RailwaySim
    token: str
    env_id: str
    ids: dict[str, str]
    apps: dict[str, AppServer]
    alerts: AlertSink
    head: str
    tmp: Path
    extra_env: dict[str, str] = field(default_factory=dict)

    def env(self, **extra: str) -> dict[str, str]:
        keep = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "SYSTEMROOT", "TMPDIR")}
        outputs, summary = self.tmp / "outputs.txt", self.tmp / "summary.md"
        outputs.write_text("")
        summary.write_text("")
        return {
            **keep,
            **GIT_ENV,
            "RAILWAY_TOKEN": self.token,
            "RAILWAY_GRAPHQL_ENDPOINT": self.sim.url,
            "KARS_TEST_VIRTUAL_CLOCK": "1",
            "GITHUB_TOKEN": "ghs_fake_token",
            "GITHUB_API_URL": self.github.url,
            "GITHUB_SERVER_URL": "https://github.example",
            "GITHUB_REPOSITORY": "kars/app",
            "GITHUB_RUN_ID": "777",
            "GITHUB_OUTPUT": str(outputs),
            "GITHUB_STEP_SUMMARY": str(summary),
            "ALERT_URL": self.alerts.url,
            **self.extra_env,
            **extra,
        }

    def write_config(self, text: str) -> None:
        (self.repo.path / "kars.yml").write_text(text)
        self.repo.git("add", "-A")
        self.head = self.repo.commit("fix: settings")
        self.github.add_commit(self.head)

    def cli(self, *args: str, fmt: str = "json", **env: str) -> Run:
        """``python -m kars_actions ...`` as a real process, JSON on stdout."""
        proc = subprocess.run(
            [sys.executable, "-m", "kars_actions", *args, "--format", fmt],
            cwd=self.repo.path,
            env=self.env(**env),
            capture_output=True,
            text=True,
            timeout=180,
            check=False,
        )
        try:
            report = json.loads(proc.stdout) if fmt == "json" else {"text": proc.stdout}
        except json.JSONDecodeError:
            raise AssertionError(f"no JSON report (exit {proc.returncode}):\n{proc.stdout}\n{proc.stderr}") from None
        return Run(proc.returncode, report, proc.stderr, read_outputs(self.tmp / "outputs.txt"), self._summary())

    def release(self, *extra: str, **env: str) -> Run:
        urls = [f"--service-url={name}={app.url}" for name, app in self.apps.items()]
        return self.cli(
            "release", "--config", str(self.repo.path / "kars.yml"), "--health-deadline", "20", *urls, *extra, **env
        )

    def _summary(self) -> str:
        return (self.tmp / "summary.md").read_text()

    def deployments_of(self, service: str, commit: str) -> list[Any]:
        return self.sim.deployments_of(self.ids[service], commit)

    def live_since(self, service: str, commit: str) -> float:
        promoted = [d.promoted_at for d in self.deployments_of(service, commit) if d.promoted_at is not None]
        assert promoted, f"{service} at {commit[:7]} never went live"
        return min(promoted)


@contextmanager
def release_world(tmp_path: Path) -> Iterator[World]:
    """The world, built in ``tmp_path`` and torn down after (the fixture below, and benchmarks/bench_watch.py)."""
    repo = GitRepo(tmp_path / "app")
    (repo.path / "kars.yml").write_text(KARS_YML)
    for service in ("backend", "frontend"):
        (repo.path / service).mkdir()
        (repo.path / service / "index.js").write_text("// app\n")
    repo.git("add", "-A")
    head = repo.commit("feat: first release of the app")

    sim = RailwaySim(SimClock(), follow_client_clock=True)
    project = sim.add_project("kars-app")
    env = sim.add_environment(project, "production")
    ids = {
        name: sim.add_service(project, name, domain=f"{name}-production.up.railway.app")
        for name in ("backend", "frontend", "Postgres")
    }
    for name in ("backend", "frontend"):
        sim.add_deployment(ids[name], env, OLD, took=120, age=7200)
    sim.add_deployment(ids["Postgres"], env, "f" * 40, took=60, age=86400)
    sim.add_volume(ids["Postgres"], env, "postgres-volume")
    token = sim.add_project_token(project, env)
    sim.start()
    github = GitHubFake("kars/app", token="ghs_fake_token").start()
    github.add_commit(head)
    apps = {name: AppServer(sim, ids[name]) for name in ("backend", "frontend")}
    alerts = AlertSink()
    try:
        yield World(repo, github, sim, token, env, ids, apps, alerts, head, tmp_path)
    finally:
        for app in apps.values():
            app.stop()
        alerts.stop()
        github.stop()
        sim.stop()


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    monkeypatch.delenv("GITHUB_SHA", raising=False)
    monkeypatch.delenv("GITHUB_REF_NAME", raising=False)
    with release_world(tmp_path) as built:
        yield built
