"""Judging the watch's numbers: passed, failed and inconclusive, each from the figures that justify it."""

from __future__ import annotations

from kars_actions.railway.metrics import (
    Instance,
    ResourceSample,
    Thresholds,
    TrafficSample,
    instance_change,
    judge_memory,
    judge_traffic,
    parse_look,
    recent_stretch,
)


def steps(n: int, requests: float, errors: float = 0.0, p95: float = 180.0, start: int = 0) -> list[TrafficSample]:
    return [TrafficSample(start + 30 * i, requests, errors, p95, p95 * 2) for i in range(n)]


def test_the_latest_stretch_holds_just_enough_requests() -> None:
    samples = steps(10, 40)
    assert len(recent_stretch(samples, 100) or []) == 3
    assert recent_stretch(steps(2, 40), 100) is None


def test_a_5xx_rise_past_the_floor_and_the_multiple_fails() -> None:
    checks, _ = judge_traffic(steps(20, 300, 0.6), steps(4, 300, 24, start=600), Thresholds())
    errors = checks[0]
    assert errors.failed and errors.before == "0.20%" and errors.seen.startswith("8.00% of")


def test_a_5xx_ratio_under_the_absolute_floor_passes_even_at_three_times_before() -> None:
    checks, _ = judge_traffic(steps(20, 300, 0.6), steps(4, 300, 1.8, start=600), Thresholds())
    assert checks[0].verdict == "passed"


def test_a_high_baseline_needs_the_multiple_too() -> None:
    # 3 % before, 4 % now: above the 2 % floor, but not twice the old version's ratio
    checks, _ = judge_traffic(steps(20, 300, 9), steps(4, 300, 12, start=600), Thresholds())
    assert checks[0].verdict == "passed"


def test_few_requests_are_not_enough_to_judge() -> None:
    checks, recent = judge_traffic(steps(20, 300), steps(3, 10, 9, start=600), Thresholds())
    assert recent is None
    assert {c.verdict for c in checks} == {"inconclusive"}
    assert "not enough traffic to judge" in checks[0].seen


def test_p95_must_rise_by_the_multiple_and_the_floor() -> None:
    t = Thresholds()
    slow, _ = judge_traffic(steps(20, 300, p95=180), steps(4, 300, p95=400, start=600), t)
    assert slow[1].failed and slow[1].seen == "400ms" and slow[1].before == "180ms"
    tiny, _ = judge_traffic(steps(20, 300, p95=20), steps(4, 300, p95=45, start=600), t)
    assert tiny[1].verdict == "passed"  # more than 1.5x, but only 25 ms slower


def test_without_a_baseline_latency_is_inconclusive_but_errors_use_the_floor() -> None:
    checks, _ = judge_traffic([], steps(4, 300, 30, start=600), Thresholds())
    assert checks[0].failed
    assert checks[1].verdict == "inconclusive" and "no baseline" in checks[1].seen


def test_memory_fails_past_its_ceiling_and_is_only_reported_without_one() -> None:
    samples = [ResourceSample(30 * i, 0.3 + 0.1 * i) for i in range(8)]
    assert judge_memory(samples, Thresholds(memory_ceiling_gb=0.8)).failed  # type: ignore[union-attr]
    reported = judge_memory(samples, Thresholds())
    assert reported is not None and reported.verdict == "passed" and "grew +0.70 GB" in reported.seen


def test_a_new_or_restarting_instance_is_a_restart() -> None:
    start = (Instance("i-1", "RUNNING"),)
    assert instance_change(start, start) is None
    assert instance_change(start, (Instance("i-2", "RUNNING"),)) == "restarted: new instance i-2"
    assert instance_change(start, (Instance("i-1", "RESTARTING"),)) == "instance i-1 RESTARTING"


def test_a_look_sums_every_status_group_and_counts_only_5xx_as_errors() -> None:
    look = parse_look(
        {
            "httpMetricsGroupedByStatus": [
                {"statusCode": 200, "samples": [{"ts": 60, "value": 90}]},
                {"statusCode": 404, "samples": [{"ts": 60, "value": 5}]},
                {"statusCode": 503, "samples": [{"ts": 60, "value": 5}]},
            ],
            "httpDurationMetrics": {"samples": [{"ts": 60, "p50": 1, "p95": 200, "p99": 400}]},
        }
    )
    assert look.traffic == (TrafficSample(60, 100.0, 5.0, 200.0, 400.0),)
