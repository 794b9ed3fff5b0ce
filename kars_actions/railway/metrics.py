"""The watch window's data: a deployment's status and instance executions, its own HTTP logs while an older
deployment still takes traffic, the service's HTTP metrics once it serves alone, its resources; and the verdicts.

One look at a service is one GraphQL request holding every field the watch needs, so a 10-minute watch of two
services at a 30 s step costs about 42 requests (Railway allows 1,000 an hour on Hobby, 100 on Free). A field
Railway refuses (a plan without HTTP metrics, say) is dropped after one refusal and its checks become
inconclusive: the watch never passes or fails on data it could not read.

Railway's HTTP metrics (``httpMetricsGroupedByStatus``, ``httpDurationMetrics``) take no deployment argument: while
the replaced deployment still serves (REMOVING, for the service's ``overlapSeconds``) they mix both versions. So
until Railway says no other deployment serves, a look reads the new deployment's own requests from
``httpLogs(deploymentId)`` instead: at most ``LOG_LIMIT`` lines, the newest of the span, in the same request.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from kars_actions.core.timing import Deadline
from kars_actions.railway.api import DOCUMENTS, RailwayAPIError, RailwayClient, parse_time

LOG_LIMIT = 500  # httpLogs lines per look during an overlap: a 30 s step of 1,000 requests a minute fits
SERVING_STATUSES = frozenset({"SUCCESS", "SLEEPING", "REMOVING"})  # a deployment in these may still take traffic
RESTART_STATUSES = frozenset({"RESTARTING", "CRASHED", "EXITED"})  # an instance in these is not serving as it was

# --- Documents -----------------------------------------------------------------------------------------------------
# A look asks for any combination of its parts; each combination is one registered document, so every one of them
# is validated against Railway's schema by the tests.

PARTS = ("status", "executions", "serving", "logs", "http", "latency", "resources")
_SERVICE = ("$serviceId: String!", "$environmentId: String!")
_WINDOW_VARIABLES = (*_SERVICE, "$startDate: DateTime!", "$endDate: DateTime!", "$stepSeconds: Int")
_PART_VARIABLES = {
    "status": ("$deploymentId: String!",),
    "executions": _SERVICE,
    "serving": _SERVICE,
    "logs": ("$deploymentId: String!", "$logsAfter: String", "$logsBefore: String", "$logsLimit: Int"),
    "http": _WINDOW_VARIABLES,
    "latency": _WINDOW_VARIABLES,
    "resources": _WINDOW_VARIABLES,
}
_WINDOW = "serviceId: $serviceId, environmentId: $environmentId, startDate: $startDate, endDate: $endDate"
_PART_FIELDS = {
    "status": "deployment(id: $deploymentId) { id status statusUpdatedAt }",
    # Every start of the service's instances, with its status: a crash loop shows here while the deployment
    # itself still says SUCCESS (Railway restarts a crashed instance up to 10 times by default).
    "executions": (
        "deploymentInstanceExecutions(input: {environmentId: $environmentId, serviceId: $serviceId}, first: 50) "
        "{ edges { node { id deploymentId status createdAt completedAt } } }"
    ),
    # The service's newest deployments: any other one still SUCCESS, SLEEPING or REMOVING may take traffic.
    "serving": (
        "serving: deployments(first: 5, input: {environmentId: $environmentId, serviceId: $serviceId}) "
        "{ edges { node { id status statusUpdatedAt } } }"
    ),
    "logs": (
        "httpLogs(deploymentId: $deploymentId, afterDate: $logsAfter, beforeDate: $logsBefore, limit: $logsLimit) "
        "{ timestamp httpStatus totalDuration }"
    ),
    "http": f"httpMetricsGroupedByStatus({_WINDOW}, stepSeconds: $stepSeconds) {{ statusCode samples {{ ts value }} }}",
    "latency": f"httpDurationMetrics({_WINDOW}, stepSeconds: $stepSeconds) {{ samples {{ ts p50 p95 p99 }} }}",
    "resources": (
        f"metrics({_WINDOW}, sampleRateSeconds: $stepSeconds, groupBy: [DEPLOYMENT_ID], "
        "measurements: [MEMORY_USAGE_GB, MEMORY_LIMIT_GB, CPU_USAGE]) "
        "{ measurement tags { deploymentId } values { ts value } }"
    ),
}
_DEPLOYMENT_PARTS = frozenset({"status", "logs"})
_SERVICE_PARTS = frozenset({"executions", "serving", "http", "latency", "resources"})
_WINDOW_PARTS = frozenset({"http", "latency", "resources"})

DOCUMENTS["WatchErrorLines"] = """query WatchErrorLines($deploymentId: String!, $filter: String, $limit: Int) {
  httpLogs(deploymentId: $deploymentId, filter: $filter, limit: $limit) {
    timestamp httpStatus method path totalDuration
  }
}"""
ERROR_FILTER = "@httpStatus:500..599"


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
    memory_limit_gb: float | None = None


@dataclass(frozen=True)
class Execution:
    """One start of an instance of a deployment, as ``deploymentInstanceExecutions`` tells it."""

    id: str
    deployment_id: str
    status: str
    created_at: float | None = None
    completed_at: float | None = None


@dataclass(frozen=True)
class OtherDeployment:
    """Another deployment of the service, from the newest few: may it still take traffic, and since when not."""

    id: str
    status: str
    status_updated_at: float | None = None
    newer: bool | None = None  # made after the watched deployment (Railway lists newest first); None: not known

    @property
    def serving(self) -> bool:
        return self.status in SERVING_STATUSES


@dataclass(frozen=True)
class LogLine:
    at: float
    status: int
    duration_ms: float


@dataclass(frozen=True)
class Look:
    """What one request told about a service. ``None`` parts were not asked for or not answered."""

    status: str | None = None
    status_updated_at: float | None = None
    executions: tuple[Execution, ...] | None = None
    others: tuple[OtherDeployment, ...] | None = None  # the service's other recent deployments
    log_lines: tuple[LogLine, ...] | None = None
    traffic: tuple[TrafficSample, ...] = ()
    resources: tuple[ResourceSample, ...] = ()
    refused: Mapping[str, str] = field(default_factory=dict)  # part -> Railway's message


def iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat().replace("+00:00", "Z")


def clock_time(epoch: float) -> str:
    """``12:04:10``: when, in UTC, for a sentence."""
    return datetime.fromtimestamp(epoch, UTC).strftime("%H:%M:%S")


class MetricsReader:
    """Reads looks for one service, remembering which parts Railway refused so each refusal costs one request."""

    def __init__(
        self, client: RailwayClient, service_id: str, environment_id: str, step: int, log_limit: int = LOG_LIMIT
    ) -> None:
        self.client = client
        self.service_id = service_id
        self.environment_id = environment_id
        self.step = max(1, int(step))
        self.log_limit = max(1, int(log_limit))
        self.refused: dict[str, str] = {}

    def look(
        self,
        start: float,
        end: float,
        *,
        deployment_id: str | None = None,
        parts: Sequence[str] = PARTS,
        logs_since: float | None = None,
        deadline: Deadline | None = None,
    ) -> Look:
        """The service from ``start`` to ``end`` (epoch seconds); the new deployment's logs from ``logs_since``."""
        wanted = [
            p
            for p in PARTS
            if p in parts and p not in self.refused and (p not in _DEPLOYMENT_PARTS or deployment_id)
        ]
        window = (start, end, logs_since if logs_since is not None else start)
        while wanted:
            try:
                data = self.client.query(
                    _operation_name(wanted), self._variables(wanted, window, deployment_id), deadline
                )
            except RailwayAPIError as error:
                if len(wanted) == 1:
                    self.refused[wanted[0]] = _first_message(error)
                    return Look(refused=dict(self.refused))
                # Which part was refused? Ask for each alone, once; then carry on without the refused ones.
                found = self._probe(wanted, window, deployment_id, deadline)
                if not found:
                    raise
                wanted = [p for p in wanted if p not in self.refused]
                continue
            return replace(parse_look(data, deployment_id, self.step), refused=dict(self.refused))
        return Look(refused=dict(self.refused))

    def error_lines(self, deployment_id: str, limit: int = 5, deadline: Deadline | None = None) -> list[str]:
        """The deployment's latest 5xx requests, as evidence that the errors are its own."""
        data = self.client.query(
            "WatchErrorLines", {"deploymentId": deployment_id, "filter": ERROR_FILTER, "limit": limit}, deadline
        )
        lines = []
        for line in data.get("httpLogs") or ():
            lines.append(
                f"{line.get('timestamp')} {line.get('method')} {line.get('path')} → {line.get('httpStatus')} "
                f"({line.get('totalDuration')} ms)"
            )
        return lines

    def _probe(
        self,
        wanted: Sequence[str],
        window: tuple[float, float, float],
        deployment_id: str | None,
        deadline: Deadline | None,
    ) -> bool:
        found = False
        for part in wanted:
            try:
                self.client.query(_operation_name([part]), self._variables([part], window, deployment_id), deadline)
            except RailwayAPIError as error:
                self.refused[part] = _first_message(error)
                found = True
        return found

    def _variables(
        self, parts: Sequence[str], window: tuple[float, float, float], deployment_id: str | None
    ) -> dict[str, Any]:
        start, end, logs_since = window
        variables: dict[str, Any] = {}
        if _DEPLOYMENT_PARTS.intersection(parts):
            variables["deploymentId"] = deployment_id
        if _SERVICE_PARTS.intersection(parts):
            variables.update(serviceId=self.service_id, environmentId=self.environment_id)
        if _WINDOW_PARTS.intersection(parts):
            variables.update(startDate=iso(start), endDate=iso(end), stepSeconds=self.step)
        if "logs" in parts:
            variables.update(logsAfter=iso(logs_since), logsBefore=iso(end), logsLimit=self.log_limit)
        return variables


