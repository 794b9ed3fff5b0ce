"""The release, as the state machine in ARCHITECTURE.md: each stage checks before it acts, so a rerun resumes.

preflight (every read-only check: Railway token, project, environment, services, required variables; GitHub access)
→ validate (railway config + health checks) → version → tag + draft release → record rollback targets (before
anything changes on Railway) → GitHub deployment in_progress (carrying the rollback targets, so a rerun finds them)
→ Railway settings → backup → deploy (parallel) → wait → health (and the settle window) → watch → publish,
deployment success, move the major tag.
Nothing is written before the preflight and the validation have passed. A release that fails before going live takes
its tag back, so the next run releases the same version; after a service went live — or may have: a status Railway
could not tell counts as live — any failure rolls it back, re-checks the restored version, and alerts. What serves
each service at the end is read from Railway.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kars_actions.core.config import Config, EnvironmentConfig, load_config
from kars_actions.core.errors import ConfigError, KarsError, UsageError
from kars_actions.core.report import Progress, no_progress
from kars_actions.core.timing import SYSTEM_CLOCK, Clock, Deadline
from kars_actions.release.report import ReleaseResult, Stage

if TYPE_CHECKING:
    from kars_actions.github.access import RepositoryAccess
    from kars_actions.github.api import DeploymentRef, ReleaseRef
    from kars_actions.github.client import GitHubReleases
    from kars_actions.health.report import HealthResult
    from kars_actions.health.targets import HealthTarget
    from kars_actions.notify.alerts import Alert
    from kars_actions.railway.api import RailwayClient, ServiceInstanceInfo
    from kars_actions.railway.deploy import RailwayTarget, ServiceSnapshot
    from kars_actions.railway.settings_report import ReleaseSettings

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
    total_timeout: float = 1800.0
    service_urls: dict[str, str] = field(default_factory=dict)
    health_urls: tuple[str, ...] = ()
    expect_status: tuple[str, ...] = ()
    expect_json: tuple[str, ...] = ()
    version_check: str | None = None
    alert_on_success: bool = False
    move_major_tag: bool | None = None
    slack_webhook: str | None = None
    discord_webhook: str | None = None
    webhook_url: str | None = None
    webhook_secret: str | None = None
    railway_config: str | None = None  # apply | check | off for every service, over kars.yml
    today: date | None = None  # the day the Config-as-Code cutoff is judged against (default: today, UTC)
    watch_duration: float | None = None  # seconds; None: kars.yml's (or the default), 0: no watch
    settle: float = 30.0  # after health passes, watch Railway this long after going live: a crash fails the release


ROLLBACK_RECORD = "kars"  # the key of the GitHub deployment payload that holds the rollback targets


@dataclass
class _Context:
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
    found: dict[str, str] = field(default_factory=dict)  # service -> how its folder was found (no kars.yml entry)
    settings: ReleaseSettings | None = None  # the settings check, and what it left to apply before the deploy
    health_targets: list[HealthTarget] = field(default_factory=list)
    already_published: bool = False  # a rerun: this commit's release is out; only unfinished GitHub steps remain


class _StageFailed(Exception):
    """Raised inside a stage after it has been recorded as failed; unwinds to the failure handling."""


def run_release(
    options: ReleaseOptions,
    *,
    progress: Progress = no_progress,
    clock: Clock = SYSTEM_CLOCK,
    railway_clock: Clock | None = None,
) -> ReleaseResult:
    """Run the release (or plan it with ``dry_run``). Failures become stages in the result, not exceptions,
    except configuration errors found before anything starts."""
    config = load_config(options.config_path, options.root)
    repo_dir = _repo_dir(config)
    environment = _pick_environment(options, config, repo_dir)
    services = _pick_services(options, config)
    result = ReleaseResult(
        environment=environment.name,
        services=services,
        dry_run=options.dry_run,
    )
    ctx = _Context(
        options=options,
        config=config,
        environment=environment,
        services=services,
        repo_dir=repo_dir,
        result=result,
        progress=progress,
        clock=clock,
        deadline=Deadline.after(options.total_timeout, clock),
    )
    try:
        _run_stages(ctx)
    finally:
        _close(ctx)
    return result


def _run_stages(ctx: _Context) -> None:
    result = ctx.result
    try:
        _preflight(ctx)
        _validate(ctx)
        _railway_settings(ctx)
        if not _version(ctx):
            return
        _tag_and_draft(ctx)
        if ctx.already_published:
            _finish_published(ctx)
            return
        _record_targets(ctx)  # before anything changes on Railway, settings included
        _github_deployment(ctx)
        _backup(ctx)
        _apply_railway_settings(ctx)
        if ctx.options.dry_run:
            _plan(ctx)
            result.outcome = "planned"
            return
        _deploy(ctx)
        _health(ctx)
        _watch(ctx)
    except _StageFailed:
        _fail(ctx)
        return
    result.production_touched = True  # every service is live at this release's commit
    try:
        _succeed(ctx)
    finally:
        _read_serving(ctx)


def _close(ctx: _Context) -> None:
    if ctx.railway is not None:
        ctx.railway.close()
    if ctx.github is not None:
        ctx.github.close()


# --- choosing what to release ------------------------------------------------------------------------------------


def _repo_dir(config: Config) -> Path:
    return config.root


def _current_branch(repo_dir: Path) -> str | None:
    ref = os.environ.get("GITHUB_REF_NAME")
    if ref and os.environ.get("GITHUB_REF_TYPE", "branch") == "branch":
        return ref
    try:
        proc = subprocess.run(
            ["git", "rev-parse", "--abbrev-ref", "HEAD"], cwd=repo_dir, capture_output=True, text=True, check=False
        )
    except OSError:
        return None
    name = proc.stdout.strip()
    return name if proc.returncode == 0 and name and name != "HEAD" else None


def _pick_environment(options: ReleaseOptions, config: Config, repo_dir: Path) -> EnvironmentConfig:
    if options.environment:
        return config.environment(options.environment)
    branch = _current_branch(repo_dir)
    if branch:
        mapped = config.environment_for_branch(branch)
        if mapped is not None:
            return mapped
    if DEFAULT_ENVIRONMENT in config.environments or not config.environments:
        return config.environment(DEFAULT_ENVIRONMENT)
    raise UsageError(
        f"no environment given and branch {branch or '(unknown)'} maps to none in kars.yml",
        hint=f"pass --environment ({', '.join(config.environments)}) or set a branch: for one of them",
    )


def _pick_services(options: ReleaseOptions, config: Config) -> list[str]:
    if options.services:
        return [config.service(name).name if config.services else name for name in options.services]
    if not config.services:
        raise ConfigError(
            "no services to release: kars.yml defines none and no --service was given",
            hint="add services: to kars.yml (see examples/kars-app/kars.yml) or pass --service NAME",
        )
    return list(config.services)


def _railway_name(ctx: _Context, service: str) -> str:
    return ctx.config.services[service].railway_service if service in ctx.config.services else service


# --- stages ----------------------------------------------------------------------------------------------------------


@contextmanager
def _stage(ctx: _Context, key: str, *, stop_on_failure: bool = True) -> Iterator[Stage]:
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
            raise _StageFailed from None
    finally:
        # Resolving Railway and checking its variables are one stage entered twice: add up its time.
        stage.seconds = (stage.seconds or 0.0) + ctx.clock.monotonic() - start
    if stage.status == "running":
        stage.status = "ok"
    if stage.status == "failed" and stop_on_failure:
        raise _StageFailed


def _internal_error(error: Exception) -> KarsError:
    if os.environ.get("KARS_DEBUG"):
        raise error
    return KarsError(
        f"internal error: {type(error).__name__}: {error}",
        hint="this is a bug in kars-actions; rerun with KARS_DEBUG=1 for the traceback and report it",
    )


def _validate(ctx: _Context) -> None:
    """Every service's railway config against Railway's schema, then the health checks the release will make: both
    are known before anything is written."""
    from kars_actions.railway_config.config import ValidateOptions, validate

    with _stage(ctx, "validate") as stage:
        paths = _railway_configs(ctx)
        details = []
        if paths:
            strict = ctx.config.validate != "lenient"
            checked = validate(
                ValidateOptions(paths=tuple(paths), strict=strict, deprecation_notice=False, root=ctx.config.root)
            )
            ctx.result.validation = checked
            if not checked.valid:
                stage.status = "failed"
                stage.detail = f"{checked.error_count} error(s) in railway config"
                return
            details.append(f"{len(checked.files)} file(s) valid")
            if checked.warning_count:
                details.append(f"{checked.warning_count} warning(s)")
        else:
            details.append("no railway.json or railway.toml for these services")
        unchecked = [f"{name}: {how}" for name, how in ctx.found.items() if "no railway" in how]
        if unchecked:
            details.append("not validated — " + "; ".join(unchecked))
        details.append(_plan_health(ctx))
        stage.detail = "; ".join(details)


def _plan_health(ctx: _Context) -> str:
    """The health targets, before any write: a release that could not check its services must not start."""
    unresolved = _unresolved_health(ctx)
    if unresolved:
        # A dry run without a Railway token cannot know the services' domains: say where each check will go.
        return "health at " + "; ".join(unresolved)
    ctx.health_targets = _health_targets(ctx, _service_urls(ctx))
    ctx.result.planned_health = list(ctx.health_targets)
    return f"{len(ctx.health_targets)} health target(s)"


def _unresolved_health(ctx: _Context) -> list[str]:
    if ctx.railway is not None or ctx.options.health_urls:
        return []
    from kars_actions.health.targets import healthcheck_path

    urls = _service_urls(ctx)
    described = []
    for name in ctx.services:
        service = ctx.config.services.get(name)
        if service is None or service.url or name in urls or any(h.url or h.port for h in service.health):
            continue
        path = next((h.path for h in service.health if h.path), None) or healthcheck_path(ctx.config, service) or "/"
        described.append(f"{name}: its Railway domain + {path} (read with RAILWAY_TOKEN)")
    return described


def _railway_configs(ctx: _Context) -> list[str]:
    """Each service's railway config: the one kars.yml names, else the one in the service's folder."""
    from kars_actions.railway_config.config import CONFIG_NAMES

    paths = []
    for name in ctx.services:
        service = ctx.config.services.get(name)
        if service is None:
            continue
        if service.railway_config:
            paths.append(str(ctx.config.root / service.railway_config))
            continue
        folder = ctx.config.root / service.directory
        if any((folder / config_name).is_file() for config_name in CONFIG_NAMES):
            paths.append(str(folder))
    return paths


def _version(ctx: _Context) -> bool:
    """Compute the version; False when there is nothing to release (a distinct, successful outcome)."""
    from kars_actions.github.versioning import plan_version

    options = ctx.options
    with _stage(ctx, "version") as stage:
        plan = plan_version(
            ctx.repo_dir,
            options.commit,
            ctx.config.release,
            bump=options.bump or ctx.config.release.bump,
            explicit=options.version,
            prerelease=options.prerelease or ctx.environment.prerelease,
            force=options.force,
            unpublished=ctx.access.unpublished if ctx.access else (),
        )
        ctx.result.plan = plan
        ctx.result.commit = plan.target_sha
        if not plan.released:
            stage.status = "skipped"
            stage.detail = plan.reason or "no releasable commit since the last release"
            ctx.result.outcome = "nothing-to-release"
            return False
        stage.detail = f"{plan.tag}" + (" (resuming: the tag is already on this commit)" if plan.existing_tag else "")
    return True


def _tag_and_draft(ctx: _Context) -> None:
    plan = ctx.result.plan
    assert plan is not None
    with _stage(ctx, "release") as stage:
        if ctx.github is None:
            stage.status = "planned"
            stage.detail = f"would create tag {plan.tag} on {plan.target_sha[:12]} and a draft release"
            return
        if not ctx.options.dry_run and not (ctx.access and plan.tag in ctx.access.published):
            # The last read-only check, right before the first write: may this token write at all?
            ctx.github.check_write_access()
        ctx.release = ctx.github.ensure_tag_and_draft(plan, plan.target_sha)
        ctx.result.release = ctx.release
        if not ctx.release.draft and not ctx.release.release_created and not ctx.options.dry_run:
            stage.status = "skipped"
            stage.detail = f"{plan.tag} is already published for this commit"
            ctx.already_published = True
            return
        if ctx.options.dry_run:
            stage.status = "planned"
        stage.detail = ("reused" if not ctx.release.release_created else "created") + f" draft {plan.tag}"


def _github_deployment(ctx: _Context) -> None:
    plan = ctx.result.plan
    assert plan is not None
    with _stage(ctx, "github-deployment") as stage:
        if ctx.github is None:
            stage.status = "planned"
            stage.detail = f"would open a GitHub deployment to {ctx.environment.name}, in_progress"
            return
        ctx.previous_failed = _last_deployment_failed(ctx)
        ctx.gh_deployment = ctx.github.start_deployment(
            ctx.environment.name,
            plan.target_sha,
            transient=_transient(ctx.environment),
            description=f"{plan.tag} to {ctx.environment.name}",
            environment_url=ctx.environment.url,
            payload={ROLLBACK_RECORD: {"rollback_targets": ctx.result.rollback_targets}},
        )
        if ctx.options.dry_run:
            stage.status = "planned"
        stage.detail = f"deployment {ctx.gh_deployment.id}" + ("" if ctx.gh_deployment.created else " (reused)")
        if not ctx.gh_deployment.created:
            adopted = _adopt_recorded_targets(ctx, ctx.gh_deployment.payload)
            if adopted:
                stage.detail += "; rollback targets as the first run recorded them: " + adopted
    _warn_deployed_on_its_own(ctx)


def _adopt_recorded_targets(ctx: _Context, payload: Any) -> str:
    """On a rerun, the rollback targets are the ones the first run recorded before it deployed — not what serves
    now, which may be this release's own deployment. Returns what was adopted, in words ("" if nothing)."""
    record = payload.get(ROLLBACK_RECORD) if isinstance(payload, dict) else None
    recorded = record.get("rollback_targets") if isinstance(record, dict) else None
    if not isinstance(recorded, dict):
        return ""
    adopted = []
    for label, target_id in recorded.items():
        if label not in ctx.result.rollback_targets or not isinstance(target_id, str) or not target_id:
            continue
        if ctx.result.rollback_targets[label] != target_id:
            ctx.result.rollback_targets[label] = target_id
            _retarget_snapshot(ctx, label, target_id)
        adopted.append(f"{label}: {target_id}")
    return ", ".join(adopted)


