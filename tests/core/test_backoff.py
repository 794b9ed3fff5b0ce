"""The retry schedule every retry loop shares: growth and cap, jitter within its bounds, a server's Retry-After,
and a pause measured against a deadline (cut at it, the look after it the last one)."""

from __future__ import annotations

import math
import random

import pytest

from kars_actions.core.backoff import Backoff, Pause
from kars_actions.core.timing import Deadline
from tests.fakes.clock import FakeClock


def test_pauses_grow_by_the_factor_up_to_the_cap() -> None:
    assert [Backoff(1.0).pause(n) for n in range(6)] == [1.0, 2.0, 4.0, 8.0, 16.0, 32.0]
    assert [Backoff(5.0, 2.0, 20.0).pause(n) for n in range(5)] == [5.0, 10.0, 20.0, 20.0, 20.0]
    assert [Backoff(0.5, 1.5, 2.0).pause(n) for n in range(5)] == [0.5, 0.75, 1.125, 1.6875, 2.0]
    assert [Backoff(3.0, 1.0).pause(n) for n in range(3)] == [3.0, 3.0, 3.0]


def test_a_long_run_of_failures_stays_at_the_cap_instead_of_overflowing() -> None:
    # 2.0 ** 1100 is past float range: a poller failing every quarter second for an hour gets there.
    assert Backoff(0.25, 2.0, 4.0).pause(5000) == 4.0
    assert Backoff(1.0).pause(5000) == math.inf  # no cap: the caller's deadline refuses it
    schedule = Backoff(0.25, 2.0, 4.0, "full").start(random.Random(1))
    assert all(0 <= schedule.next() <= 4.0 for _ in range(3000))


def test_a_run_counts_its_tries_and_starts_over_on_reset() -> None:
    schedule = Backoff(1.0, 2.0, 5.0).start()
    assert [schedule.next() for _ in range(4)] == [1.0, 2.0, 4.0, 5.0]
    assert schedule.tries == 4
    schedule.reset()
    assert schedule.tries == 0 and schedule.next() == 1.0


def test_full_jitter_stays_between_the_floor_and_the_ceiling_and_spreads_out() -> None:
    backoff = Backoff(1.0, 2.0, 8.0, "full", floor=0.25)
    rng = random.Random(11)
    pauses = [backoff.pause(n % 6, rng=rng) for n in range(600)]
    assert all(0.25 <= p <= backoff.ceiling(n % 6) for n, p in enumerate(pauses))
    assert min(pauses) == 0.25  # draws under the floor are lifted to it
    assert len({round(p, 3) for p in pauses}) > 300


def test_equal_jitter_stays_in_the_upper_half() -> None:
    backoff = Backoff(1.0, 2.0, 16.0, "equal")
    rng = random.Random(5)
    for n in range(7):
        drawn = [backoff.pause(n, rng=rng) for _ in range(200)]
        ceiling = backoff.ceiling(n)
        assert all(ceiling / 2 <= p <= ceiling for p in drawn)
        assert max(drawn) - min(drawn) > ceiling / 4  # spread over the half, not one value


def test_decorrelated_jitter_grows_from_the_previous_pause_within_base_and_cap() -> None:
    schedule = Backoff(1.0, 2.0, 8.0, "decorrelated").start(random.Random(3))
    previous = 1.0
    for _ in range(300):
        pause = schedule.next()
        assert 1.0 <= pause <= min(8.0, 3 * previous)
        previous = pause
    assert previous > 1.0
    with pytest.raises(ValueError, match="grows from the previous pause"):
        Backoff(1.0, jitter="decorrelated").pause(2, rng=random.Random(3))


def test_the_same_seed_gives_the_same_pauses() -> None:
    for jitter in ("full", "equal", "decorrelated"):
        first = Backoff(0.5, 1.5, 6.0, jitter).start(random.Random(42))  # type: ignore[arg-type]
        second = Backoff(0.5, 1.5, 6.0, jitter).start(random.Random(42))  # type: ignore[arg-type]
        assert [first.next() for _ in range(50)] == [second.next() for _ in range(50)]