def _first_message(error: RailwayAPIError) -> str:
    return error.messages[0] if error.messages else error.message


def parse_look(data: Mapping[str, Any], deployment_id: str | None = None, step: int = 30) -> Look:
    """Turn the answer of a look document into samples keyed by their timestamps; executions and resources are
    the watched deployment's alone."""
    status = updated = None
    deployment = data.get("deployment")
    if isinstance(deployment, Mapping):
        status = str(deployment.get("status") or "UNKNOWN")
        updated = parse_time(deployment.get("statusUpdatedAt"))
    return Look(
        status,
        updated,
        _executions(data, deployment_id),
        _others(data, deployment_id),
        _log_lines(data),
        tuple(_traffic(data)),
        tuple(_resources(data, deployment_id)),
    )


def _executions(data: Mapping[str, Any], deployment_id: str | None) -> tuple[Execution, ...] | None:
    found = data.get("deploymentInstanceExecutions")
    if not isinstance(found, Mapping):
        return None
    out = []
    for edge in found.get("edges") or ():
        node = (edge or {}).get("node") or {}
        if deployment_id is not None and node.get("deploymentId") != deployment_id:
            continue
        out.append(
            Execution(
                str(node.get("id")),
                str(node.get("deploymentId")),
                str(node.get("status") or "UNKNOWN"),
                parse_time(node.get("createdAt")),
                parse_time(node.get("completedAt")),
            )
        )
    return tuple(sorted(out, key=lambda e: (e.created_at or 0.0, e.id)))


