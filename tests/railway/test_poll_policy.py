"""How often the waiter asks Railway, and what each outcome row says about the service: the poll schedule for each
status (with and without an estimate of the deploy's length) and the failed / may-go-live verdicts."""

from __future__ import annotations

import pytest

from kars_actions.railway.wait import TIMED_OUT, UNKNOWN, PollPolicy, ServiceDeployment

POLICY = PollPolicy()


def row(status: str, live: bool = False, **fields: object) -> ServiceDeployment:
    return ServiceDeployment("api", "svc", "c" * 40, status, live, **fields)  # type: ignore[arg-type]


def test_a_build_is_asked_about_ever_more_sparsely_up_to_a_minute() -> None:
    assert POLICY.interval("BUILDING", since_request=2, in_status=2, expected=None) == 5
    assert POLICY.interval("BUILDING", since_request=30, in_status=30, expected=None) == 30
    assert POLICY.interval("BUILDING", since_request=600, in_status=600, expected=None) == 60


def test_deploying_is_asked_about_every_five_seconds_for_two_minutes_then_more_sparsely() -> None:
    assert POLICY.interval("DEPLOYING", since_request=300, in_status=119, expected=None) == 5
    assert POLICY.interval("DEPLOYING", since_request=300, in_status=135, expected=None) == 15
    assert POLICY.interval("DEPLOYING", since_request=900, in_status=600, expected=None) == 20


@pytest.mark.parametrize("status", ["WAITING", "NEEDS_APPROVAL"])
def test_a_held_deployment_is_asked_about_at_most_every_twenty_seconds_even_with_an_estimate(status: str) -> None:
    assert POLICY.interval(status, since_request=3, in_status=3, expected=None) == 5
    assert POLICY.interval(status, since_request=600, in_status=600, expected=None) == 20
    # an estimate of the deploy's length says nothing about how long a held deployment waits
    assert POLICY.interval(status, since_request=600, in_status=600, expected=300) == 20


def test_with_an_estimate_it_waits_for_the_expected_end_then_asks_every_five_seconds() -> None:
    # 300 s expected: fast polling starts 30 s early (a tenth of it, more than the 10 s lead)
    assert POLICY.interval("BUILDING", since_request=40, in_status=40, expected=300) == 40
    assert POLICY.interval("BUILDING", since_request=200, in_status=200, expected=300) == 50
    assert POLICY.interval("BUILDING", since_request=260, in_status=260, expected=300) == 10
    assert POLICY.interval("BUILDING", since_request=275, in_status=275, expected=300) == 5
    assert POLICY.interval("DEPLOYING", since_request=330, in_status=200, expected=300) == 5
    # past the estimate and its 30 s overrun, the schedule without an estimate takes over
    assert POLICY.interval("DEPLOYING", since_request=331, in_status=200, expected=300) == 20


def test_unanswered_polls_back_off_from_five_seconds_to_twenty() -> None:
    assert [POLICY.after_failure(n) for n in (1, 2, 3, 4)] == [5, 10, 20, 20]


def test_a_row_failed_only_when_railway_answered_and_it_is_not_live() -> None:
    assert row("FAILED").failed and row("CRASHED").failed and row(TIMED_OUT).failed
    assert not row("SUCCESS", live=True).failed
    assert not row("PLANNED").failed  # a dry run's plan did not fail
    assert not row(UNKNOWN).failed  # Railway could not tell: it may be live
    assert not row("FAILED").reused  # a row is a fresh deployment unless it says otherwise


def test_a_row_may_go_live_when_live_seen_live_possibly_live_or_still_in_progress() -> None:
    assert row("SUCCESS", live=True).may_go_live
    assert row("CRASHED", live_at=100.0).may_go_live
    assert row(UNKNOWN, possibly_live=True).may_go_live
    assert row(TIMED_OUT).may_go_live
    assert not row("FAILED").may_go_live and not row(UNKNOWN).may_go_live
