"""Judging the watch's numbers: passed, failed and inconclusive, each from the figures that justify it."""

from __future__ import annotations

from kars_actions.railway.metrics import (
    Execution,
    LogLine,
    ResourceSample,
    Thresholds,
    TrafficSample,
    execution_trouble,
    judge_memory,
    judge_traffic,
    log_samples,
    looks_to_catch,
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


def test_memory_is_judged_against_the_share_of_railways_limit_when_railway_gives_it() -> None:
    samples = [ResourceSample(30 * i, 0.5 + 0.1 * i, memory_limit_gb=1.0) for i in range(5)]  # peak 0.9 GB
    at_ninety = judge_memory(samples, Thresholds(memory_limit_ratio=0.9))
    assert at_ninety is not None and at_ninety.verdict == "passed" and "90% of the 1 GB limit" in at_ninety.threshold
    at_eighty = judge_memory(samples, Thresholds(memory_limit_ratio=0.8))
    assert at_eighty is not None and at_eighty.failed
    # the lower of the two ceilings decides
    both = judge_memory(samples, Thresholds(memory_ceiling_gb=0.6, memory_limit_ratio=0.9))
    assert both is not None and both.failed and both.threshold == "> 0.6 GB"


def test_a_crashed_restarting_or_new_execution_is_a_restart() -> None:
    first = Execution("e-0", "d-1", "RUNNING", 0.0)
    assert execution_trouble(["e-0"], (first,)) is None
    again = (Execution("e-0", "d-1", "CRASHED", 0.0, 50.0), Execution("e-1", "d-1", "RESTARTING", 50.0))
    trouble = execution_trouble(["e-0"], again)
    assert trouble is not None and "e-0 CRASHED" in trouble and "e-1 RESTARTING" in trouble
    recovered = (first, Execution("e-1", "d-1", "RUNNING", 80.0))
    assert (execution_trouble(["e-0"], recovered) or "").startswith("restarted: new instance e-1")


def test_executions_and_grouped_resources_of_other_deployments_are_left_out() -> None:
    look = parse_look(
        {
            "deploymentInstanceExecutions": {
                "edges": [
                    {"node": {"id": "old-0", "deploymentId": "old", "status": "CRASHED"}},
                    {"node": {"id": "new-0", "deploymentId": "new", "status": "RUNNING"}},
                ]
            },
            "metrics": [
                {"measurement": "MEMORY_USAGE_GB", "tags": {"deploymentId": "old"}, "values": [{"ts": 60, "value": 3}]},
                {"measurement": "MEMORY_USAGE_GB", "tags": {"deploymentId": "new"}, "values": [{"ts": 60, "value": 1}]},
            ],
        },
        "new",
    )
    assert [e.id for e in look.executions or ()] == ["new-0"]
    assert look.resources == (ResourceSample(60, 1.0),)


def test_log_lines_become_steps_with_their_own_percentiles() -> None:
    lines = [LogLine(60 + i * 0.25, 500 if i % 10 == 0 else 200, float(i)) for i in range(100)]
    (sample,) = log_samples(lines, 30)
    assert sample.ts == 60 and sample.requests == 100 and sample.errors == 10
    assert sample.p95_ms == 94.0 and sample.p99_ms == 98.0


def test_the_detection_bound_grows_with_thin_traffic() -> None:
    t = Thresholds(min_requests=100)
    assert looks_to_catch(t, 300) == 2
    assert looks_to_catch(t, 25) == 5
    assert looks_to_catch(t, 0) is None


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