def _retarget_snapshot(ctx: _Context, label: str, target_id: str) -> None:
    from kars_actions.railway.api import Deployment

    snapshot = ctx.snapshots.get(label)
    if snapshot is None or ctx.railway is None:
        return
    try:
        deployment = ctx.railway.deployment(target_id, _railway_deadline(ctx, 60.0))
    except KarsError:
        deployment = Deployment(target_id, "UNKNOWN")
    ctx.snapshots[label] = replace(snapshot, rollback_target=deployment)


def _preflight(ctx: _Context) -> None:
    """Every read-only check before the first write: the Railway token and what it may reach (project, environment,
    every service and its source, the required variables), each service's folder, and the GitHub repository."""
    with _stage(ctx, "preflight") as stage:
        details = [_preflight_railway(ctx)]
        ctx.config, ctx.found = _find_services(ctx)
        details += [f"{name}: {how}" for name, how in ctx.found.items()]
        details.append(_preflight_github(ctx))
        stage.detail = "; ".join(d for d in details if d)
        if ctx.options.dry_run:
            stage.status = "planned" if ctx.railway is None and ctx.github is None else "ok"


def _preflight_railway(ctx: _Context) -> str:
    from kars_actions.railway.api import RailwayClient
    from kars_actions.railway.deploy import check_variables, preflight_variables, resolve_target
    from kars_actions.railway.steps import clock_from_environ

    has_token = bool(os.environ.get("RAILWAY_TOKEN") or os.environ.get("RAILWAY_API_TOKEN"))
    required = {s: ctx.config.services[s].required_variables for s in ctx.services if s in ctx.config.services}
    wanted = sorted({name for names in required.values() for name in names})
    if ctx.options.dry_run and not has_token:
        return "Railway not read (no RAILWAY_TOKEN): would check variables " + (", ".join(wanted) or "(none required)")
    ctx.railway = RailwayClient.from_env(clock=clock_from_environ())
    names = [_railway_name(ctx, s) for s in ctx.services]
    labels = {_railway_name(ctx, s): s for s in ctx.services}
    ctx.target = resolve_target(
        ctx.railway,
        ctx.config.project,
        ctx.environment.railway_environment or ctx.environment.name,
        names,
        labels=labels,
        deadline=_railway_deadline(ctx, 120.0),
    )
    notes = []
    for ref in ctx.target.services:
        info = ctx.railway.service_instance(ref.id, ctx.target.environment_id, _railway_deadline(ctx, 60.0))
        ctx.instances[ref.label] = info
        notes += _source_problems(ctx, ref.label, info)
    missing = preflight_variables(ctx.railway, ctx.target, required, deadline=_railway_deadline(ctx, 120.0))
    check_variables(missing, ctx.target)
    where = f"{ctx.target.project_name} / {ctx.target.environment_name}"
    variables = f"{len(wanted)} required variable(s) present" if wanted else "no variables required"
    return f"{where}: {len(ctx.target.services)} service(s), {variables}" + "".join(f"; {n}" for n in notes)


