"""The whole release, end to end: the real CLI against the Railway simulator, the GitHub fake and real health
servers on 127.0.0.1 (the example app's Node backend among them).

The Railway client runs on a virtual clock (``KARS_TEST_VIRTUAL_CLOCK=1``) and the simulator moves its clock 5 s per
request, so multi-minute deploys play out in milliseconds. Health servers read the simulator's state: they answer
with the commit of the deployment that is live right now, exactly as a real app reports its version.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from kars_actions.cli.release import command as release_command
from tests.fakes.alert_sink import AlertSink
from tests.fakes.github_fake import GitHubFake
from tests.fakes.railway_sim import LIVE, RailwaySim, Script, SimClock
from tests.versioning.gitrepo import GIT_ENV, GitRepo

REPO = Path(__file__).resolve().parents[2]
OLD = "0" * 40

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

RAILWAY_JSON = {
    "$schema": "https://railway.com/railway.schema.json",
    "build": {"builder": "RAILPACK"},
    "deploy": {"startCommand": "node server.js", "healthcheckPath": "/api/health", "restartPolicyType": "ON_FAILURE"},
}


class AppServer:
    """One service's app as the world sees it: answers with the commit that is live on the simulator now."""

    def __init__(self, sim: RailwaySim, service_id: str) -> None:
        self.sim = sim
        self.service_id = service_id
        self.bad_commits: set[str] = set()  # releases whose app comes up broken
        self.report_version = True  # False: answers {"status": "ok"} only, like most apps' first health endpoint
        self.stuck_on: str | None = None  # a commit that keeps answering, as an old instance behind the edge would
        self.authorization_seen: list[str] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                return None

            def do_GET(self) -> None:
                outer.authorization_seen.append(self.headers.get("Authorization") or "")
                commit = outer.stuck_on or outer.live_commit()
                broken = commit in outer.bad_commits
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
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def live_commit(self) -> str | None:
        now = self.sim.clock.monotonic()
        with self.sim.lock:
            live = [d for d in self.sim.deployments if d.service_id == self.service_id and d.status(now)[0] in LIVE]
        return max(live, key=lambda d: d.created).commit if live else None

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@dataclass
class World:
    repo: GitRepo
    github: GitHubFake
    sim: RailwaySim
    token: str
    ids: dict[str, str]
    apps: dict[str, AppServer]
    alerts: AlertSink
    head: str
    extra_env: dict[str, str] = field(default_factory=dict)

    @property
    def config(self) -> str:
        return str(self.repo.path / "kars.yml")

    def env(self, **extra: str) -> dict[str, str]:
        return {
            **GIT_ENV,
            "RAILWAY_TOKEN": self.token,
            "RAILWAY_GRAPHQL_ENDPOINT": self.sim.url,
            "KARS_TEST_VIRTUAL_CLOCK": "1",
            "GITHUB_TOKEN": "ghs_fake_token",
            "GITHUB_API_URL": self.github.url,
            "GITHUB_SERVER_URL": "https://github.example",
            "GITHUB_REPOSITORY": "kars/app",
            "GITHUB_RUN_ID": "777",
            "ALERT_URL": self.alerts.url,
            **self.extra_env,
            **extra,
        }

    def args(self, *extra: str) -> list[str]:
        urls = [f"--service-url={name}={app.url}" for name, app in self.apps.items()]
        return ["--config", self.config, "--format", "json", "--health-deadline", "20", *urls, *extra]

    def release(self, *extra: str, **env: str) -> tuple[int, dict[str, Any], str]:
        result = CliRunner().invoke(release_command, self.args(*extra), env=self.env(**env), catch_exceptions=False)
        try:
            report = json.loads(result.stdout)
        except json.JSONDecodeError:
            raise AssertionError(f"no JSON report: {result.stdout}\n{result.stderr}") from None
        return result.exit_code, report, result.stderr

    def deployments_of(self, service: str, commit: str) -> list[Any]:
        return self.sim.deployments_of(self.ids[service], commit)

    def github_state(self) -> str | None:
        deployments = [d for d in self.github.writes() if d.method == "POST" and d.path.endswith("/deployments")]
        assert len(deployments) <= 1
        states = [r.body.get("state") for r in self.github.writes() if r.path.endswith("/statuses")]
        return states[-1] if states else None


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    repo = GitRepo(tmp_path / "app")
    (repo.path / "kars.yml").write_text(KARS_YML)
    for service in ("backend", "frontend"):
        (repo.path / service).mkdir()
        (repo.path / service / "railway.json").write_text(json.dumps(RAILWAY_JSON, indent=2))
    repo.git("add", "-A")
    head = repo.commit("feat: first release of the app")
    monkeypatch.delenv("GITHUB_SHA", raising=False)
    monkeypatch.delenv("GITHUB_REF_NAME", raising=False)

    sim = RailwaySim(SimClock(), advance_per_request=5.0)
    project = sim.add_project("kars-app")
    env = sim.add_environment(project, "production")
    ids = {
        name: sim.add_service(project, name, domain=f"{name}-production.up.railway.app")
        for name in ("backend", "frontend")
    }
    sim.set_variables(
        ids["backend"], env, {"DATABASE_URL": "postgres://u:pw-very-secret@db/app", "JWT_SECRET": "jwt-very-secret"}
    )
    for service_id in ids.values():
        sim.add_deployment(service_id, env, OLD, took=120)
        # The service settings already hold what railway.json says (as after a `config apply`).
        sim.set_settings(service_id, env, {section: dict(RAILWAY_JSON[section]) for section in ("build", "deploy")})
    token = sim.add_project_token(project, env)
    sim.start()
    github = GitHubFake("kars/app", token="ghs_fake_token").start()
    github.add_commit(head)
    apps = {name: AppServer(sim, ids[name]) for name in ids}
    alerts = AlertSink()
    world = World(repo, github, sim, token, ids, apps, alerts, head)
    yield world
    for app in apps.values():
        app.stop()
    alerts.stop()
    github.stop()
    sim.stop()


