"""The release's stages, in the order of ARCHITECTURE.md: each checks before it acts, records itself as a Stage,
and raises StageFailed (through in_stage) when the release must stop.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from kars_actions.core.errors import ConfigError, KarsError
from kars_actions.release.context import (
    ROLLBACK_RECORD,
    ReleaseContext,
    Superseded,
    deployment_record,
    health_failure,
    health_passed,
    in_stage,
    is_transient,
    plan_health_targets,
    railway_deadline,
    railway_name,
    service_urls,
    wants_major_tag,
)
from kars_actions.release.promotion import promotion_gate
from kars_actions.release.report import Stage

if TYPE_CHECKING:
    from kars_actions.github.api import ReleaseRef
    from kars_actions.github.versioning import VersionPlan
    from kars_actions.railway.api import ServiceInstanceInfo
    from kars_actions.railway.settings import ReleaseSettings
    from kars_actions.release.services import FoundServices
    from kars_actions.release.watch import HealthRound


def validate(ctx: ReleaseContext) -> None:
    """Every service's railway config against Railway's schema, then the health checks the release will make: both
    are known before anything is written."""
    from kars_actions.railway_config.config import ValidateOptions
    from kars_actions.railway_config.config import validate as validate_files

    with in_stage(ctx, "validate") as stage:
        paths = _railway_configs(ctx)
        details = []
        if paths:
            strict = ctx.config.validate != "lenient"
            checked = validate_files(
                ValidateOptions(paths=tuple(paths), strict=strict, deprecation_notice=False, root=ctx.config.root)
            )
            ctx.result.validation = checked
            if not checked.valid:
                stage.status = "failed"
                stage.detail = f"{checked.error_count} error(s) in railway config"
                first = next((f.path, e) for f in checked.files for e in f.errors)
                # The reason the alert and the summary give: where the first error is, not only how many there are.
                ctx.result.failure = f"{stage.detail}; first: {first[1].where(first[0])}: {first[1].message}"
                return
            details.append(f"{len(checked.files)} file(s) valid")
            if checked.warning_count:
                details.append(f"{checked.warning_count} warning(s)")
        else:
            details.append("no railway.json or railway.toml for these services")
        unchecked = [s.describe() for s in ctx.found.services if s.file is None] if ctx.found else []
        if unchecked:
            details.append("not validated — " + "; ".join(unchecked))
        details.append(_plan_health(ctx))
        stage.detail = "; ".join(details)


def _plan_health(ctx: ReleaseContext) -> str:
    """The health targets, before any write: a release that could not check its services must not start."""
    unresolved = _unresolved_health(ctx)
    if unresolved:
        # A dry run without a Railway token cannot know the services' domains: say where each check will go. The
        # variables its headers read must be set all the same, as the release will need them.
        for name in ctx.services:
            for check in ctx.config.services[name].health if name in ctx.config.services else ():
                check.request_headers(f"services.{name}.health")
        return "health at " + "; ".join(unresolved)
    ctx.health_targets = plan_health_targets(ctx, service_urls(ctx))
    ctx.result.planned_health = list(ctx.health_targets)
    return f"{len(ctx.health_targets)} health target(s)"


def _unresolved_health(ctx: ReleaseContext) -> list[str]:
    if ctx.railway is not None or ctx.options.health_urls:
        return []
    from kars_actions.health.targets import healthcheck_path

    urls = service_urls(ctx)
    described = []
    for name in ctx.services:
        service = ctx.config.services.get(name)
        if service is None or service.url or name in urls or any(h.url or h.port for h in service.health):
            continue
        path = next((h.path for h in service.health if h.path), None) or healthcheck_path(ctx.config, service) or "/"
        described.append(f"{name}: its Railway domain + {path} (read with RAILWAY_TOKEN)")
    return described


def _railway_configs(ctx: ReleaseContext) -> list[str]:
    """Each service's railway config, as the preflight located it (kars.yml, Railway's settings, the folders)."""
    found = ctx.found.services if ctx.found else ()
    return list(dict.fromkeys(str(ctx.config.root / s.file) for s in found if s.file))


def version(ctx: ReleaseContext) -> bool:
    """Compute the version, from GitHub's tags when GitHub was read; False when there is nothing to release (a
    distinct, successful outcome)."""
    with in_stage(ctx, "version") as stage:
        plan = _plan_version(ctx)
        ctx.result.plan = plan
        ctx.result.commit = plan.target_sha
        if not plan.released:
            stage.status = "skipped"
            stage.detail = "; ".join([plan.reason or "no releasable commit since the last release", *_tag_notes(plan)])
            ctx.result.outcome = "nothing-to-release"
            return False
        stage.detail = _version_detail(plan)
    return True


def _plan_version(ctx: ReleaseContext, used_up: frozenset[str] = frozenset()) -> VersionPlan:
    from kars_actions.github.versioning import plan_version

    options, release = ctx.options, ctx.config.release
    return plan_version(
        ctx.repo_dir,
        options.commit,
        release,
        bump=options.bump or release.bump,
        explicit=options.version,
        prerelease=options.prerelease or ctx.environment.prerelease,
        force=options.force,
        unpublished=ctx.access.unpublished if ctx.access else (),
        github_tags=ctx.access.tags if ctx.access else None,
        used_up=used_up,
        skip_used_up=release.skip_used_up_versions if options.skip_used_up is None else options.skip_used_up,
        folder=ctx.config.root if ctx.config.path else None,  # a kars.yml in a folder: that folder's app
    )


def _version_detail(plan: VersionPlan) -> str:
    detail = f"{plan.tag}" + (" (resuming: the tag is already on this commit)" if plan.existing_tag else "")
    if plan.used_up:
        detail += f" ({', '.join(plan.used_up)} used up by an immutable release: moved on to the next patch)"
    return "; ".join([detail, *_tag_notes(plan)])


def _tag_notes(plan: VersionPlan) -> list[str]:
    if plan.tags_from != "github":
        return ["from this clone's tags only (GitHub not read)"]
    return list(plan.clone_differences)


def tag_and_draft(ctx: ReleaseContext) -> None:
    plan = ctx.result.plan
    assert plan is not None
    with in_stage(ctx, "release") as stage:
        if ctx.github is None:
            stage.status = "planned"
            stage.detail = f"would create tag {plan.tag} on {plan.target_sha[:12]} and a draft release"
            return
        if not ctx.options.dry_run and not (ctx.access and plan.tag in ctx.access.published):
            # The last read-only check, right before the first write: may this token write at all?
            ctx.github.check_write_access()
        # A version GitHub refuses as used up by an immutable release is passed over for the next patch.
        moved_on, ctx.release = ctx.github.ensure_free_tag_and_draft(plan, lambda used: _plan_version(ctx, used))
        if moved_on is not plan:
            plan = ctx.result.plan = moved_on
            ctx.result.stage("version").detail = _version_detail(plan)
        ctx.result.release = ctx.release
        if not ctx.release.draft and not ctx.release.release_created:
            stage.status = "skipped"
            stage.detail = f"{plan.tag} is already published for this commit"
            ctx.already_published = True
            return
        if ctx.options.dry_run:
            stage.status = "planned"
            # The write permission is proved by a request GitHub refuses, which a dry run does not send.
            stage.detail = _planned_release(ctx.release, plan.target_sha) + " (write permission not checked)"
            return
        stage.detail = ("reused" if not ctx.release.release_created else "created") + f" draft {plan.tag}"


def _planned_release(release: ReleaseRef, sha: str) -> str:
    """What the tag + draft stage would do, from what the dry run read on GitHub."""
    tag = (
        f"would create tag {release.tag} on {sha[:12]}"
        if release.tag_created
        else f"tag {release.tag} is already on this commit"
    )
    draft = "a draft release" if release.release_created else f"would update the draft release {release.release_id}"
    if release.release_created:
        return f"{tag} and {draft}" if release.tag_created else f"{tag}; would create {draft}"
    return f"{tag}; {draft}"


def github_deployment(ctx: ReleaseContext) -> None:
    plan = ctx.result.plan
    assert plan is not None
    with in_stage(ctx, "github-deployment") as stage:
        if ctx.github is None:
            stage.status = "planned"
            stage.detail = f"would open a GitHub deployment to {ctx.environment.name}, in_progress"
            return
        ctx.previous_failed = last_deployment_failed(ctx)
        ctx.gh_deployment = ctx.github.start_deployment(
            ctx.environment.name,
            plan.target_sha,
            transient=is_transient(ctx.environment),
            description=f"{plan.tag} to {ctx.environment.name}",
            environment_url=ctx.environment.url,
            payload={ROLLBACK_RECORD: deployment_record(ctx)},
        )
        if ctx.options.dry_run:
            stage.status = "planned"
            stage.detail = (
                f"would open a GitHub deployment of {plan.target_sha[:7]} to {ctx.environment.name}, in_progress"
                if ctx.gh_deployment.created
                else f"would reuse deployment {ctx.gh_deployment.id}, in_progress again"
            )
        else:
            stage.detail = f"deployment {ctx.gh_deployment.id}" + ("" if ctx.gh_deployment.created else " (reused)")
        if not ctx.gh_deployment.created and _adopt_recorded_targets(ctx, ctx.gh_deployment.payload):
            # One set of rollback targets per run: the recorded ones replace what this run read, where it is shown.
            ctx.result.stage("record-targets").detail = (
                _targets_detail(ctx) + " (as the first run recorded them before it deployed)"
            )
    _warn_deployed_on_its_own(ctx)


def _adopt_recorded_targets(ctx: ReleaseContext, payload: Any) -> str:
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


def _retarget_snapshot(ctx: ReleaseContext, label: str, target_id: str) -> None:
    from kars_actions.railway.api import Deployment

    snapshot = ctx.snapshots.get(label)
    if snapshot is None or ctx.railway is None:
        return
    try:
        deployment = ctx.railway.deployment(target_id, railway_deadline(ctx, 60.0))
    except KarsError:
        deployment = Deployment(target_id, "UNKNOWN")
    ctx.snapshots[label] = replace(snapshot, rollback_target=deployment)


def preflight(ctx: ReleaseContext) -> None:
    """Every read-only check before the first write: the Railway token and what it may reach (project, environment,
    every service and its source, the required variables), each service's folder, and the GitHub repository."""
    from kars_actions.release.services import LISTED_KARS, LISTED_NAMED

    with in_stage(ctx, "preflight") as stage:
        details = [_preflight_railway(ctx)]
        ctx.found = _find_services(ctx)
        ctx.config = ctx.found.config
        ctx.result.service_files = ctx.found.to_json()
        if ctx.listed not in (LISTED_NAMED, LISTED_KARS):  # found, not named: say where the list came from
            details.append(f"services {', '.join(ctx.services)} from {ctx.listed}")
        details += ctx.found.lines()
        details.append(_preflight_github(ctx))
        details.append(promotion_gate(ctx))
        details += [f"warning: {warning}" for warning in ctx.result.warnings]
        stage.detail = "; ".join(d for d in details if d)
        if ctx.options.dry_run:
            stage.status = "planned" if ctx.railway is None and ctx.github is None else "ok"


