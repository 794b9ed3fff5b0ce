"""Deploy Railway services at one commit, wait for the outcome with a frugal poller, and roll back."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace

from kars_actions.core.errors import CheckFailed, ConfigError, ExternalError, RateLimited
from kars_actions.core.report import Progress, no_progress
from kars_actions.core.timing import Deadline, human_duration
from kars_actions.railway.api import (
    FAILED_STATUSES,
    HELD_STATUSES,
    IN_PROGRESS_STATUSES,
    LIVE_STATUSES,
    SERVICE,
    Deployment,
    OutcomeUnknown,
    RailwayAPIError,
    RailwayClient,
    RailwayUnavailable,
    TokenKind,
)

DASHBOARD = "https://railway.com"
_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", re.IGNORECASE)
HELD_MESSAGES = {
    "WAITING": "waiting for GitHub checks (Wait for CI)",
    "NEEDS_APPROVAL": "needs approval in the Railway dashboard",
}
RETENTION_HINT = (
    "Railway keeps the image of a removed deployment for a limited time (Free 24 h, Hobby 72 h, Pro 120 h); "
    "past that, deploy the old commit instead: kars-actions deploy --commit <sha>"
)


# --- What we deploy to ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ServiceRef:
    id: str
    name: str  # the Railway service name
    key: str = ""  # the name the caller used (kars.yml key); outputs are keyed by it

    @property
    def label(self) -> str:
        return self.key or self.name


@dataclass(frozen=True)
class RailwayTarget:
    project_id: str
    project_name: str
    environment_id: str
    environment_name: str
    services: tuple[ServiceRef, ...] = ()

    def dashboard_url(self, service_id: str, deployment_id: str | None = None) -> str:
        url = f"{DASHBOARD}/project/{self.project_id}/service/{service_id}?environmentId={self.environment_id}"
        return f"{url}&id={deployment_id}" if deployment_id else url


def _pick(kind: str, wanted: str, options: Sequence[tuple[str, str]], where: str) -> tuple[str, str]:
    """Match ``wanted`` against (id, name) pairs: id, then exact name, then a unique case-insensitive name."""
    for option in options:
        if wanted == option[0]:
            return option
    exact = [o for o in options if o[1] == wanted]
    if len(exact) == 1:
        return exact[0]
    loose = [o for o in options if o[1].lower() == wanted.lower()]
    if len(loose) == 1:
        return loose[0]
    names = ", ".join(sorted(o[1] for o in options)) or "none"
    if len(exact) > 1 or len(loose) > 1:
        raise ConfigError(f"{kind} name {wanted!r} is ambiguous in {where}", hint=f"use the {kind} id instead")
    raise ConfigError(f"no {kind} {wanted!r} in {where}; it has: {names}", hint=f"use one of these {kind} names")


def _edges(data: Mapping[str, object], key: str) -> list[tuple[str, str]]:
    connection = data.get(key)
    edges = connection.get("edges", []) if isinstance(connection, dict) else []
    return [(str(e["node"]["id"]), str(e["node"]["name"])) for e in edges]


def resolve_target(
    client: RailwayClient,
    project: str | None,
    environment: str | None,
    services: Sequence[str],
    *,
    labels: Mapping[str, str] | None = None,
    deadline: Deadline | None = None,
) -> RailwayTarget:
    """Find the project, environment and services by name or id. Every later call names its service."""
    token_env: str | None = None
    if client.credentials.kind is TokenKind.PROJECT:
        token_project, token_env = client.project_token(deadline)
        data = client.project(token_project, deadline)
        if project and project not in (token_project, data.get("name")):
            raise ConfigError(
                f"RAILWAY_TOKEN is a project token for project {data.get('name')!r}, not {project!r}",
                hint="use a project token of that project, or an account token in RAILWAY_API_TOKEN",
            )
    else:
        if not project:
            raise ConfigError(
                "which Railway project? With RAILWAY_API_TOKEN, name it with --project or `project:` in kars.yml",
                hint="or use a project token in RAILWAY_TOKEN, which knows its project",
            )
        if _UUID.match(project):
            data = client.project(project, deadline)
        else:
            project_id, _ = _pick("project", project, client.projects(deadline), "the projects this token can see")
            data = client.project(project_id, deadline)
    project_name = str(data.get("name") or data["id"])
    where = f"project {project_name}"
    environments = _edges(data, "environments")
    if token_env is not None:
        env_id, env_name = next(((i, n) for i, n in environments if i == token_env), (token_env, token_env))
        if environment and environment not in (env_id, env_name):
            raise ConfigError(
                f"RAILWAY_TOKEN is a project token for environment {env_name!r}, not {environment!r}",
                hint="project tokens are scoped to one environment: use that environment's token",
            )
    elif environment:
        env_id, env_name = _pick("environment", environment, environments, where)
    elif len(environments) == 1:
        env_id, env_name = environments[0]
    else:
        names = ", ".join(sorted(n for _, n in environments)) or "none"
        raise ConfigError(f"which environment of {where}? It has: {names}", hint="pass --environment NAME")
    available = _edges(data, "services")
    if not services:
        names = ", ".join(sorted(n for _, n in available)) or "none"
        raise ConfigError(
            f"no services to deploy; {where} has: {names}",
            hint="pass --service NAME (repeatable) or list services in kars.yml",
        )
    refs = []
    for wanted in services:
        service_id, name = _pick("service", wanted, available, where)
        label = (labels or {}).get(wanted) or (wanted if wanted != service_id else name)
        refs.append(ServiceRef(service_id, name, label))
    return RailwayTarget(str(data["id"]), project_name, env_id, env_name, tuple(refs))


# --- Before deploying -------------------------------------------------------------------------------------------


def preflight_variables(
    client: RailwayClient,
    target: RailwayTarget,
    required: Mapping[str, Sequence[str]],
    *,
    deadline: Deadline | None = None,
) -> dict[str, list[str]]:
    """Missing required variable names per service label (only services with something missing)."""
    missing: dict[str, list[str]] = {}
    for ref in target.services:
        wanted = required.get(ref.label) or required.get(ref.name) or ()
        if not wanted:
            continue
        present = client.variable_names(target.project_id, target.environment_id, ref.id, deadline)
        absent = sorted(set(wanted) - present)
        if absent:
            missing[ref.label] = absent
    return missing


def check_variables(missing: Mapping[str, Sequence[str]], target: RailwayTarget) -> None:
    if missing:
        parts = "; ".join(f"{service}: {', '.join(names)}" for service, names in missing.items())
        raise CheckFailed(
            f"required variables are missing in Railway environment {target.environment_name}: {parts}",
            hint="add them in the Railway dashboard (service → Variables) before deploying; nothing was deployed",
        )


@dataclass(frozen=True)
class ServiceSnapshot:
    """A service instance just before the deploy: what serves now (the rollback target) and its public URL."""

    service: ServiceRef
    rollback_target: Deployment | None
    latest: Deployment | None
    url: str | None

    @property
    def expected_duration(self) -> float | None:
        """How long the last successful deploy took: the poller's estimate for this one."""
        return self.rollback_target.duration_seconds() if self.rollback_target else None


