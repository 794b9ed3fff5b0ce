"""Where users wait, measured from the outside in one run, each figure beside what a user would pick instead.

Every kars figure comes from the CLI (or the action's setup script) as a real process:

1. health detection delay: servers that turn healthy at random moments; `kars-actions health` at its defaults
   versus `until curl -fsS URL; do sleep 3; done`; delay = the process's exit minus the moment it turned healthy.
2. health at scale: 1, 100, 1,000 and 2,000 endpoints of one loopback Node server in one call, with the peak
   memory of the process, versus curl one endpoint after another.
3. hanging targets: 12 and 30 endpoints that accept and never answer, `--deadline 5`.
4. a compression bomb: 38 KB of gzip-in-gzip that unpacks to 16 GiB.
5. action setup: scripts/setup.sh (uv) in a fresh RUNNER_TEMP with empty caches, cold then a second step,
   versus the venv + pip install of the same lock file that it replaced.
6. following a 5-minute deploy: `kars-actions deploy` against the Railway simulator on a virtual clock, with the
   status subscription, with it refused, and Railway's own CLI-style polling every 5 s.
7. `kars-actions --version` start-up time.

    python benchmarks/bench_fast.py [--trials 24] [--quick] [--write benchmarks/results/fast.md]
"""

from __future__ import annotations

import argparse
import gzip
import os
import platform
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import zlib
from collections.abc import Callable, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.fakes.health_servers import Reply, ScriptedServer, Seen  # noqa: E402

PYTHON = sys.executable
CURL = shutil.which("curl") or "curl"
ENV = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "KARS_", "RAILWAY_"))}


def kars(*args: str) -> list[str]:
    return [PYTHON, "-m", "kars_actions", *args]


def run_measured(
    argv: Sequence[str], env: dict[str, str] | None = None, timeout: float = 600
) -> tuple[float, int, float]:
    """(seconds, exit code, peak MiB of the process tree's largest child) for one command."""
    wrapper = (
        "import resource, subprocess, sys, time\n"
        "t = time.perf_counter(); p = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, "
        "stderr=subprocess.DEVNULL)\n"
        "print(time.perf_counter() - t, p.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
    )
    out = subprocess.run(
        [PYTHON, "-c", wrapper, *argv], capture_output=True, text=True, env=env or ENV, timeout=timeout, cwd=ROOT
    )
    seconds, code, rss = out.stdout.split()
    return float(seconds), int(code), int(rss) / 1024


# 1. Detection delay -------------------------------------------------------------------------------------------


def detection(trials: int) -> tuple[list[float], list[float]]:
    """Per trial, the delays of kars and of the 3 s curl loop, both polling servers that flip at the same moment."""
    rng = random.Random(15)
    kars_delays: list[float] = []
    curl_delays: list[float] = []
    batch = 6
    for first in range(0, trials, batch):
        count = min(batch, trials - first)
        start = time.monotonic() + 5.0  # every process has started and polls before the first flip
        flips = [start + rng.uniform(0.5, 8.0) for _ in range(count)]

        def flipping(at: float) -> Callable[[Seen], Reply]:
            def script(seen: Seen) -> Reply:
                if time.monotonic() >= at:
                    return Reply.json({"status": "ok", "version": "1.4.0"})
                return Reply.json({"status": "starting"}, status=503)

            return script

        servers = [ScriptedServer(flipping(at)) for at in flips] + [ScriptedServer(flipping(at)) for at in flips]
        ended: dict[tuple[str, int], float] = {}

        def watch(key: tuple[str, int], argv: list[str], ended: dict[tuple[str, int], float] = ended) -> None:
            subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=ENV, cwd=ROOT, check=False)
            ended[key] = time.monotonic()

        threads = []
        for i in range(count):
            url_k, url_c = servers[i].url("/api/health"), servers[count + i].url("/api/health")
            loop = f"until {CURL} -fsS -o /dev/null --max-time 10 {url_c}; do sleep 3; done"
            threads.append(
                threading.Thread(target=watch, args=(("kars", i), kars("health", url_k, "--format", "text")))
            )
            threads.append(threading.Thread(target=watch, args=(("curl", i), ["bash", "-c", loop])))
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        for server in servers:
            server.close()
        kars_delays += [ended[("kars", i)] - flips[i] for i in range(count)]
        curl_delays += [ended[("curl", i)] - flips[i] for i in range(count)]
    return kars_delays, curl_delays


def spread(values: list[float]) -> str:
    ordered = sorted(values)
    p90 = ordered[min(len(ordered) - 1, round(0.9 * (len(ordered) - 1)))]
    return f"{statistics.median(ordered):.2f} s / {p90:.2f} s / {ordered[-1]:.2f} s"


# 2. Scale -------------------------------------------------------------------------------------------------------

NODE_SERVER = """
const http = require('node:http');
const body = JSON.stringify({status: 'ok', version: '1.0.0'});
const server = http.createServer((req, res) => {
  res.writeHead(200, {'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body)});
  res.end(body);
});
server.keepAliveTimeout = 60000;
server.listen(0, '127.0.0.1', () => { console.log(server.address().port); });
"""