def _preflight_railway(ctx: ReleaseContext) -> str:
    from kars_actions.core.timing import clock_from_environ
    from kars_actions.railway.api import RailwayClient
    from kars_actions.railway.deploy import check_variables, preflight_variables, resolve_target

    has_token = bool(os.environ.get("RAILWAY_TOKEN") or os.environ.get("RAILWAY_API_TOKEN"))
    required = {s: ctx.config.services[s].required_variables for s in ctx.services if s in ctx.config.services}
    wanted = sorted({name for names in required.values() for name in names})
    if ctx.options.dry_run and not has_token:
        ctx.result.not_read.append("Railway")
        return "Railway not read (no RAILWAY_TOKEN): would check variables " + (", ".join(wanted) or "(none required)")
    ctx.railway = RailwayClient.from_env(clock=clock_from_environ())
    if not ctx.services:
        _services_from_railway(ctx)
    names = [railway_name(ctx, s) for s in ctx.services]
    labels = {railway_name(ctx, s): s for s in ctx.services}
    ctx.target = resolve_target(
        ctx.railway,
        ctx.config.project,
        ctx.environment.railway_environment or ctx.environment.name,
        names,
        labels=labels,
        deadline=railway_deadline(ctx, 120.0),
    )
    notes = []
    for ref in ctx.target.services:
        info = ctx.railway.service_instance(ref.id, ctx.target.environment_id, railway_deadline(ctx, 60.0))
        ctx.instances[ref.label] = info
        notes += _source_problems(ctx, ref.label, info)
    missing = preflight_variables(ctx.railway, ctx.target, required, deadline=railway_deadline(ctx, 120.0))
    check_variables(missing, ctx.target)
    where = f"{ctx.target.project_name} / {ctx.target.environment_name}"
    variables = f"{len(wanted)} required variable(s) present" if wanted else "no variables required"
    return f"{where}: {len(ctx.target.services)} service(s), {variables}" + "".join(f"; {n}" for n in notes)


