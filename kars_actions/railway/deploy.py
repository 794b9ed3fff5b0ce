"""Deploy Railway services at one commit and wait for the outcome with a frugal poller (rolling back: ``rollback``)."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Any

from kars_actions.core.errors import CheckFailed, ConfigError, ExternalError
from kars_actions.core.report import Progress, no_progress
from kars_actions.core.timing import Deadline
from kars_actions.railway.api import (
    IN_PROGRESS_STATUSES,
    LIVE_STATUSES,
    Deployment,
    OutcomeUnknown,
    RailwayAPIError,
    RailwayClient,
    TokenKind,
)
from kars_actions.railway.wait import (
    DEFAULT_POLICY,
    UNKNOWN,
    PollPolicy,
    ServiceDeployment,
    ServiceRef,
    StartedDeployment,
    StatusSource,
    StreamOpener,
    estimate_duration,
    settle,
    wait_for_deployments,
)

DASHBOARD = "https://railway.com"
_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", re.IGNORECASE)


# --- What we deploy to ------------------------------------------------------------------------------------------


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


def pick(kind: str, wanted: str, options: Sequence[tuple[str, str]], where: str) -> tuple[str, str]:
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


def edges(data: Mapping[str, object], key: str) -> list[tuple[str, str]]:
    connection = data.get(key)
    edges = connection.get("edges", []) if isinstance(connection, dict) else []
    return [(str(e["node"]["id"]), str(e["node"]["name"])) for e in edges]


def read_project(
    client: RailwayClient, project: str | None, deadline: Deadline | None = None
) -> tuple[Mapping[str, Any], str | None]:
    """The project (its services and environments) by name or id, and the environment a project token is scoped
    to (None for an account token, which must name the project)."""
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
            project_id, _ = pick("project", project, client.projects(deadline), "the projects this token can see")
            data = client.project(project_id, deadline)
    return data, token_env


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
    data, token_env = read_project(client, project, deadline)
    project_name = str(data.get("name") or data["id"])
    where = f"project {project_name}"
    environments = edges(data, "environments")
    if token_env is not None:
        env_id, env_name = next(((i, n) for i, n in environments if i == token_env), (token_env, token_env))
        if environment and environment not in (env_id, env_name):
            raise ConfigError(
                f"RAILWAY_TOKEN is a project token for environment {env_name!r}, not {environment!r}",
                hint="project tokens are scoped to one environment: use that environment's token",
            )
    elif environment:
        env_id, env_name = pick("environment", environment, environments, where)
    elif len(environments) == 1:
        env_id, env_name = environments[0]
    else:
        names = ", ".join(sorted(n for _, n in environments)) or "none"
        raise ConfigError(f"which environment of {where}? It has: {names}", hint="pass --environment NAME")
    available = edges(data, "services")
    if not services:
        names = ", ".join(sorted(n for _, n in available)) or "none"
        raise ConfigError(
            f"no services to deploy; {where} has: {names}",
            hint="pass --service NAME (repeatable) or list services in kars.yml",
        )
    refs = []
    for wanted in services:
        service_id, name = pick("service", wanted, available, where)
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
    """A service instance just before the deploy: what serves now, what to roll back to, and its public URL."""

    service: ServiceRef
    rollback_target: Deployment | None
    latest: Deployment | None
    url: str | None
    expected_seconds: float | None = None  # how long its last successful deploy took: the waiter's estimate
    serving: Deployment | None = None  # the live deployment now (differs from the target on a rerun)

    @property
    def expected_duration(self) -> float | None:
        return self.expected_seconds


def _went_live(d: Deployment) -> bool:
    """Live now, or live once and replaced: REMOVING while Railway drains it (its image is kept: it can be rolled
    back once REMOVED), or REMOVED with its image kept."""
    return d.live or d.status == "REMOVING" or (d.status == "REMOVED" and d.can_rollback)


def served_before(history: Sequence[Deployment], commit: str) -> Deployment | None:
    """The deployment that served before the first deployment of ``commit`` (history newest first)."""
    ours = [d for d in history if d.commit_hash == commit]
    if not ours:
        return None
    first = min(ours, key=lambda d: d.created_at)
    return next((d for d in history if d.created_at < first.created_at and _went_live(d)), None)


def snapshot_services(
    client: RailwayClient,
    target: RailwayTarget,
    *,
    commit: str | None = None,
    deadline: Deadline | None = None,
) -> dict[str, ServiceSnapshot]:
    """What serves each service now, the rollback target, and how long a deploy takes.

    With ``commit``: when a deployment of that commit already serves (a rerun of a release that went live), the
    rollback target is the deployment that served before it, never the release's own deployment.
    """
    snapshots = {}
    for ref in target.services:
        info = client.service_instance(ref.id, target.environment_id, deadline)
        history = client.deployments(target.project_id, target.environment_id, ref.id, first=20, deadline=deadline)
        live = sorted((d for d in info.active if d.live), key=lambda d: d.created_at, reverse=True)
        current = live[0] if live else next((d for d in history if d.live), None)
        rollback_target = current
        if commit and current is not None and current.commit_hash == commit:
            rollback_target = served_before(history, commit)
        earlier = [d for d in history if not commit or d.commit_hash != commit]
        expected = estimate_duration(client, earlier, deadline=deadline)
        snapshots[ref.label] = ServiceSnapshot(
            ref, rollback_target, info.latest, info.url, expected_seconds=expected, serving=current
        )
    return snapshots


def record_rollback_targets(
    client: RailwayClient, target: RailwayTarget, *, commit: str | None = None, deadline: Deadline | None = None
) -> dict[str, Deployment | None]:
    """The deployment serving each service now. Record it BEFORE deploying: once replaced it goes REMOVED."""
    snaps = snapshot_services(client, target, commit=commit, deadline=deadline)
    return {label: snap.rollback_target for label, snap in snaps.items()}


# --- Deploy -------------------------------------------------------------------------------------------------------


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

    @property
    def unknown_services(self) -> list[ServiceDeployment]:
        return [s for s in self.services if s.unknown]


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

    After a lost answer (timeout, 5xx, dropped connection, a "Problem processing request") it looks for a
    deployment of the commit that was not there before the request, twice ``settle`` seconds apart (the request
    may still be in flight), and sends the request again only if none appeared.
    """
    clock = client.clock
    existing = client.deployments(target.project_id, target.environment_id, service.id, first=20, deadline=deadline)
    if reuse_existing:
        for deployment in existing:  # newest first
            if deployment.commit_hash == commit and (
                deployment.status in IN_PROGRESS_STATUSES or deployment.status in LIVE_STATUSES
            ):
                return StartedDeployment(service, deployment.id, True, clock.monotonic(), seen=deployment)
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