def scale(counts: Sequence[int]) -> list[tuple[int, float, float, float]]:
    """Per count: (count, kars seconds, kars peak MiB, curl-one-by-one seconds)."""
    node = subprocess.Popen(["node", "-e", NODE_SERVER], stdout=subprocess.PIPE, text=True)
    try:
        assert node.stdout is not None
        port = int(node.stdout.readline())
        rows = []
        for count in counts:
            urls = [f"http://127.0.0.1:{port}/h/{n}" for n in range(count)]
            seconds, code, peak = run_measured(kars("health", "--format", "text", *urls))
            assert code == 0, f"{count} endpoints: exit {code}"
            with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as listing:
                listing.write("\n".join(urls))
            loop = f'while read -r u; do {CURL} -fsS -o /dev/null "$u" || exit 1; done < {listing.name}'
            curl_seconds, curl_code, _ = run_measured(["bash", "-c", loop])
            os.unlink(listing.name)
            assert curl_code == 0
            rows.append((count, seconds, peak, curl_seconds))
        return rows
    finally:
        node.terminate()
        node.wait()


# 3. Hanging targets ---------------------------------------------------------------------------------------------


def hanging(count: int, deadline: float = 5.0) -> float:
    with ScriptedServer(lambda seen: Reply(hang=hang)) as server:
        hang = server.hang_event()
        urls = [server.url(f"/h/{n}") for n in range(count)]
        seconds, code, _ = run_measured(kars("health", "--format", "text", "--deadline", f"{deadline:g}", *urls))
    assert code == 1
    return seconds


# 4. The bomb ----------------------------------------------------------------------------------------------------

BOMB = Path(tempfile.gettempdir()) / "kars-bench-bomb-16g.gz.gz"


def bomb() -> bytes:
    """16 GiB of zeros gzipped twice (built once, kept in the temp folder)."""
    if not BOMB.exists():
        packer = zlib.compressobj(9, zlib.DEFLATED, zlib.MAX_WBITS | 16)
        block = bytes(1 << 20)
        inner = b"".join(packer.compress(block) for _ in range(16 * 1024)) + packer.flush()
        BOMB.write_bytes(gzip.compress(inner, 9))
    return BOMB.read_bytes()


def bombed() -> tuple[int, float, int, str]:
    body = bomb()
    reply = Reply(200, {"Content-Type": "application/json", "Content-Encoding": "gzip, gzip"}, body)
    with ScriptedServer(lambda seen: reply) as server:
        argv = kars("health", "--format", "text", "--retries", "1", server.url("/api/health"))
        _, code, peak = run_measured(argv)
        said = subprocess.run(argv, capture_output=True, text=True, env=ENV, cwd=ROOT, check=False).stdout
    line = next((ln.strip() for ln in said.splitlines() if "compression bomb" in ln), "")
    return len(body), peak, code, line[line.find("refused") :][:120]


# 5. Setup -------------------------------------------------------------------------------------------------------


def setup_times(base_python: str) -> tuple[float, float, float]:
    """(uv cold, uv second step, pip cold) in fresh RUNNER_TEMPs with empty caches."""
    env = {**ENV, "PIP_NO_CACHE_DIR": "1", "PIP_CONFIG_FILE": os.devnull, "KARS_SETUP_PYTHON": base_python}
    env.pop("PIP_FIND_LINKS", None)
    with tempfile.TemporaryDirectory() as temp:
        env["RUNNER_TEMP"] = temp
        cold, code, _ = run_measured(["bash", str(ROOT / "scripts" / "setup.sh")], env)
        assert code == 0
        warm, code, _ = run_measured(["bash", str(ROOT / "scripts" / "setup.sh")], env)
        assert code == 0
    with tempfile.TemporaryDirectory() as temp:
        venv = Path(temp) / "venv"
        script = (
            f"{base_python} -I -m venv {venv} && {venv}/bin/python -I -m pip install --disable-pip-version-check "
            f"--no-input --quiet --require-hashes --no-deps --only-binary=:all: -r {ROOT}/requirements/action.txt"
        )
        pip_cold, code, _ = run_measured(["bash", "-c", script], env)
        assert code == 0
    return cold, warm, pip_cold


# 6. Following a deploy ------------------------------------------------------------------------------------------

BUILD, GO_LIVE = 210.0, 90.0


def follow_deploy(refuse: bool) -> tuple[int, int, float]:
    """(status reads, subscriptions, seconds from SUCCESS to reported) for a 5-minute deploy through the CLI."""
    import json

    from tests.fakes.railway_sim import Script
    from tests.fakes.railway_stream import stream_control
    from tests.railway.conftest import NEW, build_world

    world = build_world(follow_client_clock=True)
    world.sim.start()
    try:
        world.sim.script_for(world.api, Script.success(build=BUILD, deploy=GO_LIVE))
        if refuse:
            stream_control(world.sim).refuse = 10**6
        env = {**ENV, **world.cli_env(), "PYTHONPATH": str(ROOT)}
        argv = kars("deploy", "--service", "api", "--commit", NEW, "--settle", "0", "--format", "json")
        done = subprocess.run(argv, capture_output=True, text=True, env=env, cwd=ROOT, check=False)
        assert done.returncode == 0, done.stderr
        row = json.loads(done.stdout)["services"][0]
        return world.sim.count("Deployment"), len(stream_control(world.sim).subscribed), row["duration_seconds"] - 300
    finally:
        world.close()


