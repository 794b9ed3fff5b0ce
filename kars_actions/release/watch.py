"""The watch window: after go-live, keep looking at each released service — its status and instances, its health,
its real traffic against the old version's — and fail at the first sign of a bad release.

A look is one Railway request per service per step (``railway.metrics``); health probes go to the app, at a slow
pace. The verdict per metric is passed, failed or inconclusive ("not enough traffic to judge"), never a guess.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from kars_actions.core.config import Config
from kars_actions.core.errors import CheckFailed, ExternalError, KarsError
from kars_actions.core.report import Progress, no_progress
from kars_actions.core.timing import SYSTEM_CLOCK, Clock, Deadline, human_duration
from kars_actions.railway.api import LIVE_STATUSES, TRANSIENT_STATUSES, RailwayClient
from kars_actions.railway.deploy import RailwayTarget, ServiceSnapshot
from kars_actions.railway.metrics import (
    Check,
    MetricsReader,
    OtherDeployment,
    execution_trouble,
    judge_memory,
    judge_traffic,
    log_samples,
    merge,
    merge_lines,
    ms,
    pct,
)
from kars_actions.release.watch_report import WatchResult
from kars_actions.release.watch_state import ServiceWatch, WatchedService, WatchSettings

REPLACED_STATUSES = frozenset({"REMOVING", "REMOVED"})  # Railway replaced the deployment (or removed it)


@dataclass(frozen=True)
class HealthRound:
    """One slow-paced round of health checks: all healthy, what was seen, and the services whose checks failed
    (empty when a failing check belongs to no one service: every service still watched is blamed)."""

    healthy: bool
    detail: str
    failing: frozenset[str] = frozenset()

    @classmethod
    def failed(cls, detail: str, services: Iterable[str | None]) -> HealthRound:
        """A failed round whose failing targets belong to ``services``; one of no service blames them all."""
        named = list(services)
        return cls(False, detail, frozenset() if None in named else frozenset(s for s in named if s is not None))


# One health round of the services still watched (by label).
HealthProbe = Callable[[Sequence[str]], HealthRound]


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
            checked = health([w.label for w in watching()])  # not a superseded one: no longer this watch's
            result.health_rounds += 1
            result.health_detail = checked.detail
            next_health = clock.monotonic() + settings.health_interval
            if not checked.healthy:
                # Only the services whose checks failed: a healthy one is not failed (nor rolled back) for another.
                for w in watching():
                    if not checked.failing or w.label in checked.failing:
                        _trip(client, w, f"health check failed during the watch: {checked.detail}", started)
                break
        progress(_progress_line(watches, max(0.0, end - clock.monotonic())))
    _wait_out_transient(client, readers, watches, settings, deadline, judge)
    result.seconds = clock.monotonic() - started
    result.requests = client.requests_sent - before
    for w in watches:
        if w.verdict == "watching" and not w.first_look_done:
            # Railway answered no look: nothing was seen, so nothing passed.
            w.checks = [Check("status", "inconclusive", "live (SUCCESS or SLEEPING)", _unanswered(w))]
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
    """A deployment last seen in a transient status (or replaced, with what replaced it not yet known) is no
    verdict: keep looking, within the stage's deadline, until it gets somewhere; still there at the deadline, its
    status check is inconclusive — never a pass. Once a service failed nothing is waited for: the caller rolls
    back at once."""
    clock = client.clock
    limit = deadline.at if deadline is not None else clock.monotonic()
    while not any(w.verdict == "failed" for w in watches):
        pending = [w for w in watches if _undecided(w)]
        if not pending or clock.monotonic() >= limit:
            break
        clock.sleep(min(settings.step, limit - clock.monotonic()))
        for w in pending:
            _look(client, readers[w.label], w, settings)
            judge(w)
    when = "when the watch stopped at a failure" if any(w.verdict == "failed" for w in watches) else "at the deadline"
    for w in watches:
        if _undecided(w):
            seen = (
                f"{w.status}, and Railway did not answer what replaced it"
                if w.status not in TRANSIENT_STATUSES
                else f"still {w.status} {when}"
            )
            w.checks = [*w.checks, Check("status", "inconclusive", "live (SUCCESS or SLEEPING)", seen)]


def _undecided(w: ServiceWatch) -> bool:
    """Still watched, on its way to another status or replaced by a deployment Railway has not named yet."""
    return w.verdict == "watching" and (w.status in TRANSIENT_STATUSES or w.replacement_unknown)


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
        # Railway refused to say: the summary says what this rests on. An older deployment last seen serving may
        # still serve: the new one stays judged on its own logs, never on the service's mixed metrics.
        if w.judged_from is None and "serving" in w.refused and not w.overlapping:
            w.judged_from = split
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
        w.replacement_unknown = False
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
        w.replacement_unknown = True  # the next look asks again: it decides whether it was superseded
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
        if superseded_by_newer and w.replacement_unknown:
            return  # superseded or failed depends on what replaced it: Railway is asked again at the next look
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


def _unanswered(w: ServiceWatch) -> str:
    looks = f"{w.unknown_looks} look" + ("" if w.unknown_looks == 1 else "s")
    return f"unknown: Railway answered none of {looks} ({w.unknown_reason or 'no answer'})"


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
        # A figure Railway refused at this look is not shown from older samples as if it were now.
        unread = {c.name: c.seen for c in w.checks if c.verdict == "inconclusive" and c.seen.startswith("Railway ")}
        if recent is not None:
            if "5xx ratio" in unread:
                figures.append(f"5xx not read ({unread['5xx ratio']})")
            else:
                figures.append(f"5xx {pct(recent.error_ratio)} (before {pct(base.error_ratio if base else None)})")
            if "p95 latency" in unread:
                figures.append(f"p95 not read ({unread['p95 latency']})")
            else:
                figures.append(f"p95 {ms(recent.p95_ms)} (before {ms(base.p95_ms if base else None)})")
            if "5xx ratio" not in unread:
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

    def probe(watched: Sequence[str]) -> HealthRound:
        # Every service named has a target (or plan_targets refused it), and the watch asks only while one is watched.
        chosen = [t for t in targets if t.service in watched]
        health = check_health(chosen, settings=PollSettings(stable_passes=1, retries=3), deadline=60.0, clock=clock)
        if health.healthy:
            return HealthRound(True, f"{len(health.outcomes)} target(s) healthy")
        bad = health.unhealthy()
        detail = "; ".join(f"{o.target.name}: " + ("; ".join(str(f) for f in o.failures) or o.reason) for o in bad)
        return HealthRound.failed(detail, (o.target.service for o in bad))

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
    for w in result.services:  # never superseded: this watch judges what is live, whoever made it
        if w.verdict != "failed" and not everything:
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
