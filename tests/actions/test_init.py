"""kars-actions init writes workflows that work on their first push: filled from kars.yml, the repository and
Railway, pinned, refused (exit 2, nothing written) when something they need is unknown unless --draft, and never
overwritten without --force."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from kars_actions import __version__, templates
from kars_actions.cli import cli
from tests.actions.tools import zizmor as zizmor_path
from tests.fakes.actions_files import load_yaml
from tests.fakes.workflow_runner import Runner

ROOT = Path(__file__).resolve().parents[2]
SHA = "0123456789abcdef0123456789abcdef01234567"

KARS_YML = """\
project: shop
services:
  api:
    railway_service: shop-api
  worker:
    railway_service: shop-worker
environments:
  prod:
    branch: release
    railway_environment: production
  preview:
    branch: next
    prerelease: beta
    railway_environment: staging
alerts:
  slack_webhook_env: SHOP_SLACK
"""

RELEASE_KARS_YML = """\
project: app
services:
  backend:
    directory: backend
  frontend:
    directory: frontend
environments:
  production: {branch: main}
  staging: {branch: develop, prerelease: rc}
  eu: {branch: eu-main}
  manual: {}
alerts:
  webhook_url_env: ALERT_URL
  webhook_secret_env: ALERT_KEY
watch:
  duration: 30m
backup:
  service: Postgres
