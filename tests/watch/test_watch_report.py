"""What the watch says about what it saw, from its state: the headline for each verdict, the budget, the detection
bound, what was judged and from when, the evidence of a failure, the step summary, the charts and the
annotations. Each sentence is checked against the state it describes."""

from __future__ import annotations

import json

from kars_actions.core.config import WatchConfig
from kars_actions.core.report import Style
from kars_actions.railway.metrics import Check, Thresholds, TrafficSample
from kars_actions.release.watch_report import AfterRelease, WatchResult, chart_markdown
from kars_actions.release.watch_state import (
    ServiceWatch,
    WatchSettings,
    settings_from_config,
)

LIVE = 1_780_000_000.0  # 2026-05-28T20:26:40Z
PLAIN = Style(False)


def service(label: str = "backend", verdict: str = "passed", **fields: object) -> ServiceWatch:
    watch = ServiceWatch(label, f"svc-{label}", f"dep-{label}", live_at=LIVE, split_at=LIVE, verdict=verdict)
    for name, value in fields.items():
        setattr(watch, name, value)
    return watch


def result(*services: ServiceWatch, verdict: str = "passed", **fields: object) -> WatchResult:
    settings = fields.pop("settings", WatchSettings(duration=600, step=30))
    assert isinstance(settings, WatchSettings)
    watch = WatchResult(settings, list(services), verdict=verdict, seconds=600, requests=17)
    for name, value in fields.items():
        setattr(watch, name, value)
    return watch


def samples(
    start: float, count: int, requests: float = 200, errors: float = 0, p95: float = 120
) -> list[TrafficSample]:
    return [TrafficSample(int(start) + 30 * i, requests, errors, p95, p95 * 2) for i in range(count)]


# --- Settings: the budget, the detection bound, kars.yml -----------------------------------------------------------


def test_the_request_budget_is_a_first_look_and_one_per_step_per_service_plus_a_last() -> None:
    assert WatchSettings(duration=600, step=30).budget(2) == 2 * (20 + 2)
    assert WatchSettings(duration=610, step=30).budget(1) == 20 + 2
    assert WatchSettings(duration=5, step=0).budget(1) == 5 + 2  # a zero step counts as one second


def test_the_detection_bound_is_the_looks_needed_times_the_step() -> None:
    settings = WatchSettings(step=30, thresholds=Thresholds(min_requests=100))
    assert settings.detection() == (
        "a 5xx regression above the thresholds is caught within ~60 s (2 looks × 30 s, "
        "when a 30 s step holds 100 requests)"
    )
    # 25 requests a step: four steps hold the 100 a verdict needs, plus the step the regression starts in
    assert settings.detection(25.0) == (
        "a 5xx regression above the thresholds is caught within ~150 s (5 looks × 30 s at the 25 requests a step "
        "seen before)"
    )
    assert settings.detection(0.0) == "a 5xx regression cannot be caught: the service had no traffic to judge"


def test_kars_yml_watch_settings_fill_in_the_defaults_and_the_duration_flag_wins() -> None:
    plain = settings_from_config(WatchConfig())
    assert plain == WatchSettings()
    # the release's gate watches five minutes, the long watch after it thirty, one look every 30 s
    assert plain.duration == 300 and plain.step == 30 and plain.health_interval == 60
    assert settings_from_config(WatchConfig(), after_release=True).duration == 1800
    config = WatchConfig(
        duration=120,
        after_release=900,
        interval=10.7,
        health_interval=15,
        min_requests=40,
        error_ratio=0.05,
        error_ratio_multiple=3,
        p95_multiple=2,
        p99_multiple=2.5,
        latency_floor_ms=80,
        memory_ceiling_gb=1.5,
        memory_limit_ratio=0.8,
        on_inconclusive="fail",
    )
    chosen = settings_from_config(config)
    assert (chosen.duration, chosen.step, chosen.health_interval, chosen.on_inconclusive) == (120, 10, 15, "fail")
    assert chosen.thresholds == Thresholds(40, 0.05, 3, 2, 2.5, 80, 1.5, 0.8)
    assert settings_from_config(config, after_release=True).duration == 900
    assert settings_from_config(config, 45, after_release=True).duration == 45
    assert settings_from_config(config, 0).duration == 0  # --watch-duration 0 turns the watch off
    # zero is a value, not "unset", for the ratio floor and the latency floor; a memory limit ratio of 0 is off
    zeros = settings_from_config(WatchConfig(error_ratio=0, latency_floor_ms=0, memory_limit_ratio=0, interval=0.2))
    assert zeros.thresholds.error_ratio_floor == 0 and zeros.thresholds.latency_floor_ms == 0
    assert zeros.thresholds.memory_limit_ratio is None and zeros.step == 1


