"""The watch window's data: a deployment's status and instances, its HTTP and resource metrics, and the verdicts.

One look at a service is one GraphQL request holding every field the watch needs, so a 10-minute watch of two
services at a 30 s step costs about 42 requests (Railway allows 1,000 an hour on Hobby, 100 on Free). A field
Railway refuses (a plan without HTTP metrics, say) is dropped after one refusal and its checks become
inconclusive: the watch never passes or fails on data it could not read.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from kars_actions.core.timing import Deadline
from kars_actions.railway.api import DOCUMENTS, RailwayAPIError, RailwayClient, parse_time

# --- Documents -----------------------------------------------------------------------------------------------------
# A look asks for any combination of four parts; each combination is one registered document, so every one of them
# is validated against Railway's schema by the tests.

PARTS = ("status", "instances", "http", "latency", "resources")
_PART_VARIABLES = {
    "status": ("$deploymentId: String!",),
    "instances": ("$deploymentId: String!",),
    "http": (
        "$serviceId: String!",
        "$environmentId: String!",
        "$startDate: DateTime!",
        "$endDate: DateTime!",
        "$stepSeconds: Int",
    ),
    "latency": (
        "$serviceId: String!",
        "$environmentId: String!",
        "$startDate: DateTime!",
        "$endDate: DateTime!",
        "$stepSeconds: Int",
    ),
    "resources": (
        "$serviceId: String!",
        "$environmentId: String!",
        "$startDate: DateTime!",
        "$endDate: DateTime!",
        "$stepSeconds: Int",
    ),
}
_WINDOW = "serviceId: $serviceId, environmentId: $environmentId, startDate: $startDate, endDate: $endDate"
_PART_FIELDS = {
    "status": "deployment(id: $deploymentId) { id status statusUpdatedAt }",
    # Apart from the status, so an API that refuses instances still has its crashes seen.
    "instances": "instances: deployment(id: $deploymentId) { id instances { id status } }",
    "http": f"httpMetricsGroupedByStatus({_WINDOW}, stepSeconds: $stepSeconds) {{ statusCode samples {{ ts value }} }}",
    "latency": f"httpDurationMetrics({_WINDOW}, stepSeconds: $stepSeconds) {{ samples {{ ts p50 p95 p99 }} }}",
    "resources": (
        f"metrics({_WINDOW}, sampleRateSeconds: $stepSeconds, measurements: [MEMORY_USAGE_GB, CPU_USAGE]) "
        "{ measurement values { ts value } }"
    ),
}


def _operation_name(parts: Iterable[str]) -> str:
    return "Watch" + "".join(p.capitalize() for p in PARTS if p in set(parts))


def _register_looks() -> None:
    for size in range(1, len(PARTS) + 1):
        for combo in itertools.combinations(PARTS, size):
            variables = list(dict.fromkeys(v for p in combo for v in _PART_VARIABLES[p]))
            body = "\n  ".join(_PART_FIELDS[p] for p in combo)
            name = _operation_name(combo)
            DOCUMENTS[name] = f"query {name}({', '.join(variables)}) {{\n  {body}\n}}"


_register_looks()


# --- Data ------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TrafficSample:
    """One step of real traffic: requests, how many answered 5xx, and the latency percentiles (ms)."""

    ts: int
    requests: float = 0.0
    errors: float = 0.0
    p95_ms: float | None = None
    p99_ms: float | None = None


@dataclass(frozen=True)
class ResourceSample:
    ts: int
    memory_gb: float | None = None
    cpu: float | None = None


@dataclass(frozen=True)
class Instance:
    id: str
    status: str


@dataclass(frozen=True)
class Look:
    """What one request told about a service. ``None`` parts were not asked for or not answered."""

    status: str | None = None
    status_updated_at: float | None = None
    instances: tuple[Instance, ...] | None = None
    traffic: tuple[TrafficSample, ...] = ()
    resources: tuple[ResourceSample, ...] = ()
    refused: Mapping[str, str] = field(default_factory=dict)  # part -> Railway's message


def iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat().replace("+00:00", "Z")


class MetricsReader:
    """Reads looks for one service, remembering which parts Railway refused so each refusal costs one request."""

    def __init__(self, client: RailwayClient, service_id: str, environment_id: str, step: int) -> None:
        self.client = client
        self.service_id = service_id
        self.environment_id = environment_id
        self.step = max(1, int(step))
        self.refused: dict[str, str] = {}

    def look(
        self,
        start: float,
        end: float,
        *,
        deployment_id: str | None = None,
        parts: Sequence[str] = PARTS,
        deadline: Deadline | None = None,
    ) -> Look:
        wanted = [
            p
            for p in PARTS
            if p in parts and p not in self.refused and (p not in ("status", "instances") or deployment_id)
        ]
        while wanted:
            try:
                data = self.client.query(
                    _operation_name(wanted), self._variables(wanted, start, end, deployment_id), deadline
                )
            except RailwayAPIError as error:
                if len(wanted) == 1:
                    self.refused[wanted[0]] = _first_message(error)
                    return Look(refused=dict(self.refused))
                # Which part was refused? Ask for each alone, once; then carry on without the refused ones.
                found = self._probe(wanted, start, end, deployment_id, deadline)
                if not found:
                    raise
                wanted = [p for p in wanted if p not in self.refused]
                continue
            return replace(parse_look(data), refused=dict(self.refused))
        return Look(refused=dict(self.refused))

    def _probe(
        self, wanted: Sequence[str], start: float, end: float, deployment_id: str | None, deadline: Deadline | None
    ) -> bool:
        found = False
        for part in wanted:
            try:
                self.client.query(_operation_name([part]), self._variables([part], start, end, deployment_id), deadline)
            except RailwayAPIError as error:
                self.refused[part] = _first_message(error)
                found = True
        return found

    def _variables(self, parts: Sequence[str], start: float, end: float, deployment_id: str | None) -> dict[str, Any]:
        variables: dict[str, Any] = {}
        if "status" in parts or "instances" in parts:
            variables["deploymentId"] = deployment_id
        if any(p not in ("status", "instances") for p in parts):
            variables.update(
                serviceId=self.service_id,
                environmentId=self.environment_id,
                startDate=iso(start),
                endDate=iso(end),
                stepSeconds=self.step,
            )
        return variables


def _first_message(error: RailwayAPIError) -> str:
    return error.messages[0] if error.messages else error.message


def parse_look(data: Mapping[str, Any]) -> Look:
    """Turn the answer of a look document into samples keyed by their timestamps."""
    status = updated = instances = None
    deployment = data.get("deployment")
    if isinstance(deployment, Mapping):
        status = str(deployment.get("status") or "UNKNOWN")
        updated = parse_time(deployment.get("statusUpdatedAt"))
    aliased = data.get("instances")
    if isinstance(aliased, Mapping):
        instances = tuple(Instance(str(i.get("id")), str(i.get("status"))) for i in aliased.get("instances") or () if i)
    requests: dict[int, float] = {}
    errors: dict[int, float] = {}
    for group in data.get("httpMetricsGroupedByStatus") or ():
        code = int(group.get("statusCode") or 0)
        for sample in group.get("samples") or ():
            ts = int(sample["ts"])
            value = float(sample.get("value") or 0.0)
            requests[ts] = requests.get(ts, 0.0) + value
            if 500 <= code <= 599:
                errors[ts] = errors.get(ts, 0.0) + value
    latency: dict[int, tuple[float, float]] = {}
    duration = data.get("httpDurationMetrics")
    if isinstance(duration, Mapping):
        for sample in duration.get("samples") or ():
            latency[int(sample["ts"])] = (float(sample.get("p95") or 0.0), float(sample.get("p99") or 0.0))
    traffic = []
    for ts in sorted(set(requests) | set(latency)):
        p95, p99 = latency.get(ts, (None, None))
        traffic.append(TrafficSample(ts, requests.get(ts, 0.0), errors.get(ts, 0.0), p95, p99))
    memory: dict[int, float] = {}
    cpu: dict[int, float] = {}
    for result in data.get("metrics") or ():
        target = memory if result.get("measurement") == "MEMORY_USAGE_GB" else cpu
        for value in result.get("values") or ():
            target[int(value["ts"])] = float(value.get("value") or 0.0)
    resources = tuple(ResourceSample(ts, memory.get(ts), cpu.get(ts)) for ts in sorted(set(memory) | set(cpu)))
    return Look(status, updated, instances, tuple(traffic), resources)


def merge(old: Sequence[Any], new: Sequence[Any]) -> list[Any]:
    """Samples by timestamp; a newer answer for the same step (a step that was still filling) replaces the older."""
    by_ts = {s.ts: s for s in old}
    by_ts.update({s.ts: s for s in new})
    return [by_ts[ts] for ts in sorted(by_ts)]


# --- Judging ---------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Thresholds:
    """When a watch fails. Ratios are fractions (0.02 = 2 %); latencies in milliseconds."""

    min_requests: int = 100  # fewer requests than this in a stretch: "not enough traffic to judge"
    error_ratio_floor: float = 0.02  # the 5xx ratio must rise past this absolute floor ...
    error_ratio_multiple: float = 2.0  # ... and past this multiple of the baseline's
    p95_multiple: float = 1.5
    p99_multiple: float | None = None
    latency_floor_ms: float = 50.0  # a p95 rise smaller than this many ms never fails the watch
    memory_ceiling_gb: float | None = None


@dataclass(frozen=True)
class TrafficStats:
    requests: float
    errors: float
    p95_ms: float | None
    p99_ms: float | None
    start: int | None = None
    end: int | None = None

    @property
    def error_ratio(self) -> float | None:
        return self.errors / self.requests if self.requests > 0 else None


def stats(samples: Sequence[TrafficSample]) -> TrafficStats:
    """Totals over samples; percentiles as the request-weighted mean of each step's (exact merging needs raw data)."""
    requests = sum(s.requests for s in samples)
    errors = sum(s.errors for s in samples)
    return TrafficStats(
        requests,
        errors,
        _weighted([(s.p95_ms, s.requests) for s in samples]),
        _weighted([(s.p99_ms, s.requests) for s in samples]),
        samples[0].ts if samples else None,
        samples[-1].ts if samples else None,
    )