def snapshot_services(
    client: RailwayClient, target: RailwayTarget, *, deadline: Deadline | None = None
) -> dict[str, ServiceSnapshot]:
    snapshots = {}
    for ref in target.services:
        info = client.service_instance(ref.id, target.environment_id, deadline)
        live = sorted((d for d in info.active if d.live), key=lambda d: d.created_at, reverse=True)
        current = live[0] if live else None
        if current is None:
            found = client.deployments(
                target.project_id,
                target.environment_id,
                ref.id,
                first=1,
                statuses=sorted(LIVE_STATUSES),
                deadline=deadline,
            )
            current = found[0] if found else None
        snapshots[ref.label] = ServiceSnapshot(ref, current, info.latest, info.url)
    return snapshots


def record_rollback_targets(
    client: RailwayClient, target: RailwayTarget, *, deadline: Deadline | None = None
) -> dict[str, Deployment | None]:
    """The deployment serving each service now. Record it BEFORE deploying: once replaced it goes REMOVED."""
    return {label: snap.rollback_target for label, snap in snapshot_services(client, target, deadline=deadline).items()}


# --- Polling policy -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PollPolicy:
    """When to ask again. One request per ``min_interval`` at most, per deployment; fewer as the wait grows.

    With an estimate of the total duration (the last successful deploy of the service), it polls sparsely until
    ``lead`` seconds before the estimated end, then every ``min_interval``: the delay to report SUCCESS stays
    within ``min_interval`` at a fraction of the requests. Without one, it backs off in BUILDING and polls fast
    for the first minute of DEPLOYING, when Railway's healthcheck is about to decide.
    """

    min_interval: float = 5.0
    cap: float = 20.0
    far_cap: float = 50.0
    growth: float = 1.0
    lead: float = 10.0
    lead_fraction: float = 0.1  # estimates are rarely exact: start fast polling this share of it early too
    deploying_fast: float = 60.0
    overrun: float = 30.0

    def interval(self, status: str, since_request: float, in_status: float, expected: float | None) -> float:
        if expected is not None and status not in HELD_STATUSES:
            to_window = expected - max(self.lead, expected * self.lead_fraction) - since_request
            if to_window > 0:
                return max(self.min_interval, min(self.far_cap, since_request * self.growth, to_window))
            if since_request <= expected + self.overrun:
                return self.min_interval
        if status == "DEPLOYING":
            if in_status < self.deploying_fast:
                return self.min_interval
            in_status -= self.deploying_fast
        return min(self.cap, max(self.min_interval, in_status * self.growth))