def stage_status(report: dict[str, Any]) -> dict[str, str]:
    return {s["stage"]: s["status"] for s in report["stages"]}


def test_happy_path_two_services_deploys_verifies_and_publishes(world: World) -> None:
    code, report, err = world.release()
    assert code == 0, err
    assert report["outcome"] == "released"
    assert report["outputs"]["tag"] == "v0.1.0" and report["outputs"]["healthy"] == "true"
    assert all(status == "ok" for status in stage_status(report).values()), report["stages"]
    for service in ("backend", "frontend"):
        assert len(world.deployments_of(service, world.head)) == 1
    releases = world.github.releases_for("v0.1.0")
    assert len(releases) == 1 and releases[0]["draft"] is False
    assert world.github.tag_commit("v0.1.0") == world.head
    assert world.github_state() == "success"
    assert world.alerts.received == []  # success alerts only on request; this is no recovery
    assert "very-secret" not in json.dumps(report) + err


def test_health_failure_after_going_live_rolls_back_and_marks_the_release_failed(world: World) -> None:
    world.apps["backend"].bad_commits.add(world.head)
    code, report, _err = world.release()
    assert code == 1
    assert report["outcome"] == "rolled-back" and report["production_touched"] is True
    status = stage_status(report)
    assert status["health"] == "failed" and status["rollback"] == "ok" and status["restored-health"] == "ok"
    assert "backend: status: expected 200, got 503" in report["failure"]
    assert report["outputs"]["rolled-back"] == "true"
    # both services had gone live, so both are back on the old commit, which answers healthy
    for app in world.apps.values():
        assert app.live_commit() == OLD
    release = world.github.releases_for("v0.1.0")[0]
    assert release["draft"] is True and "fail" in (release["name"] + release["body"]).lower()
    assert world.github_state() == "failure"
    assert [a.get("event") for a in world.alerts.received] == ["rollback"]


