"""Benchmark: the CPU of one action step's CLI start in the test suite, warm against fresh.

The suite runs the composite actions' own ``run:`` lines, so scripts/run.sh starts ``"$KARS_PYTHON" -I -X utf8 -m
kars_actions.cli.inputs`` in the virtualenv the fake uv made. There, ``bin/python`` is a stand-in that has that
start forked from a warm interpreter (``tests/fakes/cli_fork.py``'s ``warm_python``); the alternative is the real
interpreter starting fresh (``bin/python3``, what ``KARS_TEST_FORK=0`` gives). tests/actions/test_run_script.py's
recorder is the same kind of stand-in for the test's interpreter, running its script in the CLI's place; there the
alternative is ``python -I -X utf8 record.py``. Each start runs ``bash scripts/run.sh COMMAND`` as a process,
alternating warm and fresh so that load falls on both alike. The CPU counted
is the process's own and its children's (``wait4``), plus, for a warm start, what the warm interpreter spent on it
and on the child it forked (its ``/proc`` times before and after, in clock ticks: read the mean over many starts).
Run: ``python benchmarks/bench_action_starts.py --repeat 30 --write benchmarks/results/action-starts.md``.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.actions.test_run_script import RECORDER  # noqa: E402
from tests.fakes import cli_fork  # noqa: E402 - after the path insert
from tests.fakes.workflow_runner import action_venv  # noqa: E402

RUN = REPO / "scripts" / "run.sh"
CASES = {  # name: (interpreters, command, inputs)
    "validate a railway.json": ("venv", "validate", {"KARS_INPUT_PATHS": "railway.json"}),
    "an input refused (deploy, dry-run: perhaps)": ("venv", "deploy", {"KARS_INPUT_DRY_RUN": "perhaps"}),
    "the recorder (deploy, one input)": ("recorder", "deploy", {"KARS_INPUT_ENVIRONMENT": "production"}),
}
TICK = os.sysconf("SC_CLK_TCK")


def server_cpu(pid: int) -> float:
    """The warm interpreter's CPU so far, its reaped children's included (each forked start)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return sum(int(x) for x in fields[11:15]) / TICK  # utime, stime, cutime, cstime


def one_start(python: Path, command: str, inputs: dict[str, str], folder: Path, server: int) -> tuple[float, float]:
    """(CPU seconds, wall seconds) of one ``bash scripts/run.sh COMMAND`` with ``KARS_PYTHON=python``."""
    env = {"PATH": os.environ["PATH"], "HOME": str(folder), "KARS_PYTHON": str(python), **inputs}
    env["RECORD_TO"] = str(folder / "record.json")
    before = server_cpu(server)
    started = time.perf_counter()
    proc = subprocess.Popen(
        ["bash", str(RUN), command], cwd=folder, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) not in (0, 1, 2):
        sys.exit(f"{command} with {python.name} exited {os.waitstatus_to_exitcode(status)}")
    return usage.ru_utime + usage.ru_stime + server_cpu(server) - before, wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--write", type=Path, help="also write the table to this Markdown file")
    options = parser.parse_args()
    if not cli_fork._ENABLED:
        sys.exit("the warm interpreter needs Linux's memfd and pidfd, and KARS_TEST_FORK unset")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        venv = action_venv(folder / "runner-temp")
        started = cli_fork._ISOLATED_INSTANCE._proc  # by action_venv, which writes the stand-in
        assert started is not None
        server = started.pid
        preload = server_cpu(server)
        (folder / "railway.json").write_text('{"build": {"builder": "RAILPACK"}}\n')
        recorder = folder / "record.py"
        recorder.write_text(RECORDER)
        fresh_recorder = folder / "record-fresh"
        fresh_recorder.write_text(f'#!/bin/sh\nexec "{sys.executable}" -I -X utf8 "{recorder}" "$@"\n')
        fresh_recorder.chmod(0o755)
        pythons = {
            "venv": (venv / "bin" / "python", venv / "bin" / "python3"),
            "recorder": (
                cli_fork.warm_python(folder / "python", sys.executable, fresh=["-I", "-X", "utf8", str(recorder)]),
                fresh_recorder,
            ),
        }
        rows = []
        for name, (interpreters, command, inputs) in CASES.items():
            seen: dict[str, list[tuple[float, float]]] = {"warm": [], "fresh": []}
            warm, fresh = pythons[interpreters]
            for _ in range(options.repeat):
                for kind, python in (("warm", warm), ("fresh", fresh)):
                    seen[kind].append(one_start(python, command, inputs, folder, server))
            mean = {kind: [sum(x) / len(x) for x in zip(*runs, strict=True)] for kind, runs in seen.items()}
            rows.append((name, mean["fresh"], mean["warm"]))
        forked = cli_fork.warm_python_log().count("forked: ")
    if forked != options.repeat * len(CASES):
        sys.exit(f"only {forked} of {options.repeat * len(CASES)} warm starts were forked: see the server's log")
    load = os.getloadavg()[0]
    lines = [
        f"Machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"load average {load:.1f} at the end; {options.repeat} starts of each, warm and fresh alternating.",
        "",
        "| start (`bash scripts/run.sh`) | fresh interpreter: CPU / wall | warm, forked: CPU / wall | CPU ratio |",
        "|---|---:|---:|---:|",
    ]
    for name, fresh, warm in rows:
        lines.append(
            f"| {name} | {fresh[0] * 1000:.0f} ms / {fresh[1] * 1000:.0f} ms | "
            f"{warm[0] * 1000:.0f} ms / {warm[1] * 1000:.0f} ms | {warm[0] / fresh[0]:.2f}× |"
        )
    once = f"Once per pytest worker: the warm interpreter's own start and preload, {preload * 1000:.0f} ms of CPU."
    lines += ["", once]
    text = "\n".join(lines) + "\n"
    print(text)
    if options.write:
        options.write.write_text(f"# Action steps' CLI starts in the test suite\n\n{text}")


if __name__ == "__main__":
    main()
