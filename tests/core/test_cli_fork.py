"""The suite's warm CLI processes (``tests/fakes/cli_fork.py``) behave as fresh ``python -m kars_actions`` processes:
the same output, step files and exit codes, their own environment, and a time limit that kills them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from tests.fakes.actions_files import read_outputs
from tests.fakes.cli_fork import run_kars
from tests.fakes.cli_process import SCRUBBED
from tests.fakes.health_servers import Reply, ScriptedServer

BAD = '{\n  "deploy": {"healthcheckPath": 5}\n}\n'


def _step(folder: Path, **extra: str) -> dict[str, str]:
    folder.mkdir(parents=True, exist_ok=True)
    for name in ("output", "summary"):
        (folder / name).write_text("")
    base = {k: v for k, v in os.environ.items() if not k.startswith(SCRUBBED)}
    return base | {
        "GITHUB_ACTIONS": "true",
        "GITHUB_OUTPUT": str(folder / "output"),
        "GITHUB_STEP_SUMMARY": str(folder / "summary"),
    } | extra


def _fresh(args: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "kars_actions", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=60
    )


def _seen(proc: subprocess.CompletedProcess[str], folder: Path) -> tuple[object, ...]:
    """Exit code, console, outputs (their random delimiters aside) and summary, with the step's folder named alike."""
    outputs = read_outputs(folder / "output")
    summary = (folder / "summary").read_text()
    return tuple(
        x.replace(str(folder), "<step>") if isinstance(x, str) else x
        for x in (proc.returncode, proc.stdout, proc.stderr, json.dumps(outputs, sort_keys=True), summary)
    )


@pytest.mark.subprocess
@pytest.mark.parametrize(
    "args",
    [
        ["--version"],
        ["--no-such-flag"],
        ["validate", "railway.json"],
        ["validate", "railway.json", "--format", "json"],
        ["validate", "missing.json", "--format", "text"],
        ["release", "--dry-run", "--format", "text", "--version", "not-a-version"],
    ],
    ids=["version", "usage error", "invalid file", "json report", "missing file", "bad release input"],
)
def test_a_warm_process_says_and_writes_what_a_fresh_one_does(tmp_path: Path, args: list[str]) -> None:
    (tmp_path / "railway.json").write_text(BAD)
    forked = _seen(run_kars(args, cwd=tmp_path, env=_step(tmp_path / "a"), timeout=60), tmp_path / "a")
    fresh = _seen(_fresh(args, tmp_path, _step(tmp_path / "b")), tmp_path / "b")
    assert forked == fresh
    assert forked[0] in (0, 1, 2)


@pytest.mark.subprocess
def test_an_interpreter_setting_in_the_environment_gets_a_fresh_interpreter(tmp_path: Path) -> None:
    # The report ends with "— invalid"; ASCII output with backslash escapes is what a fresh interpreter gives here,
    # and a fork of the warm (UTF-8) one would not.
    (tmp_path / "railway.json").write_text(BAD)
    env = _step(tmp_path / "a", PYTHONIOENCODING="ascii:backslashreplace")
    proc = run_kars(["validate", "railway.json", "--format", "text"], cwd=tmp_path, env=env, timeout=60)
    assert "\\u2014 invalid" in proc.stdout
    assert proc.stdout == _fresh(["validate", "railway.json", "--format", "text"], tmp_path, env).stdout


@pytest.mark.subprocess
def test_runs_at_once_keep_their_own_environment_and_folder(tmp_path: Path) -> None:
    for name in ("one", "two"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "railway.json").write_text(BAD if name == "one" else '{"deploy": {}}\n')
    results: dict[str, subprocess.CompletedProcess[str]] = {}

    def run(name: str) -> None:
        env = _step(tmp_path / name / "step")
        results[name] = run_kars(["validate", "railway.json"], cwd=tmp_path / name, env=env, timeout=60)

    threads = [threading.Thread(target=run, args=(name,)) for name in ("one", "two")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert (results["one"].returncode, results["two"].returncode) == (1, 0)
    assert read_outputs(tmp_path / "one" / "step" / "output")["valid"] == "false"
    assert read_outputs(tmp_path / "two" / "step" / "output")["valid"] == "true"


@pytest.mark.subprocess
def test_a_run_past_its_time_limit_is_killed_and_said_to_have_timed_out(tmp_path: Path) -> None:
    with ScriptedServer(lambda seen: Reply(hang=server.hang_event())) as server:
        args = ["health", server.url("/health"), "--timeout", "30", "--deadline", "60", "--retries", "1"]
        with pytest.raises(subprocess.TimeoutExpired, match=r"timed out after 1 second"):
            run_kars(args, cwd=tmp_path, env=_step(tmp_path / "a"), timeout=1)