def _weighted(pairs: Sequence[tuple[float | None, float]]) -> float | None:
    known = [(v, w) for v, w in pairs if v is not None]
    if not known:
        return None
    total = sum(w for _, w in known)
    if total <= 0:
        return sum(v for v, _ in known) / len(known)
    return sum(v * w for v, w in known) / total


def recent_stretch(samples: Sequence[TrafficSample], min_requests: int) -> list[TrafficSample] | None:
    """The shortest run of latest steps holding at least ``min_requests`` requests; None if all of them hold fewer."""
    total = 0.0
    for index in range(len(samples) - 1, -1, -1):
        total += samples[index].requests
        if total >= min_requests:
            return list(samples[index:])
    return None


@dataclass(frozen=True)
class Check:
    """One metric's verdict: passed, failed or inconclusive (Argo's three outcomes), with the numbers behind it."""

    name: str
    verdict: str  # passed | failed | inconclusive
    threshold: str
    seen: str
    before: str = "-"

    @property
    def failed(self) -> bool:
        return self.verdict == "failed"


def pct(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.2f}%"


def ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f}ms"


def judge_errors(baseline: TrafficStats | None, recent: TrafficStats | None, t: Thresholds) -> Check:
    base_ratio = baseline.error_ratio if baseline and baseline.requests >= t.min_requests else None
    limit = max(t.error_ratio_floor, (base_ratio or 0.0) * t.error_ratio_multiple)
    threshold = f"> {pct(t.error_ratio_floor)} and > {t.error_ratio_multiple:g}× before"
    before = pct(base_ratio) if base_ratio is not None else "not enough traffic"
    if recent is None or recent.error_ratio is None:
        return Check(
            "5xx ratio", "inconclusive", threshold, f"not enough traffic to judge (< {t.min_requests} requests)", before
        )
    seen = f"{pct(recent.error_ratio)} of {recent.requests:.0f} requests"
    return Check("5xx ratio", "failed" if recent.error_ratio > limit else "passed", threshold, seen, before)