@dataclass(frozen=True)
class StartFailed:
    """A service whose deployment could not be started, or whose start cannot be confirmed."""

    service: str
    reason: str
    maybe_started: bool = False  # the request was sent and its answer lost: a deployment may exist
    external: bool = False  # Railway was unreachable or refused (exit 3), rather than answering no


def _start_or_fail(
    client: RailwayClient,
    target: RailwayTarget,
    service: ServiceRef,
    commit: str,
    reuse_existing: bool,
    deadline: Deadline | None,
) -> StartedDeployment | StartFailed:
    try:
        return start_deployment(client, target, service, commit, reuse_existing=reuse_existing, deadline=deadline)
    except OutcomeUnknown as error:
        return StartFailed(
            service.label,
            f"the deploy request was sent but Railway's answer was lost ({error.message}); a deployment of "
            f"{commit[:12]} may have started — check Railway",
            maybe_started=True,
            external=True,
        )
    except RailwayAPIError as error:
        text = " ".join(error.messages).lower()
        if "commit not found" in text:
            return StartFailed(
                service.label,
                f"Railway cannot find commit {commit} in the repository connected to service {service.name}: check "
                "that the commit is pushed to that repository (not only to a fork or another branch of a "
                "different repository) and that the service's source in Railway is the repository you released",
            )
        return StartFailed(service.label, error.message)
    except ExternalError as error:
        return StartFailed(service.label, error.message, external=True)


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
    settle_seconds: float = 0.0,
    source: StatusSource | None = None,
    stream: StreamOpener | None = None,
) -> DeployOutcome:
    """Deploy every service of ``target`` at ``commit`` concurrently, then wait for each outcome.

    Never raises for Railway trouble once a deployment may have started: each service ends with a row that says
    what Railway last told (or UNKNOWN), so the caller can report and undo truthfully.
    """
    before = client.requests_sent
    snaps = (
        dict(snapshots)
        if snapshots is not None
        else snapshot_services(client, target, commit=commit, deadline=deadline)
    )
    request_deadline = deadline.child(min(180.0, deadline.remaining()))
    with ThreadPoolExecutor(max_workers=max(1, min(8, len(target.services)))) as pool:
        futures = [
            pool.submit(_start_or_fail, client, target, ref, commit, reuse_existing, request_deadline)
            for ref in target.services
        ]
        starts = [f.result() for f in futures]
    started = [s for s in starts if isinstance(s, StartedDeployment)]
    for s in started:
        verb = "reusing deployment" if s.reused else "deployment"
        progress(f"{s.service.label}: {verb} {s.deployment_id} of {commit[:12]}")
    expected = {s.service.label: snaps[s.service.label].expected_seconds for s in started if s.service.label in snaps}
    finished = wait_for_deployments(
        client,
        target.dashboard_url,
        started,
        progress=progress,
        deadline=deadline,
        policy=policy,
        expected=expected,
        source=source,
        stream=stream,
    )
    rows: list[ServiceDeployment] = []
    for item in starts:
        if isinstance(item, StartFailed):
            ref = next(r for r in target.services if r.label == item.service)
            rows.append(
                ServiceDeployment(
                    service=ref.label,
                    service_id=ref.id,
                    commit=commit,
                    status=UNKNOWN if item.maybe_started else "NOT_STARTED",
                    live=False,
                    possibly_live=item.maybe_started,
                    external=item.external,
                    dashboard_url=target.dashboard_url(ref.id),
                    reason=item.reason,
                )
            )
        else:
            rows.append(finished[item.service.label])
    if settle_seconds > 0 and any(r.live for r in rows):
        rows = settle(
            client, rows, seconds=settle_seconds, deadline=deadline, progress=progress, policy=policy, source=source
        )
    results = []
    for row in rows:
        snap = snaps.get(row.service)
        results.append(
            replace(
                row,
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
                dashboard_url=target.dashboard_url(ref.id, reuse.id if reuse else None),
                reason=reason,
            )
        )
    return DeployOutcome(target, commit, tuple(rows), dry_run=True, requests=client.requests_sent - before)
