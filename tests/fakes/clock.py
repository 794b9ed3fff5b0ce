"""The test clock: time moves only when a test advances it or the code under test sleeps on it."""

from __future__ import annotations

import asyncio
import threading

from kars_actions.core.timing import Clock


class FakeClock(Clock):
    """Thread-safe; records every sleep so tests can assert the waits (Retry-After, backoff) exactly."""

    virtual = True

    def __init__(self, start: float = 0.0) -> None:
        self._now = start
        self._lock = threading.Lock()
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        with self._lock:
            return self._now

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._now += max(0.0, seconds)

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.advance(seconds)

    async def asleep(self, seconds: float) -> None:
        self.sleep(seconds)
        await asyncio.sleep(0)  # let other tasks run, as a real sleep would
