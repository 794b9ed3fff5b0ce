"""Retry pauses: one schedule for every retry loop, a server's Retry-After honoured, no pause past a deadline.

A ``Backoff`` says how pauses grow (base, factor, cap) and how they are spread (jitter); ``pause(n)`` is the pause
after ``n`` earlier tries, and ``start()`` follows one run of retries, remembering what it has done. A ``Pause``
is one pause measured against a ``Deadline``: what to sleep without passing it, and whether the look after it is
the last one before the deadline.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from typing import Literal, get_args

from kars_actions.core.timing import Deadline

Jitter = Literal["none", "full", "equal", "decorrelated"]
JITTERS: tuple[str, ...] = get_args(Jitter)
ServerWait = Literal["at-least", "as-asked"]


@dataclass(frozen=True)
class Backoff:
    """Pauses between tries: after ``n`` earlier tries, ``base × factorⁿ``, never above ``cap``, then jittered so
    that clients failing together do not retry together.

    Jitter: ``none``, the plain exponential; ``full``, uniform between 0 and it — the shortest pauses on average,
    so a recovery is noticed soonest; ``equal``, uniform in its upper half — spread out, never much sooner than
    planned; ``decorrelated``, uniform between ``base`` and three times the previous pause, capped — it grows from
    the pause before, so only a run (``start()``) can draw it.

    ``floor``: no pause is shorter, jittered or asked for. ``retry_after``: what a server's ``Retry-After`` does —
    ``at-least``, the pause is the longer of the server's and the schedule's (a server asking for less never makes
    the client ask faster than its schedule); ``as-asked``, the server's wait exactly, unless it is under ``floor``
    (``Retry-After: 0``, a reset time already past): that would be a busy loop, so the schedule's pause is taken.
    """

    base: float
    factor: float = 2.0
    cap: float = math.inf
    jitter: Jitter = "none"
    floor: float = 0.0
    retry_after: ServerWait = "at-least"

    def __post_init__(self) -> None:
        # NaN fails every comparison below, so it is refused with the rest.
        if not self.base > 0:
            raise ValueError(f"a backoff's first pause must be above 0 seconds, got {self.base}")
        if not self.factor >= 1:
            raise ValueError(f"a backoff's growth factor must be 1 or more, got {self.factor}")
        if not self.cap > 0:
            raise ValueError(f"a backoff's cap must be above 0 seconds, got {self.cap}")
        if not self.floor >= 0:
            raise ValueError(f"a backoff's floor must be 0 seconds or more, got {self.floor}")
        if self.jitter not in JITTERS:
            raise ValueError(f"unknown jitter {self.jitter!r}; use one of {', '.join(JITTERS)}")
        if self.retry_after not in get_args(ServerWait):
            raise ValueError(f"unknown Retry-After rule {self.retry_after!r}")

    def ceiling(self, tries: int) -> float:
        """The pause after ``tries`` earlier tries, before jitter: ``base × factor^tries``, at most ``cap``."""
        if tries <= 0:
            return float(min(self.cap, self.base))
        try:
            grown = float(self.base) * float(self.factor) ** tries
        except OverflowError:  # a long run of failures: the exponential left float range long after the cap
            return float(self.cap)
        return float(min(self.cap, grown))

    def pause(self, tries: int, *, rng: random.Random | None = None, retry_after: float | None = None) -> float:
        """The pause after ``tries`` earlier tries: the ceiling jittered (``full`` and ``equal`` draw from ``rng``),
        then a server's ``retry_after`` (seconds; None when it sent none) honoured."""
        if self.jitter == "decorrelated":
            raise ValueError("decorrelated jitter grows from the previous pause: follow the run with start()")
        return self.honour(self._draw(self.ceiling(tries), rng), retry_after)

    def honour(self, pause: float, retry_after: float | None) -> float:
        """``pause`` once a server's ``Retry-After`` (seconds; None or unreadable: none) is taken into account."""
        if retry_after is None or math.isnan(retry_after):
            return pause
        asked = max(0.0, retry_after)
        if self.retry_after == "as-asked":
            return asked if asked >= self.floor else pause
        return max(pause, asked)

    def start(self, rng: random.Random | None = None) -> Schedule:
        """A run of retries on this schedule; ``rng`` is the random source of its jitter (a seeded one in tests)."""
        return Schedule(self, rng)

    def _draw(self, ceiling: float, rng: random.Random | None) -> float:
        if self.jitter == "none":
            return max(self.floor, ceiling)
        if rng is None:
            raise ValueError(f"{self.jitter} jitter needs a random source")
        if self.jitter == "full":
            return max(self.floor, rng.uniform(0, ceiling))
        return max(self.floor, ceiling * (0.5 + rng.random() / 2))


class Schedule:
    """One run of retries on a ``Backoff``: each ``next()`` is the pause before the next try; ``reset()`` starts
    over (after a success, say)."""

    def __init__(self, backoff: Backoff, rng: random.Random | None = None) -> None:
        self.backoff = backoff
        self.rng = rng if rng is not None else random.Random()
        self.tries = 0  # pauses given since the run began (or was reset)
        self._previous = backoff.base

    def reset(self) -> None:
        self.tries = 0
        self._previous = self.backoff.base

    def next(self, retry_after: float | None = None) -> float:
        """The pause before the next try, a server's ``retry_after`` honoured; the schedule moves on either way."""
        backoff = self.backoff
        if backoff.jitter == "decorrelated":
            self._previous = min(backoff.cap, self.rng.uniform(backoff.base, self._previous * 3))
            drawn = max(backoff.floor, self._previous)
        else:
            drawn = backoff._draw(backoff.ceiling(self.tries), self.rng)
        self.tries += 1
        return backoff.honour(drawn, retry_after)


@dataclass(frozen=True)
class Pause:
    """A pause measured against a deadline when it was planned: ``wanted`` seconds, with ``left`` seconds to the
    deadline (negative once it has passed).

    ``seconds`` is what to sleep: the pause, cut at the deadline. ``last``: the pause reaches the deadline, so the
    look after it is at the deadline itself — the last one (a loop that looks once more at its deadline never
    gives up a whole pause early, and never sleeps past it). ``overruns``: the pause ends after the deadline — a
    loop that will not be cut short gives up instead of sleeping.
    """

    wanted: float
    left: float

    @classmethod
    def before(cls, deadline: Deadline, wanted: float, *, now: float | None = None) -> Pause:
        """``wanted`` seconds from ``now`` (the deadline's clock now, by default), against ``deadline``."""
        at = deadline.clock.monotonic() if now is None else now
        return cls(wanted, deadline.at - at)

    @property
    def seconds(self) -> float:
        return max(0.0, min(self.wanted, self.left))

    @property
    def last(self) -> bool:
        return self.wanted >= self.left

    @property
    def overruns(self) -> bool:
        return self.wanted > self.left
