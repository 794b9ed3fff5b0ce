"""The watch window's cost and speed, through the CLI as a real process against the Railway simulator.

1. Railway requests per watch minute per service: ``kars-actions watch`` of two services for 10 minutes, against
   what a hand-written poller spends asking status, 5xx counts and latency as three queries every 5 s or 30 s.
   The same during an overlap (the replaced deployment REMOVING for 10 minutes): the new deployment's own HTTP
   logs ride in the same request, so the count does not change.
2. Time from a regression starting (the new release's 5xx ratio jumps to 8 % some minutes after go-live, while
   /api/health stays green) to the rollback request reaching Railway: ``kars-actions release`` (the gate) with a
   30 s metrics step, the regression placed at several offsets within the step; and ``kars-actions watch
   --after-release`` (the long watch, its own job) with the regression 20 minutes after go-live, long after the
   release published. The alternative, health checks alone (the usual deploy action), never sees it.

The CLI runs on the virtual clock (KARS_TEST_VIRTUAL_CLOCK=1) and the simulator follows it, so ten simulated
minutes take a second or two; every figure is in simulated seconds and Railway requests, which do not depend on
the machine.

    python benchmarks/bench_watch.py [--write benchmarks/results/watch.md]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.fakes.railway_sim_watch import Traffic
from tests.fakes.world import Run, World, watch_world

MINUTES = 10
OFFSETS = (180, 187, 195, 202, 210, 217)  # seconds after go-live: spread across one 30 s step
LONG_OFFSETS = (1200, 1210, 1220)  # the long watch: 20 minutes after go-live, spread across one step


def requests_per_minute(overlap: bool = False) -> tuple[int, float]:
    with tempfile.TemporaryDirectory() as tmp, watch_world(Path(tmp)) as world:
        if overlap:
            _replace_during_overlap(world)
        before = len(world.sim.requests)
        run = _watch(world)
        assert run.code == 0, run.stderr
        if overlap:
            assert all(s["overlap_with"] for s in run.report["services"]), "the overlap did not happen"
        spent = len(world.sim.requests) - before
    return spent, spent / MINUTES / 2


def _replace_during_overlap(world: World) -> None:
    """A deploy by other means of both services, the old deployments REMOVING (serving) for the whole watch."""
    from tests.fakes.railway_sim import Script

    sim = world.sim
    for name in ("backend", "frontend"):
        sim.set_overlap(world.ids[name], world.env_id, overlap=MINUTES * 60 + 120)
        with sim.lock:
            sim._create(world.ids[name], world.env_id, "b" * 40, Script.success(build=30, deploy=10), 0.0)
    sim.clock.advance(60)


def _watch(world: World) -> Run:
    urls = world.service_urls()
    return world.cli(
        "watch",
        "--service",
        "backend",
        "--service",
        "frontend",
        "--duration",
        f"{MINUTES}m",
        "--interval",
        "30s",
        *urls,
    )


def time_to_rollback(offset: float) -> float:
    with tempfile.TemporaryDirectory() as tmp, watch_world(Path(tmp)) as world:
        world.sim.release_behaves(world.ids["backend"], world.head, Traffic(error_ratio=0.08), after=offset)
        run = world.release()
        assert run.code == 1 and run.report["outcome"] == "rolled-back", run.stderr
        regression = world.live_since("backend", world.head) + offset
        return world.sim.rollback_requested_at[0] - regression


def long_watch_to_rollback(offset: float) -> float:
    with tempfile.TemporaryDirectory() as tmp, watch_world(Path(tmp)) as world:
        world.sim.release_behaves(world.ids["backend"], world.head, Traffic(error_ratio=0.08), after=offset)
        released = world.release()
        assert released.code == 0 and released.report["outcome"] == "released", released.stderr
        urls = world.service_urls()
        run = world.cli("watch", "--after-release", "v0.1.0", *urls)
        assert run.code == 1 and run.report["rollbacks"][0]["restored"], run.stderr
        regression = world.live_since("backend", world.head) + offset
        return world.sim.rollback_requested_at[-1] - regression


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", type=Path, help="write the Markdown table here")
    args = parser.parse_args()
    for name in ("GITHUB_SHA", "GITHUB_REF_NAME"):
        os.environ.pop(name, None)
    spent, per_minute = requests_per_minute()
    overlap_spent, overlap_per_minute = requests_per_minute(overlap=True)
    delays = [time_to_rollback(offset) for offset in OFFSETS]
    long_delays = [long_watch_to_rollback(offset) for offset in LONG_OFFSETS]
    lines = [
        "# Watch window",
        "",
        "`python benchmarks/bench_watch.py` — the CLI as a real process on the virtual clock, against the Railway "
        "simulator; simulated seconds.",
        "",
        "| what | kars-actions | the alternative | ratio |",
        "|---|---:|---:|---:|",
        f"| Railway requests, 10-minute watch of 2 services | {spent} | three queries every 30 s: 120 | "
        f"{spent / 120:.2f}× |",
        f"| requests per watch minute per service | {per_minute:.2f} | three queries every 5 s: 36 | "
        f"{per_minute / 36:.3f}× |",
        f"| same, the old deployments still serving (new one judged from its own HTTP logs) | "
        f"{overlap_per_minute:.2f} | a log poller beside the metrics: one more query a look | — |",
        f"| gate: regression start → rollback request (30 s step), mean of {len(delays)} | "
        f"{statistics.mean(delays):.0f} s | health checks only: never (the 5xx never reaches /api/health) | — |",
        f"| same, fastest / slowest | {min(delays):.0f} s / {max(delays):.0f} s | — | stated bound: ~60 s |",
        f"| long watch after the release (`watch --after-release`), regression 20 min after go-live → rollback "
        f"request, mean of {len(long_delays)} | {statistics.mean(long_delays):.0f} s | the gate alone: never "
        "(it ended at 10 min) | — |",
        f"| same, fastest / slowest | {min(long_delays):.0f} s / {max(long_delays):.0f} s | — | stated bound: ~60 s |",
        "",
        "Regression offsets after go-live (s): gate "
        + ", ".join(str(o) for o in OFFSETS)
        + "; delays (s): "
        + ", ".join(f"{d:.0f}" for d in delays)
        + ". Long watch offsets: "
        + ", ".join(str(o) for o in LONG_OFFSETS)
        + "; delays (s): "
        + ", ".join(f"{d:.0f}" for d in long_delays)
        + f". Requests during the overlap, 10 minutes of 2 services: {overlap_spent}."
        " The request count includes resolving the project and services (4 requests) and one look per service"
        " per step; the 5 s and 30 s pollers are arithmetic (3 queries × 12 or × 2 a minute), not measured.",
        "",
    ]
    text = "\n".join(lines)
    print(text)
    if args.write:
        args.write.write_text(text)


if __name__ == "__main__":
    main()
