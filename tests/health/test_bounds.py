"""Health stays bounded: the deadline holds when requests hang, bodies are capped after unpacking, the per-target
rate is capped while detection stays quick, and the result's tables grow linearly with the number of targets."""

from __future__ import annotations

import functools
import os
import subprocess
import time
import tracemalloc
import zlib
from pathlib import Path

import pytest

from kars_actions.core.report import TextReporter
from kars_actions.core.timing import Clock
from kars_actions.health import targets as targets_module
from kars_actions.health.assertions import HealthCheck, JsonExpectation, Observation
from kars_actions.health.poll import PollSettings, check_health
from kars_actions.health.report import HealthResult, TargetOutcome
from kars_actions.health.targets import HealthTarget
from tests.fakes.cli_fork import run_kars
from tests.fakes.health_servers import Reply, ScriptedServer, Seen, sequence
from tests.health.conftest import FakeClock

ROOT = Path(__file__).resolve().parents[2]
OK = Reply.json({"status": "ok", "version": "1.4.0"})
STATUS_OK = HealthCheck(json=(JsonExpectation.parse("status=ok"),))


def _gzip(data: bytes) -> bytes:
    packer = zlib.compressobj(9, zlib.DEFLATED, zlib.MAX_WBITS | 16)
    return packer.compress(data) + packer.flush()


@functools.cache
def double_gzip_bomb(unpacked_mib: int = 256) -> bytes:
    """``unpacked_mib`` MiB of zeros, gzipped twice: a few hundred bytes on the wire."""
    packer = zlib.compressobj(9, zlib.DEFLATED, zlib.MAX_WBITS | 16)
    block = bytes(1024 * 1024)
    inner = b"".join(packer.compress(block) for _ in range(unpacked_mib)) + packer.flush()
    return _gzip(inner)


def bomb_reply() -> Reply:
    return Reply(200, {"Content-Type": "application/json", "Content-Encoding": "gzip, gzip"}, double_gzip_bomb())