def _others(data: Mapping[str, Any], deployment_id: str | None) -> tuple[OtherDeployment, ...] | None:
    found = data.get("serving")
    if not isinstance(found, Mapping):
        return None
    out = []
    passed = False  # the watched deployment was listed: the ones after it are older
    for edge in found.get("edges") or ():
        node = (edge or {}).get("node") or {}
        if not node.get("id"):
            continue
        if node.get("id") == deployment_id:
            passed = True
            continue
        updated = parse_time(node.get("statusUpdatedAt"))
        newer = None if deployment_id is None else not passed
        out.append(OtherDeployment(str(node["id"]), str(node.get("status")), updated, newer))
    return tuple(out)


def _log_lines(data: Mapping[str, Any]) -> tuple[LogLine, ...] | None:
    if "httpLogs" not in data:
        return None
    out = []
    for line in data.get("httpLogs") or ():
        at = parse_time(line.get("timestamp"))
        if at is None:
            continue
        out.append(LogLine(at, int(line.get("httpStatus") or 0), float(line.get("totalDuration") or 0.0)))
    return tuple(sorted(out, key=lambda line: line.at))


def _traffic(data: Mapping[str, Any]) -> list[TrafficSample]:
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
    return traffic


def _resources(data: Mapping[str, Any], deployment_id: str | None) -> list[ResourceSample]:
    series: dict[str, dict[int, float]] = {"MEMORY_USAGE_GB": {}, "CPU_USAGE": {}, "MEMORY_LIMIT_GB": {}}
    for result in data.get("metrics") or ():
        tags = result.get("tags") or {}
        # Grouped by deployment: only the watched deployment's figures; the replaced one's are not its.
        if deployment_id is not None and tags.get("deploymentId") not in (None, deployment_id):
            continue
        target = series.get(str(result.get("measurement")))
        if target is None:
            continue
        for value in result.get("values") or ():
            target[int(value["ts"])] = float(value.get("value") or 0.0)
    memory, cpu, limit = series["MEMORY_USAGE_GB"], series["CPU_USAGE"], series["MEMORY_LIMIT_GB"]
    return [
        ResourceSample(ts, memory.get(ts), cpu.get(ts), limit.get(ts) or None)
        for ts in sorted(set(memory) | set(cpu) | set(limit))
    ]


