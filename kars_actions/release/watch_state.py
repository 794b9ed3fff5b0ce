"""The watch window's settings and what it saw of each service: the state the loop (``watch``) fills in and the
reporter (``watch_report``) reads — the baseline and the window, the checks, the verdict and its evidence."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from kars_actions.core.config import WatchConfig
from kars_actions.core.timing import human_duration
from kars_actions.railway.metrics import (
    Check,
    Execution,
    LogLine,
    OtherDeployment,
    ResourceSample,
    Thresholds,
    TrafficSample,
    TrafficStats,
    clock_time,
    iso,
    looks_to_catch,
    stats,
)

DEFAULT_DURATION = 300.0  # the release's gate: five minutes, long enough for a crash loop or an error spike to show
DEFAULT_AFTER_RELEASE = 1800.0  # the long watch after the release, in its own job: thirty minutes
DEFAULT_STEP = 30
DEFAULT_HEALTH_INTERVAL = 60.0


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
    replacement_unknown: bool = False  # seen replaced, and Railway did not answer what replaced it
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
        if "serving" in self.refused and not self.overlap_with:
            return (
                f"judged: from {since}, on Railway's service metrics (Railway refused to list the service's "
                "deployments, so an older one still serving could not be ruled out)"
            )
        if not self.overlap_with:
            return f"judged: new deployment only, from {since}"
        older = ", ".join(self.overlap_with)
        own = "its own HTTP logs" if "logs" not in self.refused else "nothing (Railway refused its HTTP logs)"
        if self.overlapping or self.judged_from is None:
            until = (
                "when Railway last listed the service's deployments; it refused to list them after that"
                if "serving" in self.refused
                else "when the watch ended"
            )
            return f"judged: new deployment only, from {since}: {own} ({older} still served {until})"
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
