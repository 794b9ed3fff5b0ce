"""One way to find a service and its railway.json: `release --dry-run`, `config plan --check`, `config apply
--dry-run` and `validate` name the same file, from the same source, for each service — with kars.yml or without,
with a Railway token or without — as real processes against the Railway simulator. And `config plan --check`
refuses what the release refuses.

The repository holds backend/railway.json and frontend/railway.json, and services/api/railway.json, which is where
Railway builds the backend from (its root directory): only a token can tell, and kars.yml, when it says, wins.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.fakes.cli_fork import run_kars
from tests.fakes.github_fake import GitHubFake
from tests.fakes.railway_sim import RailwaySim, SimClock
from tests.fakes.world import process_environment
from tests.versioning.gitrepo import GIT_ENV, GitRepo

REPO = Path(__file__).resolve().parents[2]

FOLDER_JSON = {"build": {"builder": "RAILPACK"}, "deploy": {"healthcheckPath": "/api/health"}}
API_JSON = {
    "build": {"builder": "RAILPACK"},
    "deploy": {"startCommand": "node dist/main.js", "healthcheckPath": "/api/health"},
}
KARS_YML = """\
project: kars-app
services:
  backend:
    directory: backend
  frontend:
    railway_config: frontend/railway.json
"""

SAID = {
    # (kars.yml, token): what every command says of each service
    (False, False): [
        "backend: backend/railway.json (folder backend/)",
        "frontend: frontend/railway.json (folder frontend/)",
    ],
    (False, True): [
        "backend: services/api/railway.json (Railway root directory /services/api)",
        "frontend: frontend/railway.json (Railway root directory /frontend)",
    ],
    (True, False): [
        "backend: backend/railway.json (kars.yml services.backend.directory)",
        "frontend: frontend/railway.json (kars.yml services.frontend.railway_config)",
    ],
}
SAID[(True, True)] = SAID[(True, False)]  # kars.yml says first, whatever Railway's root directory


@dataclass
class Repo:
    repo: GitRepo
    sim: RailwaySim
    token: str
    ids: dict[str, str]

    def run(self, *args: str, token: bool, **env: str) -> tuple[int, dict[str, Any], str]:
        extra = {"RAILWAY_TOKEN": self.token, "RAILWAY_GRAPHQL_ENDPOINT": self.sim.url} if token else {}
        variables = GIT_ENV | {"PYTHONPATH": str(REPO), "KARS_TEST_VIRTUAL_CLOCK": "1"} | extra | env
        proc = run_kars(
            [*args, "--format", "json"],
            cwd=self.repo.path,
            env=process_environment(**variables),
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert "Traceback" not in proc.stderr, proc.stderr
        try:
            return proc.returncode, json.loads(proc.stdout), proc.stderr
        except json.JSONDecodeError:
            raise AssertionError(f"no JSON from {args}: {proc.stdout}\n{proc.stderr}") from None


@pytest.fixture
def repo(tmp_path: Path) -> Iterator[Repo]:
    git = GitRepo(tmp_path / "app")
    for path, data in (
        ("backend/railway.json", FOLDER_JSON),
        ("frontend/railway.json", FOLDER_JSON),
        ("services/api/railway.json", API_JSON),
    ):
        (git.path / path).parent.mkdir(parents=True, exist_ok=True)
        (git.path / path).write_text(json.dumps(data, indent=2))
    git.commit("feat: backend and frontend")
    sim = RailwaySim(SimClock(), advance_per_request=1.0)
    project = sim.add_project("kars-app")
    env = sim.add_environment(project, "production")
    ids = {
        name: sim.add_service(project, name, root_directory=root, domain=f"{name}-production.up.railway.app")
        for name, root in (("backend", "/services/api"), ("frontend", "/frontend"))
    }
    for service_id in ids.values():
        sim.add_deployment(service_id, env, "0" * 40, took=60)
    # What every file sets, except the backend's start command, which only services/api/railway.json sets.
    live = {"build": {"builder": "RAILPACK"}, "deploy": {"healthcheckPath": "/api/health"}}
    sim.set_settings(ids["backend"], env, live)
    sim.set_settings(ids["frontend"], env, live)
    token = sim.add_project_token(project, env)
    sim.start()
    yield Repo(git, sim, token, ids)
    sim.stop()


def said_by_release(report: dict[str, Any]) -> list[str]:
    return [entry["said"] for entry in report["service_files"]]


def said_by(report: dict[str, Any]) -> list[str]:
    return [entry["said"] for entry in report.get("service_files") or []]


@pytest.mark.subprocess
@pytest.mark.parametrize("token", [False, True], ids=["no-token", "token"])
@pytest.mark.parametrize("kars", [False, True], ids=["no-kars.yml", "kars.yml"])
def test_every_command_names_the_same_file_for_each_service(repo: Repo, kars: bool, token: bool) -> None:
    if kars:
        (repo.repo.path / "kars.yml").write_text(KARS_YML)
    named = [] if kars else ["--service", "backend", "--service", "frontend"]
    expected = SAID[(kars, token)]

    # Only where Railway builds the backend from services/api does a file set what the service lacks: that dry
    # run exits as the release would (1: it would refuse), and so does the pull-request check below.
    refuses = token and not kars
    code, report, err = repo.run("release", "--dry-run", *named, token=token)
    assert code == (1 if refuses else 0), (report["error"], report["hint"])
    assert said_by_release(report) == expected
    validated = sorted(Path(f["path"]).as_posix() for f in report["validation"]["files"])
    assert validated == sorted(line.split(": ")[1].split(" (")[0] for line in expected)

    code, report, err = repo.run("validate", *named, token=token)
    assert code == 0, err
    assert said_by(report) == expected

    for command in (("config", "plan", "--check"), ("config", "apply", "--dry-run")):
        code, report, err = repo.run(*command, *named, token=token)
        assert said_by(report) == expected, (command, report)
        if not token:
            assert code == 2 and "no Railway token" in report["error"]["message"]  # never a green check
            assert report["drift"] is False and report["plan"] is None
        elif command[1] == "plan":
            assert code == (1 if refuses else 0) and report["drift"] is refuses
    assert repo.sim.mutations == []


@pytest.mark.subprocess
def test_plan_check_refuses_what_the_release_refuses(repo: Repo, tmp_path: Path) -> None:
    """No kars.yml: Railway builds the backend from services/api, whose start command the service lacks. The
    release refuses before any write; so does the pull-request check built on `config plan --check`, and `config
    apply` would write exactly that setting."""
    named = ["--service", "backend", "--service", "frontend"]
    with GitHubFake("kars/app", token="ghs_fake_token") as github:
        github.add_commit(repo.repo.head())
        code, report, _ = repo.run(
            "release",
            *named,
            "--railway-config",
            "check",
            token=True,
            GITHUB_TOKEN="ghs_fake_token",
            GITHUB_API_URL=github.url,
            GITHUB_REPOSITORY="kars/app",
        )
        assert code == 1, (report["error"], report["hint"], report["stages"])
        assert "backend (deploy.startCommand)" in report["failure"]
        assert github.write_attempts() == [] and repo.sim.mutations == []

    code, report, _ = repo.run("config", "plan", "--check", *named, token=True)
    assert code == 1 and report["drift"] is True
    environment = report["plan"]["environments"][0]
    backend = next(s for s in environment["services"] if s["service"] == "backend")
    assert backend["file"] == "services/api/railway.json"
    assert [c["field"] for c in backend["changes"]] == ["deploy.startCommand"]

    code, report, _ = repo.run("config", "apply", "--dry-run", *named, token=True)
    assert code == 0
    patch = report["applied"][0]["patch"]["services"]
    assert patch == {repo.ids["backend"]: {"deploy": {"startCommand": "node dist/main.js"}}}
    assert repo.sim.mutations == []


@pytest.mark.subprocess
def test_with_nothing_else_naming_a_service_railway_lists_the_ones_it_deploys_from_github(tmp_path: Path) -> None:
    """One railway.json at the root, no kars.yml: with a token, the services are the project's that deploy from a
    GitHub repository (not the database's image), for init, release and validate alike."""
    git = GitRepo(tmp_path / "single")
    (git.path / "railway.json").write_text(json.dumps(FOLDER_JSON, indent=2))
    (git.path / "Makefile").write_text("test:\n\t@true\n")
    git.commit("feat: one service")
    sim = RailwaySim(SimClock(), advance_per_request=1.0)
    project = sim.add_project("kars-app")
    env = sim.add_environment(project, "production")
    web = sim.add_service(project, "web", domain="web-production.up.railway.app")
    sim.add_service(project, "Postgres", repo=None, image="ghcr.io/railwayapp-templates/postgres-ssl:16")
    sim.set_settings(web, env, {"build": {"builder": "RAILPACK"}, "deploy": {"healthcheckPath": "/api/health"}})
    token = sim.add_project_token(project, env)
    with sim:
        single = Repo(git, sim, token, {"web": web})
        expected = ["web: railway.json (the repository root)"]

        code, report, err = single.run("release", "--dry-run", token=True)
        assert code == 0, (report["error"], err)
        assert report["services"] == ["web"] and said_by_release(report) == expected
        listed = "Railway project kars-app: its services deployed from a GitHub repository"
        assert f"services web from {listed}" in json.dumps(report["stages"])

        code, report, _ = single.run("validate", token=True)
        assert code == 0 and said_by(report) == expected

        code, report, err = single.run("init", "release", "--action-sha", "1" * 40, token=True)
        assert code == 0, err
        assert report["plan"]["services_listed_by"] == listed
        written = (git.path / ".github" / "workflows" / "release.yml").read_text()
        assert "          services: web\n" in written
        code, report, _ = single.run("init", "release", "--force", "--action-sha", "1" * 40, token=False)
        assert code == 2 and report["written"] == []  # without the token nothing names the service
        assert sim.mutations == []


@pytest.mark.subprocess
def test_without_kars_yml_or_names_the_folders_holding_a_railway_config_are_the_services(repo: Repo) -> None:
    code, report, err = repo.run("release", "--dry-run", token=False)
    assert code == 0, err
    assert report["services"] == ["backend", "frontend"]
    listed = "services backend, frontend from the repository's folders holding a railway.json / railway.toml"
    assert listed in json.dumps(report["stages"])
    assert said_by_release(report) == SAID[(False, False)]
    code, report, _ = repo.run("validate", token=False)
    assert code == 0 and said_by(report) == SAID[(False, False)]