def _services_from_railway(ctx: ReleaseContext) -> None:
    """Neither the flags, kars.yml nor the repository's folders name a service: release the project's services that
    Railway deploys from a GitHub repository."""
    from kars_actions.release.services import RailwayScope, no_services_error, railway_services

    assert ctx.railway is not None
    environment = ctx.environment.railway_environment or ctx.environment.name
    scope = RailwayScope(ctx.railway, ctx.config.project, (environment,), railway_deadline(ctx, 120.0))
    names, project = railway_services(scope)
    if not names:
        raise no_services_error(ctx.config, railway_read=True)
    ctx.services[:] = names
    ctx.result.services = list(names)
    ctx.listed = f"Railway project {project}: its services deployed from a GitHub repository"


def _source_problems(ctx: ReleaseContext, service: str, info: ServiceInstanceInfo) -> list[str]:
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


def _find_services(ctx: ReleaseContext) -> FoundServices:
    """Each service's folder and railway config, the one way every command finds them: kars.yml, then the Railway
    settings the preflight just read (when a token could read them), then the repository."""
    from kars_actions.release.services import RailwaySettings, locate

    settings = {label: RailwaySettings.of(info) for label, info in ctx.instances.items()}
    railway_names = {ref.label: ref.name for ref in ctx.target.services} if ctx.target else {}
    return locate(
        ctx.config,
        ctx.services,
        settings if ctx.railway is not None else None,
        listed=ctx.listed,
        railway_names=railway_names,
    )


