"""The failure path: undo what went live (or may have), re-check the restored version, read what serves, mark the
GitHub deployment and the release failed, and alert — each from what Railway says, never from what was hoped.

A release superseded during its watch (a deployment it did not make replaced one of its own) ends here too, but
undoes nothing: what serves is someone else's newer deployment, or this release's where it passed its watch.
"""

from __future__ import annotations

from typing import Any

from kars_actions.core.errors import KarsError
from kars_actions.release.alerting import send_alert
from kars_actions.release.context import (
    ReleaseContext,
    health_failure,
    in_stage,
    plan_health_targets,
    railway_deadline,
    service_urls,
)
from kars_actions.release.report import Stage
from kars_actions.release.stages import read_serving


def fail(ctx: ReleaseContext) -> None:
    """Undo what went live (or may have, or still could), check the restored version, read what serves now, and
    tell GitHub and the team — each from what Railway says, never from what was hoped."""
    from kars_actions.github.refusals import VersionRefused
    from kars_actions.railway.rollback import SUPERSEDED

    result = ctx.result
    if ctx.options.dry_run:
        # Nothing was written, so nothing is undone or marked: the dry run says where the release would stop and
        # exits with the code the release would exit with.
        result.outcome = "would-stop"
        return
    if isinstance(result.error, VersionRefused):
        # The version could not be settled from this clone, and nothing was written: there is nothing to undo, to
        # mark failed or to alert about — only the refusal and what to do, in the summary and the outputs.
        result.outcome = "failed-before-live"
        return
    services = list(result.deploy.services) if result.deploy else []
    undo = [s for s in services if s.may_go_live]
    # A newer deployment this release did not make is never rolled back over: each service's rollback reads what
    # serves first, and leaves it (SUPERSEDED) when it was made after the release's own.
    if undo:
        _rollback(ctx, undo)
    by_service = {r.service: r for r in result.rollbacks}
    # What the rollbacks read from Railway decides, over what the watch saw a moment before.
    result.superseded = {r.service: r.serving_id for r in result.rollbacks if r.status == SUPERSEDED}
    unsettled = [s for s in undo if not _undone(by_service.get(s.service))]
    went_live = [s for s in services if s.live] + [r for r in result.rollbacks if r.rolled_back]
    possibly = [s for s in unsettled if not s.live]
    read_serving(ctx)
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
    elif result.superseded:
        result.outcome = "superseded"  # not every service is back on the previous version: a newer one serves
    else:
        result.outcome = "rolled-back"
    reason = result.failure or (result.error.message if result.error else "the release failed")
    left = [f"{r.service}: {r.message}" for r in result.rollbacks if r.status == SUPERSEDED]
    if left:
        reason += "; not rolled back: " + "; ".join(left)
    if ctx.github is not None and (ctx.gh_deployment is not None or ctx.release is not None):
        _mark_failed_on_github(ctx, reason, take_back_tag=not result.production_touched)
    event = "rollback" if result.production_touched else "failure"
    send_alert(ctx, event, summary=_failure_summary(ctx), failure=reason, outcome=result.outcome)


def supersede(ctx: ReleaseContext) -> None:
    """The watch found a service's deployment replaced by one this release did not make: roll nothing back (not over
    the newer deployment, nor elsewhere: what passed its watch keeps serving), read what serves, keep the release a
    draft saying why it was not published, mark the GitHub deployment inactive, and alert."""
    result = ctx.result
    result.production_touched = True
    result.outcome = "superseded"
    read_serving(ctx)
    reason = result.failure or "another deployment replaced this release's during its watch"
    if ctx.github is not None and (ctx.gh_deployment is not None or ctx.release is not None):
        _mark_not_published_on_github(ctx, reason)
    send_alert(ctx, "failure", summary=_failure_summary(ctx), failure=reason, outcome=result.outcome)


def _mark_not_published_on_github(ctx: ReleaseContext, reason: str) -> None:
    """The GitHub deployment inactive (its version no longer runs there), the draft kept and marked not published;
    its tag stays: the version went live."""
    from kars_actions.github.api import truncate

    assert ctx.github is not None
    with in_stage(ctx, "mark-not-published", stop_on_failure=False) as stage:
        done: list[str] = []
        try:
            if ctx.gh_deployment is not None:
                ctx.github.deployment_status(ctx.gh_deployment, "inactive", truncate(f"not published: {reason}"))
                done.append(f"GitHub deployment {ctx.gh_deployment.id} marked inactive")
            if ctx.release is not None and ctx.release.draft:
                ctx.result.release = ctx.github.mark_not_published(ctx.release, reason)
                done.append(f"release {ctx.release.tag} left as a draft marked not published")
        except KarsError as error:
            _said_marked(stage, done, error)
            return
        _said_marked(stage, done)