def _source_problems(ctx: _Context, service: str, info: ServiceInstanceInfo) -> list[str]:
    """A commit can only be deployed from a service connected to the repository it belongs to."""
    if info.repo is None:
        source = f"the image {info.image}" if info.image else "no source"
        raise ConfigError(
            f"Railway service {service!r} deploys {source}, not a GitHub repository, so it cannot deploy the "
            "commit being released",
            hint="connect the service to this repository in Railway (service → Settings → Source → Connect Repo)",
        )
    repository = os.environ.get("GITHUB_REPOSITORY")
    if repository and info.repo.lower() != repository.lower():
        return [f"warning: {service} is connected to {info.repo}, not {repository}"]
    return []


def _find_services(ctx: _Context) -> tuple[Config, dict[str, str]]:
    from kars_actions.release.services import RailwaySettings, with_found_services

    settings = {
        label: RailwaySettings(info.root_directory, info.config_file, info.healthcheck_path)
        for label, info in ctx.instances.items()
    }
    railway_names = {ref.label: ref.name for ref in ctx.target.services} if ctx.target else {}
    return with_found_services(ctx.config, ctx.services, settings, railway_names)


def _preflight_github(ctx: _Context) -> str:
    from kars_actions.github.client import GitHubReleases

    token = ctx.options.github_token or os.environ.get("GITHUB_TOKEN") or os.environ.get("GH_TOKEN")
    if ctx.options.dry_run and not (token and os.environ.get("GITHUB_REPOSITORY")):
        return "GitHub not read (no GITHUB_TOKEN and GITHUB_REPOSITORY)"  # a local dry run: the plan says the rest
    ctx.github = GitHubReleases.from_env(
        token,
        dry_run=ctx.options.dry_run,
        clock=ctx.clock,
        deadline=ctx.deadline,
        progress=ctx.progress,
    )
    ctx.access = ctx.github.read_access()
    failed = sorted(ctx.access.unpublished)
    return f"GitHub {ctx.access.repository} readable" + (
        f"; never published (failed): {', '.join(failed)}" if failed else ""
    )


