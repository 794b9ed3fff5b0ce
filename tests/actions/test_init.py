"""kars-actions init writes templates filled from kars.yml, pinned, and never overwrites without --force."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from kars_actions import __version__, templates
from kars_actions.cli import cli
from tests.actions.tools import zizmor as zizmor_path

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


def invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["init", "--format", "text", *args], catch_exceptions=False)
    return result.exit_code, result.output


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
    (tmp_path / "kars.yml").write_text(KARS_YML)
    code, output = invoke("--dir", str(tmp_path), "--action-sha", SHA)
    assert code == 0, output
    workflows = tmp_path / ".github" / "workflows"
    assert sorted(p.name for p in workflows.iterdir()) == ["ci.yml", "release.yml", "rollback.yml", "staging.yml"]

    release = yaml.safe_load((workflows / "release.yml").read_text())
    assert release[True]["push"]["branches"] == ["release"]
    job = release["jobs"]["release"]
    assert job["environment"]["name"] == "prod" and job["concurrency"]["group"] == "deploy-prod"
    step = job["steps"][-1]
    assert step["uses"] == f"kars/deploy-action@{SHA}"
    assert step["with"]["environment"] == "prod"
    assert step["with"]["slack-webhook"] == "${{ secrets.SHOP_SLACK }}"
    assert f"@{SHA} # v{__version__}" in (workflows / "release.yml").read_text()

    staging = yaml.safe_load((workflows / "staging.yml").read_text())
    assert staging[True]["push"]["branches"] == ["next"]
    assert staging["jobs"]["release"]["steps"][-1]["with"]["prerelease"] == "beta"
    assert staging["jobs"]["release"]["environment"]["name"] == "preview"

    rollback = yaml.safe_load((workflows / "rollback.yml").read_text())
    inputs = rollback[True]["workflow_dispatch"]["inputs"]
    assert inputs["service"]["options"] == ["api", "worker"]
    assert inputs["environment"]["options"] == ["prod", "preview"] and inputs["environment"]["default"] == "prod"
    for path in workflows.iterdir():
        assert templates.PLACEHOLDER_SHA not in path.read_text()


def test_refuses_to_overwrite_without_force_and_writes_nothing(tmp_path: Path) -> None:
    workflows = tmp_path / ".github" / "workflows"
    workflows.mkdir(parents=True)
    (workflows / "release.yml").write_text("# mine\n")
    code, output = invoke("ci", "release", "--dir", str(tmp_path), "--action-sha", SHA)
    assert code == 2
    assert "release.yml already exists" in output and "--force" in output
    assert (workflows / "release.yml").read_text() == "# mine\n"
    assert not (workflows / "ci.yml").exists()


def test_force_overwrites(tmp_path: Path) -> None:
    workflows = tmp_path / ".github" / "workflows"
    workflows.mkdir(parents=True)
    (workflows / "release.yml").write_text("# mine\n")
    code, output = invoke("release", "--dir", str(tmp_path), "--action-sha", SHA, "--force")
    assert code == 0, output
    assert "replaced" in output
    assert "kars/deploy-action@" in (workflows / "release.yml").read_text()


def test_without_kars_yml_the_shipped_defaults_are_kept_and_service_becomes_free_text(tmp_path: Path) -> None:
    code, output = invoke("rollback", "release", "--dir", str(tmp_path), "--action-sha", SHA)
    assert code == 0, output
    rollback = yaml.safe_load((tmp_path / ".github/workflows/rollback.yml").read_text())
    assert rollback[True]["workflow_dispatch"]["inputs"]["service"]["type"] == "string"
    release = yaml.safe_load((tmp_path / ".github/workflows/release.yml").read_text())
    assert release["jobs"]["release"]["environment"]["name"] == "production"


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
    site = tmp_path / "site"
    site.mkdir()
    code, output = invoke("ci", "--dir", str(site), "--action-repository", str(repo))
    assert code == 0, output
    assert f"kars/deploy-action/test@{commit} # v{__version__}" in (site / ".github/workflows/ci.yml").read_text()

    git("tag", "-d", f"v{__version__}")
    code, output = invoke("release", "--dir", str(site), "--action-repository", str(repo))
    assert code == 3 and f"no tag v{__version__}" in output and "--action-sha" in output


@pytest.mark.skipif(zizmor_path() is None, reason="no zizmor")
def test_filled_templates_stay_clean_under_zizmor(tmp_path: Path) -> None:
    (tmp_path / "kars.yml").write_text(KARS_YML)
    names = ("ci", "release", "staging", "rollback", "validate-railway", "preview")
    invoke(*names, "--dir", str(tmp_path), "--action-sha", SHA)
    zizmor = zizmor_path()
    assert zizmor is not None
    files = sorted(str(p) for p in (tmp_path / ".github/workflows").iterdir())
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
    jobs = yaml.safe_load(release)["jobs"]
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