"""


def invoke(*args: str, **env: str) -> tuple[int, str]:
    quiet = {"RAILWAY_TOKEN": "", "RAILWAY_API_TOKEN": "", **env}
    result = CliRunner().invoke(cli, ["init", "--format", "text", *args], env=quiet, catch_exceptions=False)
    return result.exit_code, result.output


def app(root: Path, *services: str, kars: str | None = None) -> Path:
    """A repository with a folder per service, each with its railway.json and a test script."""
    for service in services:
        (root / service).mkdir(parents=True, exist_ok=True)
        (root / service / "railway.json").write_text('{"deploy": {"healthcheckPath": "/api/health"}}\n')
        (root / service / "package.json").write_text('{"scripts": {"test": "node -e 0"}}\n')
    if kars is not None:
        (root / "kars.yml").write_text(kars)
    return root


def workflow(root: Path, name: str) -> dict[str, Any]:
    data: dict[str, Any] = load_yaml((root / ".github" / "workflows" / f"{name}.yml").read_text())
    return data


def release_step(job: dict[str, Any]) -> dict[str, Any]:
    step: dict[str, Any] = next(s for s in job["steps"] if str(s.get("uses", "")).startswith("kars/deploy-action@"))
    return step


def test_shipped_templates_are_identical_to_workflows_templates() -> None:
    shipped = ROOT / "kars_actions" / "templates"
    source = ROOT / "workflows-templates"
    names = sorted(p.name for p in source.iterdir())
    assert names == sorted(p.name for p in shipped.iterdir() if p.name not in ("__pycache__", "__init__.py"))
    for name in names:
        assert (shipped / name).read_bytes() == (source / name).read_bytes(), f"kars_actions/templates/{name} differs"


def test_list_shows_every_template_with_its_description() -> None:
    code, output = invoke("--list")
    assert code == 0
    for info in templates.list_templates():
        assert info.name in output and info.description in output
    names = {"ci", "validate-railway", "release", "staging", "rollback", "preview"}
    assert {i.name for i in templates.list_templates()} == names


def test_writes_the_default_set_filled_from_kars_yml(tmp_path: Path) -> None:
    app(tmp_path, "api", "worker", kars=KARS_YML)
    code, output = invoke("--dir", str(tmp_path), "--action-sha", SHA)
    assert code == 0, output
    workflows = tmp_path / ".github" / "workflows"
    assert sorted(p.name for p in workflows.iterdir()) == ["ci.yml", "release.yml", "rollback.yml", "staging.yml"]

    release = load_yaml((workflows / "release.yml").read_text())
    assert release[True]["push"]["branches"] == ["release"]
    job = release["jobs"]["release"]
    assert job["environment"]["name"] == "prod" and job["concurrency"]["group"] == "deploy-prod"
    step = job["steps"][-1]
    assert step["uses"] == f"kars/deploy-action@{SHA}"
    assert step["with"]["environment"] == "prod"
    assert step["with"]["slack-webhook"] == "${{ secrets.SHOP_SLACK }}"
    assert "discord-webhook" not in step["with"]  # kars.yml names no Discord channel
    assert "services" not in step["with"]  # kars.yml lists them, and the release reads it
    assert f"@{SHA} # v{__version__}" in (workflows / "release.yml").read_text()
    assert "gh secret set SHOP_SLACK" in output and "gh secret set RAILWAY_TOKEN_PROD " in output

    staging = load_yaml((workflows / "staging.yml").read_text())
    assert staging[True]["push"]["branches"] == ["next"]
    assert staging["jobs"]["release"]["steps"][-1]["with"]["prerelease"] == "beta"
    assert staging["jobs"]["release"]["environment"]["name"] == "preview"

    rollback = load_yaml((workflows / "rollback.yml").read_text())
    inputs = rollback[True]["workflow_dispatch"]["inputs"]
    assert inputs["service"]["options"] == ["api", "worker"]
    assert inputs["environment"]["options"] == ["prod", "preview"] and inputs["environment"]["default"] == "prod"
    for path in workflows.iterdir():
        assert templates.PLACEHOLDER_SHA not in path.read_text()


def test_refuses_to_overwrite_without_force_and_writes_nothing(tmp_path: Path) -> None:
    app(tmp_path, "backend")
    workflows = tmp_path / ".github" / "workflows"
    workflows.mkdir(parents=True)
    (workflows / "release.yml").write_text("# mine\n")
    code, output = invoke("ci", "release", "--dir", str(tmp_path), "--action-sha", SHA)
    assert code == 2
    assert "release.yml already exists" in output and "--force" in output
    assert (workflows / "release.yml").read_text() == "# mine\n"
    assert not (workflows / "ci.yml").exists()


def test_force_overwrites(tmp_path: Path) -> None:
    app(tmp_path, "backend")
    workflows = tmp_path / ".github" / "workflows"
    workflows.mkdir(parents=True)
    (workflows / "release.yml").write_text("# mine\n")
    code, output = invoke("release", "--dir", str(tmp_path), "--action-sha", SHA, "--force")
    assert code == 0, output
    assert "replaced" in output
    assert "kars/deploy-action@" in (workflows / "release.yml").read_text()


def test_without_kars_yml_the_folders_holding_a_railway_config_are_the_services(tmp_path: Path) -> None:
    app(tmp_path, "backend", "frontend")
    code, output = invoke("--dir", str(tmp_path), "--action-sha", SHA)
    assert code == 0, output
    assert "services: backend, frontend (the repository's folders holding a railway.json / railway.toml)" in output
    assert "backend: backend/railway.json (folder backend/)" in output
    names = sorted(p.name for p in (tmp_path / ".github" / "workflows").iterdir())
    assert names == ["ci.yml", "release.yml", "rollback.yml"]  # no staging environment is known to exist
    release = workflow(tmp_path, "release")["jobs"]["release"]
    assert release["environment"]["name"] == "production"
    assert release_step(release)["with"]["services"] == "backend frontend"
    rollback = workflow(tmp_path, "rollback")[True]["workflow_dispatch"]["inputs"]
    assert rollback["service"]["options"] == ["backend", "frontend"]
    assert rollback["environment"]["options"] == ["production"]


def test_the_workflow_written_with_a_kars_yml_follows_it(tmp_path: Path) -> None:
    """Where kars.yml says something — its services, alert channel, environments, watch and backup — the file
    differs from the one written without it."""
    plain = app(tmp_path / "plain", "backend", "frontend")
    configured = app(tmp_path / "configured", "backend", "frontend", kars=RELEASE_KARS_YML)
    for root in (plain, configured):
        code, output = invoke("release", "--dir", str(root), "--action-sha", SHA)
        assert code == 0, output
    before, after = workflow(plain, "release"), workflow(configured, "release")
    assert before != after
    assert release_step(before["jobs"]["release"])["with"]["services"] == "backend frontend"
    job = after["jobs"]["release"]
    step = release_step(job)["with"]
    assert "services" not in step
    assert step["webhook-url"] == "${{ secrets.ALERT_URL }}" and step["webhook-secret"] == "${{ secrets.ALERT_KEY }}"
    assert "slack-webhook" not in step and "discord-webhook" not in step
    # backup 10m + deploy 15m + health 5m + settle 30s + watch 30m + a rollback's 20m = 4830 s; +10 min to set up
    assert step["total-timeout"] == "4830" and job["timeout-minutes"] == 91
    assert after[True]["push"]["branches"] == ["main", "develop", "eu-main"]
    jobs = after["jobs"]
    assert sorted(jobs) == [
        *("release", "release-eu", "release-staging", "staging", "test"),
        *("watch", "watch-eu", "watch-staging"),
    ]
    # The production path — the optional staging-first job, then production behind its gate — on main's pushes only.
    assert jobs["staging"]["if"] == "${{ github.ref == 'refs/heads/main' && (vars.KARS_STAGING_FIRST == 'true') }}"
    assert jobs["release"]["if"].startswith("${{ github.ref == 'refs/heads/main' && (!cancelled() && ")
    assert jobs["release"]["needs"] == ["test", "staging"] and "requires" in release_step(jobs["release"])["with"]
    for suffix, branch in (("-staging", "develop"), ("-eu", "eu-main")):
        release = jobs[f"release{suffix}"]
        assert release["if"] == f"github.ref == 'refs/heads/{branch}'" and release["needs"] == "test"
        assert "requires" not in release_step(release)["with"]  # the promotion gate is production's
    for suffix, environment in (("", "production"), ("-staging", "staging"), ("-eu", "eu")):
        release, watch = jobs[f"release{suffix}"], jobs[f"watch{suffix}"]
        assert release["environment"]["name"] == environment
        assert release["concurrency"] == {"group": f"deploy-{environment}", "cancel-in-progress": False}
        token = f"${{{{ secrets.{templates.token_secret(environment)} }}}}"
        assert release_step(release)["with"]["environment"] == environment
        assert release_step(release)["with"]["railway-token"] == token
        # the long watch after it follows that release only, in that environment, in a group of its own
        assert watch["needs"] == f"release{suffix}" and f"needs.release{suffix}.outputs.outcome" in watch["if"]
        assert watch["concurrency"]["group"] == f"watch-{environment}"
        watching = next(s for s in watch["steps"] if str(s.get("uses", "")).startswith("kars/deploy-action/watch@"))
        assert watching["with"]["environment"] == environment and watching["with"]["railway-token"] == token
        assert watching["with"]["after-release"] == f"${{{{ needs.release{suffix}.outputs.tag }}}}"


def test_each_push_runs_the_jobs_of_its_own_environment_only(tmp_path: Path) -> None:
    """Which jobs of the written release.yml run, as GitHub decides it, for a push to each environment's branch."""
    root = app(tmp_path, "backend", "frontend", kars=RELEASE_KARS_YML)
    code, output = invoke("release", "--dir", str(root), "--action-sha", SHA)
    assert code == 0, output
    path = root / ".github" / "workflows" / "release.yml"
    for branch, jobs in (
        ("main", ["test", "release", "watch"]),
        ("develop", ["test", "release-staging", "watch-staging"]),
        ("eu-main", ["test", "release-eu", "watch-eu"]),
    ):
        runner = Runner(root, ROOT, tmp_path, pin=SHA, secrets={}, github={"ref": f"refs/heads/{branch}"}, env={})
        ran = runner.run(path, assume={"outcome": "released", "tag": "v1.0.0"})
        assert [job.job for job in ran] == jobs, branch
    runner = Runner(root, ROOT, tmp_path, pin=SHA, secrets={}, github={"ref": "refs/heads/main"}, env={})
    assert [job.job for job in runner.run(path, assume={"outcome": "rolled-back"})] == ["test", "release"]