def log_samples(lines: Sequence[LogLine], step: int) -> list[TrafficSample]:
    """A deployment's own requests as steps of traffic: counts, 5xx, and the p95/p99 of the logged durations."""
    buckets: dict[int, list[LogLine]] = {}
    for line in lines:
        buckets.setdefault(int(line.at // step) * step, []).append(line)
    out = []
    for ts in sorted(buckets):
        group = buckets[ts]
        durations = sorted(line.duration_ms for line in group)
        errors = sum(1 for line in group if 500 <= line.status <= 599)
        out.append(
            TrafficSample(ts, float(len(group)), float(errors), _rank(durations, 0.95), _rank(durations, 0.99))
        )
    return out


def _rank(values: Sequence[float], q: float) -> float | None:
    """The nearest-rank percentile."""
    if not values:
        return None
    return values[min(len(values) - 1, max(0, math.ceil(q * len(values)) - 1))]


def merge(old: Sequence[Any], new: Sequence[Any]) -> list[Any]:
    """Samples by timestamp; a newer answer for the same step (a step that was still filling) replaces the older."""
    by_ts = {s.ts: s for s in old}
    by_ts.update({s.ts: s for s in new})
    return [by_ts[ts] for ts in sorted(by_ts)]


def merge_lines(old: Sequence[LogLine], new: Sequence[LogLine]) -> list[LogLine]:
    """Log lines of consecutive looks, without the ones read twice."""
    seen = set(old)
    return sorted([*old, *(line for line in new if line not in seen)], key=lambda line: line.at)


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
    memory_limit_ratio: float | None = 0.9  # of Railway's MEMORY_LIMIT_GB for the service, when Railway gives it


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


# What a check with too few requests says (the reports tell it apart from a check left open for another reason).
THIN = "not enough traffic to judge"


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
            "5xx ratio", "inconclusive", threshold, f"{THIN} (< {t.min_requests} requests)", before
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
            name, "inconclusive", threshold, f"{THIN} (< {t.min_requests} requests)", ms(base)
        )
    if base is None:
        return Check(name, "inconclusive", threshold, f"{ms(now)}; no baseline to compare with", "not enough traffic")
    tripped = now > base * multiple and now - base > t.latency_floor_ms
    return Check(name, "failed" if tripped else "passed", threshold, ms(now), ms(base))


def judge_memory(samples: Sequence[ResourceSample], t: Thresholds) -> Check | None:
    """Peak memory against the lower of ``memory_ceiling_gb`` and ``memory_limit_ratio`` × Railway's limit."""
    memory = [s.memory_gb for s in samples if s.memory_gb is not None]
    limits = [s.memory_limit_gb for s in samples if s.memory_limit_gb]
    ceilings: list[tuple[float, str]] = []
    if t.memory_ceiling_gb is not None:
        ceilings.append((t.memory_ceiling_gb, f"> {t.memory_ceiling_gb:g} GB"))
    if t.memory_limit_ratio and limits:
        limit = limits[-1]
        ceilings.append(
            (limit * t.memory_limit_ratio, f"> {t.memory_limit_ratio * 100:g}% of the {limit:g} GB limit")
        )
    ceiling, threshold = min(ceilings) if ceilings else (None, "reported only")
    if not memory:
        return Check("memory", "inconclusive", threshold, "no memory samples") if ceiling is not None else None
    growth = memory[-1] - memory[0]
    seen = f"{memory[-1]:.2f} GB (grew {growth:+.2f} GB in the window, peak {max(memory):.2f} GB)"
    if ceiling is None:
        return Check("memory", "passed", threshold, seen, f"{memory[0]:.2f} GB")
    return Check("memory", "failed" if max(memory) > ceiling else "passed", threshold, seen, f"{memory[0]:.2f} GB")


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


def execution_trouble(known: Iterable[str], executions: Sequence[Execution] | None) -> str | None:
    """Why the deployment's instance executions fail the watch: one is RESTARTING, CRASHED or EXITED, or one
    started after the watch began (an instance that crashed and came back between two looks)."""
    if executions is None:
        return None
    bad = [e for e in executions if e.status in RESTART_STATUSES]
    if bad:
        return "instance " + ", ".join(f"{e.id} {e.status}" + _at(e.completed_at or e.created_at) for e in bad)
    seen = set(known)
    new = [e for e in executions if e.id not in seen]
    if seen and new:
        return "restarted: new instance " + ", ".join(e.id + _at(e.created_at) for e in new)
    return None


def _at(epoch: float | None) -> str:
    return f" at {clock_time(epoch)}" if epoch is not None else ""


def looks_to_catch(t: Thresholds, requests_per_step: float | None) -> int | None:
    """How many looks a 5xx regression above the thresholds needs to be caught: the step it starts in is
    diluted by the traffic before it, the next full stretch of ``min_requests`` shows it. None: the traffic is
    too low for the check to catch anything."""
    if requests_per_step is None:
        return 2
    if requests_per_step <= 0:
        return None
    return 1 + max(1, math.ceil(t.min_requests / requests_per_step))
