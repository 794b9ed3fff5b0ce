"""Benchmark: two of the test suite's own costs, each against what it replaced.

- Scratch repositories: ``init``, ten commits of a new file each and an annotated tag, through the git command (a
  process per step, as tests/versioning/gitrepo.py did) against ``GitRepo`` (libgit2, in this process). CPU is this
  process's and its children's.
- A fake server's request reading: the Railway stand-in answering the same ``ServiceInstance`` query over one
  kept-alive httpx connection, with http.server's own header parsing (``email.parser``) against
  ``QuickHandler.parse_request``. CPU is the server thread's (``time.thread_time`` around each request it handles).

The two ways alternate, so that load falls on both alike; each line is the median of the rounds.
Run: ``python benchmarks/bench_test_fixtures.py --rounds 5 --write benchmarks/results/test-fixtures.md``.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import httpx  # noqa: E402

from kars_actions.railway.api import DOCUMENTS  # noqa: E402
from tests.fakes.quick_handler import QuickHandler  # noqa: E402
from tests.fakes.railway_sim import RailwaySim, SimClock  # noqa: E402
from tests.versioning.gitrepo import GIT_ENV, GitRepo  # noqa: E402

COMMITS = 10
REPOSITORIES = 10
REQUESTS = 1000


def _cpu() -> float:
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def _with_git_command(root: Path) -> None:
    env = {**os.environ, **GIT_ENV}

    def git(*args: str) -> None:
        subprocess.run(["git", "-C", str(root), *args], env=env, capture_output=True, check=True)

    root.mkdir()
    git("init", "-q", "-b", "main")
    for i in range(COMMITS):
        (root / f"file{i}.txt").write_text(f"{i}\n", encoding="utf-8")
        git("add", "-A")
        git("commit", "-q", "-m", f"feat: change {i}")
    git("tag", "-a", "v1.0.0", "-m", "v1.0.0")


def _with_libgit2(root: Path) -> None:
    repo = GitRepo(root)
    for i in range(COMMITS):
        repo.commit(f"feat: change {i}")
    repo.tag("v1.0.0")


def repositories_ms(build: Callable[[Path], None]) -> float:
    """CPU per repository, in ms."""
    with tempfile.TemporaryDirectory() as folder:
        before = _cpu()
        for n in range(REPOSITORIES):
            build(Path(folder) / f"r{n}")
        return (_cpu() - before) / REPOSITORIES * 1000


def request_ms(parse_request: Callable[..., bool]) -> float:
    """The Railway stand-in's CPU per request, in ms, reading requests with ``parse_request``."""
    spent: list[float] = []
    original = BaseHTTPRequestHandler.handle_one_request

    def timed(handler: BaseHTTPRequestHandler) -> None:
        started = time.thread_time()
        original(handler)
        spent.append(time.thread_time() - started)

    QuickHandler.parse_request = parse_request  # type: ignore[method-assign]
    QuickHandler.handle_one_request = timed  # type: ignore[method-assign,assignment]
    sim = RailwaySim(SimClock()).start()
    try:
        project = sim.add_project("p")
        environment = sim.add_environment(project, "production")
        service = sim.add_service(project, "api")
        token = sim.add_project_token(project, environment)
        body = {
            "query": DOCUMENTS["ServiceInstance"],
            "variables": {"serviceId": service, "environmentId": environment},
            "operationName": "ServiceInstance",
        }
        with httpx.Client(headers={"Project-Access-Token": token}) as client:
            for _ in range(100):  # warm: the schema checks, the connection
                client.post(sim.url, json=body).raise_for_status()
            spent.clear()
            for _ in range(REQUESTS):
                client.post(sim.url, json=body).raise_for_status()
    finally:
        sim.stop()
        del QuickHandler.handle_one_request
    return statistics.fmean(spent[-REQUESTS:]) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--write", type=Path)
    args = parser.parse_args()
    quick = QuickHandler.parse_request
    rows: dict[str, list[float]] = {k: [] for k in ("git command", "libgit2", "email.parser", "quick")}
    for _ in range(args.rounds):
        rows["git command"].append(repositories_ms(_with_git_command))
        rows["libgit2"].append(repositories_ms(_with_libgit2))
        rows["email.parser"].append(request_ms(BaseHTTPRequestHandler.parse_request))
        rows["quick"].append(request_ms(quick))
    QuickHandler.parse_request = quick  # type: ignore[method-assign]
    med = {k: statistics.median(v) for k, v in rows.items()}
    lines = [
        "# The test suite's scratch repositories and request reading",
        "",
        f"`python benchmarks/bench_test_fixtures.py --rounds {args.rounds}` on {os.cpu_count()} cores, "
        f"Python {platform.python_version()}; medians of {args.rounds} alternating rounds.",
        "",
        "| what | before | now | ratio |",
        "|---|---:|---:|---:|",
        f"| a scratch repository ({COMMITS} commits, a tag): CPU | {med['git command']:.1f} ms (git command) "
        f"| {med['libgit2']:.1f} ms (libgit2) | {med['libgit2'] / med['git command']:.2f}× |",
        f"| the Railway stand-in, one request: server CPU | {med['email.parser']:.3f} ms (email.parser) "
        f"| {med['quick']:.3f} ms (QuickHandler) | {med['quick'] / med['email.parser']:.2f}× |",
        "",
        "Each round: " + "; ".join(f"{k} {', '.join(f'{x:.3g}' for x in v)}" for k, v in rows.items()) + " (ms).",
    ]
    text = "\n".join(lines) + "\n"
    print(text, end="")
    if args.write:
        args.write.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
