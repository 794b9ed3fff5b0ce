"""The workflows `kars-actions init` writes, run as GitHub Actions runs them on the first push: the release
workflow's test and release jobs and the long watch after the release, and the pull-request checks, through the
composite actions' own run: lines (setup.sh, run.sh) and the inputs the workflow passes, against the Railway
simulator, the GitHub fake, health endpoints on TLS and an alert receiver — for a repository without kars.yml and
for the same repository with one."""

from __future__ import annotations

import os
import shutil
import ssl
import subprocess
from collections.abc import Iterator
from dataclasses import fields
from pathlib import Path

import pytest

from tests.fakes.cli_fork import run_kars
from tests.fakes.workflow_runner import JobRun, Runner, install_fake_uv
from tests.fakes.world import SERVICES, AppServer, World, process_environment, release_world
from tests.versioning.gitrepo import GIT_ENV

ROOT = Path(__file__).resolve().parents[2]
PIN = "0123456789abcdef0123456789abcdef01234567"

KARS_YML = """\
project: kars-app
services:
  backend:
    directory: backend
  frontend:
    directory: frontend
environments:
  production: {branch: main}
alerts:
  webhook_url_env: ALERT_URL
  webhook_secret_env: ALERT_KEY
  on: [success, failure, rollback, recovery]
watch:
  duration: 1m
"""

pytestmark = [
    pytest.mark.subprocess,
    pytest.mark.skipif(shutil.which("openssl") is None or shutil.which("make") is None, reason="needs openssl, make"),
]


def on_tls(app: AppServer, context: ssl.SSLContext) -> AppServer:
    """The app behind its Railway domain: the same app, served over HTTPS on loopback."""
    app.server.socket = context.wrap_socket(app.server.socket, server_side=True)
    return app


