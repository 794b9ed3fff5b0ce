"""The tag and release-status commands, through click's runner and as a real process."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from kars_actions.cli import cli
from tests.fakes.actions_files import read_outputs
from tests.fakes.cli_fork import run_kars
from tests.fakes.github_fake import GitHubFake
from tests.github.conftest import TOKEN
from tests.versioning.gitrepo import GitRepo


def invoke(args: list[str], env: dict[str, str] | None = None) -> tuple[int, str]:
    result = CliRunner().invoke(cli, args, env=env, catch_exceptions=False)
    return result.exit_code, result.output


def invoke_json(args: list[str]) -> tuple[int, dict[str, object]]:
    result = CliRunner().invoke(cli, [*args, "--format", "json"], catch_exceptions=False)
    return result.exit_code, json.loads(result.stdout)


def test_tag_then_release_status_success(
    repo: GitRepo, fake: GitHubFake, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "out.txt"
    monkeypatch.setenv("GITHUB_OUTPUT", str(out))
    monkeypatch.setenv("GITHUB_TOKEN", TOKEN)
    code, text = invoke(["tag", "--repo-dir", str(repo.path), "--format", "text"])
    assert code == 0, text
    assert TOKEN not in text
    outputs = read_outputs(out)
    assert outputs["version"] == "1.1.0" and outputs["tag"] == "v1.1.0" and outputs["previous-tag"] == "v1.0.0"
    assert outputs["released"] == "true" and outputs["release-id"].isdigit()
    assert "### Features" in outputs["changelog"] and "\n" in outputs["changelog"]
    code, text = invoke(["release-status", "--success", "--tag", "v1.1.0", "--format", "text"])
    assert code == 0, text
    assert fake.releases_for("v1.1.0")[0]["draft"] is False
    assert fake.tag_commit("v1") == repo.head()


def test_release_status_failure_needs_a_reason(repo: GitRepo, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GITHUB_TOKEN", TOKEN)
    code, text = invoke(["release-status", "--failure", "--tag", "v1.1.0", "--format", "text"])
    assert code == 2 and "--reason" in text


def test_release_status_failure_marks_the_draft(
    repo: GitRepo, fake: GitHubFake, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GITHUB_TOKEN", TOKEN)
    assert invoke(["tag", "--repo-dir", str(repo.path)])[0] == 0
    code, text = invoke(["release-status", "--failure", "--tag", "v1.1.0", "--reason", "deploy failed"])
    assert code == 0, text
    [release] = fake.releases_for("v1.1.0")
    assert release["draft"] and "deploy failed" in release["body"]


def test_nothing_to_release_exits_zero(repo: GitRepo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    repo.tag("v1.1.0")
    repo.commit("docs: words")
    out = tmp_path / "out.txt"
    monkeypatch.setenv("GITHUB_OUTPUT", str(out))
    code, text = invoke(["tag", "--repo-dir", str(repo.path), "--format", "text"])
    assert code == 0 and "nothing to release" in text
    assert read_outputs(out)["released"] == "false"


def test_dry_run_json_writes_nothing(repo: GitRepo, fake: GitHubFake, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GITHUB_TOKEN", TOKEN)
    code, payload = invoke_json(["tag", "--repo-dir", str(repo.path), "--dry-run"])
    assert code == 0, payload
    assert payload["plan"]["tag"] == "v1.1.0" and payload["dry_run"] is True
    assert fake.writes() == [] and fake.requests


def test_prerelease_channel_from_the_environment(repo: GitRepo, monkeypatch: pytest.MonkeyPatch) -> None:
    (repo.path / "kars.yml").write_text(
        "environments:\n  staging:\n    branch: main\n    prerelease: rc\n    railway_environment: staging\n"
    )
    code, payload = invoke_json(["tag", "--repo-dir", str(repo.path), "--environment", "staging", "--dry-run"])
    assert code == 0, payload
    assert payload["plan"]["tag"] == "v1.1.0-rc.1"  # type: ignore[index]


def test_missing_permission_exits_3_naming_it(repo: GitRepo, fake: GitHubFake, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GITHUB_TOKEN", TOKEN)
    fake.permissions["contents"] = False
    code, text = invoke(["tag", "--repo-dir", str(repo.path), "--format", "text"])
    assert code == 3 and "contents: write" in text and TOKEN not in text


@pytest.mark.subprocess
def test_tag_as_a_real_process(repo: GitRepo, fake: GitHubFake, tmp_path: Path) -> None:
    env = {**os.environ, "GITHUB_TOKEN": TOKEN, "GITHUB_OUTPUT": str(tmp_path / "o.txt")}
    completed = run_kars(
        ["tag", "--repo-dir", str(repo.path), "--format", "text"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    assert "v1.1.0" in completed.stdout
    assert read_outputs(tmp_path / "o.txt")["tag"] == "v1.1.0"
    assert fake.tag_commit("v1.1.0") == repo.head()
    for request in fake.requests:
        assert request.headers["accept"] == "application/vnd.github+json"
        assert request.headers["x-github-api-version"] == "2022-11-28"
        assert request.headers["user-agent"].startswith("kars-actions/")


def test_tag_after_a_failed_release_carries_its_changes_and_names_it(
    repo: GitRepo, fake: GitHubFake, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Step-by-step users too: a version whose release stayed a draft (failed) is not a base."""
    failed = repo.head()
    repo.tag("v1.1.0")
    fake.add_tag("v1.1.0", failed)
    fake.add_release("v1.1.0", draft=True, target=failed)
    fix = repo.commit("chore: fix the service name")
    fake.add_commit(fix)
    out = tmp_path / "out.txt"
    monkeypatch.setenv("GITHUB_OUTPUT", str(out))
    monkeypatch.setenv("GITHUB_TOKEN", TOKEN)
    code, text = invoke(["tag", "--repo-dir", str(repo.path), "--format", "text"])
    assert code == 0, text
    outputs = read_outputs(out)
    assert outputs["tag"] == "v1.2.0" and outputs["previous-tag"] == "v1.0.0"
    assert "login page" in outputs["changelog"] and "v1.1.0" in outputs["changelog"]