def _railway_deadline(ctx: _Context, seconds: float) -> Deadline:
    assert ctx.railway is not None
    return Deadline(min(seconds, ctx.deadline.remaining()), ctx.railway.clock)


def _railway_settings(ctx: _Context) -> None:
    """Railway no longer reads railway.json: compare it with the service settings before the release writes anything,
    and refuse (check), warn, or keep the plan to apply right before the deploy.
    The plan itself: kars_actions.railway_config.settings."""
    from kars_actions.railway.settings_report import ReleaseService, check_release_settings
    from kars_actions.railway_config.settings import repo_services

    with _stage(ctx, "railway-settings") as stage:
        files = {f.label: f.path for f in repo_services(ctx.config, ctx.services)}
        modes = {label: _settings_mode(ctx, label) for label in ctx.services}
        if ctx.railway is None or ctx.target is None:
            stage.status = "planned"
            shown = ", ".join(f"{label}: {modes[label] or 'check'}" for label in ctx.services if files.get(label))
            stage.detail = "would compare railway.json with the service settings" + (f" ({shown})" if shown else "")
            return
        target = ctx.target
        ctx.settings = check_release_settings(
            ctx.railway,
            (target.project_id, target.project_name, target.environment_id, target.environment_name),
            [ReleaseService(r.label, r.name, r.id, files.get(r.label), modes.get(r.label)) for r in target.services],
            root=ctx.config.root,
            today=ctx.options.today or datetime.now(UTC).date(),
            dry_run=ctx.options.dry_run,
            deadline=_railway_deadline(ctx, 120.0),
        )
        _settings_outcome(ctx, stage, ctx.settings)


def _apply_railway_settings(ctx: _Context) -> None:
    """Write what the check planned for apply-mode services, right before the deploy (the deploy uses them)."""
    from kars_actions.railway.settings_report import apply_release_settings
    from kars_actions.railway_config.settings import ApplyOptions

    if ctx.settings is None or ctx.settings.to_apply is None or ctx.railway is None:
        return
    with _stage(ctx, "railway-settings") as stage:
        options = ApplyOptions(
            commit=ctx.result.commit, repository=os.environ.get("GITHUB_REPOSITORY"), dry_run=ctx.options.dry_run
        )
        outcome = apply_release_settings(ctx.railway, ctx.settings, options, deadline=_railway_deadline(ctx, 120.0))
        _settings_outcome(ctx, stage, outcome)


def _settings_outcome(ctx: _Context, stage: Stage, outcome: ReleaseSettings) -> None:
    ctx.result.settings = outcome.result
    stage.status, stage.detail = outcome.status, outcome.detail
    if outcome.error is not None:
        ctx.result.failure = outcome.error.message
        raise outcome.error


def _settings_mode(ctx: _Context, label: str) -> str | None:
    """The railway-config input (or --railway-config) wins, then the service's kars.yml mode, then the global one."""
    service = ctx.config.services.get(label)
    return ctx.options.railway_config or (service.railway_config_mode if service else None) or ctx.config.railway_config


def _record_targets(ctx: _Context) -> None:
    from kars_actions.railway.steps import snapshot_services

    with _stage(ctx, "record-targets") as stage:
        if ctx.railway is None or ctx.target is None:
            stage.status = "planned"
            stage.detail = "would record the deployment serving each service now"
            return
        commit = ctx.result.plan.target_sha if ctx.result.plan else None
        ctx.snapshots = snapshot_services(
            ctx.railway, ctx.target, commit=commit, deadline=_railway_deadline(ctx, 120.0)
        )
        ctx.result.rollback_targets = {
            label: (snap.rollback_target.id if snap.rollback_target else None) for label, snap in ctx.snapshots.items()
        }
        stage.detail = ", ".join(
            f"{label}: {target or 'none (first deploy)'}" for label, target in ctx.result.rollback_targets.items()
        )


def _warn_deployed_on_its_own(ctx: _Context) -> None:
    """Once the GitHub deployment says whether this is a rerun: say so when Railway deployed the commit by itself."""
    early = _deployed_on_its_own(ctx)
    if early:
        ctx.result.stage("record-targets").detail += (
            f"; warning: Railway deployed this commit on its own before the release ({', '.join(early)}): its "
            "auto-deploy races the release — turn on Wait for CI or turn automatic deploys off"
        )


def _deployed_on_its_own(ctx: _Context) -> list[str]:
    """Services Railway already deployed the released commit to although this release has not deployed yet: the
    service deploys every push by itself, so untested code can go live before the tests end."""
    plan = ctx.result.plan
    if plan is None or ctx.gh_deployment is None or not ctx.gh_deployment.created:
        return []  # a rerun: an earlier run of this release may have made that deployment
    return [
        label
        for label, snap in ctx.snapshots.items()
        if snap.latest is not None and snap.latest.commit_hash == plan.target_sha
    ]


def _plan(ctx: _Context) -> None:
    """Dry run: what the deploy and health stages would do, with the checks and assertions spelled out."""
    from kars_actions.railway.deploy import plan_deploy

    plan = ctx.result.plan
    assert plan is not None
    deploy = ctx.result.stage("deploy")
    deploy.status = "planned"
    if ctx.railway is not None and ctx.target is not None:
        outcome = plan_deploy(
            ctx.railway, ctx.target, plan.target_sha, ctx.snapshots, deadline=_railway_deadline(ctx, 60)
        )
        ctx.result.deploy = outcome
    deploy.detail = f"would deploy {', '.join(ctx.services)} at {plan.target_sha[:12]} in parallel and wait"
    health = ctx.result.stage("health")
    health.status = "planned"
    if ctx.health_targets:
        ctx.result.planned_health = _health_targets(ctx, _service_urls(ctx))
        shown = ", ".join(f"{t.name} {t.shown_url}" for t in ctx.result.planned_health)
        health.detail = f"would check {shown} for {plan.tag} or {plan.target_sha[:12]}"
    else:
        health.detail = "would check " + "; ".join(_unresolved_health(ctx))
    _plan_watch(ctx)
    publish = ctx.result.stage("publish")
    publish.status = "planned"
    major = plan.major_tag if _move_major(ctx) else None
    publish.detail = f"would publish {plan.tag}" + (f" and move {major}" if major else "")