def _preflight_github(ctx: ReleaseContext) -> str:
    from kars_actions.github.client import GitHubReleases

    token = ctx.options.github_token or os.environ.get("GITHUB_TOKEN") or os.environ.get("GH_TOKEN")
    if ctx.options.dry_run and not (token and os.environ.get("GITHUB_REPOSITORY")):
        ctx.result.not_read.append("GitHub")
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


def railway_settings(ctx: ReleaseContext) -> None:
    """Railway no longer reads railway.json: compare it with the service settings before the release writes anything,
    and refuse (check), warn, or keep the plan to apply right before the deploy.
    The plan itself: kars_actions.railway_config.settings."""
    from kars_actions.railway.settings import ReleaseService, check_release_settings

    with in_stage(ctx, "railway-settings") as stage:
        files = {label: ctx.found.path(label) if ctx.found else None for label in ctx.services}
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
            deadline=railway_deadline(ctx, 120.0),
        )
        _settings_outcome(ctx, stage, ctx.settings)


def apply_railway_settings(ctx: ReleaseContext) -> None:
    """Write what the check planned for apply-mode services, right before the deploy (the deploy uses them)."""
    from kars_actions.railway.settings import apply_release_settings
    from kars_actions.railway_config.settings import ApplyOptions

    if ctx.settings is None or ctx.settings.to_apply is None or ctx.railway is None:
        return
    with in_stage(ctx, "railway-settings") as stage:
        options = ApplyOptions(
            commit=ctx.result.commit, repository=os.environ.get("GITHUB_REPOSITORY"), dry_run=ctx.options.dry_run
        )
        outcome = apply_release_settings(ctx.railway, ctx.settings, options, deadline=railway_deadline(ctx, 120.0))
        _settings_outcome(ctx, stage, outcome)