# --- What was judged, and the evidence -----------------------------------------------------------------------------


def test_what_was_judged_says_from_when_and_on_what() -> None:
    assert service(split_at=None).judged() == "judged: nothing yet (Railway did not answer)"
    assert service().judged() == "judged: new deployment only, from 20:26:40 (go-live)"
    # the watch of a deployment already live starts at the watch, not at go-live
    assert service(split_at=LIVE + 60).judged() == "judged: new deployment only, from 20:27:40"
    refused = service(refused={"serving": "forbidden"}).judged()
    assert refused.startswith("judged: from 20:26:40 (go-live), on Railway's service metrics (Railway refused")
    overlap = service(overlap_with=["dep-old"], judged_from=LIVE + 95)
    assert overlap.judged() == (
        "judged: new deployment only, from 20:26:40 (go-live): its own HTTP logs while dep-old still served, "
        "Railway's service metrics from 20:28:15"
    )
    overlap.overlapping = True
    assert overlap.judged() == (
        "judged: new deployment only, from 20:26:40 (go-live): its own HTTP logs (dep-old still served when the "
        "watch ended)"
    )
    no_logs = service(overlap_with=["dep-old"], refused={"logs": "forbidden"})
    assert no_logs.judged().endswith(
        ": nothing (Railway refused its HTTP logs) (dep-old still served when the watch ended)"
    )


def test_the_metrics_step_judged_alone_is_the_first_wholly_after_the_overlap() -> None:
    assert service().metrics_from(30) is None  # never overlapped with anything: nothing to wait for
    # metrics steps fall on whole multiples of the step in epoch seconds: 1_780_000_110 is one, 095 is not
    assert service(judged_from=1_780_000_095).metrics_from(30) == 1_780_000_110
    assert service(judged_from=1_780_000_110).metrics_from(30) == 1_780_000_110
    assert service(judged_from=LIVE + 95, overlapping=True).metrics_from(30) is None


def test_the_evidence_says_what_tripped_how_far_into_the_watch_and_when() -> None:
    failed = service(verdict="failed", reason="5xx ratio 8.00% (before 0.20%)")
    assert failed.evidence() == "backend: 5xx ratio 8.00% (before 0.20%)"
    failed.tripped_after = 95
    assert failed.evidence() == "backend: 5xx ratio 8.00% (before 0.20%); tripped 1m35s into the watch"
    failed.tripped_at = LIVE + 95
    assert failed.evidence().endswith("tripped 1m35s into the watch (2026-05-28T20:28:15Z)")
    assert service(verdict="inconclusive").evidence() == "backend: inconclusive"


def test_the_json_of_a_service_gives_the_numbers_before_during_and_latest() -> None:
    watch = service(
        baseline=samples(LIVE - 300, 10, requests=100, errors=1),
        window=samples(LIVE, 4, requests=50, errors=5, p95=300),
        judged_from=LIVE + 95,
        tripped_at=LIVE + 95,
        tripped_after=95.0,
    )
    data = watch.to_json()
    assert data["before"] == {"requests": 1000, "errors": 10, "error_ratio": 0.01, "p95_ms": 120, "p99_ms": 240}
    assert data["after"]["requests"] == 200 and data["after"]["errors"] == 20 and data["after"]["p95_ms"] == 300
    assert data["latest"] is None
    assert data["judged_from"] == data["tripped_at"] == "2026-05-28T20:28:15Z"
    assert service().to_json()["judged_from"] is None and service().to_json()["tripped_at"] is None
    assert watch.requests_per_step == 100 and service().requests_per_step is None


# --- The headline and the verdict ----------------------------------------------------------------------------------