def _plan_watch(ctx: _Context) -> None:
    from kars_actions.core.timing import human_duration
    from kars_actions.release.watch import settings_from_config

    settings = settings_from_config(ctx.config.watch, ctx.options.watch_duration)
    if settings.duration <= 0:
        return
    watch = ctx.result.stage("watch")
    watch.status = "planned"
    watch.detail = (
        f"would watch {', '.join(ctx.services)} for {human_duration(settings.duration)}: status, restarts, health, "
        f"5xx and p95 against the traffic before (at most {settings.budget(len(ctx.services))} Railway requests)"
    )


def _service_urls(ctx: _Context) -> dict[str, str]:
    urls = {label: info.url for label, info in ctx.instances.items() if info.url}
    urls.update({label: snap.url for label, snap in ctx.snapshots.items() if snap.url})
    if ctx.result.deploy is not None:
        urls.update({s.service: s.url for s in ctx.result.deploy.services if s.url})
    urls.update(ctx.options.service_urls)
    return urls


def _health_targets(ctx: _Context, service_urls: dict[str, str]) -> list[HealthTarget]:
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


def _deploy(ctx: _Context) -> None:
    from kars_actions.railway.steps import deploy_services
    from kars_actions.railway.stream import stream_opener

    assert ctx.railway is not None and ctx.target is not None and ctx.result.plan is not None
    with _stage(ctx, "deploy") as stage:
        outcome = deploy_services(
            ctx.railway,
            ctx.target,
            ctx.result.plan.target_sha,
            progress=ctx.progress,
            deadline=_railway_deadline(ctx, ctx.options.deploy_timeout),
            snapshots=ctx.snapshots,
            stream=stream_opener(ctx.railway),
        )
        ctx.result.deploy = outcome
        live = [s.service for s in outcome.services if s.live]
        failed = [s for s in outcome.services if not s.live]
        if any(s.possibly_live for s in failed):
            ctx.result.error = _unknown_error(outcome)
        if failed:
            stage.status = "failed"
            stage.detail = "; ".join(
                f"{s.service}: {s.status}" + (f" ({s.reason})" if s.reason else "") for s in failed
            )
            ctx.result.failure = stage.detail
        else:
            stage.detail = f"{', '.join(live)} live"


def _unknown_error(outcome: Any) -> KarsError:
    from kars_actions.core.errors import ExternalError

    names = ", ".join(f"{s.service} ({s.deployment_id or 'no id'})" for s in outcome.services if s.possibly_live)
    return ExternalError(
        f"could not be asked for the state of {names}; it may be live, so it is treated as live",
        service="Railway",
        hint="check the deployment in the Railway dashboard; a rerun resumes and reuses it",
    )


def _health(ctx: _Context) -> None:
    from kars_actions.health.poll import check_health

    plan = ctx.result.plan
    assert plan is not None
    with _stage(ctx, "health") as stage:
        targets = _health_targets(ctx, _service_urls(ctx))
        versions = [v for v in (plan.tag, plan.version, plan.target_sha) if v]
        health = check_health(
            targets,
            expect_version=versions,
            deadline=min(ctx.options.health_deadline, ctx.deadline.remaining()),
            progress=ctx.progress,
            clock=ctx.clock,
        )
        ctx.result.health = health
        if not health.healthy:
            stage.status = "failed"
            stage.detail = _health_failure(health)
            ctx.result.failure = stage.detail
            return
        stage.detail = f"{len(health.outcomes)} target(s) healthy at {plan.tag}"
        crashed = _settle(ctx)
        if crashed:
            stage.status = "failed"
            stage.detail = crashed
            ctx.result.failure = crashed


def _settle(ctx: _Context) -> str:
    """Healthy now; still up a little later? An app can pass every check and exit seconds after. Watches Railway
    until ``settle`` seconds after each service went live; returns the crashes, in words ("" if none)."""
    from kars_actions.railway.steps import settle

    deploy = ctx.result.deploy
    if deploy is None or ctx.railway is None or ctx.options.settle <= 0:
        return ""
    rows = settle(
        ctx.railway,
        deploy.services,
        seconds=ctx.options.settle,
        deadline=_railway_deadline(ctx, ctx.options.settle + 60.0),
        progress=ctx.progress,
    )
    ctx.result.deploy = replace(deploy, services=tuple(rows))
    return "; ".join(f"{r.service}: {r.reason}" for r in rows if not r.live and r.status != "PLANNED")


def _backup(ctx: _Context) -> None:
    """Back the database up before the first deploy; a backup that fails or never finishes stops the release."""
    from kars_actions.release.backup import take_release_backup

    config = ctx.config.backup
    if config is None or config.when == "never":
        return
    plan = ctx.result.plan
    assert plan is not None
    with _stage(ctx, "backup") as stage:
        outcome = take_release_backup(
            ctx.railway,
            ctx.target,
            config,
            tag=plan.tag,
            commit=plan.target_sha,
            base=plan.previous_tag,
            repo=ctx.repo_dir,
            dry_run=ctx.options.dry_run,
            environment=ctx.environment.name,
            deadline=_railway_deadline(ctx, config.timeout) if ctx.railway is not None else None,
            progress=ctx.progress,
        )
        ctx.result.backup = outcome
        stage.status = {"planned": "planned", "skipped": "skipped"}.get(outcome.action, stage.status)
        stage.detail = outcome.headline()
        if outcome.error is not None:
            raise outcome.error


def _watch(ctx: _Context) -> None:
    """Watch the live services before publishing: a failure here rolls back like a failed health check."""
    from kars_actions.release.watch import WatchedService, run_watch, settings_from_config

    settings = settings_from_config(ctx.config.watch, ctx.options.watch_duration)
    if settings.duration <= 0 or ctx.railway is None or ctx.target is None or ctx.result.deploy is None:
        return
    with _stage(ctx, "watch") as stage:
        services = [
            WatchedService(s.service, s.service_id, s.deployment_id)
            for s in ctx.result.deploy.services
            if s.live and s.deployment_id
        ]
        watched = run_watch(
            ctx.railway,
            ctx.target.environment_id,
            services,
            settings,
            health=lambda: _watch_health(ctx),
            progress=ctx.progress,
            deadline=_railway_deadline(ctx, settings.duration + 60.0),
        )
        ctx.result.watch = watched
        stage.detail = watched.headline()
        if watched.failed:
            stage.status = "failed"
            stage.detail = watched.failure()
            ctx.result.failure = stage.detail
        elif watched.verdict == "inconclusive":
            stage.status = "warning"