DEFAULT_POLICY = PollPolicy()


# --- Deploy -------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class StartedDeployment:
    service: ServiceRef
    deployment_id: str
    reused: bool
    started_at: float  # clock time of the request (or of finding the reused deployment)


@dataclass(frozen=True)
class ServiceDeployment:
    """The outcome for one service. ``status`` is Railway's, or TIMED_OUT / NOT_STARTED / PLANNED."""

    service: str
    service_id: str
    commit: str
    status: str
    live: bool
    deployment_id: str | None = None
    previous_deployment_id: str | None = None
    reused: bool = False
    duration: float | None = None
    url: str | None = None
    dashboard_url: str | None = None
    reason: str | None = None
    log_tail: tuple[str, ...] = ()

    @property
    def failed(self) -> bool:
        return not self.live and self.status != "PLANNED"


@dataclass(frozen=True)
class DeployOutcome:
    target: RailwayTarget
    commit: str
    services: tuple[ServiceDeployment, ...]
    dry_run: bool = False
    requests: int = 0  # API requests this run spent (rate-limit budget)
    notes: tuple[str, ...] = field(default=())

    @property
    def deployed(self) -> bool:
        return not self.dry_run and bool(self.services) and all(s.live for s in self.services)

    @property
    def live_services(self) -> list[ServiceDeployment]:
        return [s for s in self.services if s.live]


def start_deployment(
    client: RailwayClient,
    target: RailwayTarget,
    service: ServiceRef,
    commit: str,
    *,
    reuse_existing: bool = True,
    deadline: Deadline | None = None,
    attempts: int = 3,
    settle: float = 5.0,
) -> StartedDeployment:
    """One request, one deployment. Reuse one of this commit if a rerun finds it; never retry blindly.

    After a lost answer (timeout, 5xx, dropped connection) it looks for a deployment of the commit that was not
    there before the request, twice ``settle`` seconds apart (the request may still be in flight), and sends
    the request again only if none appeared.
    """
    clock = client.clock
    existing = client.deployments(target.project_id, target.environment_id, service.id, first=20, deadline=deadline)
    if reuse_existing:
        for deployment in existing:  # newest first
            if deployment.commit_hash == commit and (
                deployment.status in IN_PROGRESS_STATUSES or deployment.status in LIVE_STATUSES
            ):
                return StartedDeployment(service, deployment.id, True, clock.monotonic())
    known = {d.id for d in existing}
    for attempt in range(1, attempts + 1):
        started = clock.monotonic()
        try:
            return StartedDeployment(
                service, client.deploy(service.id, target.environment_id, commit, deadline), False, started
            )
        except OutcomeUnknown:
            for look in range(2):
                if look:
                    clock.sleep(settle)
                found = [
                    d
                    for d in client.deployments(
                        target.project_id, target.environment_id, service.id, first=20, deadline=deadline
                    )
                    if d.commit_hash == commit and d.id not in known
                ]
                if found:
                    return StartedDeployment(service, found[0].id, False, started)
            if attempt == attempts:
                raise
    raise AssertionError("unreachable")


class DeployRejected(CheckFailed):
    def __init__(self, service: str, reason: str) -> None:
        super().__init__(f"{service}: {reason}")
        self.service = service
        self.reason = reason