def test_the_headline_of_each_verdict_names_the_services_and_the_time_watched() -> None:
    two = (service("backend"), service("frontend"))
    assert result(*two).headline() == "Watch passed: backend, frontend stayed healthy for 10m00s"
    assert result(*two, verdict="inconclusive").headline() == (
        "Watch inconclusive: backend, frontend stayed up, but there was not enough traffic to judge"
    )
    bad = service("frontend", "failed", reason="p95 latency 900ms (before 180ms)")
    assert result(service(), bad, verdict="failed").headline() == (
        "Watch failed: frontend: p95 latency 900ms (before 180ms)"
    )
    assert result(*two, verdict="skipped").headline() == "Watch skipped"
    short = result(*two, cut_short=True, seconds=240)
    assert short.headline() == (
        "Watch passed: backend, frontend stayed healthy for 4m00s (cut short at 4m00s of 10m00s by the release's "
        "time limit)"
    )


def test_an_inconclusive_watch_says_what_left_it_undecided_when_it_is_not_thin_traffic() -> None:
    thin = Check("5xx ratio", "inconclusive", "> 2.00%", "not enough traffic to judge (< 100 requests)")
    refused = Check("p95 latency", "inconclusive", "> 1.5× before", "Railway refused latency metrics")
    removing = Check("status", "inconclusive", "live (SUCCESS or SLEEPING)", "still REMOVING at the deadline")
    no_memory = Check("memory", "inconclusive", "> 0.5 GB", "no memory samples")  # never makes a watch inconclusive
    quiet = result(service(verdict="inconclusive", checks=[thin, no_memory]), verdict="inconclusive")
    assert quiet.headline() == "Watch inconclusive: backend stayed up, but there was not enough traffic to judge"
    assert quiet.annotations()[0].message == "not enough traffic to judge the release"
    undecided = result(
        service(verdict="inconclusive", checks=[thin, refused]),
        service("frontend", "inconclusive", checks=[removing]),
        verdict="inconclusive",
    )
    why = (
        "backend: 5xx ratio not enough traffic to judge (< 100 requests); backend: p95 latency Railway refused "
        "latency metrics; frontend: status still REMOVING at the deadline"
    )
    assert undecided.headline() == f"Watch inconclusive: {why}"
    assert "stayed up" not in undecided.summary_markdown()
    assert undecided.annotations()[0].message == why
    fail = WatchSettings(on_inconclusive="fail")
    strict = result(service(verdict="inconclusive", checks=[refused]), verdict="inconclusive", settings=fail)
    assert strict.failure() == (
        "watch inconclusive (on_inconclusive: fail): backend: p95 latency Railway refused latency metrics"
    )


def test_a_superseded_service_is_named_apart_from_those_still_judged() -> None:
    gone = service("frontend", "superseded", reason="replaced by dep-9 (deployed elsewhere)")
    assert result(service(), gone).headline() == (
        "Watch passed: backend stayed healthy for 10m00s; stopped early for frontend: replaced by dep-9 "
        "(deployed elsewhere)"
    )
    assert result(gone, verdict="superseded").headline() == (
        "Watch stopped: frontend: replaced by dep-9 (deployed elsewhere)"
    )
    assert result(service(), gone, verdict="superseded").headline() == (
        "Watch stopped: frontend: replaced by dep-9 (deployed elsewhere); backend passed after 10m00s"
    )
    failed = service("backend", "failed", reason="crashed")
    assert result(failed, gone, verdict="failed").headline() == "Watch failed: backend: crashed"
    both = [service("backend", "failed", reason="crashed"), service("frontend", "failed", reason="restarted")]
    assert result(*both, verdict="failed").headline() == "Watch failed: backend: crashed; frontend: restarted"
    assert [s.label for s in result(service(), gone).superseded] == ["frontend"]


def test_inconclusive_fails_only_when_kars_yml_says_so() -> None:
    thin = service(verdict="inconclusive")
    publish = result(thin, verdict="inconclusive")
    assert not publish.failed and publish.exit_code() == 0 and publish.failure() == ""
    assert publish.annotations()[0].level == "warning"
    strict = result(thin, verdict="inconclusive", settings=WatchSettings(on_inconclusive="fail"))
    assert strict.failed and strict.exit_code() == 1
    assert strict.failure() == "watch inconclusive (on_inconclusive: fail): not enough traffic to judge"
    assert strict.annotations()[0].level == "error"
    assert result(service()).annotations() == [] and result(service()).failure() == ""
    failed = result(service(verdict="failed", reason="crashed", tripped_after=30.0), verdict="failed")
    assert failed.failure() == "watch failed: backend: crashed; tripped 30s into the watch"
    assert failed.annotations()[0].message == failed.failure() and failed.exit_code() == 1


