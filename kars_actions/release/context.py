"""The release's shared state: what was asked (ReleaseOptions), what is known so far (ReleaseContext), and the
stage bracket every stage runs in, with the small lookups the stages share.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kars_actions.core.config import Config, EnvironmentConfig
from kars_actions.core.errors import KarsError
from kars_actions.core.report import Progress
from kars_actions.core.timing import Clock, Deadline
from kars_actions.release.report import ReleaseResult, Stage

if TYPE_CHECKING:
    from kars_actions.github.access import RepositoryAccess
    from kars_actions.github.api import DeploymentRef, ReleaseRef
    from kars_actions.github.client import GitHubReleases
    from kars_actions.health.report import HealthResult
    from kars_actions.health.targets import HealthTarget
    from kars_actions.railway.api import RailwayClient, ServiceInstanceInfo
    from kars_actions.railway.deploy import RailwayTarget, ServiceSnapshot
    from kars_actions.railway.settings import ReleaseSettings
    from kars_actions.release.services import FoundServices

DEFAULT_ENVIRONMENT = "production"


@dataclass(frozen=True)
class ReleaseOptions:
    """What ``kars-actions release`` was asked to do."""

    config_path: str | None = None
    root: Path | None = None
    environment: str | None = None
    services: tuple[str, ...] = ()
    bump: str | None = None
    version: str | None = None
    prerelease: str | None = None
    force: bool = False
    dry_run: bool = False
    commit: str | None = None
    github_token: str | None = None
    deploy_timeout: float = 900.0
    health_deadline: float = 300.0
    total_timeout: float | None = None  # None: what the stages need with a rollback after them (release.budget)
    service_urls: dict[str, str] = field(default_factory=dict)
    health_urls: tuple[str, ...] = ()
    expect_status: tuple[str, ...] = ()
    expect_json: tuple[str, ...] = ()
    version_check: str | None = None
    alert_on_success: bool = False
    move_major_tag: bool | None = None
    skip_used_up: bool | None = None  # None: kars.yml release.skip_used_up_versions (on)
    slack_webhook: str | None = None
    discord_webhook: str | None = None
    webhook_url: str | None = None
    webhook_secret: str | None = None
    railway_config: str | None = None  # apply | check | off for every service, over kars.yml
    today: date | None = None  # the day the Config-as-Code cutoff is judged against (default: today, UTC)
    watch_duration: float | None = None  # seconds; None: kars.yml's (or the default), 0: no watch
    settle: float = 30.0  # after health passes, watch Railway this long after going live: a crash fails the release
    requires: str | None = None  # promotion gate: the environment that must have proved the commit (over kars.yml)


ROLLBACK_RECORD = "kars"  # the key of the GitHub deployment payload that holds the rollback targets
MADE_BY = "kars-actions"  # said in that record: the promotion gate trusts only deployments this tool made


@dataclass
class ReleaseContext:
    options: ReleaseOptions
    config: Config
    environment: EnvironmentConfig
    services: list[str]
    repo_dir: Path
    result: ReleaseResult
    progress: Progress
    clock: Clock
    deadline: Deadline
    github: GitHubReleases | None = None
    release: ReleaseRef | None = None
    gh_deployment: DeploymentRef | None = None
    railway: RailwayClient | None = None
    target: RailwayTarget | None = None
    snapshots: dict[str, ServiceSnapshot] = field(default_factory=dict)
    previous_failed: bool = False
    instances: dict[str, ServiceInstanceInfo] = field(default_factory=dict)
    access: RepositoryAccess | None = None
    listed: str = ""  # where the list of services came from (release.services.LISTED_*, or Railway's project)
    found: FoundServices | None = None  # each service's folder and railway config, and how they were found
    settings: ReleaseSettings | None = None  # the settings check, and what it left to apply before the deploy
    health_targets: list[HealthTarget] = field(default_factory=list)
    already_published: bool = False  # a rerun: this commit's release is out; only unfinished GitHub steps remain


class StageFailed(Exception):
    """Raised inside a stage after it has been recorded as failed; unwinds to the failure handling."""


class Superseded(Exception):
    """Raised after the watch found a service's deployment replaced by one the release did not make: the release
    cannot publish a version that no longer serves, and must not roll back over the newer one."""


def railway_name(ctx: ReleaseContext, service: str) -> str:
    return ctx.config.services[service].railway_service if service in ctx.config.services else service


@contextmanager
def in_stage(ctx: ReleaseContext, key: str, *, stop_on_failure: bool = True) -> Iterator[Stage]:
    """Time a stage and record its outcome. On the main path a failure stops the release; on the failure path
    (``stop_on_failure=False``) it is recorded and the remaining clean-up still runs."""
    stage = ctx.result.stage(key)
    start = ctx.clock.monotonic()
    if stage.status == "pending":  # a stage entered twice (open, then use) is announced once
        ctx.progress(f"▶ {stage.title}")
    stage.status = "running"
    try:
        yield stage
    except Exception as raised:  # noqa: BLE001 - turned into a failed stage, never swallowed
        # A bug must not stop the release between going live and checking it: it fails the stage like any error,
        # so the failure path still rolls back and says what serves.
        error = raised if isinstance(raised, KarsError) else _internal_error(raised)
        stage.status = "failed"
        stage.detail = stage.detail or error.message
        if stop_on_failure:
            ctx.result.error = error
            raise StageFailed from None
    finally:
        # Resolving Railway and checking its variables are one stage entered twice: add up its time.
        stage.seconds = (stage.seconds or 0.0) + ctx.clock.monotonic() - start
    if stage.status == "running":
        stage.status = "ok"
    if stage.status == "failed" and stop_on_failure:
        raise StageFailed


def _internal_error(error: Exception) -> KarsError:
    if os.environ.get("KARS_DEBUG"):
        raise error
    return KarsError(
        f"internal error: {type(error).__name__}: {error}",
        hint="this is a bug in kars-actions; rerun with KARS_DEBUG=1 for the traceback and report it",
    )


def railway_deadline(ctx: ReleaseContext, seconds: float) -> Deadline:
    assert ctx.railway is not None
    return Deadline(min(seconds, ctx.deadline.remaining()), ctx.railway.clock)


def service_urls(ctx: ReleaseContext) -> dict[str, str]:
    urls = {label: info.url for label, info in ctx.instances.items() if info.url}
    urls.update({label: snap.url for label, snap in ctx.snapshots.items() if snap.url})
    if ctx.result.deploy is not None:
        urls.update({s.service: s.url for s in ctx.result.deploy.services if s.url})
    urls.update(ctx.options.service_urls)
    return urls


def plan_health_targets(ctx: ReleaseContext, service_urls: dict[str, str]) -> list[HealthTarget]:
    from kars_actions.health.plan import CheckOverrides, HealthPlan, plan_targets

    overrides = CheckOverrides(
        expect_status=ctx.options.expect_status,
        expect_json=ctx.options.expect_json,
        version_check=ctx.options.version_check,
    )
    plan = HealthPlan(
        urls=ctx.options.health_urls, services=tuple(ctx.services), service_urls=service_urls, overrides=overrides
    )
    return plan_targets(plan, ctx.config)


def health_failure(health: HealthResult) -> str:
    """Why the health stage failed, for the console, the summary and the alert: each unhealthy target's failing
    checks with the evidence its last answer gave (the failing fields, the body)."""
    return "; ".join(f"{outcome.target.name}: {outcome.why()}" for outcome in health.unhealthy())


def health_passed(health: HealthResult, tag: str | None) -> str:
    """A passed health stage in words that claim no more than the answers showed: "at v1.2.0" only for targets whose
    answer reported the release's version or commit; the others say that theirs was not reported."""
    outcomes = health.outcomes
    proven = [o.target.name for o in outcomes if o.reported_version is not None]
    unchecked = [o.target.name for o in outcomes if not o.target.check.checks_version]
    silent = [o.target.name for o in outcomes if o.target.check.checks_version and o.reported_version is None]
    text = f"{len(outcomes)} target(s) healthy"
    if proven and not silent and not unchecked:
        return f"{text} at {tag}" if tag else text
    parts = []
    if proven:
        parts.append(f"at {tag}: {', '.join(proven)}" if tag else f"version reported: {', '.join(proven)}")
    if silent:
        parts.append(f"version not reported: {', '.join(silent)} (checked: {_checks_made(health, silent)})")
    if unchecked:
        parts.append(f"version not checked: {', '.join(unchecked)}")
    return f"{text}; " + "; ".join(parts)