def test_a_jittered_pause_needs_a_random_source() -> None:
    with pytest.raises(ValueError, match="full jitter needs a random source"):
        Backoff(1.0, jitter="full").pause(0)


def test_retry_after_at_least_keeps_the_longer_of_the_server_and_the_schedule() -> None:
    backoff = Backoff(1.0)
    assert backoff.pause(2, retry_after=30.0) == 30.0  # the server asks for longer: it is given
    assert backoff.pause(2, retry_after=0.0) == 4.0  # "Retry-After: 0" never makes a busy loop
    assert backoff.pause(2, retry_after=-10.0) == 4.0  # a reset already past, likewise
    assert backoff.pause(2, retry_after=math.nan) == 4.0  # an unreadable one is no hint
    assert backoff.pause(2, retry_after=None) == 4.0
    schedule = backoff.start()
    assert [schedule.next(retry_after=3.0) for _ in range(4)] == [3.0, 3.0, 4.0, 8.0]


def test_retry_after_as_asked_is_the_server_wait_unless_under_the_floor() -> None:
    backoff = Backoff(1.0, 2.0, 16.0, floor=1.0, retry_after="as-asked")
    schedule = backoff.start()
    # The server's word is the pause, shorter than the schedule's or longer than the cap; under the floor it is a
    # busy loop, and the schedule (which moved on with every answer) decides.
    assert [schedule.next(retry_after=r) for r in (5.0, 0.0, 1.5, 0.0, 40.0, 0.2)] == [5.0, 2.0, 1.5, 8.0, 40.0, 16.0]
    assert Backoff(2.0, retry_after="as-asked").start().next(retry_after=0.0) == 0.0  # no floor: asked is taken
    assert Backoff(2.0, retry_after="as-asked").start().next(retry_after=math.nan) == 2.0  # unreadable: no hint


def test_a_pause_is_cut_at_the_deadline_and_the_look_after_it_is_the_last() -> None:
    clock = FakeClock()
    deadline = Deadline(60.0, clock)
    clock.advance(50.0)
    inside = Pause.before(deadline, 4.0)
    assert (inside.seconds, inside.last, inside.overruns) == (4.0, False, False)
    reaching = Pause.before(deadline, 10.0)
    assert (reaching.seconds, reaching.last, reaching.overruns) == (10.0, True, False)
    past = Pause.before(deadline, 25.0)
    assert (past.seconds, past.last, past.overruns) == (10.0, True, True)  # slept to the deadline, not past it
    clock.advance(15.0)
    after = Pause.before(deadline, 5.0)
    assert after.seconds == 0.0 and after.last and after.overruns


def test_a_pause_planned_at_a_given_moment_is_measured_from_it() -> None:
    clock = FakeClock()
    deadline = Deadline(100.0, clock)
    clock.advance(200.0)  # the loop was busy past the deadline since it planned its next look at 90
    planned = Pause.before(deadline, 95.0 - 90.0, now=90.0)
    assert planned.seconds == 5.0 and not planned.last
    overdue = Pause.before(deadline, 105.0 - 90.0, now=90.0)
    assert overdue.last and overdue.seconds == 10.0


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"base": 0.0}, "first pause must be above 0"),
        ({"base": math.nan}, "first pause must be above 0"),
        ({"base": 1.0, "factor": 0.5}, "growth factor must be 1 or more"),
        ({"base": 1.0, "cap": 0.0}, "cap must be above 0"),
        ({"base": 1.0, "floor": -1.0}, "floor must be 0 seconds or more"),
        ({"base": 1.0, "jitter": "lots"}, "unknown jitter 'lots'"),
        ({"base": 1.0, "retry_after": "never"}, "unknown Retry-After rule 'never'"),
    ],
)
def test_a_schedule_that_makes_no_sense_is_refused(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Backoff(**kwargs)  # type: ignore[arg-type]
