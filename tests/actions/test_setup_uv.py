"""scripts/setup.sh installs with uv: hash-locked, binary-only, no deps, pinned interpreter, all under RUNNER_TEMP,
and a second step in the job reuses the virtualenv. uv is replaced by a recorder (tests never reach a registry)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SETUP = ROOT / "scripts" / "setup.sh"

FAKE_UV = """#!/usr/bin/env bash
# Records each call with the uv settings it saw; 'venv' makes a bare virtualenv, 'pip install' does nothing.
calls="$(dirname "$0")/calls"
printf '%s|UV_PYTHON_DOWNLOADS=%s|UV_CACHE_DIR=%s\\n' "$*" "$UV_PYTHON_DOWNLOADS" "$UV_CACHE_DIR" >>"$calls"
if [[ "$1" == venv ]]; then
  exec "$KARS_TEST_PYTHON" -m venv --without-pip "${@: -1}"
fi
"""


def setup(runner_temp: Path, outputs: Path) -> subprocess.CompletedProcess[str]:
    env = {
        "PATH": os.environ["PATH"],
        "HOME": os.environ.get("HOME", "/tmp"),
        "RUNNER_TEMP": str(runner_temp),
        "KARS_SETUP_PYTHON": sys.executable,
        "KARS_TEST_PYTHON": sys.executable,
        "GITHUB_OUTPUT": str(outputs),
    }
    return subprocess.run(["bash", str(SETUP)], env=env, capture_output=True, text=True, timeout=60, check=False)


def test_setup_installs_with_uv_under_runner_temp_and_reuses_it_in_the_next_step(tmp_path: Path) -> None:
    tools = tmp_path / "kars-actions-uv" / "bin"
    tools.mkdir(parents=True)
    uv = tools / "uv"
    uv.write_text(FAKE_UV)
    uv.chmod(0o755)
    outputs = tmp_path / "outputs"

    first = setup(tmp_path, outputs)
    assert first.returncode == 0, first.stdout + first.stderr
    calls = (tools / "calls").read_text().splitlines()
    assert len(calls) == 2
    venv_call, pip_call = calls
    assert venv_call.startswith(f"venv --no-config --quiet --python {sys.executable} -- {tmp_path}/kars-actions-venv|")
    assert pip_call.startswith(f"pip install --no-config --quiet --python {tmp_path}/kars-actions-venv/bin/python ")
    assert "--require-hashes --no-deps --only-binary=:all: -r " + str(ROOT / "requirements" / "action.txt") in pip_call
    for call in calls:
        assert "UV_PYTHON_DOWNLOADS=never" in call, "uv must never fetch an interpreter of its own"
        assert f"UV_CACHE_DIR={tmp_path}/kars-actions-uv-cache" in call, "uv's cache stays under RUNNER_TEMP"
    python = tmp_path / "kars-actions-venv" / "bin" / "python"
    assert outputs.read_text() == f"python={python}\n"
    imported = subprocess.run([str(python), "-I", "-c", "import kars_actions"], capture_output=True, check=False)
    assert imported.returncode == 0, "the virtualenv runs this checkout"

    second = setup(tmp_path, outputs)
    assert second.returncode == 0, second.stdout + second.stderr
    assert "reusing the virtualenv" in second.stdout
    assert len((tools / "calls").read_text().splitlines()) == 2, "the second step in a job installs nothing"


def test_uv_itself_comes_from_a_hash_locked_wheel() -> None:
    script = SETUP.read_text(encoding="utf-8")
    assert '--target "$tools" --require-hashes --no-deps --only-binary=:all: -r "$uv_requirements"' in script
    locked = (ROOT / "requirements" / "uv.txt").read_text(encoding="utf-8")
    assert locked.count("--hash=sha256:") >= 10  # every platform's wheel, each by its hash
    assert "uv==" in locked