class Site(World):
    """The release's world (``tests/fakes/world.py``) with its apps behind TLS at their Railway domains, where
    ``kars-actions init`` writes the workflows and a runner runs them."""

    @property
    def certificate(self) -> Path:
        return self.tmp / "cert.pem"

    @property
    def temp(self) -> Path:
        return self.tmp / "runner-temp"

    def init(self) -> str:
        """`kars-actions init` as a user runs it in the repository, then the first push's commit."""
        init = ["init", "--action-sha", PIN, "--format", "text"]
        env = process_environment(**GIT_ENV, PYTHONPATH=str(ROOT))
        proc = run_kars(init, cwd=self.repo.path, env=env, capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        head = self.repo.commit_work_tree("ci: the workflows kars-actions init wrote")
        self.github.add_commit(head)
        return proc.stdout

    def runner(self, head: str) -> Runner:
        install_fake_uv(self.temp)
        env = {
            "PATH": os.environ["PATH"],
            "HOME": os.environ.get("HOME", str(self.temp)),
            **GIT_ENV,
            "RAILWAY_GRAPHQL_ENDPOINT": self.sim.url,
            "KARS_TEST_VIRTUAL_CLOCK": "1",
            "GITHUB_ACTIONS": "true",
            "GITHUB_API_URL": self.github.url,
            "GITHUB_SERVER_URL": "https://github.example",
            "GITHUB_REPOSITORY": "kars/app",
            "GITHUB_SHA": head,
            "GITHUB_REF": "refs/heads/main",
            "GITHUB_REF_NAME": "main",
            "GITHUB_REF_TYPE": "branch",
            "GITHUB_RUN_ID": "4242",
            "GITHUB_WORKSPACE": str(self.repo.path),
            "RUNNER_OS": "Linux",
            "SSL_CERT_FILE": str(self.certificate),  # the runner trusts the apps' certificate, as it would a CA's
        }
        return Runner(
            self.repo.path,
            ROOT,
            self.temp,
            pin=PIN,
            secrets={"RAILWAY_TOKEN_PRODUCTION": self.token, "ALERT_URL": self.alerts.url, "ALERT_KEY": "k3y"},
            github={"token": "ghs_fake_token", "ref": "refs/heads/main", "repository": "kars/app"},
            env=env,
        )


def certificate(folder: Path) -> tuple[Path, ssl.SSLContext]:
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [
            # A P-256 key: made in a millisecond, where an RSA key takes up to a second of CPU.
            *("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"),
            *("-keyout", str(key), "-out", str(cert)),
            *("-days", "2", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"),
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    return cert, context


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    """The repository holds each service's railway.json and a Makefile for its tests, and no kars.yml."""
    makefiles = {f"{service}/Makefile": "test:\n\t@echo tests of the service pass\n" for service in SERVICES}
    _, context = certificate(tmp_path)
    with release_world(tmp_path, kars_yml=None, files=makefiles) as world:
        site = Site(**{f.name: getattr(world, f.name) for f in fields(World)})
        for service, app in site.apps.items():
            on_tls(app, context)
            site.sim.services[site.ids[service]]["domain"] = app.url.removeprefix("http://")
        site.temp.mkdir()
        yield site


def assert_released(site: Site, jobs: list[JobRun], head: str) -> dict[str, str]:
    """Every job passed: the release went live at the pushed commit, proved healthy at each service's Railway domain
    on railway.json's healthcheckPath, and was published; the long watch after it took that tag and passed."""
    assert [job.job for job in jobs] == ["test", "release", "watch"]
    for job in jobs:
        assert job.ok, "\n".join(f"{s.name}: exit {s.code}\n{s.log}" for s in job.steps)
    outputs = jobs[1].step("kars/deploy-action@").outputs
    assert (outputs["outcome"], outputs["tag"], outputs["healthy"]) == ("released", "v0.1.0", "true"), outputs
    watch = jobs[2].step("kars/deploy-action/watch@")
    assert watch.inputs["after-release"] == "v0.1.0" and watch.outputs["watch-verdict"] == "passed", watch.log
    summary = jobs[1].step("kars/deploy-action@").summary
    for service in SERVICES:
        assert len(site.sim.deployments_of(site.ids[service], head)) == 1
        assert site.apps[service].live_commit() == head
        assert f"{site.apps[service].url.replace('http://', 'https://')}/api/health" in summary, summary
    releases = site.github.releases_for("v0.1.0")
    assert len(releases) == 1 and releases[0]["draft"] is False
    return outputs


def test_without_kars_yml_the_written_workflows_release_on_the_first_push(site: Site) -> None:
    said = site.init()
    assert "services: backend, frontend (the repository's folders holding a railway.json / railway.toml)" in said
    head = site.repo.head()
    runner = site.runner(head)
    jobs = runner.run(site.repo.path / ".github" / "workflows" / "release.yml")
    release = jobs[1].step("kars/deploy-action@")
    assert release.inputs["services"] == "backend frontend"
    assert jobs[2].step("kars/deploy-action/watch@").inputs["services"] == "backend frontend"
    assert release.inputs["railway-token"] == site.token
    assert release.inputs["slack-webhook"] == "" and release.inputs["discord-webhook"] == ""  # secrets not set
    assert_released(site, jobs, head)
    assert "backend: backend/railway.json (folder backend/)" in release.summary
    assert site.alerts.received == []  # no channel configured, no success alert asked for
    checks = runner.run(site.repo.path / ".github" / "workflows" / "ci.yml", "pull_request")
    assert [job.job for job in checks] == ["test", "validate"] and all(job.ok for job in checks)
    assert checks[1].step("kars/deploy-action/validate@").outputs["valid"] == "true"


def test_with_kars_yml_the_written_workflows_carry_its_alert_channel_and_budget(site: Site) -> None:
    (site.repo.path / "kars.yml").write_text(KARS_YML)
    said = site.init()
    assert "alerts: webhook-url ← secret ALERT_URL, webhook-secret ← secret ALERT_KEY (kars.yml alerts)" in said
    head = site.repo.head()
    jobs = site.runner(head).run(site.repo.path / ".github" / "workflows" / "release.yml")
    release = jobs[1].step("kars/deploy-action@")
    assert "services" not in release.inputs  # kars.yml lists them; the release reads it
    for step in (release, jobs[2].step("kars/deploy-action/watch@")):
        assert step.inputs["webhook-url"] == site.alerts.url and step.inputs["webhook-secret"] == "k3y"
    # deploy 15m + health 5m + settle 30s + the kars.yml watch of 1m + a rollback's 20m
    assert release.inputs["total-timeout"] == "2490"
    assert_released(site, jobs, head)
    assert [alert.get("event") for alert in site.alerts.received] == ["success"]


HEADERS_YML = """\
project: kars-app
services:
  backend:
    directory: backend
    health:
      path: /api/health
      headers: {Authorization: 'Bearer ${HEALTH_TOKEN}'}
  frontend:
    directory: frontend
watch:
  duration: 1m
"""


def test_health_headers_read_their_secrets_in_the_written_workflows(site: Site) -> None:
    """kars.yml's health-check header reads ${HEALTH_TOKEN}, which is not set where init runs: init still writes the
    workflows, passing HEALTH_TOKEN from the secret of that name to the steps that check health (and to no other),
    and says so; the release and the watch after it send the header, and the value is never printed."""
    (site.repo.path / "kars.yml").write_text(HEADERS_YML)
    assert "HEALTH_TOKEN" not in os.environ
    said = site.init()
    assert "health-check headers: HEALTH_TOKEN ← secret HEALTH_TOKEN (backend)" in said
    assert "gh secret set HEALTH_TOKEN   # read by kars.yml's health-check headers as ${HEALTH_TOKEN}" in said
    head = site.repo.head()
    runner = site.runner(head)
    runner.secrets["HEALTH_TOKEN"] = "hc-Canary-5150"
    jobs = runner.run(site.repo.path / ".github" / "workflows" / "release.yml")
    assert_released(site, jobs, head)
    release, watch = jobs[1].step("kars/deploy-action@"), jobs[2].step("kars/deploy-action/watch@")
    assert release.env == watch.env == {"HEALTH_TOKEN": "hc-Canary-5150"}
    assert jobs[0].step("kars/deploy-action/test@").env == {}  # the tests need no secret, and get none
    seen = site.apps["backend"].authorization_seen
    assert seen and set(seen) == {"Bearer hc-Canary-5150"}, seen  # the release's checks and the watch's
    assert set(site.apps["frontend"].authorization_seen) == {""}  # its checks have no such header
    for step in (release, watch):
        shown = [line for line in (step.log + step.summary).splitlines() if not line.startswith("::add-mask::")]
        assert not any("Canary-5150" in line for line in shown)

    # Without the secret (GitHub then passes it as empty) the release refuses before any write, naming the
    # variable and the check.
    again = site.repo.commit_work_tree("fix: again", allow_empty=True)
    site.github.add_commit(again)
    deploys = site.sim.count("serviceInstanceDeployV2")
    runner = site.runner(again)
    jobs = runner.run(site.repo.path / ".github" / "workflows" / "release.yml")
    release = jobs[1].step("kars/deploy-action@")
    assert release.code == 2 and release.outputs["production-touched"] == "false"
    assert "${HEALTH_TOKEN} (services.backend.health: header Authorization), which is empty" in release.log
    assert site.sim.count("serviceInstanceDeployV2") == deploys