def every_5s() -> tuple[int, float]:
    """Railway's CLI way: ask for the status every 5 s (on the simulator's clock, no real waiting)."""
    from tests.fakes.railway_sim import Script
    from tests.railway.conftest import NEW, build_world

    world = build_world()
    world.sim.start()
    try:
        world.sim.script_for(world.api, Script.success(build=BUILD, deploy=GO_LIVE))
        client = world.client()
        deployment_id = client.deploy(world.api, world.env, NEW)
        started, polls = world.clock.monotonic(), 0
        while True:
            world.clock.sleep(5)
            polls += 1
            if client.deployment(deployment_id).live:
                return polls, world.clock.monotonic() - started - 300
    finally:
        world.close()


# 7. Start-up ----------------------------------------------------------------------------------------------------


def version_time(repeat: int = 11) -> float:
    times = []
    for _ in range(repeat):
        seconds, code, _ = run_measured(kars("--version"))
        assert code == 0
        times.append(seconds)
    return statistics.median(times)


# Report ---------------------------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--trials", type=int, default=24)
    parser.add_argument("--quick", action="store_true", help="6 trials, up to 1,000 endpoints, no setup runs")
    parser.add_argument("--write", type=Path)
    parser.add_argument("--base-python", default=shutil.which("python3.11") or PYTHON)
    args = parser.parse_args()
    trials = 6 if args.quick else args.trials
    lines: list[str] = []

    def say(line: str = "") -> None:
        print(line, flush=True)
        lines.append(line)

    say("| figure | kars-actions | what a user would pick instead | ratio | aim |")
    say("|---|---|---|---|---|")
    k, c = detection(trials)
    say(
        f"| health: delay from healthy to exit 0, defaults (median / p90 / max, {trials} trials) | {spread(k)} | "
        f"`until curl; do sleep 3; done`: {spread(c)} | median {statistics.median(k) / statistics.median(c):.2f}× "
        f"| median ≤ 0.5 s and ≤ half the loop's; max ≤ 1.5 s |"
    )
    counts = (1, 100, 1000) if args.quick else (1, 100, 1000, 2000)
    rows = scale(counts)
    one = rows[0][1]
    for count, seconds, peak, curl_seconds in rows:
        say(
            f"| health: {count:,} endpoint(s) in one call | {seconds:.2f} s, {seconds / one:.1f}× one endpoint, "
            f"peak {peak:.0f} MiB | curl one after another: {curl_seconds:.2f} s | {seconds / curl_seconds:.2f}× "
            f"| ≤ 3× one endpoint, < 200 MB |"
        )
    for count in (12, 30):
        seconds = hanging(count)
        say(f"| health: {count} hanging targets, `--deadline 5` | ends after {seconds:.1f} s | — | — | ≤ 6 s |")
    size, peak, code, message = bombed()
    say(
        f"| health: gzip-in-gzip answer, {size / 1024:.0f} KB → 16 GiB | exit {code}, peak {peak:.0f} MiB: "
        f"{message} | — | — | refused; < 100 MB |"
    )
    if not args.quick:
        cold, warm, pip_cold = setup_times(args.base_python)
        say(
            f"| action setup, cold job (fresh RUNNER_TEMP, empty caches) | {cold:.2f} s | venv + pip install of the "
            f"same lock: {pip_cold:.2f} s | {cold / pip_cold:.2f}× | ≤ 2 s |"
        )
        say(f"| action setup, second step in the job | {warm:.2f} s | — | — | ≤ 0.2 s |")
    reads, subs, delay = follow_deploy(refuse=False)
    polled, _, polled_delay = follow_deploy(refuse=True)
    base_polls, base_delay = every_5s()
    say(
        f"| Railway requests to follow a 5-minute deploy | {subs} subscription + {reads} status reads; SUCCESS "
        f"reported {delay:.1f} s after | polling every 5 s: {base_polls} reads, {base_delay:.1f} s | "
        f"{reads / base_polls:.2f}× the reads | 1 subscription and ≤ 3 requests; within 1 s |"
    )
    say(
        f"| same, subscription refused (fallback) | {polled} status reads; reported {polled_delay:.1f} s after | "
        f"{base_polls} reads | {polled / base_polls:.2f}× | — |"
    )
    say(f"| `kars-actions --version` (median of 11) | {version_time():.3f} s | — | — | ≤ 0.08 s |")
    load = os.getloadavg()[0]
    machine = f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    machine += f", load average {load:.1f}"
    say()
    say(f"Machine: {machine}. Command: `python benchmarks/bench_fast.py --write benchmarks/results/fast.md`.")
    if args.write:
        args.write.write_text("# Where users wait: one run\n\n" + "\n".join(lines) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