def _watch_health(ctx: _Context) -> tuple[bool, str]:
    """One slow-paced round of the health checks during the watch: a few tries each, no version demanded again."""
    from kars_actions.health.poll import PollSettings, check_health

    plan = ctx.result.plan
    assert plan is not None
    try:
        targets = _health_targets(ctx, _service_urls(ctx))
    except KarsError as error:
        return True, f"no health checks: {error.message}"
    if not targets:
        return True, "no health checks"
    versions = [v for v in (plan.tag, plan.version, plan.target_sha) if v]
    health = check_health(
        targets,
        expect_version=versions,
        settings=PollSettings(stable_passes=1, retries=3),
        deadline=min(60.0, max(ctx.deadline.remaining(), 1.0)),
        clock=ctx.clock,
    )
    if health.healthy:
        return True, f"{len(health.outcomes)} target(s) healthy"
    return False, _health_failure(health)


def _health_failure(health: HealthResult) -> str:
    parts = []
    for outcome in health.unhealthy():
        why = "; ".join(str(f) for f in outcome.failures) or outcome.reason
        parts.append(f"{outcome.target.name}: {why}")
    return "; ".join(parts)


def _move_major(ctx: _Context) -> bool:
    if ctx.options.move_major_tag is not None:
        return ctx.options.move_major_tag
    return ctx.config.release.move_major_tag


@dataclass
class _Finish:
    """The success steps on GitHub, each done (or found done) on its own; ``missing`` names those that are not."""

    done: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    wrote: bool = False
    error: KarsError | None = None

    def failed(self, step: str, error: KarsError | None = None) -> None:
        self.missing.append(step)
        if error is not None and self.error is None:
            self.error = error

    def run(self, step: str, action: Callable[[], tuple[bool, str]]) -> bool:
        """Run one step; True when it is done (now or before). ``action`` says whether it wrote, and what it did."""
        try:
            wrote, detail = action()
        except KarsError as error:
            self.failed(step, error)
            return False
        self.wrote = self.wrote or wrote
        if detail:
            self.done.append(detail)
        return True


MARK_SUCCESS = "mark the GitHub deployment successful"
PUBLISH = "publish the release"
OLDER_INACTIVE = "mark older deployments inactive"


def _succeed(ctx: _Context) -> None:
    plan = ctx.result.plan
    assert plan is not None
    recovered = ctx.previous_failed
    with _stage(ctx, "publish", stop_on_failure=False) as stage:
        env_url = ctx.environment.url or _first_url(ctx)
        ctx.result.environment_url = env_url
        if ctx.github is None or ctx.release is None:
            stage.status = "skipped"
            stage.detail = "no GitHub token: nothing to publish"
        else:
            _record_finish(ctx, stage, _finish_on_github(ctx, ctx.gh_deployment, env_url, rerun=False))
    if ctx.result.unfinished:
        # Production is live and healthy; only GitHub did not take the news. Rolling back a healthy release over
        # an API hiccup would do harm: say which steps are missing, and let a rerun (which resumes) finish them.
        ctx.result.outcome = "github-incomplete"
        ctx.result.production_touched = True
        return
    ctx.result.outcome = "released"
    event = "recovery" if recovered else "success"
    if event == "recovery" or ctx.options.alert_on_success:
        _alert(ctx, event, summary=f"{plan.tag} is live and healthy in {ctx.environment.name}")


def _finish_published(ctx: _Context) -> None:
    """A rerun of a commit whose release is already published: check every success step and finish what an
    earlier run left undone (a deployment still ``in_progress``, older deployments still active, the major tag).
    Nothing is deployed again; with every step done, nothing is written either."""
    assert ctx.github is not None and ctx.release is not None and ctx.result.plan is not None
    plan = ctx.result.plan
    with _stage(ctx, "publish", stop_on_failure=False) as stage:
        try:
            deployment = ctx.github.find_deployment(ctx.environment.name, plan.target_sha)
        except KarsError as error:
            finish = _Finish()
            finish.failed(MARK_SUCCESS, error)
            finish.failed(OLDER_INACTIVE)
        else:
            finish = _finish_on_github(ctx, deployment, ctx.environment.url or _first_url(ctx), rerun=True)
        _record_finish(ctx, stage, finish)
        if not finish.missing and not finish.wrote:
            stage.status = "skipped"
            stage.detail = f"{plan.tag} is already published and every step is done; nothing to do"
    if ctx.result.unfinished:
        ctx.result.outcome = "github-incomplete"
    else:
        ctx.result.outcome = "released" if ctx.result.finished_now else "already-released"


def _finish_on_github(ctx: _Context, deployment: DeploymentRef | None, env_url: str | None, *, rerun: bool) -> _Finish:
    """Deployment success (with the environment URL) → publish → older deployments inactive → major tag. A step
    that fails does not stop the ones that do not need it; a step that needs a failed one is missing too."""
    assert ctx.github is not None and ctx.release is not None and ctx.result.plan is not None
    github, finish = ctx.github, _Finish()
    current = deployment
    if deployment is not None and rerun:
        # Finishing an earlier run must not mark an old deployment successful over a newer one.
        try:
            newer = github.deployments.superseded_by(deployment)
        except KarsError as error:
            finish.failed(MARK_SUCCESS, error)
            finish.failed(OLDER_INACTIVE)
            current = newer = None
        if newer is not None:
            finish.done.append(f"deployment {deployment.id} was superseded by {newer}: left as it is")
            current = None
    marked = False
    if current is not None:
        ref = current
        marked = finish.run(MARK_SUCCESS, lambda: _mark_success(ctx, ref, env_url, rerun))
    published = finish.run(PUBLISH, lambda: _publish(ctx))
    if current is not None:
        ref = current
        if marked:
            finish.run(OLDER_INACTIVE, lambda: _deactivate_older(ctx, ref))
        else:
            finish.failed(OLDER_INACTIVE)
    major = ctx.result.plan.major_tag if _move_major(ctx) else None
    if major:
        if published:
            finish.run(f"move {major}", lambda: _move_major_tag(ctx))
        else:
            finish.failed(f"move {major}")
    return finish


