"""The deploy and rollback steps: plain requests in, Result objects out (client: railway_api, work: railway_deploy)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

from kars_actions.core.report import Progress, no_progress
from kars_actions.core.timing import Deadline, VirtualClock, clock_from_environ  # the test seam's, re-exported
from kars_actions.railway.api import (
    ACCOUNT_TOKEN_ENV,
    DEFAULT_ENDPOINT,
    ENDPOINT_ENV,
    PROJECT_TOKEN_ENV,
    Credentials,
    Deployment,
    RailwayClient,
    TokenKind,
)
from kars_actions.railway.deploy import (
    DeployOutcome,
    RailwayTarget,
    ServiceSnapshot,
    check_variables,
    deploy_services,
    plan_deploy,
    preflight_variables,
    record_rollback_targets,
    resolve_target,
    snapshot_services,
    start_deployment,
)
from kars_actions.railway.report import DeployResult, RollbackResult
from kars_actions.railway.rollback import Describe, RollbackOutcome, rollback_service
from kars_actions.railway.stream import stream_opener
from kars_actions.railway.wait import (
    DEFAULT_POLICY,
    PollPolicy,
    ServiceDeployment,
    ServiceRef,
    settle,
    wait_for_deployments,
)

__all__ = [
    "ACCOUNT_TOKEN_ENV",
    "DEFAULT_ENDPOINT",
    "DEFAULT_POLICY",
    "ENDPOINT_ENV",
    "PROJECT_TOKEN_ENV",
    "Credentials",
    "DeployOutcome",
    "DeployRequest",
    "DeployResult",
    "Deployment",
    "PollPolicy",
    "RailwayClient",
    "RailwayTarget",
    "RollbackOutcome",
    "RollbackRequest",
    "RollbackResult",
    "ServiceDeployment",
    "ServiceRef",
    "ServiceSnapshot",
    "TokenKind",
    "VirtualClock",
    "check_variables",
    "clock_from_environ",
    "deploy_services",
    "preflight_variables",
    "record_rollback_targets",
    "resolve_target",
    "rollback_service",
    "run_deploy",
    "run_rollback",
    "settle",
    "snapshot_services",
    "start_deployment",
    "wait_for_deployments",
]


# --- deploy -------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DeployRequest:
    services: tuple[str, ...]  # Railway service names or ids (labels in outputs)
    commit: str
    project: str | None = None
    environment: str | None = None
    timeout: float = 900.0
    dry_run: bool = False
    reuse_existing: bool = True
    required_variables: Mapping[str, Sequence[str]] = field(default_factory=dict)
    environment_url: str | None = None  # from kars.yml; otherwise the first service's public URL
    labels: Mapping[str, str] = field(default_factory=dict)  # Railway name -> kars.yml key, for outputs
    settle: float = 30.0  # keep watching this long after SUCCESS: a crash in the window fails the deploy


def run_deploy(
    request: DeployRequest,
    client: RailwayClient,
    *,
    progress: Progress = no_progress,
    policy: PollPolicy = DEFAULT_POLICY,
) -> DeployResult:
    """Resolve → check variables → record rollback targets → deploy → wait. ``dry_run`` stops before any write."""
    deadline = Deadline.after(request.timeout, client.clock)
    target = resolve_target(
        client, request.project, request.environment, request.services, labels=request.labels, deadline=deadline
    )
    check_variables(preflight_variables(client, target, request.required_variables, deadline=deadline), target)
    snapshots = snapshot_services(client, target, commit=request.commit, deadline=deadline)
    for label, snap in snapshots.items():
        current = snap.rollback_target
        progress(f"{label}: rollback target {current.id if current else 'none (first deploy)'}")
    if request.dry_run:
        outcome = plan_deploy(
            client, target, request.commit, snapshots, reuse_existing=request.reuse_existing, deadline=deadline
        )
    else:
        outcome = deploy_services(
            client,
            target,
            request.commit,
            progress=progress,
            deadline=deadline,
            snapshots=snapshots,
            reuse_existing=request.reuse_existing,
            policy=policy,
            settle_seconds=request.settle,
            stream=stream_opener(client),
        )
    return DeployResult(replace(outcome, requests=client.requests_sent), request.environment_url)


# --- rollback ------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RollbackRequest:
    service: str
    to: str | None = None
    project: str | None = None
    environment: str | None = None
    timeout: float = 600.0
    dry_run: bool = False
    label: str | None = None  # the kars.yml key, for outputs
    allow_failed: bool = False  # restoring a version that failed its release (rolled away from) is refused without


def run_rollback(
    request: RollbackRequest,
    client: RailwayClient,
    *,
    progress: Progress = no_progress,
    policy: PollPolicy = DEFAULT_POLICY,
    describe: Describe | None = None,
) -> RollbackResult:
    """Resolve the service, then roll it back (``describe`` names each commit's version, when the caller knows)."""
    deadline = Deadline.after(request.timeout, client.clock)
    labels = {request.service: request.label} if request.label else None
    target = resolve_target(
        client, request.project, request.environment, (request.service,), labels=labels, deadline=deadline
    )
    outcome = rollback_service(
        client,
        target,
        target.services[0],
        target_id=request.to,
        allow_failed=request.allow_failed,
        progress=progress,
        deadline=deadline,
        dry_run=request.dry_run,
        policy=policy,
        describe=describe,
    )
    return RollbackResult(outcome, target)
