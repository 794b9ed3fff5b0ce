"""Benchmark: what a command costs to start in a project with a kars.yml, this checkout against an earlier one.

Each command runs as a process (``python -m kars_actions ...``) in a copy of ``examples/kars-app``, several times,
alternating between this checkout and the one given with ``--before`` (a folder holding a ``kars_actions``
package, e.g. ``git archive v1.2.0 kars_actions | tar -x -C /tmp/before``), so load on the machine falls on both
alike. CPU time (user + system, the child's own) is the figure to read on a shared machine; wall time is beside
it. Run: ``python benchmarks/bench_start.py --before /tmp/before --repeat 15 --write benchmarks/results/start.md``.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
COMMANDS = {
    "notify --event failure --dry-run": ["notify", "--event", "failure", "--dry-run"],
    "validate (the project's railway.json files)": ["validate"],
    "--version": ["--version"],
}
# As an installed package runs: with bytecode caches (see bench_validate.py).
BASE_ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE" and not k.startswith("KARS_")}


def one_run(args: list[str], source: Path, cwd: Path) -> tuple[float, float]:
    """(CPU seconds, wall seconds) of one process importing kars_actions from ``source``."""
    env = BASE_ENV | {"PYTHONPATH": str(source)}
    started = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "kars_actions", *args], cwd=cwd, env=env,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) not in (0, 1):
        sys.exit(f"{args} from {source} exited {os.waitstatus_to_exitcode(status)}")
    return usage.ru_utime + usage.ru_stime, wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", type=Path, required=True, help="folder holding the earlier kars_actions package")
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--write", type=Path, help="also write the table to this Markdown file")
    options = parser.parse_args()
    if not (options.before / "kars_actions" / "__init__.py").is_file():
        sys.exit(f"{options.before} holds no kars_actions package")
    sources = {"this checkout": REPO, "before": options.before.resolve()}
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        project = Path(tmp) / "kars-app"
        shutil.copytree(REPO / "examples" / "kars-app", project, ignore=shutil.ignore_patterns("node_modules"))
        for label, args in COMMANDS.items():
            figures: dict[str, list[tuple[float, float]]] = {name: [] for name in sources}
            for source in sources.values():
                one_run(args, source, project)  # warm-up: bytecode written, files in the page cache
            for _ in range(options.repeat):
                for name, source in sources.items():
                    figures[name].append(one_run(args, source, project))
            cpu = {name: statistics.median(c for c, _ in runs) for name, runs in figures.items()}
            wall = {name: statistics.median(w for _, w in runs) for name, runs in figures.items()}
            rows.append(
                f"| `{label}` | {cpu['this checkout'] * 1000:.0f} ms ({wall['this checkout'] * 1000:.0f} ms wall) "
                f"| {cpu['before'] * 1000:.0f} ms ({wall['before'] * 1000:.0f} ms wall) "
                f"| {cpu['this checkout'] / cpu['before']:.2f}× |"
            )
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    table = "\n".join(
        [
            f"Start of a command in examples/kars-app, median of {options.repeat} "
            f"({platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, load {load})",
            "",
            "| command | CPU, this checkout | CPU, before | ratio |",
            "|---|---:|---:|---:|",
            *rows,
        ]
    )
    print(table)
    if options.write:
        options.write.write_text(table + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
