"""A release's world: a git repository holding the app, the Railway simulator, the GitHub fake, one app server per
service answering with the commit live on the simulator right now, an alert sink, and the CLI run against them.

The Railway client runs on a virtual clock (``KARS_TEST_VIRTUAL_CLOCK=1``); the simulator either moves its clock 5 s
per request or follows the CLI's clock exactly, so multi-minute deploys and watches play out in milliseconds. The
app servers read the simulator's state, as a real app reports its own version.
"""

from __future__ import annotations

import json
import os
import re
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from kars_actions.cli.release import command as release_command
from tests.fakes.actions_files import read_outputs
from tests.fakes.alert_sink import AlertSink
from tests.fakes.cli_fork import run_kars
from tests.fakes.cli_process import SCRUBBED
from tests.fakes.github_fake import GitHubFake
from tests.fakes.quick_handler import QuickHandler
from tests.fakes.railway_sim import LIVE, RailwaySim, SimClock, SimDeployment
from tests.versioning.gitrepo import GIT_ENV, GitRepo

OLD = "0" * 40  # the commit production serves before the release
SERVICES = ("backend", "frontend")
GITHUB_TOKEN = "ghs_fake_token"

KARS_YML = """\
project: kars-app
services:
  backend:
    directory: backend
    railway_config: backend/railway.json
    required_variables: [DATABASE_URL, JWT_SECRET]
    health:
      path: /api/health
      interval: 0.05
      timeout: 2
      retries: 4
      stable_passes: 1
      expect_json: {status: ok, database: connected}
  frontend:
    directory: frontend
    railway_config: frontend/railway.json
    health:
      path: /api/health
      interval: 0.05
      timeout: 2
      retries: 4
      stable_passes: 1
      expect_json: {status: ok}
environments:
  production: {branch: main}
alerts:
  webhook_url_env: ALERT_URL
  on: [failure, rollback, recovery]
"""

