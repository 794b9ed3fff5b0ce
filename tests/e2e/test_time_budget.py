"""The release's total timeout, as real processes: given none, the release takes what its stages need with a rollback
after them — the very budget `kars-actions init` writes into the workflow — and a shorter one is said at the start,
with both numbers."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from kars_actions.core.config import Config
from kars_actions.release.budget import time_budget
from tests.fakes.cli_fork import run_kars
from tests.fakes.world import process_environment
from tests.versioning.gitrepo import GIT_ENV, GitRepo

ROOT = Path(__file__).resolve().parents[2]
WITH_BACKUP = "backup:\n  service: Postgres\n  timeout: 4m\nwatch:\n  duration: 1m\n"

pytestmark = pytest.mark.subprocess


def cli(repo: GitRepo, *args: str) -> tuple[int, dict[str, Any], str]:
    proc = run_kars(
        [*args, "--format", "json"],
        cwd=repo.path,
        env=process_environment(**GIT_ENV, PYTHONPATH=str(ROOT)),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc.returncode, json.loads(proc.stdout), proc.stderr


def app(tmp_path: Path, kars_yml: str | None) -> GitRepo:
    repo = GitRepo(tmp_path / "app")
    (repo.path / "backend").mkdir()
    (repo.path / "backend" / "railway.json").write_text('{"deploy": {"healthcheckPath": "/api/health"}}\n')
    (repo.path / "backend" / "Makefile").write_text("test:\n\t@true\n")
    if kars_yml is not None:
        (repo.path / "kars.yml").write_text(kars_yml)
    repo.commit("feat: the backend")
    return repo


@pytest.mark.parametrize("kars_yml", [None, WITH_BACKUP], ids=["defaults", "kars.yml-backup-and-watch"])
def test_without_a_timeout_the_release_takes_the_budget_init_writes(tmp_path: Path, kars_yml: str | None) -> None:
    repo = app(tmp_path, kars_yml)
    code, init, err = cli(repo, "init", "release", "--action-sha", "1" * 40)
    assert code == 0, err
    budget = init["plan"]["total_timeout"]
    assert budget == (2730 if kars_yml is None else 240 + 900 + 300 + 30 + 60 + 1200)
    written = (repo.path / ".github" / "workflows" / "release.yml").read_text()
    assert f'total-timeout: "{budget}"' in written

    code, report, err = cli(repo, "release", "--dry-run")
    assert code == 0, (report["error"], err)
    assert report["time_budget"]["total_timeout"] == report["time_budget"]["needed"] == budget
    assert report["warnings"] == [] and "warning" not in err

    code, report, _ = cli(repo, "release", "--dry-run", "--timeout", str(budget))
    assert code == 0 and report["warnings"] == [] and report["time_budget"]["total_timeout"] == budget


def test_a_timeout_too_short_to_roll_back_is_said_at_the_start_with_both_numbers(tmp_path: Path) -> None:
    repo = app(tmp_path, None)
    code, report, err = cli(repo, "release", "--dry-run", "--timeout", "1800")
    assert code == 0, (report["error"], err)
    assert report["time_budget"] == {
        "total_timeout": 1800,
        "needed": 2730,
        "made_of": "deploy 15m00s + health 5m00s + settle 30s + watch 5m00s + rollback 20m00s",
    }
    (warning,) = report["warnings"]
    assert "total timeout of 1800s" in warning and "shorter than the 2730s" in warning
    assert "deploy 15m00s + health 5m00s + settle 30s + watch 5m00s + rollback 20m00s" in warning
    assert err.splitlines()[0] == f"warning: {warning}"  # before the first stage starts
    preflight = next(s for s in report["stages"] if s["stage"] == "preflight")
    assert f"warning: {warning}" in preflight["detail"]

    # The stages given on the command line count: a shorter deploy and no watch need less.
    code, report, _ = cli(repo, "release", "--dry-run", "--deploy-timeout", "300", "--watch-duration", "0")
    assert report["time_budget"]["total_timeout"] == 300 + 300 + 30 + 600 and report["warnings"] == []


def test_the_help_gives_the_default_the_release_computes(tmp_path: Path) -> None:
    proc = run_kars(
        ["release", "--help"],
        env={**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "200"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0
    said = " ".join(proc.stdout.split())
    assert f"{time_budget(Config(root=tmp_path)).seconds} with the defaults" in said
    assert "A shorter one is warned about at the start" in said