def _start_or_reject(
    client: RailwayClient,
    target: RailwayTarget,
    service: ServiceRef,
    commit: str,
    reuse_existing: bool,
    deadline: Deadline | None,
) -> StartedDeployment | DeployRejected:
    try:
        return start_deployment(client, target, service, commit, reuse_existing=reuse_existing, deadline=deadline)
    except RailwayAPIError as error:
        text = " ".join(error.messages).lower()
        if "commit not found" in text:
            return DeployRejected(
                service.label,
                f"Railway cannot find commit {commit[:12]} in the service's repository: push it, or check the "
                "service's source repository in Railway",
            )
        return DeployRejected(service.label, error.message)


def deploy_services(
    client: RailwayClient,
    target: RailwayTarget,
    commit: str,
    *,
    progress: Progress = no_progress,
    deadline: Deadline,
    snapshots: Mapping[str, ServiceSnapshot] | None = None,
    reuse_existing: bool = True,
    policy: PollPolicy = DEFAULT_POLICY,
) -> DeployOutcome:
    """Deploy every service of ``target`` at ``commit`` concurrently, then wait for each outcome."""
    before = client.requests_sent
    snaps = dict(snapshots) if snapshots is not None else snapshot_services(client, target, deadline=deadline)
    request_deadline = deadline.child(min(180.0, deadline.remaining()))
    with ThreadPoolExecutor(max_workers=max(1, min(8, len(target.services)))) as pool:
        futures = [
            pool.submit(_start_or_reject, client, target, ref, commit, reuse_existing, request_deadline)
            for ref in target.services
        ]
        starts = [f.result() for f in futures]
    started = [s for s in starts if isinstance(s, StartedDeployment)]
    for s in started:
        verb = "reusing deployment" if s.reused else "deployment"
        progress(f"{s.service.label}: {verb} {s.deployment_id} of {commit[:12]}")
    expected = {s.service.label: snaps[s.service.label].expected_duration for s in started if s.service.label in snaps}
    try:
        finished = wait_for_deployments(
            client, target, started, progress=progress, deadline=deadline, policy=policy, expected=expected
        )
    except RateLimited as error:
        ids = ", ".join(f"{s.service.label}={s.deployment_id}" for s in started)
        raise RateLimited(
            f"{error.message.removeprefix(SERVICE + ': ')}; deployments started: {ids} (they continue on Railway)",
            service=SERVICE,
            hint=error.hint,
        ) from None
    results = []
    for item in starts:
        if isinstance(item, DeployRejected):
            ref = next(r for r in target.services if r.label == item.service)
            snap = snaps.get(ref.label)
            results.append(
                ServiceDeployment(
                    service=ref.label,
                    service_id=ref.id,
                    commit=commit,
                    status="NOT_STARTED",
                    live=False,
                    previous_deployment_id=snap.rollback_target.id if snap and snap.rollback_target else None,
                    url=snap.url if snap else None,
                    dashboard_url=target.dashboard_url(ref.id),
                    reason=item.reason,
                )
            )
            continue
        snap = snaps.get(item.service.label)
        done = finished[item.service.label]
        results.append(
            replace(
                done,
                commit=commit,
                previous_deployment_id=snap.rollback_target.id if snap and snap.rollback_target else None,
                url=snap.url if snap else None,
            )
        )
    return DeployOutcome(target, commit, tuple(results), requests=client.requests_sent - before)


def plan_deploy(
    client: RailwayClient,
    target: RailwayTarget,
    commit: str,
    snapshots: Mapping[str, ServiceSnapshot],
    *,
    reuse_existing: bool = True,
    deadline: Deadline | None = None,
) -> DeployOutcome:
    """What ``deploy_services`` would do, from reads only (``--dry-run``)."""
    before = client.requests_sent
    rows = []
    for ref in target.services:
        snap = snapshots[ref.label]
        reason = f"would deploy {commit[:12]}"
        reuse: Deployment | None = None
        if reuse_existing:
            for d in client.deployments(target.project_id, target.environment_id, ref.id, first=20, deadline=deadline):
                if d.commit_hash == commit and (d.status in IN_PROGRESS_STATUSES or d.live):
                    reuse = d
                    break
        if reuse is not None:
            reason = f"would reuse deployment {reuse.id} ({reuse.status}) of this commit"
        rows.append(
            ServiceDeployment(
                service=ref.label,
                service_id=ref.id,
                commit=commit,
                status="PLANNED",
                live=False,
                deployment_id=reuse.id if reuse else None,
                previous_deployment_id=snap.rollback_target.id if snap.rollback_target else None,
                url=snap.url,
                dashboard_url=target.dashboard_url(ref.id, snap.rollback_target.id if snap.rollback_target else None),
                reason=reason,
            )
        )
    return DeployOutcome(target, commit, tuple(rows), dry_run=True, requests=client.requests_sent - before)