def _said_marked(stage: Stage, done: list[str], error: KarsError | None = None) -> None:
    """What a marking stage did, each part said once it was done: a step that did not happen is never shown as done,
    and nothing marked when the release is already published is a skip, not a success."""
    if error is not None:
        stage.status = "failed"
        stage.detail = "; ".join([*done, f"not done: {error.message}"])
    elif not done:
        stage.status = "skipped"
        stage.detail = "nothing to mark: the release is already published"
    else:
        stage.detail = "; ".join(done)


def _undone(outcome: Any) -> bool:
    """Whether a rollback outcome leaves production known and on the previous version (or never left it)."""
    return outcome is not None and bool(outcome.settled)


def _rollback(ctx: ReleaseContext, live: list[Any]) -> None:
    from kars_actions.railway.rollback import describe_deployment
    from kars_actions.railway.steps import rollback_service
    from kars_actions.release.rollback import version_names

    assert ctx.railway is not None and ctx.target is not None
    describe = version_names(ctx.repo_dir, ctx.config.release.tag_prefix)
    with in_stage(ctx, "rollback", stop_on_failure=False) as stage:
        refs = {ref.label: ref for ref in ctx.target.services}
        for service in live:
            target_id = ctx.result.rollback_targets.get(service.service)
            snapshot = ctx.snapshots.get(service.service)
            recorded = snapshot.rollback_target if snapshot is not None else None
            shown = (
                describe_deployment(recorded, describe)
                if recorded is not None and recorded.id == target_id
                else (f"deployment {target_id}" if target_id else "the last successful deployment")
            )
            what = "may be live" if service.possibly_live else "is live" if service.live else "may still go live"
            ctx.progress(f"{service.service}: deployment {service.deployment_id} {what}; rolling back to {shown}")
            try:
                outcome = rollback_service(
                    ctx.railway,
                    ctx.target,
                    refs[service.service],
                    target_id=target_id,
                    failed_deployment_id=service.deployment_id,
                    # The recorded target served right before this release: putting it back is the undo, even if
                    # it was itself once restored over a failed version.
                    allow_failed=True,
                    progress=ctx.progress,
                    deadline=railway_deadline(ctx, ctx.options.deploy_timeout),
                    describe=describe,
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


def _recheck_restored(ctx: ReleaseContext) -> None:
    """The restored version must answer healthy too (it is the old version: no version assertion)."""
    from kars_actions.health.poll import check_health

    with in_stage(ctx, "restored-health", stop_on_failure=False) as stage:
        restored = {r.service for r in ctx.result.rollbacks if r.live}
        try:
            targets = [t for t in plan_health_targets(ctx, service_urls(ctx)) if t.service in restored]
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
        stage.detail = "restored version healthy" if health.healthy else health_failure(health)


def _mark_failed_on_github(ctx: ReleaseContext, reason: str, *, take_back_tag: bool) -> None:
    """Deployment failure, release marked failed. ``take_back_tag``: the version never went live, so its tag goes
    (only a draft's tag, which is on this commit): the next run — a fix, say — releases the same version with notes
    from the last published release, and reuses the draft."""
    assert ctx.github is not None
    with in_stage(ctx, "mark-failed", stop_on_failure=False) as stage:
        # Each part is said once it is done: a step that did not happen is never shown as done.
        done: list[str] = []
        try:
            if ctx.gh_deployment is not None:
                ctx.github.deployment_status(ctx.gh_deployment, "failure", reason)
                done.append(f"GitHub deployment {ctx.gh_deployment.id} marked failure")
            if ctx.release is not None and ctx.release.draft:
                ctx.result.release = ctx.github.mark_failed(ctx.release, reason)
                done.append(f"release {ctx.release.tag} left as a draft marked failed")
                if take_back_tag and ctx.github.delete_tag(ctx.release.tag):
                    done.append(f"tag {ctx.release.tag} removed, so the next release reuses the version")
        except KarsError as error:
            _said_marked(stage, done, error)
            return
        _said_marked(stage, done)


def _failure_summary(ctx: ReleaseContext) -> str:
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
    if result.outcome == "superseded":
        replaced = ", ".join(
            label for label, serving in result.serving.items() if serving.get("id") and label in result.superseded
        )
        return (
            f"{version} went live, and a deployment it did not make replaced it on {replaced or 'a service'} before it "
            f"was published: nothing was rolled back over that deployment, and {version} was not published."
            + (f" Serving now: {result.serving_line()}." if result.serving else "")
        )
    if result.outcome == "production-unknown":
        return (
            f"{version} may have gone live and Railway could not confirm what serves: the state of production is "
            "unknown — check Railway now."
        )
    serving = result.serving_line()
    return f"{version} went live and failed; the rollback did not complete — check Railway now." + (
        f" Serving now: {serving}." if serving else ""
    )
