"""Prove services healthy: poll every health endpoint concurrently until each passes its checks, steadily.

The pipeline builds targets with ``health.targets.targets_from_config`` and calls ``check_health``; the CLI builds
``HealthTarget``s from flags (``health.plan``).
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, cast

from kars_actions.core import backoff as pauses
from kars_actions.core.errors import UsageError
from kars_actions.core.report import Progress, no_progress
from kars_actions.core.timing import SYSTEM_CLOCK, Clock, Deadline
from kars_actions.health.assertions import Failure, HealthCheck, Observation
from kars_actions.health.http import (
    DEFAULT_MAX_BODY,
    DEFAULT_MAX_REDIRECTS,
    RequestOptions,
    fetch,
    make_client,
)
from kars_actions.health.report import HealthResult, TargetOutcome
from kars_actions.health.targets import HealthTarget, with_version

if TYPE_CHECKING:
    import httpx

__all__ = [
    "Backoff",
    "HealthCheck",
    "HealthResult",
    "PollSettings",
    "TargetOutcome",
    "check_health",
    "check_health_async",
]

JITTERS = ("full", "decorrelated", "none")  # offered to users; core.backoff also has "equal"


@dataclass(frozen=True)
class PollSettings:
    """How to poll. Defaults measured in benchmarks/bench_health.py: short detection delay, light on the app."""

    timeout: float = 10.0  # per request, redirects and body included
    deadline: float = 300.0  # for the whole check
    # A target that is not healthy yet is asked again soon: the delay between the app turning healthy and the
    # poller noticing is about half this. ``max_rate`` keeps that from hammering a slow or starting app.
    interval: float = 0.25  # wait after a failure
    backoff: float = 1.0  # growth of the wait after each further failure (1: none)
    max_interval: float = 4.0  # the wait never grows past this
    confirm_interval: float = 0.2  # wait between passes while confirming stability: the proof costs this much
    max_rate: float = 5.0  # requests per second to one target, at most, whatever the waits above
    jitter: str = "full"  # "full" | "decorrelated" | "none"
    stable_passes: int = 2  # consecutive passes before a target counts healthy
    stable_for: float | None = None  # and/or passing for this long
    retries: int | None = None  # max attempts per target (None: until the deadline)
    # Requests in flight at once, across every target. httpcore's pool does work per request that grows with
    # its connection count, so on a fast network more than ~10 costs CPU rather than saving time.
    concurrency: int = 6  # on loopback, 1,000 targets: 6 in flight 1.2 s, 10 in flight 1.9 s (pool CPU)
    max_body: int = DEFAULT_MAX_BODY
    max_redirects: int = DEFAULT_MAX_REDIRECTS
    allow_cross_host_redirects: bool = False
    ca_bundle: str | None = None

    def __post_init__(self) -> None:
        positive = {
            "timeout": self.timeout,
            "deadline": self.deadline,
            "interval": self.interval,
            "max interval": self.max_interval,
            "confirm interval": self.confirm_interval,
        }
        for name, value in positive.items():
            if value <= 0:
                raise UsageError(f"health {name} must be above 0 seconds, got {value:g}")
        if self.backoff < 1:
            raise UsageError(f"health backoff factor must be 1 or more, got {self.backoff:g}")
        if self.jitter not in JITTERS:
            raise UsageError(f"unknown jitter {self.jitter!r}; use one of {', '.join(JITTERS)}")
        if self.stable_passes < 1:
            raise UsageError("stable passes must be at least 1")
        if self.retries is not None and self.retries < 1:
            raise UsageError("retries (max attempts) must be at least 1")
        if self.max_rate <= 0:
            raise UsageError(f"health max rate must be above 0 requests a second, got {self.max_rate:g}")
        if self.concurrency < 1:
            raise UsageError("concurrency must be at least 1")
        if self.max_body < 1:
            raise UsageError("max body must be at least 1 byte")


class Backoff(pauses.Schedule):
    """The waits at a target that is not healthy yet: from the interval, growing by the backoff factor up to the
    cap, jittered so that a fleet of pollers does not beat in step; never under a quarter of a second (or the
    interval, when it is shorter).

    ``full``: uniform in [floor, min(cap, initial·factorⁿ)] — the shortest average wait, hence the quickest
    detection; ``decorrelated``: min(cap, uniform(initial, 3·previous)); ``none``: the plain exponential.
    """

    def __init__(
        self,
        initial: float,
        factor: float,
        cap: float,
        jitter: str = "full",
        rng: random.Random | None = None,
    ) -> None:
        if jitter not in JITTERS:
            raise UsageError(f"unknown jitter {jitter!r}; use one of {', '.join(JITTERS)}")
        shape = cast(pauses.Jitter, jitter)
        super().__init__(pauses.Backoff(initial, factor, max(cap, initial), shape, floor=min(0.25, initial)), rng)


# Building targets --------------------------------------------------------------------------------------------


async def _poll_one(
    target: HealthTarget,
    settings: PollSettings,
    overall: Deadline,
    client: httpx.AsyncClient,
    gate: asyncio.Semaphore,
    progress: Progress,
    clock: Clock,
    rng: random.Random,
) -> TargetOutcome:
    deadline = overall.child(target.deadline) if target.deadline else overall
    interval = target.interval or settings.interval
    backoff = Backoff(interval, settings.backoff, max(settings.max_interval, interval), settings.jitter, rng)
    need = target.stable_passes or settings.stable_passes
    retries = target.retries or settings.retries
    options = RequestOptions(
        method=target.method.upper(),
        timeout=target.timeout or settings.timeout,
        max_body=settings.max_body,
        max_redirects=settings.max_redirects,
        allow_cross_host_redirects=settings.allow_cross_host_redirects,
    )
    attempts = streak = 0
    passing_since: float | None = None
    last: Observation | None = None
    failures: list[Failure] = []
    min_gap = 1.0 / settings.max_rate

    def ended(reason: str) -> TargetOutcome:
        # Not healthy: the last answer's failures, or the passes in a row it had when attempts or time ran out.
        held = clock.monotonic() - passing_since if passing_since is not None else 0.0
        return replace(
            _outcome(target, False, attempts, deadline, last, failures, reason),
            passes=streak,
            needed=need,
            stable_for=settings.stable_for,
            passing_for=held,
        )

    while True:
        if deadline.expired():
            return ended("deadline")
        if retries is not None and attempts >= retries:
            return ended("retries")
        # Waiting for a free request slot counts against the deadline, and the request gets only the time left
        # once it has its slot: twelve hanging targets with six slots must not end at twice the deadline.
        try:
            async with asyncio.timeout(deadline.remaining()):
                await gate.acquire()
        except TimeoutError:
            return ended("deadline")
        try:
            left = deadline.remaining()
            if left <= 0:
                return ended("deadline")
            attempts += 1
            asked_at = clock.monotonic()
            last = await fetch(client, target.url, target.headers, replace(options, timeout=min(options.timeout, left)))
        finally:
            gate.release()
        failures = target.check.evaluate(last)
        now = clock.monotonic()
        if failures:
            streak, passing_since = 0, None
            delay = backoff.next(retry_after=last.retry_after)  # an app asking for longer is given it
            progress(_line(target, attempts, last, f"not healthy yet: {failures[0]}"))
        else:
            streak += 1
            passing_since = now if passing_since is None else passing_since
            held = now - passing_since
            if streak >= need and (settings.stable_for is None or held >= settings.stable_for):
                progress(_line(target, attempts, last, "healthy"))
                return _outcome(target, True, attempts, deadline, last, [], "healthy")
            backoff.reset()
            delay = settings.confirm_interval
            if settings.stable_for is not None and streak >= need:
                delay = min(delay, settings.stable_for - held)
            progress(_line(target, attempts, last, f"passing, confirming ({streak}/{need})"))
        delay = max(delay, min_gap - (now - asked_at))  # the per-target rate cap, counted from request start
        await clock.asleep(pauses.Pause.before(deadline, delay).seconds)


def _line(target: HealthTarget, attempt: int, seen: Observation, why: str) -> str:
    answer = f"HTTP {seen.status}" if seen.status is not None else "no answer"
    return f"{target.name}  attempt {attempt}  {answer}  {seen.latency * 1000:.0f}ms  {why}"


def _outcome(
    target: HealthTarget,
    healthy: bool,
    attempts: int,
    deadline: Deadline,
    last: Observation | None,
    failures: list[Failure],
    reason: str,
) -> TargetOutcome:
    return TargetOutcome(
        target=target,
        healthy=healthy,
        attempts=attempts,
        elapsed=deadline.elapsed(),
        last=last,
        failures=failures,
        reason=reason,
    )


async def check_health_async(
    targets: Sequence[HealthTarget],
    *,
    expect_version: str | Sequence[str] | None = None,
    settings: PollSettings | None = None,
    deadline: float | Deadline | None = None,
    progress: Progress = no_progress,
    clock: Clock = SYSTEM_CLOCK,
    transport: httpx.AsyncBaseTransport | None = None,
    rng: random.Random | None = None,
) -> HealthResult:
    """Poll every target at once over one connection pool; return when each is healthy or out of time."""
    if not targets:
        raise UsageError(
            "no health targets to check",
            hint="pass URLs, --service NAME, or a kars.yml whose services have health checks or URLs",
        )
    settings = settings or PollSettings()
    if isinstance(deadline, Deadline):
        overall = deadline
    else:
        overall = Deadline(deadline if deadline is not None else settings.deadline, clock)
    versions = (expect_version,) if isinstance(expect_version, str) else tuple(expect_version or ())
    versions = tuple(v for v in versions if v and v.strip())
    prepared = [with_version(t, versions) for t in targets]
    gate = asyncio.Semaphore(settings.concurrency)
    rng = rng or random.Random()
    async with make_client(
        concurrency=settings.concurrency,
        timeout=settings.timeout,
        ca_bundle=settings.ca_bundle,
        transport=transport,
    ) as client:
        outcomes = await asyncio.gather(
            *(_poll_one(t, settings, overall, client, gate, progress, clock, rng) for t in prepared)
        )
    return HealthResult(outcomes=list(outcomes), deadline=overall.seconds, versions=versions)


def check_health(
    targets: Sequence[HealthTarget],
    *,
    expect_version: str | Sequence[str] | None = None,
    settings: PollSettings | None = None,
    deadline: float | Deadline | None = None,
    progress: Progress = no_progress,
    clock: Clock = SYSTEM_CLOCK,
    transport: httpx.AsyncBaseTransport | None = None,
    rng: random.Random | None = None,
) -> HealthResult:
    """The synchronous entry point for the pipeline and the CLI (runs ``check_health_async`` in a new loop)."""
    return asyncio.run(
        check_health_async(
            targets,
            expect_version=expect_version,
            settings=settings,
            deadline=deadline,
            progress=progress,
            clock=clock,
            transport=transport,
            rng=rng,
        )
    )