def test_with_the_staging_workflow_written_too_staging_is_released_once(tmp_path: Path) -> None:
    root = app(tmp_path, "backend", kars=RELEASE_KARS_YML)
    code, output = invoke("release", "staging", "--dir", str(root), "--action-sha", SHA)
    assert code == 0, output
    jobs = sorted(workflow(root, "release")["jobs"])
    assert jobs == ["release", "release-eu", "staging", "test", "watch", "watch-eu"]
    assert workflow(root, "staging")["jobs"]["release"]["environment"]["name"] == "staging"
    assert "manual: no branch in kars.yml" in output  # an environment no push releases is named


def test_without_services_anywhere_nothing_is_written_and_the_commands_are_given(tmp_path: Path) -> None:
    (tmp_path / "package.json").write_text('{"scripts": {"test": "node -e 0"}}\n')
    code, output = invoke("release", "--dir", str(tmp_path), "--action-sha", SHA)
    assert code == 2, output
    assert "nothing was written" in output and not (tmp_path / ".github").exists()
    assert f"kars-actions init release --force --dir {tmp_path} --service NAME" in output
    assert "--draft" in output
    code, output = invoke("release", "--dir", str(tmp_path), "--action-sha", SHA, "--draft")
    assert code == 0, output
    step = release_step(workflow(tmp_path, "release")["jobs"]["release"])
    assert step["with"]["services"] == templates.SERVICES_PLACEHOLDER
    code, output = invoke("release", "--dir", str(tmp_path), "--action-sha", SHA, "--force", "--service", "web")
    assert code == 0, output
    assert release_step(workflow(tmp_path, "release")["jobs"]["release"])["with"]["services"] == "web"


