"""The release, as the state machine in ARCHITECTURE.md: each stage checks before it acts, so a rerun resumes.

preflight (every read-only check: Railway token, project, environment, services, required variables; GitHub access)
→ validate (railway config + health checks) → version → tag + draft release → record rollback targets (before
anything changes on Railway) → GitHub deployment in_progress (carrying the rollback targets, so a rerun finds them)
→ Railway settings → backup → deploy (parallel) → wait → health (and the settle window) → watch → publish,
deployment success, move the major tag.
Nothing is written before the preflight and the validation have passed. A release that fails before going live takes
its tag back, so the next run releases the same version; after a service went live — or may have: a status Railway
could not tell counts as live — any failure rolls it back, re-checks the restored version, and alerts — never over a
newer deployment the release did not make: a release replaced so during its watch ends "superseded", not
published, with nothing rolled back over it. What serves each service at the end is read from Railway.

This module only orders the stages; choosing what to release is in ``choose``, the stages in ``stages``, the success
finish in ``finish``, the failure path in ``failure``, and their shared state in ``context``.
"""

from __future__ import annotations

from kars_actions.core.config import load_config
from kars_actions.core.report import Progress, no_progress
from kars_actions.core.timing import SYSTEM_CLOCK, Clock, Deadline
from kars_actions.release import stages
from kars_actions.release.alerting import check_channels
from kars_actions.release.budget import time_budget
from kars_actions.release.choose import pick_environment, pick_services, repository_root
from kars_actions.release.context import ReleaseContext, ReleaseOptions, StageFailed, Superseded
from kars_actions.release.failure import fail, supersede
from kars_actions.release.finish import finish_published, plan_published, succeed
from kars_actions.release.report import ReleaseResult

__all__ = ["ReleaseOptions", "run_release"]


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
    repo_dir = repository_root(config)
    environment = pick_environment(options, config, repo_dir)
    services, listed = pick_services(options, config)
    check_channels(options, config)
    result = ReleaseResult(
        environment=environment.name,
        services=services,
        dry_run=options.dry_run,
    )
    # No total timeout given: the stages' own budget, a rollback after them included, so a release can always
    # roll back. One given that is shorter is honoured, and said at the start.
    budget = time_budget(config, options)
    total_timeout = budget.seconds if options.total_timeout is None else options.total_timeout
    result.time_budget = {"total_timeout": total_timeout, "needed": budget.seconds, "made_of": budget.made_of()}
    shortfall = budget.shortfall(total_timeout)
    if shortfall is not None:
        result.warnings.append(shortfall)
        progress(f"warning: {shortfall}")
    ctx = ReleaseContext(
        options=options,
        config=config,
        environment=environment,
        services=services,
        repo_dir=repo_dir,
        result=result,
        progress=progress,
        clock=clock,
        deadline=Deadline.after(total_timeout, clock),
        listed=listed,
    )
    try:
        _run_stages(ctx)
    finally:
        _close(ctx)
    return result


def _run_stages(ctx: ReleaseContext) -> None:
    result = ctx.result
    try:
        stages.preflight(ctx)
        stages.validate(ctx)
        stages.railway_settings(ctx)
        if not stages.version(ctx):
            return
        stages.tag_and_draft(ctx)
        if ctx.already_published:
            (plan_published if ctx.options.dry_run else finish_published)(ctx)
            return
        stages.record_targets(ctx)  # before anything changes on Railway, settings included
        stages.github_deployment(ctx)
        stages.backup(ctx)
        stages.apply_railway_settings(ctx)
        if ctx.options.dry_run:
            stages.plan_dry_run(ctx)
            result.outcome = "planned"
            return
        stages.deploy(ctx)
        stages.health(ctx)
        stages.watch(ctx)
    except StageFailed:
        fail(ctx)
        return
    except Superseded:
        supersede(ctx)
        return
    result.production_touched = True  # every service is live at this release's commit
    try:
        succeed(ctx)
    finally:
        stages.read_serving(ctx)


def _close(ctx: ReleaseContext) -> None:
    if ctx.railway is not None:
        ctx.railway.close()
    if ctx.github is not None:
        ctx.github.close()