def _mark_success(ctx: _Context, deployment: DeploymentRef, env_url: str | None, rerun: bool) -> tuple[bool, str]:
    assert ctx.github is not None and ctx.result.plan is not None
    if rerun:
        status = ctx.github.deployments.latest_status(deployment.id)
        if status is not None and status.get("state") == "success":
            ctx.result.environment_url = ctx.result.environment_url or status.get("environment_url") or None
            return False, ""
        env_url = env_url or (str(status.get("environment_url") or "") if status else "") or None
    ctx.github.deployment_status(
        deployment, "success", f"{ctx.result.plan.tag} is live and healthy", environment_url=env_url
    )
    ctx.result.environment_url = ctx.result.environment_url or env_url
    return True, f"deployment {deployment.id} success"


def _publish(ctx: _Context) -> tuple[bool, str]:
    assert ctx.github is not None and ctx.release is not None
    published = ctx.github.publish_release(ctx.release)
    ctx.release = ctx.result.release = published.release
    if not published.published_now:
        return False, ""
    latest = "Latest" if published.latest else f"not Latest: {published.latest_reason}"
    return True, f"published {published.release.tag} ({latest})"


def _deactivate_older(ctx: _Context, deployment: DeploymentRef) -> tuple[bool, str]:
    assert ctx.github is not None
    deactivated = ctx.github.deactivate_superseded(ctx.environment.name, deployment)
    return bool(deactivated), f"{len(deactivated)} older deployment(s) inactive" if deactivated else ""


def _move_major_tag(ctx: _Context) -> tuple[bool, str]:
    assert ctx.github is not None and ctx.release is not None
    outcome = ctx.github.move_major_tag(ctx.release)
    if outcome.moved:
        ctx.result.major_tag = outcome.tag
        return True, f"moved {outcome.tag}"
    if outcome.kept_reason:
        return False, f"{outcome.tag} left alone: {outcome.kept_reason}"
    return False, ""


def _record_finish(ctx: _Context, stage: Stage, finish: _Finish) -> None:
    ctx.result.unfinished = list(finish.missing)
    ctx.result.finished_now = finish.wrote
    if finish.missing:
        stage.status = "failed"
        stage.detail = "not done: " + ", ".join(finish.missing)
        if finish.error is not None:
            ctx.result.error = finish.error
            stage.detail += f" ({finish.error.message})"
        return
    stage.detail = "; ".join(finish.done) or "every step already done"


def _transient(environment: EnvironmentConfig) -> bool:
    """Transient only for environments that go away (PR previews): kars.yml says so, or the name does."""
    from kars_actions.github.deployments import is_ephemeral

    return environment.transient if environment.transient is not None else is_ephemeral(environment.name)


def _first_url(ctx: _Context) -> str | None:
    urls = _service_urls(ctx)
    return next(iter(urls.values()), None)


def _last_deployment_failed(ctx: _Context) -> bool:
    if ctx.github is None or ctx.options.dry_run:
        return False
    try:
        return ctx.github.last_deployment_failed(ctx.environment.name)
    except KarsError:
        return False  # only decides between a success and a recovery alert: never worth failing the release


# --- failure --------------------------------------------------------------------------------------------------------


def _fail(ctx: _Context) -> None:
    """Undo what went live (or may have, or still could), check the restored version, read what serves now, and
    tell GitHub and the team — each from what Railway says, never from what was hoped."""
    result = ctx.result
    services = list(result.deploy.services) if result.deploy else []
    undo = [s for s in services if s.may_go_live]
    if undo:
        _rollback(ctx, undo)
    by_service = {r.service: r for r in result.rollbacks}
    unsettled = [s for s in undo if not _undone(by_service.get(s.service))]
    went_live = [s for s in services if s.live] + [r for r in result.rollbacks if r.rolled_back]
    possibly = [s for s in unsettled if not s.live]
    _read_serving(ctx)
    ours = {s.deployment_id for s in services if s.deployment_id}
    still_ours = [label for label, serving in result.serving.items() if serving and serving.get("id") in ours]
    result.production_touched = bool(went_live or possibly or still_ours)
    if not result.production_touched:
        result.outcome = "failed-before-live"
    elif still_ours or any(s.live for s in unsettled):
        result.outcome = "rollback-failed"  # Railway says this release serves and it could not be undone
    elif possibly:
        result.outcome = "production-unknown"
    elif unsettled:
        result.outcome = "rollback-failed"
    else:
        result.outcome = "rolled-back"
    reason = result.failure or (result.error.message if result.error else "the release failed")
    if ctx.github is not None and not ctx.options.dry_run:
        _mark_failed_on_github(ctx, reason, take_back_tag=not result.production_touched)
    if not ctx.options.dry_run:
        event = "rollback" if result.production_touched else "failure"
        _alert(ctx, event, summary=_failure_summary(ctx), failure=reason)


def _undone(outcome: Any) -> bool:
    """Whether a rollback outcome leaves production known and on the previous version (or never left it)."""
    return outcome is not None and (outcome.ok or outcome.status in ("NOTHING_TO_DO", "CANCELLED"))


def _read_serving(ctx: _Context) -> None:
    """What serves each service now, as Railway says: the step summary's last word on production."""
    if ctx.railway is None or ctx.target is None or ctx.options.dry_run or ctx.result.deploy is None:
        return
    deadline = _railway_deadline(ctx, 60.0)
    for ref in ctx.target.services:
        try:
            info = ctx.railway.service_instance(ref.id, ctx.target.environment_id, deadline)
        except KarsError as error:
            ctx.result.serving[ref.label] = {"id": None, "status": "UNKNOWN", "note": error.message}
            continue
        live = sorted((d for d in info.active if d.live), key=lambda d: d.created_at, reverse=True)
        if live:
            d = live[0]
            ctx.result.serving[ref.label] = {"id": d.id, "status": d.status, "commit": d.commit_hash}
        else:
            ctx.result.serving[ref.label] = {"id": None, "status": "NONE", "note": "no deployment is live"}


