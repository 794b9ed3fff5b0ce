"""Statuses only move forward: Railway's subscription sends the deployment's state when it subscribed as its first
message, and that message can arrive after the waiter has read a fresher status over HTTP. Through the CLI as a
real process against the simulator (each request moves its clock 5 s, so the read right after subscribing is
fresher than the subscription's first message)."""

from __future__ import annotations

import re
from pathlib import Path

from kars_actions.railway.api import STATUS_ORDER
from tests.fakes.railway_sim import Script
from tests.fakes.railway_stream import stream_control
from tests.railway.conftest import World
from tests.railway.test_truth import deploy

SHOWN = re.compile(r"^api: ([A-Z_]+)(?: — .*)? \(", re.MULTILINE)


def test_a_stale_first_stream_message_after_a_fresher_read_never_rewinds_the_status(
    cli_world: World, tmp_path: Path
) -> None:
    # INITIALIZING when the stream subscribes; BUILDING by the read that follows it (5 s later on Railway's clock).
    script = Script((("INITIALIZING", 3.0), ("BUILDING", 60.0), ("DEPLOYING", 20.0), ("SUCCESS", None)))
    cli_world.sim.script_for(cli_world.api, script)

    run = deploy(cli_world, tmp_path, "--settle", "0")

    assert run.code == 0, run.stderr
    shown = SHOWN.findall(run.stderr)
    assert shown == ["BUILDING", "DEPLOYING", "SUCCESS"], run.stderr
    assert [STATUS_ORDER[s] for s in shown] == sorted(STATUS_ORDER[s] for s in shown)
    # The stale message is no sign of a stream that missed a change: the wait stays on the stream.
    assert "polling instead" not in run.stderr
    assert stream_control(cli_world.sim).pushes >= 3, "the first message and each change were pushed"
    assert run.report["services"][0]["status"] == "SUCCESS"
    assert run.outputs["statuses"] == '{"api": "SUCCESS"}'
