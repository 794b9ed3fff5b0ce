"""A watch and a release whose evidence is larger than GitHub's 1 MiB step summary, through the CLI as a real
process: the summary written stays under the limit, keeps the verdict, says what was cut, and the log has it."""

from __future__ import annotations

from tests.fakes.railway_sim import Script
from tests.fakes.world import OLD, World

LIMIT = 1024 * 1024
# 20 log lines of 60 KB: the watch's log tail alone is 1.2 MB.
HUGE_LOG = tuple(f"worker {i} crashed: " + "stack " * 10_000 for i in range(20))
CUT_GROUP = "::group::Step summary: the parts cut to fit GitHub's 1 MiB limit"


def _crashing(live_after: int) -> Script:
    phases = (("BUILDING", live_after - 10), ("DEPLOYING", 10), ("SUCCESS", 150), ("CRASHED", None))
    return Script(phases, deploy_logs=HUGE_LOG)


def test_a_watch_whose_log_tail_is_past_1_mib_writes_a_summary_under_it(world: World) -> None:
    new = "d" * 40
    sim = world.sim
    sim.script_for(world.ids["backend"], _crashing(40), new)
    with sim.lock:
        sim._create(world.ids["backend"], world.env_id, new, _crashing(40), sim.clock.monotonic())
    sim.clock.advance(60)  # live for 20 s when the watch starts
    urls = world.service_urls()
    config = str(world.repo.path / "kars.yml")
    run = world.cli("watch", "--config", config, *urls, "--service", "backend", "--duration", "5m")
    assert run.code == 1, run.stderr[-3000:]
    assert "worker 19 crashed" in "\n".join(run.report["services"][0]["log_tail"])
    written = (world.tmp / "summary.md").read_bytes()
    assert len(written) < LIMIT
    summary = written.decode()
    assert summary.startswith("## ❌ ") and "### Watch window" in summary and "CRASHED" in summary
    assert "*✂️ Log tail: cut, step summaries are limited to 1 MiB.*" in summary
    assert "Cut to stay within GitHub's 1 MiB step summary limit: Log tail." in summary
    log = run.stderr.split(CUT_GROUP, 1)[1]
    assert "worker 0 crashed" in log and "worker 19 crashed" in log


def test_a_release_rolled_back_with_evidence_past_1_mib_says_so_within_the_limit(world: World) -> None:
    world.sim.script_for(world.ids["backend"], _crashing(80), world.head)
    run = world.release()
    assert run.code == 1 and run.report["outcome"] == "rolled-back", run.stderr[-3000:]
    assert world.apps["backend"].live_commit() == OLD
    written = (world.tmp / "summary.md").read_bytes()
    assert len(written) < LIMIT
    summary = written.decode()
    # What the team must read first is kept: the outcome, the stages, why, and what serves now.
    assert summary.startswith("## ❌ Failed after going live: rolled back to the previous version")
    for kept in ("| stage | outcome |", "**Why:**", "### Serving now (as Railway says)", "### Rollback"):
        assert kept in summary, kept
    assert "*✂️ Log tail: cut, step summaries are limited to 1 MiB.*" in summary
    assert "Cut to stay within GitHub's 1 MiB step summary limit: Log tail." in summary
    assert "worker 19 crashed" in run.stderr.split(CUT_GROUP, 1)[1]