def test_the_outputs_and_json_carry_the_verdict_and_each_services_evidence() -> None:
    watch = result(service(), rollbacks=[("backend", True, "dep-old is live again")])
    outputs = watch.outputs()
    assert outputs["watch-verdict"] == "passed"
    assert json.loads(outputs["watch-evidence"])[0]["service"] == "backend"
    data = watch.to_json()
    assert data["budget"] == 22 and data["requests"] == 17 and data["duration"] == 600 and data["step"] == 30
    assert data["rollbacks"] == [{"service": "backend", "restored": True, "message": "dep-old is live again"}]
    assert data["headline"] == watch.headline() and data["outputs"] == outputs and data["after_release"] is None
    assert data["detection"] == watch.detection()
    assert data["health_rounds"] == 0 and data["thresholds"]["min_requests"] == 100
    gone = service("frontend", "superseded", replaced_by="dep-9").to_json()
    assert gone["replaced_by"] == "dep-9" and gone["verdict"] == "superseded"


def test_the_slowest_service_decides_the_detection_bound() -> None:
    busy = service("backend", baseline=samples(LIVE - 300, 10, requests=200))
    quiet = service("frontend", baseline=samples(LIVE - 300, 10, requests=25))
    assert "at the 25 requests a step" in result(busy, quiet).detection()
    assert "when a 30 s step holds" in result(service()).detection()


# --- The console and the step summary ------------------------------------------------------------------------------


def test_the_console_shows_each_check_the_budget_and_how_to_roll_back_a_failure() -> None:
    check = Check("5xx ratio", "failed", "> 2.00% and > 2× before", "8.00%", "0.20%")
    bad = service(verdict="failed", reason="5xx ratio 8.00%", checks=[check], log_tail=("boom", "again"))
    lines = result(bad, verdict="failed").text_lines(PLAIN)
    text = "\n".join(lines)
    assert lines[0] == "kars-actions watch"
    assert "backend  5xx ratio  failed   0.20%   8.00%   > 2.00% and > 2× before" in text
    assert "Railway requests: 17 (budget 22)" in lines
    assert "to roll backend back: kars-actions rollback --service backend" in lines
    assert lines[-3:] == ["backend log tail:", "  boom", "  again"]
    assert "Watch failed: backend: 5xx ratio 8.00%" in lines
    rolled = result(bad, verdict="failed", rollbacks=[("backend", False, "Railway refused")]).text_lines(PLAIN)
    assert "rollback backend: NOT done — Railway refused" in rolled
    assert not any(line.startswith("to roll") for line in rolled)
    assert not any(line.startswith("to roll") for line in result(service()).text_lines(PLAIN))


def test_the_console_colours_the_verdict_by_whether_it_failed() -> None:
    assert "\x1b[32mWatch passed" in "\n".join(result(service()).text_lines(Style(True)))
    failed = result(service(verdict="failed", reason="crashed"), verdict="failed")
    assert "\x1b[31mWatch failed: backend: crashed" in "\n".join(failed.text_lines(Style(True)))


def test_the_summary_gives_the_icon_the_window_the_checks_and_what_railway_refused() -> None:
    check = Check("p95 latency", "inconclusive", "> 1.5× before", "-", "-")
    watched = service(
        checks=[check],
        refused={"latency": "forbidden"},
        unknown_looks=2,
        unknown_reason="timed out",
        error_lines=("GET /api 502",),
        log_tail=("last line",),
    )
    md = result(watched, verdict="inconclusive", health_rounds=3).summary_markdown()
    assert md.startswith("## ⚠️ Watch inconclusive: backend stayed up")
    assert "10m00s of 10m00s watched, one look every 30s; Railway requests: 17 (budget 22); health rounds: 3." in md
    assert "\nA 5xx regression above the thresholds is caught within ~60 s" in md
    assert "backend judged: new deployment only, from 20:26:40 (go-live)." in md
    assert "| service | check | verdict | before | during | fails when |" in md
    assert "| backend | p95 latency | ⚠️ inconclusive | - | - | > 1.5× before |" in md
    assert "backend: Railway refused latency metrics (forbidden): those checks are inconclusive." in md
    assert "backend: Railway could not be asked 2 time(s) (timed out); those looks decided nothing." in md
    assert "its latest 5xx requests</summary>\n\n```\nGET /api 502\n```" in md
    assert "<summary>Log tail</summary>\n\n```\nlast line\n```" in md
    clean = result(service()).summary_markdown()
    assert clean.startswith("## ✅ Watch passed")
    assert "could not be asked" not in clean and "Railway refused" not in clean and "<details>" not in clean
    tripped = Check("5xx ratio", "failed", "> 2.00%", "8.00% of 300 requests", "0.20%")
    failed = result(service(verdict="failed", reason="crashed", checks=[tripped]), verdict="failed").summary_markdown()
    assert failed.startswith("## ❌ Watch failed") and "**backend: crashed**" in failed
    assert "| backend | 5xx ratio | ❌ failed | 0.20% | 8.00% of 300 requests | > 2.00% |" in failed
    unasked = result(service(unknown_looks=1)).summary_markdown()
    assert "Railway could not be asked 1 time(s) (no answer)" in unasked