# --- Wait ---------------------------------------------------------------------------------------------------------


@dataclass
class _Watch:
    started: StartedDeployment
    status: str = "QUEUED"
    status_since: float = 0.0
    next_poll: float = 0.0
    done: bool = False
    result: ServiceDeployment | None = None


def wait_for_deployments(
    client: RailwayClient,
    target: RailwayTarget,
    started: Sequence[StartedDeployment],
    *,
    progress: Progress = no_progress,
    deadline: Deadline,
    policy: PollPolicy = DEFAULT_POLICY,
    expected: Mapping[str, float | None] | None = None,
) -> dict[str, ServiceDeployment]:
    """Poll each deployment until it is live, failed, or the deadline passes; keyed by service label.

    One thread polls every deployment in turn, each on its own schedule, so the request rate is the sum of the
    per-deployment budgets and a fake clock drives the whole wait in tests.
    """
    clock = client.clock
    expected = expected or {}
    watches = [_Watch(s, status_since=s.started_at, next_poll=s.started_at + policy.min_interval) for s in started]
    results: dict[str, ServiceDeployment] = {}
    final_round = False
    while True:
        pending = [w for w in watches if not w.done]
        if not pending:
            break
        watch = min(pending, key=lambda w: w.next_poll)
        now = clock.monotonic()
        if not final_round and watch.next_poll > deadline.at:
            clock.sleep(max(0.0, deadline.at - now))
            final_round = True  # one last look at everything before calling it a timeout
            for w in pending:
                w.next_poll = clock.monotonic()
            continue
        if watch.next_poll > now:
            clock.sleep(watch.next_poll - now)
        _poll(client, target, watch, progress, policy, expected.get(watch.started.service.label), final_round)
        if final_round and not watch.done:
            watch.done = True
            watch.result = _timed_out(target, watch, clock.monotonic())
        if watch.done and watch.result is not None:
            results[watch.started.service.label] = watch.result
    return results


def _poll(
    client: RailwayClient,
    target: RailwayTarget,
    watch: _Watch,
    progress: Progress,
    policy: PollPolicy,
    expected: float | None,
    final_round: bool,
) -> None:
    clock = client.clock
    ref = watch.started.service
    try:
        deployment = client.deployment(watch.started.deployment_id)
    except RailwayUnavailable as error:
        progress(f"{ref.label}: Railway API unreachable, will ask again ({error.message})")
        now = clock.monotonic()
        watch.next_poll = now + policy.cap
        return
    now = clock.monotonic()
    elapsed = now - watch.started.started_at
    if deployment.status != watch.status:
        watch.status, watch.status_since = deployment.status, now
        held = HELD_MESSAGES.get(deployment.status)
        progress(f"{ref.label}: {deployment.status}{f' — {held}' if held else ''} ({human_duration(elapsed)})")
    base = ServiceDeployment(
        service=ref.label,
        service_id=ref.id,
        commit="",
        status=deployment.status,
        live=deployment.live,
        deployment_id=deployment.id,
        reused=watch.started.reused,
        duration=elapsed,
        dashboard_url=target.dashboard_url(ref.id, deployment.id),
    )
    if deployment.live:
        watch.done, watch.result = True, replace(base, commit=deployment.commit_hash or "")
    elif deployment.status in FAILED_STATUSES:
        reason, tail = failure_reason(client, deployment)
        watch.done, watch.result = (
            True,
            replace(base, commit=deployment.commit_hash or "", reason=reason, log_tail=tail),
        )
    else:
        watch.next_poll = now + policy.interval(deployment.status, elapsed, now - watch.status_since, expected)