def judge_latency(
    baseline: TrafficStats | None, recent: TrafficStats | None, t: Thresholds, which: str = "p95"
) -> Check:
    multiple = t.p95_multiple if which == "p95" else t.p99_multiple
    assert multiple is not None
    name = f"{which} latency"
    threshold = f"> {multiple:g}× before and +{t.latency_floor_ms:g}ms"
    base = getattr(baseline, f"{which}_ms") if baseline and baseline.requests >= t.min_requests else None
    now = getattr(recent, f"{which}_ms") if recent is not None else None
    if now is None:
        return Check(
            name, "inconclusive", threshold, f"not enough traffic to judge (< {t.min_requests} requests)", ms(base)
        )
    if base is None:
        return Check(name, "inconclusive", threshold, f"{ms(now)}; no baseline to compare with", "not enough traffic")
    tripped = now > base * multiple and now - base > t.latency_floor_ms
    return Check(name, "failed" if tripped else "passed", threshold, ms(now), ms(base))


def judge_memory(samples: Sequence[ResourceSample], t: Thresholds) -> Check | None:
    memory = [s.memory_gb for s in samples if s.memory_gb is not None]
    threshold = f"> {t.memory_ceiling_gb:g} GB" if t.memory_ceiling_gb is not None else "reported only"
    if not memory:
        return Check("memory", "inconclusive", threshold, "no memory samples") if t.memory_ceiling_gb else None
    growth = memory[-1] - memory[0]
    seen = f"{memory[-1]:.2f} GB (grew {growth:+.2f} GB in the window, peak {max(memory):.2f} GB)"
    if t.memory_ceiling_gb is None:
        return Check("memory", "passed", threshold, seen, f"{memory[0]:.2f} GB")
    return Check(
        "memory", "failed" if max(memory) > t.memory_ceiling_gb else "passed", threshold, seen, f"{memory[0]:.2f} GB"
    )