def test_build_failed_means_no_rollback_and_production_untouched(world: World) -> None:
    world.sim.script_for(world.ids["backend"], Script.build_failure())
    code, report, _ = world.release("--service", "backend")
    assert code == 1
    assert report["outcome"] == "failed-before-live" and report["production_touched"] is False
    assert "rollback" not in stage_status(report)
    assert world.sim.count("deploymentRollback") == 0
    assert world.apps["backend"].live_commit() == OLD
    assert world.github_state() == "failure"
    assert [a.get("event") for a in world.alerts.received] == ["failure"]


def test_rerun_after_a_failed_build_resumes_without_duplicates(world: World) -> None:
    world.sim.script_for(world.ids["backend"], Script.build_failure())
    assert world.release()[0] == 1
    world.repo.git("tag", "v0.1.0")  # a rerun's checkout (fetch-depth: 0) brings the tag the first run pushed
    world.sim.script_for(world.ids["backend"], Script.success())
    code, report, err = world.release()
    assert code == 0, err
    assert report["version"]["existing_tag"] is True
    assert len(world.github.releases_for("v0.1.0")) == 1
    creations = [r for r in world.github.writes() if r.method == "POST" and r.path.endswith("/deployments")]
    assert len(creations) == 1  # the GitHub deployment of this commit was reused
    # first run: backend FAILED; frontend went live and was rolled back. The rerun deploys each once more.
    assert [d.status(world.sim.clock.monotonic())[0] for d in world.deployments_of("backend", world.head)] == [
        "FAILED",
        "SUCCESS",
    ]
    assert len(world.deployments_of("frontend", world.head)) == 2
    assert [a.get("event") for a in world.alerts.received][-1] == "recovery"


def test_rerun_after_a_rollback_resumes_with_the_same_tag_and_release(world: World) -> None:
    world.apps["backend"].bad_commits.add(world.head)
    assert world.release()[0] == 1
    world.apps["backend"].bad_commits.clear()
    code, report, err = world.release()
    assert code == 0, err
    assert report["outputs"]["tag"] == "v0.1.0"
    releases = world.github.releases_for("v0.1.0")
    assert len(releases) == 1 and releases[0]["draft"] is False
    tag_refs = [r for r in world.github.writes() if r.method == "POST" and r.path.endswith("/git/refs")]
    assert len(tag_refs) == 1


def test_rerun_after_success_does_nothing(world: World) -> None:
    assert world.release()[0] == 0
    writes_before = len(world.github.writes())
    mutations_before = len(world.sim.mutations)
    code, report, _ = world.release()
    assert code == 0 and report["outcome"] == "already-released"
    assert len(world.github.writes()) == writes_before and len(world.sim.mutations) == mutations_before


def test_dry_run_makes_zero_write_requests_to_either_fake(world: World) -> None:
    code, report, err = world.release("--dry-run")
    assert code == 0, err
    assert report["outcome"] == "planned"
    assert world.github.writes() == []
    assert world.sim.mutations == []
    assert world.sim.count("variables") >= 1  # it did resolve read-only with the tokens it had
    assert report["rollback_targets"]["backend"]


def test_a_failed_alert_does_not_change_the_release_result(world: World) -> None:
    world.alerts.fail = True
    world.apps["backend"].bad_commits.add(world.head)
    code, report, _ = world.release()
    assert code == 1 and report["outcome"] == "rolled-back"
    assert world.alerts.received  # it tried
    assert stage_status(report)["alert"] == "warning"


def test_a_failed_success_alert_leaves_a_successful_release_green(world: World) -> None:
    world.alerts.fail = True
    code, report, _ = world.release("--alert-on-success")
    assert code == 0 and report["outcome"] == "released"
    assert stage_status(report)["alert"] == "warning"


def test_missing_required_variable_stops_before_any_deploy(world: World) -> None:
    world.sim.set_variables(world.ids["backend"], next(iter(world.sim.environments)), {"DATABASE_URL": "x"})
    code, report, _ = world.release()
    assert code == 1
    assert "JWT_SECRET" in report["error"] and report["production_touched"] is False
    assert world.sim.count("serviceInstanceDeployV2") == 0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