def test_the_summary_lists_where_each_service_config_was_found() -> None:
    files = [{"said": "backend: backend/railway.json (health path /healthz)"}]
    md = result(service(), service_files=files).summary_markdown()
    assert "\n- backend: backend/railway.json (health path /healthz)\n\n### Watch window" in md
    assert result(service(), service_files=files).text_lines(PLAIN)[1] == files[0]["said"]


def test_the_long_watch_after_a_release_says_what_it_did_step_by_step() -> None:
    after = AfterRelease("v1.2.0", "0123456789abcdef0123", not_watched=["worker: no deployment"])
    after.step("rollback", True, "v1.1.0 is live again")
    after.step("alert", False, "webhook refused")
    assert after.lines() == [
        "after release v1.2.0 (0123456789ab)",
        "not watched: worker: no deployment",
        "rollback: done — v1.1.0 is live again",
        "alert: NOT done — webhook refused",
    ]
    md = after.markdown()
    assert md.startswith("### After release v1.2.0\n") and "- not watched: worker: no deployment" in md
    assert "| step | done | what happened |" in md
    assert "| rollback | ✅ | v1.1.0 is live again |" in md and "| alert | ❌ | webhook refused |" in md
    assert AfterRelease("v1.2.0", "abc").markdown() == "### After release v1.2.0\n\n"
    assert after.to_json()["steps"][1] == {"step": "alert", "done": False, "detail": "webhook refused"}
    failed = result(service(verdict="failed", reason="crashed"), verdict="failed", after_release=after)
    lines = failed.text_lines(PLAIN)
    assert "after release v1.2.0 (0123456789ab)" in lines and not any(x.startswith("to roll") for x in lines)
    assert "### After release v1.2.0" in failed.section_markdown()
    assert failed.to_json()["after_release"]["tag"] == "v1.2.0"


# --- The charts ----------------------------------------------------------------------------------------------------


def test_the_charts_plot_the_5xx_ratio_and_p95_from_before_to_during_go_live() -> None:
    watch = service(
        baseline=samples(LIVE - 60, 2, requests=100, errors=1, p95=100),
        window=samples(LIVE, 3, requests=100, errors=10, p95=400),
    )
    chart = chart_markdown(watch)
    assert 'title "backend: 5xx ratio (%), minutes from go-live"' in chart
    assert 'x-axis ["-1:00", "-0:30", "+0:00", "+0:30", "+1:00"]' in chart
    assert "line [1.0, 1.0, 10.0, 10.0, 10.0]" in chart and 'y-axis "5xx %" 0 --> 12.00' in chart
    assert "bar [100, 100, 400, 400, 400]" in chart and 'y-axis "p95 ms" 0 --> 480' in chart
    # many steps are grouped into at most ten points per side
    many = service(baseline=samples(LIVE - 30 * 25, 25), window=samples(LIVE, 25))
    axis = chart_markdown(many).split("x-axis [", 1)[1].split("]", 1)[0]
    assert axis.count(",") + 1 == 18  # 25 steps in groups of 3: 9 points a side
    # a quiet, fast service keeps a visible axis
    calm = chart_markdown(service(baseline=samples(LIVE - 30, 1, errors=0, p95=1), window=samples(LIVE, 1, p95=1)))
    assert 'y-axis "5xx %" 0 --> 1.00' in calm and 'y-axis "p95 ms" 0 --> 10' in calm
    assert chart_markdown(service()) == "" and chart_markdown(service(window=samples(LIVE, 2), split_at=None)) == ""
    assert chart_markdown(watch) in result(watch).section_markdown()
