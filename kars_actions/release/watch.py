"""The watch window: after go-live, keep looking at each released service — its status and instances, its health,
its real traffic against the old version's — and fail at the first sign of a bad release.

A look is one Railway request per service per step (``railway.metrics``); health probes go to the app, at a slow
pace. The verdict per metric is passed, failed or inconclusive ("not enough traffic to judge"), never a guess.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from kars_actions.core import gha
from kars_actions.core.config import Config, WatchConfig
from kars_actions.core.errors import EXIT_FAILED, EXIT_OK, CheckFailed, ExternalError, KarsError
from kars_actions.core.report import Annotation, BaseResult, Progress, Style, no_progress, text_table
from kars_actions.core.timing import SYSTEM_CLOCK, Clock, Deadline, human_duration
from kars_actions.railway.api import LIVE_STATUSES, TRANSIENT_STATUSES, RailwayClient
from kars_actions.railway.deploy import RailwayTarget, ServiceSnapshot
from kars_actions.railway.metrics import (
    Check,
    Execution,
    LogLine,
    MetricsReader,
    OtherDeployment,
    ResourceSample,
    Thresholds,
    TrafficSample,
    TrafficStats,
    clock_time,
    execution_trouble,
    iso,
    judge_memory,
    judge_traffic,
    log_samples,
    looks_to_catch,
    merge,
    merge_lines,
    ms,
    pct,
    stats,
)

DEFAULT_DURATION = 300.0  # the release's gate: five minutes, long enough for a crash loop or an error spike to show
DEFAULT_AFTER_RELEASE = 1800.0  # the long watch after the release, in its own job: thirty minutes
DEFAULT_STEP = 30
DEFAULT_HEALTH_INTERVAL = 60.0
REPLACED_STATUSES = frozenset({"REMOVING", "REMOVED"})  # Railway replaced the deployment (or removed it)
# One slow-paced health round of the services still watched (by label): (all healthy, what was seen).
HealthProbe = Callable[[Sequence[str]], tuple[bool, str]]


@dataclass(frozen=True)
class WatchSettings:
    duration: float = DEFAULT_DURATION
    step: int = DEFAULT_STEP  # seconds between looks, and the metrics' step
    health_interval: float = DEFAULT_HEALTH_INTERVAL
    thresholds: Thresholds = field(default_factory=Thresholds)
    on_inconclusive: str = "publish"  # publish | fail

    def budget(self, services: int) -> int:
        """Railway requests a clean watch may spend: a first look and one per step, per service."""
        return services * (int(self.duration // max(1, self.step)) + 2)

    def detection(self, requests_per_step: float | None = None) -> str:
        """How soon a 5xx regression above the thresholds is caught: interval × the looks it needs."""
        looks = looks_to_catch(self.thresholds, requests_per_step)
        if looks is None:
            return "a 5xx regression cannot be caught: the service had no traffic to judge"
        bound = (
            f"a 5xx regression above the thresholds is caught within ~{looks * self.step} s "
            f"({looks} looks × {self.step} s"
        )
        if requests_per_step is None:
            return bound + f", when a {self.step} s step holds {self.thresholds.min_requests} requests)"
        return bound + f" at the {requests_per_step:.0f} requests a step seen before)"


def settings_from_config(
    config: WatchConfig, duration: float | None = None, *, after_release: bool = False
) -> WatchSettings:
    """kars.yml ``watch:`` with the defaults filled in; ``duration`` (the root input / ``--watch-duration``) wins.
    ``after_release``: the long watch after the release (``watch.after_release``, 30 minutes) instead of the gate."""
    defaults = Thresholds()
    thresholds = Thresholds(
        min_requests=config.min_requests or defaults.min_requests,
        error_ratio_floor=config.error_ratio if config.error_ratio is not None else defaults.error_ratio_floor,
        error_ratio_multiple=config.error_ratio_multiple or defaults.error_ratio_multiple,
        p95_multiple=config.p95_multiple or defaults.p95_multiple,
        p99_multiple=config.p99_multiple,
        latency_floor_ms=config.latency_floor_ms if config.latency_floor_ms is not None else defaults.latency_floor_ms,
        memory_ceiling_gb=config.memory_ceiling_gb,
        memory_limit_ratio=(
            defaults.memory_limit_ratio if config.memory_limit_ratio is None else config.memory_limit_ratio or None
        ),
    )
    chosen = duration if duration is not None else (config.after_release if after_release else config.duration)
    default = DEFAULT_AFTER_RELEASE if after_release else DEFAULT_DURATION
    return WatchSettings(
        duration=default if chosen is None else chosen,
        step=max(1, int(config.interval or DEFAULT_STEP)),
        health_interval=config.health_interval or DEFAULT_HEALTH_INTERVAL,
        thresholds=thresholds,
        on_inconclusive=config.on_inconclusive,
    )


@dataclass(frozen=True)
class WatchedService:
    label: str
    service_id: str
    deployment_id: str
    live_at: float | None = None  # epoch seconds in Railway's time, when known


@dataclass
class ServiceWatch:
    """One service through the window: what it looked like before go-live, what it looks like now, the verdict.

    The new deployment is judged alone: while an older deployment of the service still serves (SUCCESS, SLEEPING or
    REMOVING during its overlap) from its own HTTP logs, and from Railway's service metrics only once no other
    deployment serves (``judged_from``), since those metrics take no deployment argument.
    """

    label: str
    service_id: str
    deployment_id: str
    live_at: float | None = None
    split_at: float | None = None  # where "before" ends and "during" begins: go-live, or the watch's start
    status: str = "UNKNOWN"
    executions_known: tuple[str, ...] | None = None  # instance executions seen at the first look
    executions: tuple[Execution, ...] | None = None
    others: tuple[OtherDeployment, ...] = ()
    overlap_with: list[str] = field(default_factory=list)  # older deployments seen taking traffic with it
    overlapping: bool = False  # an older deployment may still take traffic (as of the latest look)
    judged_from: float | None = None  # from then on, the service's metrics are the new deployment's alone
    lines: list[LogLine] = field(default_factory=list)  # its own requests, from httpLogs, during the overlap
    logs_since: float | None = None
    baseline: list[TrafficSample] = field(default_factory=list)
    service_traffic: list[TrafficSample] = field(default_factory=list)  # service metrics since go-live
    window: list[TrafficSample] = field(default_factory=list)  # what is judged: the new deployment's alone
    resources: list[ResourceSample] = field(default_factory=list)
    checks: list[Check] = field(default_factory=list)
    recent: TrafficStats | None = None
    verdict: str = "watching"  # watching | passed | failed | inconclusive | superseded
    reason: str | None = None
    replaced_by: str | None = None  # superseded: the deployment made after it that serves in its place
    tripped_at: float | None = None  # epoch, Railway's time
    tripped_after: float | None = None  # seconds into the watch
    log_tail: tuple[str, ...] = ()
    error_lines: tuple[str, ...] = ()  # its own latest 5xx requests, when the 5xx ratio tripped
    refused: dict[str, str] = field(default_factory=dict)
    unknown_looks: int = 0
    unknown_reason: str | None = None
    first_look_done: bool = False  # the baseline is read with the first look Railway answers

    @property
    def baseline_stats(self) -> TrafficStats | None:
        return stats(self.baseline) if self.baseline else None

    @property
    def window_stats(self) -> TrafficStats | None:
        return stats(self.window) if self.window else None

    @property
    def requests_per_step(self) -> float | None:
        """The old version's traffic per step before go-live: what the detection bound rests on."""
        return stats(self.baseline).requests / len(self.baseline) if self.baseline else None

    def metrics_from(self, step: int) -> float | None:
        """The first metrics step wholly after the overlap: earlier steps mix the old deployment's traffic in."""
        if self.judged_from is None or self.overlapping:
            return None
        return float(-(-int(self.judged_from) // step) * step)

    def judged(self) -> str:
        """In words: what was judged, and from when."""
        start = self.split_at
        if start is None:
            return "judged: nothing yet (Railway did not answer)"
        since = clock_time(start) + (" (go-live)" if self.live_at is not None and start == self.live_at else "")
        if "serving" in self.refused:
            return (
                f"judged: from {since}, on Railway's service metrics (Railway refused to list the service's "
                "deployments, so an older one still serving could not be ruled out)"
            )
        if not self.overlap_with:
            return f"judged: new deployment only, from {since}"
        older = ", ".join(self.overlap_with)
        own = "its own HTTP logs" if "logs" not in self.refused else "nothing (Railway refused its HTTP logs)"
        if self.overlapping or self.judged_from is None:
            return f"judged: new deployment only, from {since}: {own} ({older} still served when the watch ended)"
        return (
            f"judged: new deployment only, from {since}: {own} while {older} still served, Railway's service "
            f"metrics from {clock_time(self.judged_from)}"
        )

    def evidence(self) -> str:
        """The failure in one line: what tripped, the numbers before and after, and when."""
        parts = [f"{self.label}: {self.reason or self.verdict}"]
        if self.tripped_after is not None:
            when = f"tripped {human_duration(self.tripped_after)} into the watch"
            if self.tripped_at is not None:
                when += f" ({iso(self.tripped_at)})"
            parts.append(when)
        return "; ".join(parts)

    def to_json(self) -> dict[str, Any]:
        base, window = self.baseline_stats, self.window_stats
        return {
            "service": self.label,
            "deployment_id": self.deployment_id,
            "status": self.status,
            "verdict": self.verdict,
            "reason": self.reason,
            "replaced_by": self.replaced_by,
            "judged": self.judged(),
            "judged_from": iso(self.judged_from) if self.judged_from is not None else None,
            "overlap_with": list(self.overlap_with),
            "tripped_after_seconds": self.tripped_after,
            "tripped_at": iso(self.tripped_at) if self.tripped_at is not None else None,
            "checks": [c.__dict__ for c in self.checks],
            "before": _stats_json(base),
            "after": _stats_json(window),
            "latest": _stats_json(self.recent),  # the latest stretch with enough requests: what was judged
            "executions": [e.__dict__ for e in self.executions or ()],
            "log_tail": list(self.log_tail),
            "error_lines": list(self.error_lines),
            "unavailable": self.refused,
            "unknown_looks": self.unknown_looks,
        }


def _stats_json(value: TrafficStats | None) -> dict[str, Any] | None:
    if value is None:
        return None
    return {
        "requests": round(value.requests),
        "errors": round(value.errors),
        "error_ratio": value.error_ratio,
        "p95_ms": value.p95_ms,
        "p99_ms": value.p99_ms,
    }


@dataclass
class AfterRelease:
    """The long watch after a release: which release, what it did once the watch failed, each step as it ended."""

    tag: str
    commit: str
    release_url: str | None = None
    not_watched: list[str] = field(default_factory=list)  # services not watched, and why
    steps: list[tuple[str, bool, str]] = field(default_factory=list)  # (step, done, what happened)

    def step(self, name: str, done: bool, detail: str) -> None:
        self.steps.append((name, done, detail))

    def lines(self) -> list[str]:
        out = [f"after release {self.tag} ({self.commit[:12]})"]
        out += [f"not watched: {why}" for why in self.not_watched]
        out += [f"{name}: {'done' if done else 'NOT done'} — {detail}" for name, done, detail in self.steps]
        return out

    def markdown(self) -> str:
        md = [f"### After release {gha.md_escape(self.tag)}\n"]
        md += [f"- not watched: {gha.md_escape(why)}" for why in self.not_watched]
        if self.steps:
            md.append(
                gha.md_table(
                    ["step", "done", "what happened"],
                    [[name, "✅" if done else "❌", detail] for name, done, detail in self.steps],
                )
            )
        return "\n".join(md) + "\n"

    def to_json(self) -> dict[str, Any]:
        return {
            "tag": self.tag,
            "commit": self.commit,
            "release_url": self.release_url,
            "not_watched": list(self.not_watched),
            "steps": [{"step": n, "done": d, "detail": m} for n, d, m in self.steps],
        }


@dataclass
class WatchResult(BaseResult):
    settings: WatchSettings
    services: list[ServiceWatch]
    verdict: str = "watching"  # passed | failed | inconclusive | skipped
    seconds: float = 0.0
    requests: int = 0
    health_rounds: int = 0
    health_detail: str | None = None
    environment: str | None = None
    cut_short: bool = False  # the release's own time limit ended the window early
    rollbacks: list[tuple[str, bool, str]] = field(default_factory=list)  # (service, restored, what happened)
    after_release: AfterRelease | None = None  # the long watch after a release: what it did about a failure
    # ``kars-actions watch``: where each service's railway config was found; "said": "backend: backend/… (…)".
    service_files: list[dict[str, Any]] = field(default_factory=list)

    def detection(self) -> str:
        """The detection bound, from the traffic seen before go-live (the slowest service decides)."""
        rates = [s.requests_per_step for s in self.services]
        known = [r for r in rates if r is not None]
        return self.settings.detection(min(known) if known else None)

    @property
    def failed(self) -> bool:
        return self.verdict == "failed" or (self.settings.on_inconclusive == "fail" and bool(self.inconclusive))

    @property
    def inconclusive(self) -> list[ServiceWatch]:
        return [s for s in self.services if s.verdict == "inconclusive"]

    @property
    def superseded(self) -> list[ServiceWatch]:
        return [s for s in self.services if s.verdict == "superseded"]

    @property
    def budget(self) -> int:
        return self.settings.budget(len(self.services))

    def failure(self) -> str:
        bad = [s for s in self.services if s.verdict == "failed"]
        if bad:
            return "watch failed: " + "; ".join(s.evidence() for s in bad)
        if self.failed:
            return "watch inconclusive (on_inconclusive: fail): not enough traffic to judge"
        return ""

    def exit_code(self) -> int:
        return EXIT_FAILED if self.failed else EXIT_OK

    def headline(self) -> str:
        names = ", ".join(s.label for s in self.services)
        short = (
            f" (cut short at {human_duration(self.seconds)} of {human_duration(self.settings.duration)} by the "
            "release's time limit)"
            if self.cut_short
            else ""
        )
        gone = [s for s in self.services if s.verdict == "superseded"]
        if gone:
            names = ", ".join(s.label for s in self.services if s.verdict != "superseded")
        stopped = "; ".join(f"{s.label}: {s.reason}" for s in gone)
        if self.verdict == "superseded":
            rest = [f"{s.label} {s.verdict}" for s in self.services if s.verdict != "superseded"]
            return f"Watch stopped: {stopped}" + (
                f"; {', '.join(rest)} after {human_duration(self.seconds)}{short}" if rest else ""
            )
        if gone and self.verdict != "failed":
            short += f"; stopped early for {stopped}"
        return {
            "passed": f"Watch passed: {names} stayed healthy for {human_duration(self.seconds)}{short}",
            "inconclusive": f"Watch inconclusive: {names} stayed up, but there was not enough traffic to judge{short}",
            "failed": "Watch failed: " + "; ".join(s.evidence() for s in self.services if s.verdict == "failed"),
            "skipped": "Watch skipped",
        }.get(self.verdict, self.verdict)

    def outputs(self) -> dict[str, str]:
        return {
            "watch-verdict": self.verdict,
            "watch-evidence": json.dumps([s.to_json() for s in self.services], sort_keys=True, default=str),
        }

    def to_json(self) -> dict[str, Any]:
        return {
            "verdict": self.verdict,
            "headline": self.headline(),
            "seconds": self.seconds,
            "duration": self.settings.duration,
            "step": self.settings.step,
            "requests": self.requests,
            "budget": self.budget,
            "health_rounds": self.health_rounds,
            "health": self.health_detail,
            "thresholds": self.settings.thresholds.__dict__,
            "services": [s.to_json() for s in self.services],
            "rollbacks": [{"service": n, "restored": ok, "message": m} for n, ok, m in self.rollbacks],
            "detection": self.detection(),
            "after_release": self.after_release.to_json() if self.after_release else None,
            "service_files": self.service_files,
            "outputs": self.outputs(),
        }

    def text_lines(self, style: Style) -> list[str]:
        lines = [style.bold("kars-actions watch"), *(str(e["said"]) for e in self.service_files), ""]
        rows = []
        for s in self.services:
            for c in s.checks:
                rows.append([s.label, c.name, c.verdict, c.before, c.seen, c.threshold])
        if rows:
            lines += text_table(["service", "check", "verdict", "before", "during", "fails when"], rows)
            lines.append("")
        lines.append(f"Railway requests: {self.requests} (budget {self.budget})")
        lines.append(self.detection())
        for s in self.services:
            lines.append(f"{s.label} {s.judged()}")
        for service, restored, message in self.rollbacks:
            lines.append(f"rollback {service}: {'done' if restored else 'NOT done'} — {message}")
        if self.after_release is not None:
            lines += self.after_release.lines()
        if self.failed and not self.rollbacks and self.after_release is None:
            for s in self.services:
                if s.verdict == "failed":
                    lines.append(f"to roll {s.label} back: kars-actions rollback --service {s.label}")
        verdict = self.headline()
        lines.append(style.bad(verdict) if self.failed else style.ok(verdict))
        for s in self.services:
            if s.log_tail:
                lines.append(f"{s.label} log tail:")
                lines += ["  " + line for line in s.log_tail]
        return lines

    def summary_markdown(self) -> str:
        icon = "❌" if self.failed else ("⚠️" if self.verdict == "inconclusive" else "✅")
        sources = "".join(f"- {gha.md_escape(str(e['said']))}\n" for e in self.service_files)
        return f"## {icon} {gha.md_escape(self.headline())}\n\n" + (sources + "\n" if sources else "") + (
            self.section_markdown()
        )

    def section_markdown(self) -> str:
        """The watch's part of a step summary: the chart, the thresholds and what was seen, the budget."""
        md = ["### Watch window\n"]
        md.append(
            f"{human_duration(self.seconds)} of {human_duration(self.settings.duration)} watched, one look every "
            f"{self.settings.step}s; Railway requests: {self.requests} (budget {self.budget}); "
            f"health rounds: {self.health_rounds}.\n"
        )
        md.append(gha.md_escape(self.detection()[0].upper() + self.detection()[1:]) + ".\n")
        for s in self.services:
            md.append(f"{gha.md_escape(s.label)} {gha.md_escape(s.judged())}.\n")
        rows = []
        for s in self.services:
            for c in s.checks:
                rows.append(
                    [s.label, c.name, _verdict_icon(c.verdict) + " " + c.verdict, c.before, c.seen, c.threshold]
                )
        if rows:
            md.append(gha.md_table(["service", "check", "verdict", "before", "during", "fails when"], rows))
        for s in self.services:
            if s.reason:
                md.append(f"**{gha.md_escape(s.evidence())}**\n")
            if s.refused:
                md.append(
                    f"{gha.md_escape(s.label)}: Railway refused "
                    + ", ".join(f"{k} metrics ({v})" for k, v in s.refused.items())
                    + ": those checks are inconclusive.\n"
                )
            if s.unknown_looks:
                md.append(
                    f"{gha.md_escape(s.label)}: Railway could not be asked {s.unknown_looks} time(s) "
                    f"({gha.md_escape(s.unknown_reason or 'no answer')}); those looks decided nothing.\n"
                )
            chart = chart_markdown(s)
            if chart:
                md.append(chart)
            if s.error_lines:
                md.append(
                    f"<details><summary>{gha.md_escape(s.label)}: its latest 5xx requests</summary>\n\n```\n"
                    + "\n".join(s.error_lines)
                    + "\n```\n</details>\n"
                )
            if s.log_tail:
                md.append(
                    "<details><summary>Log tail</summary>\n\n```\n" + "\n".join(s.log_tail) + "\n```\n</details>\n"
                )
        if self.after_release is not None:
            md.append(self.after_release.markdown())
        return "\n".join(md)

    def annotations(self) -> list[Annotation]:
        if self.failed:
            return [Annotation("error", self.failure(), title="Watch failed")]
        if self.verdict == "inconclusive":
            return [Annotation("warning", "not enough traffic to judge the release", title="Watch inconclusive")]
        return []


def _verdict_icon(verdict: str) -> str:
    return {"passed": "✅", "failed": "❌", "inconclusive": "⚠️"}.get(verdict, "")


# --- The chart ------------------------------------------------------------------------------------------------------


def _groups(samples: Sequence[TrafficSample], count: int) -> list[list[TrafficSample]]:
    if not samples:
        return []
    size = max(1, -(-len(samples) // count))
    return [list(samples[i : i + size]) for i in range(0, len(samples), size)]


def chart_markdown(s: ServiceWatch, points: int = 10) -> str:
    """Mermaid xycharts of the 5xx ratio and p95 before (the old version) and during the watch."""
    groups = _groups(s.baseline, points) + _groups(s.window, points)
    if not groups or s.split_at is None:
        return ""
    labels = []
    ratios = []
    p95s = []
    for group in groups:
        offset = round(group[0].ts - s.split_at)
        minutes, seconds = divmod(abs(offset), 60)
        labels.append(f'"{"-" if offset < 0 else "+"}{minutes}:{seconds:02d}"')
        st = stats(group)
        ratios.append(round((st.error_ratio or 0.0) * 100, 2))
        p95s.append(round(st.p95_ms or 0.0))
    axis = ", ".join(labels)
    top_ratio = max(max(ratios) * 1.2, 1.0)
    top_p95 = max(max(p95s) * 1.2, 10.0)
    return (
        f'```mermaid\nxychart-beta\n    title "{s.label}: 5xx ratio (%), minutes from go-live"\n'
        f'    x-axis [{axis}]\n    y-axis "5xx %" 0 --> {top_ratio:.2f}\n    line {json.dumps(ratios)}\n```\n\n'
        f'```mermaid\nxychart-beta\n    title "{s.label}: p95 latency (ms), minutes from go-live"\n'
        f'    x-axis [{axis}]\n    y-axis "p95 ms" 0 --> {top_p95:.0f}\n    bar {json.dumps(p95s)}\n```\n'
    )


# --- The loop --------------------------------------------------------------------------------------------------------


def run_watch(
    client: RailwayClient,
    environment_id: str,
    services: Sequence[WatchedService],
    settings: WatchSettings,
    *,
    health: HealthProbe | None = None,
    progress: Progress = no_progress,
    deadline: Deadline | None = None,
    stop_when_replaced: bool = False,
    superseded_by_newer: bool = False,
) -> WatchResult:
    """Watch every service for ``settings.duration``; stop at the first failure (the caller rolls back).

    ``stop_when_replaced``: a service whose deployment no longer serves (a newer release, a rollback) is no longer
    watched — the long watch after a release must not judge, or undo, what came after it.
    ``superseded_by_newer``: a service whose deployment Railway replaced with one made after it (REMOVING or
    REMOVED, the newer one live) is superseded, not failed — the release's gate, where every watched deployment is
    the release's own, so the newer one is not.
    """
    clock = client.clock
    before = client.requests_sent
    started = clock.monotonic()
    end = started + settings.duration
    if deadline is not None:
        end = min(end, deadline.at)
    cut_short = end < started + settings.duration
    watches = [ServiceWatch(s.label, s.service_id, s.deployment_id, live_at=s.live_at) for s in services]
    readers = {w.label: MetricsReader(client, w.service_id, environment_id, settings.step) for w in watches}
    result = WatchResult(settings, watches, cut_short=cut_short)
    next_health = started + settings.health_interval

    def watching() -> list[ServiceWatch]:
        return [w for w in watches if w.verdict == "watching"]

    def judge(w: ServiceWatch) -> None:
        _judge(client, readers[w.label], w, settings, started, stop_when_replaced, superseded_by_newer)
        if w.verdict == "superseded":
            progress(f"{w.label}: {w.reason}")

    for w in watches:
        _first_look(client, readers[w.label], w, settings)
        judge(w)
    progress(_progress_line(watches, max(0.0, end - clock.monotonic())))
    while watching() and not any(w.verdict == "failed" for w in watches):
        now = clock.monotonic()
        if now >= end:
            break
        clock.sleep(min(settings.step, end - now))
        for w in watching():
            _look(client, readers[w.label], w, settings)
            judge(w)
            if w.verdict == "failed":
                break
        if any(w.verdict == "failed" for w in watches) or not watching():
            break
        if health is not None and clock.monotonic() >= next_health:
            ok, detail = health([w.label for w in watching()])  # not a superseded one: no longer this watch's
            result.health_rounds += 1
            result.health_detail = detail
            next_health = clock.monotonic() + settings.health_interval
            if not ok:
                for w in watching():
                    _trip(client, w, f"health check failed during the watch: {detail}", started)
                break
        progress(_progress_line(watches, max(0.0, end - clock.monotonic())))
    _wait_out_transient(client, readers, watching(), settings, deadline, judge)
    result.seconds = clock.monotonic() - started
    result.requests = client.requests_sent - before
    for w in watches:
        if w.verdict == "watching":
            w.verdict = (
                "inconclusive"
                if any(c.verdict == "inconclusive" and c.name != "memory" for c in w.checks)
                else "passed"
            )
    verdicts = {w.verdict for w in watches}
    if "failed" in verdicts:
        result.verdict = "failed"
    elif "superseded" in verdicts:
        result.verdict = "superseded"  # what it watched no longer all serves: never "passed"
    else:
        result.verdict = "inconclusive" if "inconclusive" in verdicts else "passed"
    return result


def _wait_out_transient(
    client: RailwayClient,
    readers: dict[str, MetricsReader],
    watches: Sequence[ServiceWatch],
    settings: WatchSettings,
    deadline: Deadline | None,
    judge: Callable[[ServiceWatch], None],
) -> None:
    """A deployment last seen in a transient status is no verdict: keep looking, within the stage's deadline,
    until it gets somewhere; still there at the deadline, its status check is inconclusive — never a pass."""
    clock = client.clock
    limit = deadline.at if deadline is not None else clock.monotonic()
    while not any(w.verdict == "failed" for w in watches):
        pending = [w for w in watches if w.verdict == "watching" and w.status in TRANSIENT_STATUSES]
        if not pending or clock.monotonic() >= limit:
            break
        clock.sleep(min(settings.step, limit - clock.monotonic()))
        for w in pending:
            _look(client, readers[w.label], w, settings)
            judge(w)
    for w in watches:
        if w.verdict == "watching" and w.status in TRANSIENT_STATUSES:
            w.checks = [
                *[c for c in w.checks if c.name != "status"],
                Check("status", "inconclusive", "live (SUCCESS or SLEEPING)", f"still {w.status} at the deadline"),
            ]


def _first_look(client: RailwayClient, reader: MetricsReader, w: ServiceWatch, settings: WatchSettings) -> None:
    """Status, executions, the service's other deployments, the baseline and the deployment's own requests, in one
    request: the baseline is the window of ``duration`` before go-live.

    Go-live is the deployment's statusUpdatedAt when it is recent. A deployment live for longer than the window
    (``kars-actions watch`` after a deploy by other means) is compared with its own previous window instead: the
    old version's traffic is gone by then.
    """
    now = client.server_time()
    # A first look retried after Railway did not answer keeps the watch's start as its reference.
    start = w.split_at if w.split_at is not None else now
    span = settings.duration + settings.step
    try:
        look = reader.look(start - 2 * span, now + settings.step, deployment_id=w.deployment_id)
    except ExternalError as error:
        w.unknown_looks += 1
        w.unknown_reason = error.message
        w.split_at = start
        return
    live_at = w.live_at
    if live_at is None and look.status in LIVE_STATUSES:
        live_at = look.status_updated_at
    recent = live_at is not None and start - settings.duration <= live_at <= now + settings.step
    w.live_at = live_at if recent else None
    split = live_at if recent and live_at is not None else start
    w.split_at = split
    w.first_look_done = True
    w.status = look.status or w.status
    if look.executions is not None:
        w.executions_known = tuple(e.id for e in look.executions)
        w.executions = look.executions
    # The step that holds the split mixes both sides: it belongs to neither.
    w.baseline = [s for s in look.traffic if split - settings.duration <= s.ts <= split - settings.step]
    w.service_traffic = [s for s in look.traffic if s.ts >= split]
    w.resources = [r for r in look.resources if r.ts >= split]
    w.refused = dict(look.refused)
    w.logs_since = now
    if look.log_lines is not None:
        w.lines = [line for line in look.log_lines if line.at >= split]
    _overlap(w, look.others, split)


def _overlap(w: ServiceWatch, others: Sequence[OtherDeployment] | None, split: float) -> None:
    """Whether an older deployment still takes traffic, and when the last one stopped (REMOVED, as Railway says)."""
    if others is None:
        if w.judged_from is None and "serving" in w.refused:
            w.judged_from = split  # Railway refused to say: the summary says what this rests on
        return
    w.others = tuple(others)
    serving = [o for o in others if o.serving]
    for o in serving:
        if o.id not in w.overlap_with:
            w.overlap_with.append(o.id)
    w.overlapping = bool(serving)
    if serving:
        return
    # Replaced after go-live: it served beside the new one until Railway removed it.
    ended = [o for o in others if o.status == "REMOVED" and (o.status_updated_at or 0.0) > split]
    w.overlap_with += [o.id for o in ended if o.id not in w.overlap_with]
    w.judged_from = max([split, *(o.status_updated_at or split for o in ended)])


def _look(client: RailwayClient, reader: MetricsReader, w: ServiceWatch, settings: WatchSettings) -> None:
    if not w.first_look_done:
        _first_look(client, reader, w, settings)
        return
    now = client.server_time()
    split = w.split_at if w.split_at is not None else now - settings.step
    metrics_from = w.metrics_from(settings.step)
    parts = ["status", "executions", "resources"]
    overlap = w.overlapping or w.judged_from is None
    replaced = w.status in REPLACED_STATUSES
    if overlap:
        parts += ["serving", "logs"]
    elif replaced:
        parts.append("serving")  # what replaced it: read while it is on its way out
    if metrics_from is not None:
        parts += ["http", "latency"]
    since = split
    if metrics_from is not None:
        after = [s for s in w.service_traffic if s.ts >= metrics_from]
        since = after[-1].ts if after else metrics_from
    if w.resources:
        since = min(since, w.resources[-1].ts)
    try:
        look = reader.look(
            since, now + settings.step, deployment_id=w.deployment_id, parts=parts, logs_since=w.logs_since or split
        )
    except ExternalError as error:
        # Unknown is a state of its own: the release may be fine or not; keep watching, never call it a pass.
        # Rolling back over an API hiccup would do harm too: a look Railway does not answer decides nothing.
        w.unknown_looks += 1
        w.unknown_reason = error.message
        return
    w.status = look.status or w.status
    if look.executions is not None:
        if w.executions_known is None:
            w.executions_known = tuple(e.id for e in look.executions)
        w.executions = look.executions
    w.service_traffic = merge(w.service_traffic, [s for s in look.traffic if s.ts >= split])
    w.resources = merge(w.resources, [r for r in look.resources if r.ts >= split])
    w.refused = dict(look.refused)
    if look.log_lines is not None:
        w.lines = merge_lines(w.lines, [line for line in look.log_lines if line.at >= split])
        w.logs_since = now
    if overlap:
        _overlap(w, look.others, split)
    elif look.others is not None:
        w.others = tuple(look.others)
    if w.status in REPLACED_STATUSES and "serving" not in parts:
        _read_replacement(reader, w, since, now + settings.step)


def _read_replacement(reader: MetricsReader, w: ServiceWatch, since: float, until: float) -> None:
    """The deployment was just seen replaced: one more request for the service's newest deployments, to know which
    one took its place before judging it."""
    try:
        look = reader.look(since, until, deployment_id=w.deployment_id, parts=["serving"])
    except ExternalError as error:
        w.unknown_looks += 1
        w.unknown_reason = error.message
        return
    if look.others is not None:
        w.others = tuple(look.others)


def _replacement(w: ServiceWatch) -> OtherDeployment | None:
    """The deployment serving in place of the watched one: made after it, and live (SUCCESS or SLEEPING)."""
    return next((o for o in w.others if o.newer and o.status in LIVE_STATUSES), None)


def _assemble(w: ServiceWatch, step: int) -> None:
    """The new deployment's traffic alone: its own logged requests until the metrics step after the overlap,
    Railway's service metrics from then on."""
    metrics_from = w.metrics_from(step)
    own = log_samples(w.lines, step)
    if metrics_from is None:
        w.window = own
        return
    w.window = [s for s in own if s.ts < metrics_from] + [s for s in w.service_traffic if s.ts >= metrics_from]


def _judge(
    client: RailwayClient,
    reader: MetricsReader,
    w: ServiceWatch,
    settings: WatchSettings,
    started: float,
    stop_when_replaced: bool = False,
    superseded_by_newer: bool = False,
) -> None:
    if w.verdict != "watching" or not w.first_look_done:
        return
    t = settings.thresholds
    if w.status in REPLACED_STATUSES:
        newer = _replacement(w)
        if stop_when_replaced or (superseded_by_newer and newer is not None):
            w.verdict = "superseded"
            w.replaced_by = newer.id if newer is not None else None
            w.reason = f"deployment {w.deployment_id} is {w.status}" + (
                f" (replaced by deployment {newer.id}): no longer watched" if newer else ": no longer watched"
            )
            return
    if w.status in TRANSIENT_STATUSES:
        return  # on its way to another status (REMOVING while Railway drains it, say): judged once it gets there
    if w.status not in LIVE_STATUSES and w.status != "UNKNOWN":
        w.log_tail = _log_tail(client, w.deployment_id)
        _trip(client, w, f"deployment {w.deployment_id} is {w.status}", started)
        return
    restart = execution_trouble(w.executions_known or (), w.executions)
    if restart:
        w.log_tail = _log_tail(client, w.deployment_id)
        _trip(client, w, f"deployment {w.deployment_id} {restart}", started)
        return
    _assemble(w, settings.step)
    checks, recent = judge_traffic(w.baseline, w.window, t)
    refused_traffic = {
        "http": "http" in w.refused and w.metrics_from(settings.step) is not None,
        "latency": "latency" in w.refused and w.metrics_from(settings.step) is not None,
        "logs": "logs" in w.refused and (w.overlapping or w.judged_from is None),
    }
    for part, names in (("http", ("5xx ratio",)), ("latency", ("p95 latency", "p99 latency"))):
        why = f"Railway refused {part} metrics" if refused_traffic[part] else None
        if refused_traffic["logs"]:
            why = "Railway refused the deployment's HTTP logs during the overlap"
        if why:
            checks = [
                Check(c.name, "inconclusive", c.threshold, why, c.before) if c.name in names else c for c in checks
            ]
    memory = judge_memory(w.resources, t)
    if memory is not None:
        checks.append(memory)
    w.checks = checks
    w.recent = recent
    failed = [c for c in checks if c.failed]
    if failed:
        if any(c.name == "5xx ratio" for c in failed):
            w.error_lines = _error_lines(reader, w.deployment_id)
        _trip(
            client,
            w,
            "; ".join(f"{c.name} {c.seen} (before {c.before}; fails when {c.threshold})" for c in failed),
            started,
        )


def _trip(client: RailwayClient, w: ServiceWatch, reason: str, started: float) -> None:
    w.verdict = "failed"
    w.reason = reason
    w.tripped_after = client.clock.monotonic() - started
    w.tripped_at = client.server_time()


def _log_tail(client: RailwayClient, deployment_id: str) -> tuple[str, ...]:
    try:
        return tuple(line for line in client.logs(deployment_id, build=False, limit=20) if line.strip())
    except ExternalError:
        return ()


def _error_lines(reader: MetricsReader, deployment_id: str) -> tuple[str, ...]:
    """Evidence that the errors are the new deployment's own: its latest 5xx requests, from its HTTP logs."""
    try:
        return tuple(reader.error_lines(deployment_id))
    except ExternalError:
        return ()


def _progress_line(watches: Sequence[ServiceWatch], left: float) -> str:
    parts = [f"watch: {human_duration(left)} left"]
    for w in watches:
        if w.verdict == "superseded":
            parts.append(f"{w.label}: superseded, no longer watched")
            continue
        base = w.baseline_stats
        recent = w.recent
        memory = next((r.memory_gb for r in reversed(w.resources) if r.memory_gb is not None), None)
        figures = [w.status]
        if w.overlapping:
            figures.append(f"own logs while {', '.join(w.overlap_with)} still serves")
        if recent is not None:
            figures.append(f"5xx {pct(recent.error_ratio)} (before {pct(base.error_ratio if base else None)})")
            figures.append(f"p95 {ms(recent.p95_ms)} (before {ms(base.p95_ms if base else None)})")
            figures.append(f"{recent.requests:.0f} req")
        else:
            figures.append("not enough traffic to judge yet")
        if memory is not None:
            figures.append(f"mem {memory:.2f} GB")
        parts.append(f"{w.label}: " + ", ".join(figures))
    return " · ".join(parts)


# --- ``kars-actions watch`` on its own ---------------------------------------------------------------------------


@dataclass(frozen=True)
class WatchRequest:
    services: tuple[str, ...]  # kars.yml names or Railway names/ids
    settings: WatchSettings
    project: str | None = None
    environment: str | None = None
    service_urls: dict[str, str] = field(default_factory=dict)
    health: bool = True
    rollback: bool = False  # on failure, put back the deployment that served before the watched one
    rollback_timeout: float = 600.0


def watched_target(
    client: RailwayClient, config: Config, services: Sequence[str], project: str | None, environment: str | None
) -> RailwayTarget:
    """The services to watch (kars.yml names or Railway names/ids), resolved in the project and environment."""
    from kars_actions.railway.deploy import resolve_target

    labels = {config.services[s].railway_service if s in config.services else s: s for s in services}
    return resolve_target(client, project or config.project, environment, list(labels), labels=labels)


def health_probe(
    config: Config,
    snapshots: Mapping[str, ServiceSnapshot],
    services: Sequence[str],
    service_urls: Mapping[str, str],
    clock: Clock,
) -> HealthProbe | None:
    """One slow-paced round of the kars.yml health checks of ``services`` (their Railway domains, or the URLs
    given): a few tries each, no version demanded. None when no service has a health check."""
    from kars_actions.health.plan import HealthPlan, plan_targets
    from kars_actions.health.poll import PollSettings, check_health

    urls = {label: snap.url for label, snap in snapshots.items() if snap.url}
    urls.update(service_urls)
    planned = plan_targets(HealthPlan(services=tuple(services), service_urls=urls), config)
    targets = [t for t in planned if t.service in services]
    if not targets:
        return None

    def probe(watched: Sequence[str]) -> tuple[bool, str]:
        chosen = [t for t in targets if t.service in watched]
        if not chosen:
            return True, "no health checks for the services still watched"
        health = check_health(chosen, settings=PollSettings(stable_passes=1, retries=3), deadline=60.0, clock=clock)
        if health.healthy:
            return True, f"{len(health.outcomes)} target(s) healthy"
        return False, "; ".join(
            f"{o.target.name}: " + ("; ".join(str(f) for f in o.failures) or o.reason) for o in health.unhealthy()
        )

    return probe


def watch_services(
    request: WatchRequest,
    client: RailwayClient,
    config: Config,
    *,
    progress: Progress = no_progress,
    clock: Clock = SYSTEM_CLOCK,
) -> WatchResult:
    """Watch what is live now (after a deploy by other means, say): the same checks as the release's watch."""
    from kars_actions.railway.api import parse_time
    from kars_actions.railway.deploy import snapshot_services

    target = watched_target(client, config, request.services, request.project, request.environment)
    labels = {ref.name: ref.label for ref in target.services}
    snapshots = snapshot_services(client, target)
    watched = []
    for ref in target.services:
        live = snapshots[ref.label].rollback_target
        if live is None:
            raise CheckFailed(
                f"{ref.label} has no live deployment in {target.environment_name}: nothing to watch",
                hint="deploy it first (kars-actions deploy), then watch",
            )
        watched.append(WatchedService(ref.label, ref.id, live.id, live_at=parse_time(live.status_updated_at)))
    services = tuple(labels.values())
    probe = health_probe(config, snapshots, services, request.service_urls, clock) if request.health else None
    result = run_watch(client, target.environment_id, watched, request.settings, health=probe, progress=progress)
    result.environment = target.environment_name
    if request.rollback and result.failed:
        _roll_back_failed(client, target, result, request.rollback_timeout, progress, config)
    return result


def _roll_back_failed(
    client: RailwayClient,
    target: RailwayTarget,
    result: WatchResult,
    timeout: float,
    progress: Progress,
    config: Config,
) -> None:
    """``--rollback``: each failed service back to the deployment that served before the watched one (still
    draining during the overlap: waited for, never passed over for an older one)."""
    from kars_actions.railway.rollback import rollback_service
    from kars_actions.release.rollback import version_names

    describe = version_names(config.root, config.release.tag_prefix)

    refs = {ref.label: ref for ref in target.services}
    # Failed on inconclusive checks alone (on_inconclusive: fail): every service watched is put back.
    everything = result.failed and not any(w.verdict == "failed" for w in result.services)
    for w in result.services:
        if w.verdict == "superseded" or (w.verdict != "failed" and not everything):
            continue
        progress(f"{w.label}: rolling back to the deployment before {w.deployment_id}")
        try:
            outcome = rollback_service(
                client,
                target,
                refs[w.label],
                failed_deployment_id=w.deployment_id,
                progress=progress,
                deadline=Deadline(timeout, client.clock),
                describe=describe,
            )
            result.rollbacks.append((w.label, outcome.ok, outcome.message))
        except KarsError as error:
            result.rollbacks.append((w.label, False, error.message))