def _checks_made(health: HealthResult, names: list[str]) -> str:
    """The checks the named targets passed, without the version line (they reported none)."""
    seen: list[str] = []
    for outcome in health.outcomes:
        if outcome.target.name in names:
            for line in outcome.target.check.describe():
                if not line.startswith("version") and line not in seen:
                    seen.append(line)
    return ", ".join(seen)


def wants_major_tag(ctx: ReleaseContext) -> bool:
    if ctx.options.move_major_tag is not None:
        return ctx.options.move_major_tag
    return ctx.config.release.move_major_tag


def is_transient(environment: EnvironmentConfig) -> bool:
    """Transient only for environments that go away (PR previews): kars.yml says so, or the name does."""
    from kars_actions.github.deployments import is_ephemeral

    return environment.transient if environment.transient is not None else is_ephemeral(environment.name)


def first_url(ctx: ReleaseContext) -> str | None:
    urls = service_urls(ctx)
    return next(iter(urls.values()), None)



def deployment_record(ctx: ReleaseContext) -> dict[str, Any]:
    """The GitHub deployment's payload record: made by kars-actions, the version and commit, the rollback targets
    (a rerun adopts them), and the promotion gate's proof when there is one."""
    plan = ctx.result.plan
    record: dict[str, Any] = {
        "made_by": MADE_BY,
        "version": plan.tag if plan else None,
        "commit": plan.target_sha if plan else ctx.result.commit,
        "rollback_targets": ctx.result.rollback_targets,
    }
    check = ctx.result.promotion
    if check is not None and check.proof is not None:
        proof = check.proof
        record["promotion"] = {
            "environment": check.required,
            "deployment_id": proof.deployment_id,
            "version": proof.version,
            "commit": proof.sha,
            "same": proof.same,
        }
    return record