def judge_traffic(
    baseline: Sequence[TrafficSample], window: Sequence[TrafficSample], t: Thresholds
) -> tuple[list[Check], TrafficStats | None]:
    """The 5xx and latency checks on the most recent stretch with enough requests, against the baseline."""
    base = stats(baseline) if baseline else None
    stretch = recent_stretch(window, t.min_requests)
    recent = stats(stretch) if stretch else None
    checks = [judge_errors(base, recent, t), judge_latency(base, recent, t, "p95")]
    if t.p99_multiple is not None:
        checks.append(judge_latency(base, recent, t, "p99"))
    return checks, recent


def instance_change(start: Sequence[Instance] | None, now: Sequence[Instance] | None) -> str | None:
    """Why the instances show a restart: a new instance id, or one that is restarting, crashed or exited."""
    if start is None or now is None:
        return None
    known = {i.id for i in start}
    new = [i.id for i in now if i.id not in known]
    bad = [f"{i.id} {i.status}" for i in now if i.status in ("RESTARTING", "CRASHED", "EXITED")]
    if bad:
        return "instance " + ", ".join(bad)
    if new:
        return "restarted: new instance " + ", ".join(new)
    return None


def window_start(live_at: float | None, now: float, duration: float) -> float:
    """When the window's data begins: the go-live time when Railway gave it, else ``duration`` ago."""
    return live_at if live_at is not None and live_at <= now else now - duration


def live_time(value: str | None) -> float | None:
    return parse_time(value)