def _timed_out(target: RailwayTarget, watch: _Watch, now: float) -> ServiceDeployment:
    ref = watch.started.service
    held = HELD_MESSAGES.get(watch.status)
    elapsed = now - watch.started.started_at
    reason = f"still {watch.status} after {human_duration(elapsed)}" + (f": {held}" if held else "")
    return ServiceDeployment(
        service=ref.label,
        service_id=ref.id,
        commit="",
        status="TIMED_OUT",
        live=False,
        deployment_id=watch.started.deployment_id,
        reused=watch.started.reused,
        duration=elapsed,
        dashboard_url=target.dashboard_url(ref.id, watch.started.deployment_id),
        reason=reason,
    )


_GENERIC_REASONS = {
    "FAILED": "the build or deploy failed (the previous deployment keeps serving)",
    "CRASHED": "the app exited after it started",
    "REMOVED": "removed before it finished: a newer deployment replaced it",
    "SKIPPED": "skipped: a GitHub check failed (Wait for CI)",
}


def failure_reason(client: RailwayClient, deployment: Deployment, tail: int = 10) -> tuple[str, tuple[str, ...]]:
    """Why a deployment failed, from its events and the end of its logs. Best effort: never masks the failure."""
    reason = _GENERIC_REASONS.get(deployment.status, deployment.status.lower())
    step = None
    try:
        failing = [e for e in client.deployment_events(deployment.id) if e.error or e.reason == "FAILED"]
    except ExternalError:
        failing = []
    if failing:
        event = failing[-1]
        step = event.step
        reason = f"{event.step} failed"
        if event.attempt and event.attempt > 1:
            reason += f" after {event.attempt} attempts"
        if event.error:
            reason += f": {event.error}"
    build = deployment.status == "FAILED" and step in (None, "BUILD_IMAGE", "SNAPSHOT_CODE", "PUBLISH_IMAGE")
    try:
        lines = tuple(line for line in client.logs(deployment.id, build=build, limit=tail) if line.strip())
    except ExternalError:
        lines = ()
    return reason, lines


# --- Rollback -----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RollbackOutcome:
    service: str
    service_id: str
    rolled_back: bool
    live: bool
    status: str  # Railway's status of the restored deployment, or ALREADY_LIVE / NOTHING_TO_DO / PLANNED / TIMED_OUT
    message: str
    from_deployment_id: str | None = None
    target_deployment_id: str | None = None
    restored_deployment_id: str | None = None
    duration: float | None = None
    url: str | None = None
    dashboard_url: str | None = None
    dry_run: bool = False

    @property
    def ok(self) -> bool:
        return self.live or self.status in ("ALREADY_LIVE", "PLANNED")


def _last_successful_before(history: Sequence[Deployment], current: Deployment | None) -> Deployment | None:
    """The newest deployment that was live before ``current`` (REMOVED ones were live once and then replaced)."""
    for d in history:  # newest first
        if current is not None and (d.id == current.id or d.created_at >= current.created_at):
            continue
        if d.status in LIVE_STATUSES or d.status == "REMOVED":
            return d
    return None