def _rollback(ctx: _Context, live: list[Any]) -> None:
    from kars_actions.railway.steps import rollback_service

    assert ctx.railway is not None and ctx.target is not None
    with _stage(ctx, "rollback", stop_on_failure=False) as stage:
        refs = {ref.label: ref for ref in ctx.target.services}
        for service in live:
            target_id = ctx.result.rollback_targets.get(service.service)
            what = "may be live" if service.possibly_live else "is live" if service.live else "may still go live"
            ctx.progress(
                f"{service.service}: deployment {service.deployment_id} {what}; rolling back to "
                f"{target_id or 'the last successful deployment'}"
            )
            try:
                outcome = rollback_service(
                    ctx.railway,
                    ctx.target,
                    refs[service.service],
                    target_id=target_id,
                    failed_deployment_id=service.deployment_id,
                    progress=ctx.progress,
                    deadline=_railway_deadline(ctx, ctx.options.deploy_timeout),
                )
            except KarsError as error:
                from kars_actions.railway.steps import RollbackOutcome

                outcome = RollbackOutcome(
                    service=service.service,
                    service_id=service.service_id,
                    rolled_back=False,
                    live=False,
                    status="ERROR",
                    message=error.message,
                    from_deployment_id=service.deployment_id,
                    target_deployment_id=target_id,
                )
            ctx.result.rollbacks.append(outcome)
        ok = all(_undone(r) for r in ctx.result.rollbacks)
        stage.status = "ok" if ok else "failed"
        stage.detail = "; ".join(f"{r.service}: {r.message or r.status}" for r in ctx.result.rollbacks)
    if any(r.rolled_back and r.live for r in ctx.result.rollbacks):
        _recheck_restored(ctx)


def _recheck_restored(ctx: _Context) -> None:
    """The restored version must answer healthy too (it is the old version: no version assertion)."""
    from kars_actions.health.poll import check_health

    with _stage(ctx, "restored-health", stop_on_failure=False) as stage:
        restored = {r.service for r in ctx.result.rollbacks if r.live}
        try:
            targets = [t for t in _health_targets(ctx, _service_urls(ctx)) if t.service in restored]
        except KarsError as error:
            stage.status = "skipped"
            stage.detail = error.message
            return
        if not targets:
            stage.status = "skipped"
            stage.detail = "no health checks for the restored services"
            return
        health = check_health(
            targets,
            deadline=min(ctx.options.health_deadline, max(ctx.deadline.remaining(), 30.0)),
            progress=ctx.progress,
            clock=ctx.clock,
        )
        ctx.result.restored_health = health
        stage.status = "ok" if health.healthy else "failed"
        stage.detail = "restored version healthy" if health.healthy else _health_failure(health)


def _mark_failed_on_github(ctx: _Context, reason: str, *, take_back_tag: bool) -> None:
    """Deployment failure, release marked failed. ``take_back_tag``: the version never went live, so its tag goes
    (only a draft's tag, which is on this commit): the next run — a fix, say — releases the same version with notes
    from the last published release, and reuses the draft."""
    assert ctx.github is not None
    with _stage(ctx, "mark-failed", stop_on_failure=False) as stage:
        if ctx.gh_deployment is not None:
            ctx.github.deployment_status(ctx.gh_deployment, "failure", reason)
        stage.detail = "GitHub deployment failure"
        if ctx.release is not None and ctx.release.draft:
            ctx.result.release = ctx.github.mark_failed(ctx.release, reason)
            stage.detail += "; release left as a draft marked failed"
            if take_back_tag and ctx.github.delete_tag(ctx.release.tag):
                stage.detail += f"; tag {ctx.release.tag} removed, so the next release reuses the version"


def _failure_summary(ctx: _Context) -> str:
    result = ctx.result
    version = (result.plan.tag if result.plan else None) or "the release"
    backup = result.backup.backup if result.backup else None
    if backup is not None and result.backup is not None:
        version += f" (database backup {backup.id} was taken first; to restore it: {result.backup.restore_command()})"
    if not result.production_touched:
        settings = (
            " (its service settings were updated from railway.json; the running deployments were not changed)"
            if result.settings is not None and result.settings.written
            else ""
        )
        return f"{version} did not go live: {ctx.environment.name} was not touched{settings}."
    if result.outcome == "rolled-back":
        return f"{version} went live and failed; the previous version is back and serving."
    if result.outcome == "production-unknown":
        return (
            f"{version} may have gone live and Railway could not confirm what serves: the state of production is "
            "unknown — check Railway now."
        )
    return f"{version} went live and failed; the rollback did not complete — check Railway now."


def _alert_clock(ctx: _Context) -> Clock:
    """Retries of a failed alert pause on the release's clock, or on the virtual one when the test seam
    (``KARS_TEST_VIRTUAL_CLOCK=1``) asks for it, as Railway's waits do."""
    from kars_actions.railway.steps import VIRTUAL_CLOCK_ENV, clock_from_environ

    return clock_from_environ() if os.environ.get(VIRTUAL_CLOCK_ENV) == "1" else ctx.clock


def _alert(ctx: _Context, event: str, *, summary: str, failure: str | None = None) -> None:
    """Alert when kars.yml asks for it. A failed alert is a warning: it never changes the release's result."""
    from kars_actions.notify.alerts import ChannelOverrides, channels_from_config, send_alerts, wanted

    if not wanted(event, ctx.config.alerts) and not (event == "success" and ctx.options.alert_on_success):
        return
    options = ctx.options
    with _stage(ctx, "alert", stop_on_failure=False) as stage:
        overrides = ChannelOverrides(
            slack_webhook=options.slack_webhook,
            discord_webhook=options.discord_webhook,
            webhook_url=options.webhook_url,
            webhook_secret=options.webhook_secret,
        )
        channels = channels_from_config(ctx.config.alerts, overrides)
        if not channels:
            stage.status = "skipped"
            stage.detail = "no alert channel configured"
            return
        sent = send_alerts(_make_alert(ctx, event, summary, failure), channels, _alert_clock(ctx), ctx.progress)
        ctx.result.alerts = sent
        failed = sent.failed
        stage.status = "warning" if failed else "ok"
        stage.detail = f"{event} alert: " + ", ".join(
            f"{o.name} {'failed' if not o.delivered else 'sent'}" for o in sent.outcomes
        )


def _make_alert(ctx: _Context, event: str, summary: str, failure: str | None) -> Alert:
    from kars_actions.notify.alerts import Alert, run_url_from_environ

    result = ctx.result
    rollback = "; ".join(f"{r.service}: {r.message or r.status}" for r in result.rollbacks) or None
    return Alert(
        event=event,
        services=list(ctx.services),
        environment=ctx.environment.name,
        version=result.plan.tag if result.plan else None,
        commit_sha=result.commit,
        commit_subject=_commit_subject(ctx),
        summary=summary,
        failure=failure,
        rollback=rollback,
        repository=os.environ.get("GITHUB_REPOSITORY"),
        run_url=run_url_from_environ(),
        release_url=result.release.html_url if result.release else None,
        deployment_url=result.environment_url,
    )


def _commit_subject(ctx: _Context) -> str | None:
    plan = ctx.result.plan
    if plan is None:
        return None
    for commit in plan.commits:
        if commit.commit.sha == plan.target_sha:
            return commit.commit.subject
    return None