def test_release_against_the_example_apps_real_node_backend(world: World) -> None:
    database = socket.socket()
    database.bind(("127.0.0.1", 0))
    database.listen()
    port = free_port()
    env = {
        **os.environ,
        "PORT": str(port),
        "RAILWAY_GIT_COMMIT_SHA": world.head,
        "DATABASE_URL": f"postgres://app:pw@127.0.0.1:{database.getsockname()[1]}/app",
    }
    node = subprocess.Popen(
        ["node", str(REPO / "examples/kars-app/backend/server.js")], env=env, stdout=subprocess.PIPE, text=True
    )
    try:
        assert node.stdout is not None and "listening" in node.stdout.readline()
        code, report, err = world.release("--service", "backend", f"--service-url=backend=http://127.0.0.1:{port}")
        assert code == 0, err
        target = report["health"]["targets"][0]
        assert target["healthy"] is True and report["outputs"]["tag"] == "v0.1.0"
    finally:
        node.terminate()
        node.wait(timeout=10)
        if node.stdout is not None:
            node.stdout.close()
        database.close()


def test_release_as_a_real_process_prints_github_annotations_and_outputs(world: World, tmp_path: Path) -> None:
    world.apps["backend"].bad_commits.add(world.head)
    outputs = tmp_path / "out"
    summary = tmp_path / "summary.md"
    env = {
        **os.environ,
        **world.env(GITHUB_ACTIONS="true", GITHUB_OUTPUT=str(outputs), GITHUB_STEP_SUMMARY=str(summary)),
    }
    args = [a for a in world.args() if a not in ("--format", "json")]
    proc = subprocess.run(
        [sys.executable, "-m", "kars_actions", "release", *args], env=env, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert proc.stdout.startswith("::add-mask::")
    assert "Traceback" not in proc.stdout + proc.stderr
    assert re.search(r"^::error title=.*rolled back", proc.stdout, re.M)
    text = summary.read_text()
    assert "```mermaid" in text and "### Rollback" in text
    assert "rolled-back<<ghadelimiter_" in outputs.read_text()
    shown = [line for line in proc.stdout.splitlines() if not line.startswith("::add-mask::")]
    assert world.token not in "\n".join(shown) + proc.stderr + text


def test_publish_refused_after_a_healthy_deploy_keeps_production_and_says_rerun(world: World) -> None:
    def revoke(fake: GitHubFake) -> None:
        fake.permissions["contents"] = False

    world.github.on("PATCH", r"/releases/\d+$", revoke)
    code, report, _ = world.release()
    assert code == 3
    assert report["outcome"] == "github-incomplete" and report["production_touched"] is True
    assert "contents: write" in report["error"]
    assert world.sim.count("deploymentRollback") == 0
    assert all(app.live_commit() == world.head for app in world.apps.values())
    world.github.permissions["contents"] = True
    code, report, _ = world.release()
    assert code == 0 and report["outcome"] == "released"
    assert len(world.github.releases_for("v0.1.0")) == 1


def test_extra_health_urls_are_checked_besides_each_service(world: World) -> None:
    extra = world.apps["backend"].url + "/ready"
    code, report, err = world.release("--health-url", extra)
    assert code == 0, err
    checked = {t["url"] for t in report["health"]["targets"]}
    assert extra in checked and len(checked) == 3


def test_an_invalid_railway_config_in_a_service_folder_stops_the_release_before_any_write(world: World) -> None:
    kars = (world.repo.path / "kars.yml").read_text().splitlines()
    (world.repo.path / "kars.yml").write_text("\n".join(line for line in kars if "railway_config" not in line))
    broken = {**RAILWAY_JSON, "deploy": {**RAILWAY_JSON["deploy"], "restartPolicyType": "on_failure"}}
    (world.repo.path / "backend" / "railway.json").write_text(json.dumps(broken, indent=2))
    world.repo.git("add", "-A")
    world.repo.commit("fix: restart on failure")
    code, report, _ = world.release()
    assert code == 1
    assert stage_status(report)["validate"] == "failed" and report["production_touched"] is False
    assert world.github.writes() == [] and world.sim.mutations == []