def rollback_service(
    client: RailwayClient,
    target: RailwayTarget,
    service: ServiceRef,
    *,
    target_id: str | None = None,
    failed_deployment_id: str | None = None,
    progress: Progress = no_progress,
    deadline: Deadline,
    dry_run: bool = False,
    policy: PollPolicy = DEFAULT_POLICY,
) -> RollbackOutcome:
    """Put ``target_id`` (or the last successful deployment before the current one) back and wait until it is live.

    ``failed_deployment_id``: the new deployment the pipeline is undoing. If it FAILED it never went live and the
    previous one still serves: nothing to roll back.
    """
    clock = client.clock
    info = client.service_instance(service.id, target.environment_id, deadline)
    history = client.deployments(target.project_id, target.environment_id, service.id, first=20, deadline=deadline)
    active = sorted((d for d in info.active if d.live), key=lambda d: d.created_at, reverse=True)
    current = active[0] if active else None
    base = RollbackOutcome(
        service=service.label,
        service_id=service.id,
        rolled_back=False,
        live=False,
        status="NOTHING_TO_DO",
        message="",
        from_deployment_id=current.id if current else (info.latest.id if info.latest else None),
        url=info.url,
        dry_run=dry_run,
    )
    if failed_deployment_id:
        failed = next((d for d in history if d.id == failed_deployment_id), None) or client.deployment(
            failed_deployment_id, deadline
        )
        if failed.status in ("FAILED", "SKIPPED"):
            serving = f"; deployment {current.id} still serves" if current else ""
            return replace(
                base,
                status="NOTHING_TO_DO",
                live=current is not None,
                message=f"deployment {failed.id} {failed.status} before going live: nothing to roll back{serving}",
                dashboard_url=target.dashboard_url(service.id, current.id if current else None),
            )
    if target_id:
        chosen = next((d for d in history if d.id == target_id), None) or client.deployment(target_id, deadline)
        if chosen.service_id and chosen.service_id != service.id:
            raise ConfigError(
                f"deployment {target_id} belongs to another service, not {service.name}",
                hint="pass a deployment id of this service (see its Deployments tab)",
            )
    else:
        found = _last_successful_before(history, current or info.latest)
        if found is None:
            raise CheckFailed(
                f"{service.label}: no earlier successful deployment to roll back to",
                hint="name one with --to DEPLOYMENT_ID",
            )
        chosen = found
    dashboard = target.dashboard_url(service.id, chosen.id)
    base = replace(base, target_deployment_id=chosen.id, dashboard_url=dashboard)
    if current is not None and current.id == chosen.id:
        latest_note = ""
        if info.latest and info.latest.id != chosen.id and info.latest.status == "FAILED":
            latest_note = f"; the newer deployment {info.latest.id} FAILED before going live, so it never served"
        return replace(
            base,
            status="ALREADY_LIVE",
            live=True,
            message=f"deployment {chosen.id} is already the live one: nothing to roll back{latest_note}",
        )
    if not chosen.can_rollback:
        raise CheckFailed(
            f"{service.label}: Railway cannot roll back to deployment {chosen.id} ({chosen.status}, created "
            f"{chosen.created_at or 'at an unknown time'}): its image is no longer kept",
            hint=RETENTION_HINT,
        )
    if dry_run:
        return replace(base, status="PLANNED", message=f"would roll back to deployment {chosen.id}")
    known = {d.id for d in history}
    started = clock.monotonic()
    client.rollback(chosen.id, deadline)
    progress(f"{service.label}: rollback to {chosen.id} requested")
    restored = _wait_for_restored(client, target, service, chosen, known, started, progress, deadline, policy)
    elapsed = clock.monotonic() - started
    if restored is None:
        return replace(
            base,
            rolled_back=True,
            status="TIMED_OUT",
            duration=elapsed,
            message=f"rollback to {chosen.id} requested, but no restored deployment was live within the deadline",
        )
    live = restored.live
    return replace(
        base,
        rolled_back=True,
        live=live,
        status=restored.status,
        restored_deployment_id=restored.id,
        duration=elapsed,
        dashboard_url=target.dashboard_url(service.id, restored.id),
        message=(
            f"deployment {chosen.id} restored" + (f" as {restored.id}" if restored.id != chosen.id else "")
            if live
            else f"the restored deployment {restored.id} ended {restored.status}"
        ),
    )


def _wait_for_restored(
    client: RailwayClient,
    target: RailwayTarget,
    service: ServiceRef,
    chosen: Deployment,
    known: set[str],
    started: float,
    progress: Progress,
    deadline: Deadline,
    policy: PollPolicy,
) -> Deployment | None:
    """Railway may restore in place or as a new deployment of the old image: follow whichever appears."""
    clock = client.clock
    status = ""
    status_since = started
    while True:
        clock.sleep(min(policy.min_interval, deadline.remaining()))
        candidates = client.deployments(target.project_id, target.environment_id, service.id, first=5)
        fresh = [d for d in candidates if d.id not in known]
        current = fresh[0] if fresh else next((d for d in candidates if d.id == chosen.id), None)
        now = clock.monotonic()
        if current is not None:
            if current.status != status:
                status, status_since = current.status, now
                progress(f"{service.label}: {current.status} ({human_duration(now - started)})")
            if current.live or (fresh and current.status in FAILED_STATUSES):
                return current
        if deadline.expired():
            return current if current is not None and current.live else None
        wait = policy.interval(status or "DEPLOYING", now - started, now - status_since, None)
        clock.sleep(max(0.0, min(wait, deadline.remaining()) - policy.min_interval))