def _settings_outcome(ctx: ReleaseContext, stage: Stage, outcome: ReleaseSettings) -> None:
    ctx.result.settings = outcome.result
    stage.status, stage.detail = outcome.status, outcome.detail
    if outcome.error is not None:
        ctx.result.failure = outcome.error.message
        raise outcome.error


def _settings_mode(ctx: ReleaseContext, label: str) -> str | None:
    """The railway-config input (or --railway-config) wins, then the service's kars.yml mode, then the global one."""
    service = ctx.config.services.get(label)
    return ctx.options.railway_config or (service.railway_config_mode if service else None) or ctx.config.railway_config


def record_targets(ctx: ReleaseContext) -> None:
    from kars_actions.railway.steps import snapshot_services

    with in_stage(ctx, "record-targets") as stage:
        if ctx.railway is None or ctx.target is None:
            stage.status = "planned"
            stage.detail = "would record the deployment serving each service now"
            return
        commit = ctx.result.plan.target_sha if ctx.result.plan else None
        ctx.snapshots = snapshot_services(
            ctx.railway, ctx.target, commit=commit, deadline=railway_deadline(ctx, 120.0)
        )
        ctx.result.rollback_targets = {
            label: (snap.rollback_target.id if snap.rollback_target else None) for label, snap in ctx.snapshots.items()
        }
        stage.detail = _targets_detail(ctx)
        if ctx.options.dry_run:
            # Read, not recorded: the record lives in the GitHub deployment the dry run does not create.
            stage.status = "planned"
            stage.detail = "would record what serves now: " + stage.detail


def _targets_detail(ctx: ReleaseContext) -> str:
    """Each service's rollback target, named by its commit where Railway said it."""
    parts = []
    for label, target in ctx.result.rollback_targets.items():
        snapshot = ctx.snapshots.get(label)
        recorded = snapshot.rollback_target if snapshot is not None else None
        commit = recorded.commit_hash if recorded is not None and recorded.id == target else None
        shown = f"{target} (commit {commit[:7]})" if target and commit else (target or "none (first deploy)")
        parts.append(f"{label}: {shown}")
    return ", ".join(parts)


def _warn_deployed_on_its_own(ctx: ReleaseContext) -> None:
    """Once the GitHub deployment says whether this is a rerun: say so when Railway deployed the commit by itself."""
    early = _deployed_on_its_own(ctx)
    if early:
        ctx.result.stage("record-targets").detail += (
            f"; warning: Railway deployed this commit on its own before the release ({', '.join(early)}): its "
            "auto-deploy races the release — turn on Wait for CI or turn automatic deploys off"
        )


def _deployed_on_its_own(ctx: ReleaseContext) -> list[str]:
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