def cli(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "KARS_"))}
    return run_kars(
        ["health", "--format", "text", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        cwd=ROOT,
    )


# The deadline ------------------------------------------------------------------------------------------------


def test_waiting_for_a_request_slot_counts_against_the_deadline() -> None:
    """12 hanging targets, 6 requests in flight: the second six must not start a full request after the deadline."""
    with ScriptedServer(lambda seen: Reply(hang=hang)) as server:
        hang = server.hang_event()
        targets = [HealthTarget(f"t{n}", server.url(f"/h/{n}")) for n in range(12)]
        started = time.monotonic()
        result = check_health(targets, settings=PollSettings(timeout=30.0, deadline=1.5, concurrency=6), clock=Clock())
        took = time.monotonic() - started
    assert not result.healthy
    assert {o.reason for o in result.outcomes} == {"deadline"}
    assert max(o.elapsed for o in result.outcomes) < 1.5 + 0.5
    assert took < 1.5 + 1.0  # twice the deadline before the fix


@pytest.mark.subprocess
def test_the_cli_ends_within_a_second_of_its_deadline_with_hanging_targets() -> None:
    first_request: list[float] = []

    def hang_up(seen: Seen) -> Reply:
        if not first_request:
            first_request.append(time.monotonic())
        return Reply(hang=hang)

    with ScriptedServer(hang_up) as server:
        hang = server.hang_event()
        urls = [server.url(f"/h/{n}") for n in range(12)]
        done = cli(*urls, "--deadline", "3")
        ended = time.monotonic()
    assert done.returncode == 1, done.stderr
    assert "12 of 12 target(s) not healthy" in done.stdout
    # The deadline starts before the first request reaches the server, so this bounds it from above; the
    # process's own start-up (slow on a busy machine) is left out.
    assert ended - first_request[0] < 3 + 1.5, f"ended {ended - first_request[0] - 3:.1f}s past the deadline"


# Bodies ------------------------------------------------------------------------------------------------------


def test_a_compression_bomb_is_refused_early_without_unpacking_it(clock: FakeClock) -> None:
    bomb = bomb_reply()
    with ScriptedServer(sequence(bomb)) as server:
        tracemalloc.start()
        try:
            result = check_health(
                [HealthTarget("api", server.url("/api/health"), STATUS_OK)],
                settings=PollSettings(retries=1, max_body=1024 * 1024),
                clock=clock,
            )
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    outcome = result.outcomes[0]
    assert not outcome.healthy
    assert outcome.failure is not None
    assert "compression bomb" in outcome.failure.actual
    assert "1 MiB" in outcome.failure.actual  # names the limit it passed
    assert peak < 24 * 1024 * 1024, f"peak {peak / 2**20:.0f} MiB while refusing"


@pytest.mark.subprocess
def test_the_cli_refuses_a_compression_bomb_with_a_message() -> None:
    with ScriptedServer(sequence(bomb_reply())) as server:
        done = cli(server.url("/api/health"), "--retries", "1")
    assert done.returncode == 1, done.stderr
    assert "compression bomb" in done.stdout
    assert "Traceback" not in done.stderr + done.stdout


def test_a_gzip_body_within_the_cap_is_unpacked_and_checked(clock: FakeClock) -> None:
    packed = Reply(200, {"Content-Type": "application/json", "Content-Encoding": "gzip"}, _gzip(b'{"status": "ok"}'))
    with ScriptedServer(sequence(packed)) as server:
        result = check_health([HealthTarget("api", server.url(), STATUS_OK)], settings=PollSettings(), clock=clock)
    outcome = result.outcomes[0]
    assert (outcome.healthy, outcome.reason, outcome.failures) == (True, "healthy", [])
    assert outcome.last is not None and outcome.last.body == b'{"status": "ok"}'  # unpacked, then checked


def test_max_body_counts_unpacked_bytes(clock: FakeClock) -> None:
    """A 40 KB JSON answer sent gzipped in a few hundred bytes is over a 10,000-byte cap."""
    body = b'{"status": "ok", "pad": "' + b"x" * 40_000 + b'"}'
    packed = Reply(200, {"Content-Type": "application/json", "Content-Encoding": "gzip"}, _gzip(body))
    with ScriptedServer(sequence(packed)) as server:
        result = check_health(
            [HealthTarget("api", server.url(), STATUS_OK)],
            settings=PollSettings(retries=1, max_body=10_000),
            clock=clock,
        )
    assert not result.healthy
    failure = result.outcomes[0].failure
    assert failure is not None and "10,000 bytes" in failure.actual


def test_an_encoding_that_was_not_offered_is_a_clear_failure(clock: FakeClock) -> None:
    odd = Reply(200, {"Content-Type": "application/json", "Content-Encoding": "br"}, b"\x0b\x02\x80")
    with ScriptedServer(sequence(odd)) as server:
        result = check_health([HealthTarget("api", server.url())], settings=PollSettings(retries=1), clock=clock)
        sent = server.seen[0].headers.get("accept-encoding", "")
    failure = result.outcomes[0].failure
    assert failure is not None and "Content-Encoding br" in failure.actual
    assert "br" not in sent and "gzip" in sent


# Pace --------------------------------------------------------------------------------------------------------


def test_a_target_not_yet_healthy_is_asked_again_within_a_quarter_second(clock: FakeClock) -> None:
    down = Reply.json({"status": "starting"}, status=503)
    with ScriptedServer(sequence(down, down, down, OK)) as server:
        result = check_health([HealthTarget("api", server.url(), STATUS_OK)], settings=PollSettings(), clock=clock)
    assert result.healthy
    assert max(clock.sleeps[:3]) <= 0.25
    # The stability proof (the second pass) costs a fraction of a second, not a backoff step.
    assert 0 < clock.sleeps[3] <= 0.25


def test_the_rate_per_target_is_capped_however_short_the_interval(clock: FakeClock) -> None:
    down = Reply.json({"status": "starting"}, status=503)
    with ScriptedServer(sequence(down)) as server:
        check_health(
            [HealthTarget("api", server.url(), STATUS_OK)],
            settings=PollSettings(interval=0.01, max_rate=2.0, retries=6, jitter="none"),
            clock=clock,
        )
    assert len(clock.sleeps) >= 5
    assert min(clock.sleeps) >= 0.5 - 1e-6  # 2 requests a second at most


def test_max_rate_must_be_positive() -> None:
    from kars_actions.core.errors import UsageError

    with pytest.raises(UsageError, match="max rate"):
        PollSettings(max_rate=0)


# The result --------------------------------------------------------------------------------------------------


def _result(count: int) -> HealthResult:
    outcomes = []
    for n in range(count):
        url = f"http://127.0.0.1:9/h/{n}"
        target = HealthTarget(url, url)
        outcomes.append(TargetOutcome(target, n % 2 == 0, 2, 0.5, Observation(status=200, latency=0.01, url=url)))
    return HealthResult(outcomes)


def test_the_result_tables_parse_each_url_a_bounded_number_of_times(monkeypatch: pytest.MonkeyPatch) -> None:
    """The terminal table, JSON and outputs of N targets look at each URL a few times, not N times."""
    real = targets_module.display_url
    calls = 0

    def counting(url: str) -> str:
        nonlocal calls
        calls += 1
        return real(url)

    monkeypatch.setattr(targets_module, "display_url", counting)
    result = _result(400)
    calls = 0
    result.text_lines(TextReporter(color=False).style)
    result.to_json()
    result.outputs()
    result.annotations()
    assert calls <= 400 * 2


def test_the_step_summary_is_not_built_when_there_is_none_to_write(monkeypatch: pytest.MonkeyPatch) -> None:
    result = _result(3)
    built = 0
    real = HealthResult.summary_markdown

    def counting(self: HealthResult) -> str:
        nonlocal built
        built += 1
        return real(self)

    monkeypatch.setattr(HealthResult, "summary_markdown", counting)
    with open(os.devnull, "w") as devnull:
        TextReporter(out=devnull, color=False).result(result)
    assert built == 0


def test_the_step_summary_is_written_when_actions_provides_a_file(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    summary = tmp_path / "summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    with open(os.devnull, "w") as devnull:
        TextReporter(out=devnull, color=False).result(_result(3))
    assert "### Health" in summary.read_text()
