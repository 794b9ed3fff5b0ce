"""Deadlines and an injectable clock, so waits are bounded and tests never sleep for real."""

from __future__ import annotations

import os
import threading
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field


class Clock:
    """Wall-clock time. Tests pass a fake with the same three methods."""

    # True for a clock whose time moves only when something sleeps on it (tests): a wait for a server push must
    # then move it along itself instead of waiting for real time that never comes.
    virtual = False

    def monotonic(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            time.sleep(seconds)

    async def asleep(self, seconds: float) -> None:
        # Imported here: asyncio costs ~50 ms of a start, and only the health polling loop runs a coroutine.
        import asyncio

        if seconds > 0:
            await asyncio.sleep(seconds)


SYSTEM_CLOCK = Clock()

VIRTUAL_CLOCK_ENV = "KARS_TEST_VIRTUAL_CLOCK"


class VirtualClock(Clock):
    """Time that passes only when someone sleeps: a sleep returns at once and moves the clock forward.

    Selected by ``KARS_TEST_VIRTUAL_CLOCK=1`` so the CLI, run as a real process against the Railway simulator,
    waits through a five-minute deploy in milliseconds. Never set it for a real deploy.
    """

    virtual = True

    def __init__(self) -> None:
        # The client tells the Railway simulator this clock's time under this name (see RailwayClient).
        self.announce = uuid.uuid4().hex
        self._now = 0.0
        self._lock = threading.Lock()

    def monotonic(self) -> float:
        with self._lock:
            return self._now

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            with self._lock:
                self._now += seconds

    async def asleep(self, seconds: float) -> None:
        self.sleep(seconds)


def clock_from_environ(environ: Mapping[str, str] | None = None) -> Clock:
    env = os.environ if environ is None else environ
    return VirtualClock() if env.get(VIRTUAL_CLOCK_ENV) == "1" else SYSTEM_CLOCK


@dataclass
class Deadline:
    """A point in time a phase must finish by. ``Deadline.after(300)``; ``child()`` never outlives its parent."""

    seconds: float
    clock: Clock = field(default=SYSTEM_CLOCK, repr=False)
    started: float = field(default=-1.0)

    def __post_init__(self) -> None:
        if self.started < 0:
            self.started = self.clock.monotonic()

    @classmethod
    def after(cls, seconds: float, clock: Clock = SYSTEM_CLOCK) -> Deadline:
        return cls(seconds, clock)

    @property
    def at(self) -> float:
        return self.started + self.seconds

    def remaining(self) -> float:
        return max(0.0, self.at - self.clock.monotonic())

    def elapsed(self) -> float:
        return self.clock.monotonic() - self.started

    def expired(self) -> bool:
        return self.clock.monotonic() >= self.at

    def child(self, seconds: float) -> Deadline:
        """A phase deadline: ``seconds`` from now, but never past this one."""
        return Deadline(min(seconds, self.remaining()), self.clock)


def human_duration(seconds: float) -> str:
    seconds = max(0.0, seconds)
    if seconds < 60:
        return f"{seconds:.1f}s" if seconds < 10 else f"{seconds:.0f}s"
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"