def plan_dry_run(ctx: ReleaseContext) -> None:
    """Dry run: what the deploy and health stages would do, with the checks and assertions spelled out."""
    from kars_actions.railway.deploy import plan_deploy

    plan = ctx.result.plan
    assert plan is not None
    deploy = ctx.result.stage("deploy")
    deploy.status = "planned"
    if ctx.railway is not None and ctx.target is not None:
        outcome = plan_deploy(
            ctx.railway, ctx.target, plan.target_sha, ctx.snapshots, deadline=railway_deadline(ctx, 60)
        )
        ctx.result.deploy = outcome
    reused = [s for s in ctx.result.deploy.services if s.deployment_id] if ctx.result.deploy else []
    fresh = [name for name in ctx.services if name not in {s.service for s in reused}]
    parts = [f"would deploy {', '.join(fresh)} at {plan.target_sha[:12]} in parallel"] if fresh else []
    parts += [f"would reuse {s.service}'s deployment {s.deployment_id} of this commit" for s in reused]
    deploy.detail = "; ".join(parts) + ", and wait for Railway"
    health = ctx.result.stage("health")
    health.status = "planned"
    if ctx.health_targets:
        ctx.result.planned_health = plan_health_targets(ctx, service_urls(ctx))
        shown = ", ".join(f"{t.name} {t.shown_url}" for t in ctx.result.planned_health)
        health.detail = f"would check {shown} for {plan.tag} or {plan.target_sha[:12]}"
    else:
        health.detail = "would check " + "; ".join(_unresolved_health(ctx))
    _plan_watch(ctx)
    publish = ctx.result.stage("publish")
    publish.status = "planned"
    major = plan.major_tag if wants_major_tag(ctx) else None
    publish.detail = f"would publish {plan.tag}" + (f" and move {major}" if major else "")


def _plan_watch(ctx: ReleaseContext) -> None:
    from kars_actions.core.timing import human_duration
    from kars_actions.release.watch_state import settings_from_config

    settings = settings_from_config(ctx.config.watch, ctx.options.watch_duration)
    if settings.duration <= 0:
        return
    watch = ctx.result.stage("watch")
    watch.status = "planned"
    watch.detail = (
        f"would watch {', '.join(ctx.services)} for {human_duration(settings.duration)}: status, instance restarts, "
        "health, and the new deployment's own 5xx and p95 against the traffic before (its HTTP logs while the old "
        f"deployment still serves, service metrics after; at most {settings.budget(len(ctx.services))} Railway "
        f"requests); {settings.detection()}"
    )


def deploy(ctx: ReleaseContext) -> None:
    from kars_actions.railway.steps import deploy_services
    from kars_actions.railway.stream import stream_opener

    assert ctx.railway is not None and ctx.target is not None and ctx.result.plan is not None
    with in_stage(ctx, "deploy") as stage:
        outcome = deploy_services(
            ctx.railway,
            ctx.target,
            ctx.result.plan.target_sha,
            progress=ctx.progress,
            deadline=railway_deadline(ctx, ctx.options.deploy_timeout),
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


def health(ctx: ReleaseContext) -> None:
    from kars_actions.health.poll import check_health

    plan = ctx.result.plan
    assert plan is not None
    with in_stage(ctx, "health") as stage:
        targets = plan_health_targets(ctx, service_urls(ctx))
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
            stage.detail = health_failure(health)
            ctx.result.failure = stage.detail
            return
        stage.detail = health_passed(health, plan.tag)
        crashed = _settle(ctx)
        if crashed:
            stage.status = "failed"
            stage.detail = crashed
            ctx.result.failure = crashed


def _settle(ctx: ReleaseContext) -> str:
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
        deadline=railway_deadline(ctx, ctx.options.settle + 60.0),
        progress=ctx.progress,
    )
    ctx.result.deploy = replace(deploy, services=tuple(rows))
    return "; ".join(f"{r.service}: {r.reason}" for r in rows if not r.live and r.status != "PLANNED")