def test_a_repository_without_tests_is_told_the_test_job_would_fail(tmp_path: Path) -> None:
    (tmp_path / "backend").mkdir()
    (tmp_path / "backend" / "railway.json").write_text("{}\n")
    code, output = invoke("ci", "--dir", str(tmp_path), "--action-sha", SHA)
    assert code == 2 and "the test job would fail: no tests found" in output
    assert not (tmp_path / ".github").exists()
    code, _ = invoke("validate-railway", "--dir", str(tmp_path), "--action-sha", SHA)
    assert code == 0  # no test job in it


def test_the_headers_name_the_release_the_pins_name(tmp_path: Path) -> None:
    """A header's ls-remote command, pasted, prints the commit of the tag the pins' comments name."""
    for path in sorted((ROOT / "workflows-templates").glob("*.yml")):
        text = path.read_text()
        pins = set(re.findall(r"kars/deploy-action(?:/[a-z-]+)?@[0-9a-f]{40} # v(\S+)", text))
        header = re.findall(r"(?m)^#   git ls-remote \S+/kars/deploy-action 'refs/tags/v(\S+)\^\{\}'$", text)
        assert pins == {__version__} and header == [__version__], path.name
    app(tmp_path, "backend")
    code, output = invoke("ci", "--dir", str(tmp_path), "--no-pin")
    assert code == 0, output
    assert f"'refs/tags/v{__version__}^{{}}' | cut -f1" in output


def test_unknown_template_is_a_usage_error(tmp_path: Path) -> None:
    code, output = invoke("deploy-everything", "--dir", str(tmp_path), "--action-sha", SHA)
    assert code == 2 and "unknown template 'deploy-everything'" in output and "release" in output


def test_a_name_that_could_inject_into_the_workflow_is_refused(tmp_path: Path) -> None:
    (tmp_path / "kars.yml").write_text(
        "environments:\n  production:\n    branch: 'main]\\n  pull_request_target: ['\n    railway_environment: p\n"
    )
    code, output = invoke("release", "--dir", str(tmp_path), "--action-sha", SHA)
    assert code == 2 and "cannot be written into a workflow" in output
    assert not (tmp_path / ".github").exists()


def test_bad_sha_is_refused(tmp_path: Path) -> None:
    code, output = invoke("ci", "--dir", str(tmp_path), "--action-sha", "v1")
    assert code == 2 and "not a full commit SHA" in output


