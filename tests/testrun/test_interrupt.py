"""Ctrl-C and SIGTERM end `kars-actions test` at once: every test process group killed, report folders removed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

KARS_YML = """\
services:
  api:
    directory: api
    test: "sleep 300 & echo $! > child.pid; wait"
  web:
    directory: web
    test: "sleep 300 & echo $! > child.pid; wait"
"""


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"  # a zombie has ended; only its parent (PID 1 here) has not collected it yet


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_stops_a_hanging_test_run_and_cleans_up(tmp_path: Path, sig: signal.Signals) -> None:
    (tmp_path / "kars.yml").write_text(KARS_YML)
    for name in ("api", "web"):
        (tmp_path / name).mkdir()
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    env = {**os.environ, "TMPDIR": str(scratch), "KARS_TEST_JOBS": "2"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "kars_actions", "test", "--format", "json"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    pids = [tmp_path / name / "child.pid" for name in ("api", "web")]
    try:
        for _ in range(6000):  # the test commands are up once both have written their child's pid
            if all(p.is_file() and p.read_text().strip() for p in pids):
                break
            time.sleep(0.01)
        else:
            pytest.fail("the test commands never started")
        assert list(scratch.glob("kars-junit-*"))  # the report folders exist while the tests run
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
        proc.wait()
        for path in pids:  # leave nothing running even when the behaviour under test is broken
            if path.is_file() and path.read_text().strip() and alive(int(path.read_text())):
                os.kill(int(path.read_text()), signal.SIGKILL)
    assert proc.returncode == 1, err
    assert '"interrupted": "' + sig.name + '"' in out
    assert "Traceback" not in err
    children = [int(p.read_text()) for p in pids]
    assert not [pid for pid in children if alive(pid)]
    assert list(scratch.glob("kars-junit-*")) == []