def backup(ctx: ReleaseContext) -> None:
    """Back the database up before the first deploy; a backup that fails or never finishes stops the release."""
    from kars_actions.release.backup import database_railway_name, take_release_backup

    config = ctx.config.backup
    if config is None or config.when == "never":
        return
    config = replace(config, service=database_railway_name(ctx.config, config.service))
    plan = ctx.result.plan
    assert plan is not None
    with in_stage(ctx, "backup") as stage:
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
            deadline=railway_deadline(ctx, config.timeout) if ctx.railway is not None else None,
            progress=ctx.progress,
        )
        ctx.result.backup = outcome
        stage.status = {"planned": "planned", "skipped": "skipped"}.get(outcome.action, stage.status)
        stage.detail = outcome.headline()
        if outcome.error is not None:
            raise outcome.error


def watch(ctx: ReleaseContext) -> None:
    """Watch the live services before publishing: a failure here rolls back like a failed health check; a service
    replaced meanwhile by a deployment the release did not make stops the release as superseded."""
    from kars_actions.release.watch import run_watch
    from kars_actions.release.watch_state import WatchedService, settings_from_config

    settings = settings_from_config(ctx.config.watch, ctx.options.watch_duration)
    if settings.duration <= 0 or ctx.railway is None or ctx.target is None or ctx.result.deploy is None:
        return
    with in_stage(ctx, "watch") as stage:
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
            health=lambda watched: _watch_health(ctx, watched),
            progress=ctx.progress,
            deadline=railway_deadline(ctx, settings.duration + 60.0),
            superseded_by_newer=True,  # every watched deployment is this release's: a newer one is not
        )
        ctx.result.watch = watched
        stage.detail = watched.headline()
        superseded = "; ".join(
            f"{s.label}: deployment {s.deployment_id} is {s.status}, replaced by deployment {s.replaced_by}, which "
            "this release did not make"
            for s in watched.superseded
        )
        if watched.failed:
            stage.status = "failed"
            stage.detail = watched.failure() + (f"; superseded during the watch: {superseded}" if superseded else "")
            ctx.result.failure = stage.detail
        elif superseded:
            stage.status = "warning"
            ctx.result.failure = f"superseded during the watch: {superseded}"
        elif watched.verdict == "inconclusive":
            stage.status = "warning"
        ctx.result.superseded.update({s.label: s.replaced_by for s in watched.superseded})
    if watched.superseded and not watched.failed:
        raise Superseded


def _watch_health(ctx: ReleaseContext, watched: Sequence[str]) -> HealthRound:
    """One slow-paced round of the health checks of the services still watched: a few tries each."""
    from kars_actions.health.poll import PollSettings, check_health
    from kars_actions.release.watch import HealthRound

    plan = ctx.result.plan
    assert plan is not None
    try:
        targets = [t for t in plan_health_targets(ctx, service_urls(ctx)) if t.service is None or t.service in watched]
    except KarsError as error:
        return HealthRound(True, f"no health checks: {error.message}")
    if not targets:
        return HealthRound(True, "no health checks")
    versions = [v for v in (plan.tag, plan.version, plan.target_sha) if v]
    health = check_health(
        targets,
        expect_version=versions,
        settings=PollSettings(stable_passes=1, retries=3),
        deadline=min(60.0, max(ctx.deadline.remaining(), 1.0)),
        clock=ctx.clock,
    )
    if health.healthy:
        return HealthRound(True, f"{len(health.outcomes)} target(s) healthy")
    # A failing URL of no one service (a --url target) leaves the services unknown: every one still watched fails.
    return HealthRound.failed(health_failure(health), (o.target.service for o in health.unhealthy()))


def last_deployment_failed(ctx: ReleaseContext) -> bool:
    if ctx.github is None or ctx.options.dry_run:
        return False
    try:
        return ctx.github.last_deployment_failed(ctx.environment.name)
    except KarsError:
        return False  # only decides between a success and a recovery alert: never worth failing the release


def read_serving(ctx: ReleaseContext) -> None:
    """What serves each service now, as Railway says: the step summary's last word on production."""
    if ctx.railway is None or ctx.target is None or ctx.options.dry_run or ctx.result.deploy is None:
        return
    deadline = railway_deadline(ctx, 60.0)
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