def test_no_pin_keeps_the_placeholder_and_says_so(tmp_path: Path) -> None:
    app(tmp_path, "backend")
    code, output = invoke("ci", "--dir", str(tmp_path), "--no-pin")
    assert code == 0
    assert templates.PLACEHOLDER_SHA in (tmp_path / ".github/workflows/ci.yml").read_text()
    assert "not pinned" in output


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_pin_is_looked_up_from_the_release_tag_with_git(tmp_path: Path) -> None:
    repo = tmp_path / "action"
    repo.mkdir()

    def git(*args: str) -> str:
        env = {
            "GIT_AUTHOR_NAME": "t",
            "GIT_AUTHOR_EMAIL": "t@x",
            "GIT_COMMITTER_NAME": "t",
            "GIT_COMMITTER_EMAIL": "t@x",
        }
        out = subprocess.run(
            ["git", *args],
            cwd=repo,
            env={**env, "PATH": os.environ["PATH"], "HOME": str(tmp_path)},
            capture_output=True,
            text=True,
        )
        assert out.returncode == 0, out.stderr
        return out.stdout.strip()

    git("init", "-q")
    git("commit", "-q", "--allow-empty", "-m", "release")
    commit = git("rev-parse", "HEAD")
    git("tag", "-a", f"v{__version__}", "-m", "annotated")  # the tag object differs from the commit: must peel
    site = app(tmp_path / "site", "backend")
    code, output = invoke("ci", "--dir", str(site), "--action-repository", str(repo))
    assert code == 0, output
    assert f"kars/deploy-action/test@{commit} # v{__version__}" in (site / ".github/workflows/ci.yml").read_text()

    git("tag", "-d", f"v{__version__}")
    code, output = invoke("release", "--dir", str(site), "--action-repository", str(repo))
    assert code == 3 and f"no tag v{__version__}" in output and "--action-sha" in output
    code, output = invoke("release", "--dir", str(site), "--action-repository", str(repo), "--force", "--draft")
    assert code == 0, output
    assert templates.PLACEHOLDER_SHA in (site / ".github/workflows/release.yml").read_text()
    assert f"--action-sha \"$(git ls-remote {templates.ACTION_REPOSITORY_URL} 'refs/tags/v{__version__}^{{}}'" in output


@pytest.mark.skipif(zizmor_path() is None, reason="no zizmor")
def test_filled_templates_stay_clean_under_zizmor(tmp_path: Path) -> None:
    names = ("ci", "release", "staging", "rollback", "validate-railway", "preview")
    for name, kars, services in (
        ("shop", KARS_YML, ("api", "worker")),
        ("app", RELEASE_KARS_YML, ("backend", "frontend")),
        ("plain", None, ("api", "worker")),
    ):
        root = app(tmp_path / name, *services, kars=kars)
        code, output = invoke(*names, "--dir", str(root), "--action-sha", SHA)
        assert code == 0, output
    root = app(tmp_path / "multi", "backend", "frontend", kars=RELEASE_KARS_YML)
    assert invoke("release", "--dir", str(root), "--action-sha", SHA)[0] == 0  # three release jobs in one file
    zizmor = zizmor_path()
    assert zizmor is not None
    files = sorted(str(p) for p in tmp_path.glob("*/.github/workflows/*.yml"))
    completed = subprocess.run(
        [zizmor, "--offline", "--persona=pedantic", "--no-progress", *files],
        capture_output=True,
        text=True,
        check=False,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr


def test_each_environment_gets_its_own_railway_token_secret() -> None:
    """Railway project tokens reach one environment: one secret per environment, never a shared RAILWAY_TOKEN."""
    values = templates.TemplateValues(production_environment="live", staging_environment="qa-eu")
    values = templates.TemplateValues(**{**values.__dict__, "environments": ["live", "qa-eu"]})
    release = templates.render("release", values)
    staging = templates.render("staging", values)
    rollback = templates.render("rollback", values)
    jobs = load_yaml(release)["jobs"]
    assert jobs["release"]["steps"][-1]["with"]["railway-token"] == "${{ secrets.RAILWAY_TOKEN_LIVE }}"
    assert jobs["staging"]["steps"][-1]["with"]["railway-token"] == "${{ secrets.RAILWAY_TOKEN_QA_EU }}"
    assert jobs["staging"]["environment"]["name"] == "qa-eu"
    assert jobs["staging"]["concurrency"]["group"] == "deploy-qa-eu"
    assert "'qa-eu'" in jobs["release"]["steps"][-1]["with"]["requires"]
    assert "secrets.RAILWAY_TOKEN_QA_EU" in staging
    assert "(inputs.environment == 'live' && secrets.RAILWAY_TOKEN_LIVE)" in rollback
    assert "(inputs.environment == 'qa-eu' && secrets.RAILWAY_TOKEN_QA_EU)" in rollback
    for text in (release, staging, rollback):
        assert "secrets.RAILWAY_TOKEN }}" not in text