# The watch window's world: services without railway.json, apps whose health check reads only the status, a
# 10-minute watch after the release.
WATCH_KARS_YML = """\
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

RAILWAY_JSON: dict[str, Any] = {
    "$schema": "https://railway.com/railway.schema.json",
    "build": {"builder": "RAILPACK"},
    "deploy": {"startCommand": "node server.js", "healthcheckPath": "/api/health", "restartPolicyType": "ON_FAILURE"},
}


def process_environment(**variables: str) -> dict[str, str]:
    """The environment of a CLI process: this process's own, without its GitHub, Railway and kars variables (they
    would leak into the run under test), then ``variables``."""
    return {k: v for k, v in os.environ.items() if not k.startswith(SCRUBBED)} | variables


def json_report(code: int, stdout: str, stderr: str) -> dict[str, Any]:
    """The JSON report on stdout, less the lines Actions reads (``::add-mask::`` and the like)."""
    shown = "\n".join(line for line in stdout.splitlines() if not line.startswith("::"))
    try:
        report: dict[str, Any] = json.loads(shown)
    except json.JSONDecodeError:
        raise AssertionError(f"no JSON report (exit {code}):\n{stdout}\n{stderr}") from None
    return report


class AppServer:
    """One service's app as the world sees it: answers its health check with the commit live on the simulator now.

    What can go wrong with it: ``bad_commits`` come up broken (503, database disconnected); a commit in
    ``unhealthy_after`` turns broken that many seconds after it went live; ``stuck_on`` keeps answering with one
    commit, as an old instance behind the edge would; ``report_version = False`` answers without a version, like
    most apps' first health endpoint. With nothing live the app answers 503. ``authorization_seen`` keeps the
    Authorization header of each request ("" when there was none).
    """

    def __init__(self, sim: RailwaySim, service_id: str) -> None:
        self.sim = sim
        self.service_id = service_id
        self.bad_commits: set[str] = set()
        self.unhealthy_after: dict[str, float] = {}
        self.stuck_on: str | None = None
        self.report_version = True
        self.authorization_seen: list[str] = []
        outer = self

        class Handler(QuickHandler):
            def log_message(self, *args: Any) -> None:
                return None

            def do_GET(self) -> None:
                outer.authorization_seen.append(self.headers.get("Authorization") or "")
                commit, broken = outer.state()
                answer = {
                    "status": "degraded" if broken else "ok",
                    "database": "disconnected" if broken else "connected",
                    "version": commit,
                }
                if not outer.report_version:
                    del answer["version"]
                body = json.dumps(answer).encode()
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

    def live(self, now: float) -> list[SimDeployment]:
        """The deployments of this service live on the simulator at ``now`` (called under the simulator's lock)."""
        return [d for d in self.sim.deployments if d.service_id == self.service_id and d.status(now)[0] in LIVE]

    def state(self) -> tuple[str | None, bool]:
        """The commit answering now, and whether it answers broken."""
        now = self.sim.clock.monotonic()
        with self.sim.lock:
            live = self.live(now)
        if not live:
            return None, True
        current = max(live, key=lambda d: d.created)
        commit = self.stuck_on or current.commit
        after = self.unhealthy_after.get(current.commit or "")
        turned = after is not None and current.promoted_at is not None and now - current.promoted_at >= after
        return commit, commit in self.bad_commits or turned

    def live_commit(self) -> str | None:
        return self.state()[0]

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@dataclass
class Run:
    """One run of the CLI as a process: exit code, what it printed, the report, the outputs and the step summary."""

    code: int
    stdout: str
    stderr: str
    report: dict[str, Any]  # the JSON report (``fmt="json"``), else empty
    outputs: dict[str, str]
    summary: str

    @property
    def console(self) -> str:
        return self.stdout + self.stderr

    @property
    def last_line(self) -> str:
        return self.stdout.rstrip("\n").splitlines()[-1]

    @property
    def stage_lines(self) -> dict[str, str]:
        """The text console's stage lines by title: ``{"Mark failed": "✅ Mark failed  ok  …"}``."""
        found = {}
        for line in self.stdout.splitlines():
            match = re.match(r"^\S+ (.+?)\s{2,}(ok|failed|skipped|planned|warning|running)\b", line)
            if match:
                found[match.group(1).strip()] = line
        return found


@dataclass
class World:
    """The fakes of one test, and the CLI run against them (in a process, or in this one with ``invoke``)."""

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
    token_variable: str = "RAILWAY_TOKEN"

    @property
    def config(self) -> Path:
        return self.repo.path / "kars.yml"

    @property
    def outputs_file(self) -> Path:
        return self.tmp / "outputs.txt"

    @property
    def summary_file(self) -> Path:
        return self.tmp / "summary.md"

    def env(self, **extra: str) -> dict[str, str]:
        """The variables the CLI gets in this world: tokens and endpoints of the fakes, ``extra_env``, ``extra``."""
        return {
            **GIT_ENV,
            self.token_variable: self.token,
            "RAILWAY_GRAPHQL_ENDPOINT": self.sim.url,
            "KARS_TEST_VIRTUAL_CLOCK": "1",
            "GITHUB_TOKEN": GITHUB_TOKEN,
            "GITHUB_API_URL": self.github.url,
            "GITHUB_SERVER_URL": "https://github.example",
            "GITHUB_REPOSITORY": "kars/app",
            "GITHUB_RUN_ID": "4242",
            "ALERT_URL": self.alerts.url,
            **self.extra_env,
            **extra,
        }

    def service_urls(self) -> list[str]:
        return [f"--service-url={name}={app.url}" for name, app in self.apps.items()]

    def args(self, *extra: str) -> list[str]:
        """The release's arguments in this world: its kars.yml, each app's URL, a health deadline of 20 s."""
        return ["--config", str(self.config), "--health-deadline", "20", *self.service_urls(), *extra]

    def cli(self, *args: str, fmt: str | None = "json", drop: tuple[str, ...] = (), **env: str) -> Run:
        """``python -m kars_actions ARGS --format FMT`` as a real process in the repository, its outputs and step
        summary written to ``outputs_file`` and ``summary_file`` (emptied first); ``drop`` names variables to unset.
        Never a traceback."""
        self.outputs_file.write_text("")
        self.summary_file.write_text("")
        files = {"GITHUB_OUTPUT": str(self.outputs_file), "GITHUB_STEP_SUMMARY": str(self.summary_file)}
        environ = process_environment(**self.env(**(files | env)))
        for name in drop:
            environ.pop(name, None)
        proc = run_kars(
            [*args, *(("--format", fmt) if fmt else ())],
            cwd=self.repo.path,
            env=environ,
            capture_output=True,
            text=True,
            timeout=180,
            check=False,
        )
        assert "Traceback" not in proc.stdout + proc.stderr, proc.stderr
        report = json_report(proc.returncode, proc.stdout, proc.stderr) if fmt == "json" else {}
        outputs = read_outputs(self.outputs_file)
        return Run(proc.returncode, proc.stdout, proc.stderr, report, outputs, self.summary_file.read_text())

    def release(self, *extra: str, fmt: str | None = "json", drop: tuple[str, ...] = (), **env: str) -> Run:
        """``kars-actions release`` in this world, as a real process."""
        return self.cli("release", *self.args(*extra), fmt=fmt, drop=drop, **env)

    def invoke(self, *extra: str, **env: str) -> tuple[int, dict[str, Any], str]:
        """``kars-actions release`` in this world inside this process (click's runner): exit code, the JSON report,
        stderr. Quicker than a process, for what needs no outputs, summary or signals."""
        args = [*self.args(*extra), "--format", "json"]
        result = CliRunner().invoke(release_command, args, env=self.env(**env), catch_exceptions=False)
        return result.exit_code, json_report(result.exit_code, result.stdout, result.stderr), result.stderr

    def write_config(self, text: str) -> None:
        """A new kars.yml, committed and pushed: the head moves."""
        (self.repo.path / "kars.yml").write_text(text)
        self.head = self.repo.commit("fix: settings")
        self.github.add_commit(self.head)

    def deployments_of(self, service: str, commit: str) -> list[SimDeployment]:
        return self.sim.deployments_of(self.ids[service], commit)

    def live_since(self, service: str, commit: str) -> float:
        promoted = [d.promoted_at for d in self.deployments_of(service, commit) if d.promoted_at is not None]
        assert promoted, f"{service} at {commit[:7]} never went live"
        return min(promoted)

    def github_state(self) -> str | None:
        """The last state of the release's one GitHub deployment."""
        deployments = [d for d in self.github.writes() if d.method == "POST" and d.path.endswith("/deployments")]
        assert len(deployments) <= 1
        states = [r.body.get("state") for r in self.github.writes() if r.path.endswith("/statuses")]
        return states[-1] if states else None


@contextmanager
def release_world(
    tmp: Path,
    *,
    kars_yml: str | None = KARS_YML,
    railway_json: bool = True,
    follow_client_clock: bool = False,
    database: bool = False,
    files: Mapping[str, str] | None = None,
) -> Iterator[World]:
    """A release's world in ``tmp``, torn down after.

    The app's repository holds ``kars_yml`` (none when ``None``), a folder per service with its railway.json (with
    ``railway_json``; then Railway's service settings already say what it says, as after a `config apply`) and
    ``files`` (path → text), in one commit GitHub knows. Railway serves ``OLD`` on both services, the backend with
    its variables. The simulator moves 5 s per request, or with ``follow_client_clock`` follows the CLI's clock; with
    ``database`` the project also holds a Postgres service with a volume.
    """
    repo = GitRepo(tmp / "app")
    if kars_yml is not None:
        (repo.path / "kars.yml").write_text(kars_yml)
    for service in SERVICES:
        (repo.path / service).mkdir()
        text = json.dumps(RAILWAY_JSON, indent=2) if railway_json else "// app\n"
        (repo.path / service / ("railway.json" if railway_json else "index.js")).write_text(text)
    for path, text in (files or {}).items():
        (repo.path / path).write_text(text)
    head = repo.commit("feat: first release of the app")

    if follow_client_clock:
        sim = RailwaySim(SimClock(), follow_client_clock=True)
    else:
        sim = RailwaySim(SimClock(), advance_per_request=5.0)
    project = sim.add_project("kars-app")
    env = sim.add_environment(project, "production")
    ids = {name: sim.add_service(project, name, domain=f"{name}-production.up.railway.app") for name in SERVICES}
    sim.set_variables(
        ids["backend"], env, {"DATABASE_URL": "postgres://u:pw-very-secret@db/app", "JWT_SECRET": "jwt-very-secret"}
    )
    for service_id in ids.values():
        sim.add_deployment(service_id, env, OLD, took=120, age=7200)
        if railway_json:
            settings = {section: dict(RAILWAY_JSON[section]) for section in ("build", "deploy")}
            sim.set_settings(service_id, env, settings)
    if database:
        ids["Postgres"] = sim.add_service(project, "Postgres", domain="Postgres-production.up.railway.app")
        sim.add_deployment(ids["Postgres"], env, "f" * 40, took=60, age=86400)
        sim.add_volume(ids["Postgres"], env, "postgres-volume")
    token = sim.add_project_token(project, env)
    sim.start()
    github = GitHubFake("kars/app", token=GITHUB_TOKEN).start()
    github.add_commit(head)
    apps = {name: AppServer(sim, ids[name]) for name in SERVICES}
    alerts = AlertSink()
    try:
        yield World(repo, github, sim, token, env, ids, apps, alerts, head, tmp)
    finally:
        for app in apps.values():
            app.stop()
        alerts.stop()
        github.stop()
        sim.stop()


def watch_world(tmp: Path) -> AbstractContextManager[World]:
    """The world of the watch window and the backup: ``WATCH_KARS_YML``, no railway.json, a Postgres service with
    its volume, the simulator following the CLI's clock (a 10-minute watch is 10 simulated minutes)."""
    return release_world(tmp, kars_yml=WATCH_KARS_YML, railway_json=False, follow_client_clock=True, database=True)


def world_fixture(build: Callable[[Path], AbstractContextManager[World]] = release_world) -> Any:
    """A ``world`` fixture: the world ``build`` makes in the test's ``tmp_path``, outside any Actions run."""

    @pytest.fixture
    def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
        monkeypatch.delenv("GITHUB_SHA", raising=False)
        monkeypatch.delenv("GITHUB_REF_NAME", raising=False)
        with build(tmp_path) as built:
            yield built

    return world


def stage_status(report: dict[str, Any]) -> dict[str, str]:
    """A release report's stages: ``{"health": "failed", ...}``."""
    return {s["stage"]: s["status"] for s in report["stages"]}
