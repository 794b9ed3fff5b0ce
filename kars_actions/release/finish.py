"""The success finish on GitHub: deployment success, publish, older deployments inactive, the major tag — each
checked and done on its own, so a rerun finishes only what is missing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from kars_actions.core.errors import KarsError
from kars_actions.release.alerting import send_alert
from kars_actions.release.context import ReleaseContext, first_url, in_stage, wants_major_tag
from kars_actions.release.report import Stage

if TYPE_CHECKING:
    from kars_actions.github.api import DeploymentRef


@dataclass
class _Finish:
    """The success steps on GitHub, each done (or found done) on its own; ``missing`` names those that are not."""

    done: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    wrote: bool = False
    error: KarsError | None = None
    warned: bool = False  # a step done as far as GitHub allows (a ruleset kept the major tag in place)

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


def succeed(ctx: ReleaseContext) -> None:
    plan = ctx.result.plan
    assert plan is not None
    recovered = ctx.previous_failed
    with in_stage(ctx, "publish", stop_on_failure=False) as stage:
        env_url = ctx.environment.url or first_url(ctx)
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
    # send_alert decides: kars.yml's alerts.on (success is one of its events), or --alert-on-success.
    send_alert(ctx, event, summary=f"{plan.tag} is live and healthy in {ctx.environment.name}")


def finish_published(ctx: ReleaseContext) -> None:
    """A rerun of a commit whose release is already published: check every success step and finish what an
    earlier run left undone (a deployment still ``in_progress``, older deployments still active, the major tag).
    Nothing is deployed again; with every step done, nothing is written either."""
    assert ctx.github is not None and ctx.release is not None and ctx.result.plan is not None
    plan = ctx.result.plan
    with in_stage(ctx, "publish", stop_on_failure=False) as stage:
        try:
            deployment = ctx.github.find_deployment(ctx.environment.name, plan.target_sha)
        except KarsError as error:
            finish = _Finish()
            finish.failed(MARK_SUCCESS, error)
            finish.failed(OLDER_INACTIVE)
        else:
            finish = _finish_on_github(ctx, deployment, ctx.environment.url or first_url(ctx), rerun=True)
        _record_finish(ctx, stage, finish)
        if not finish.missing and not finish.wrote:
            stage.status = "skipped"
            stage.detail = f"{plan.tag} is already published and every step is done; nothing to do"
    if ctx.result.unfinished:
        ctx.result.outcome = "github-incomplete"
    else:
        ctx.result.outcome = "released" if ctx.result.finished_now else "already-released"


def plan_published(ctx: ReleaseContext) -> None:
    """The dry run of a rerun whose release is published: the release would deploy nothing and would only finish
    the GitHub steps an earlier run left undone; the dry run writes none of them."""
    plan = ctx.result.plan
    assert plan is not None
    with in_stage(ctx, "publish", stop_on_failure=False) as stage:
        major = plan.major_tag if wants_major_tag(ctx) else None
        steps = ", ".join(s for s in (MARK_SUCCESS, OLDER_INACTIVE, f"move {major}" if major else "") if s)
        stage.status = "planned"
        stage.detail = (
            f"{plan.tag} is already published: the release would deploy nothing and would only do what an earlier "
            f"run left undone of: {steps}"
        )
    ctx.result.outcome = "already-released"


def _finish_on_github(
    ctx: ReleaseContext, deployment: DeploymentRef | None, env_url: str | None, *, rerun: bool
) -> _Finish:
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
    major = ctx.result.plan.major_tag if wants_major_tag(ctx) else None
    if major:
        if published:
            finish.run(f"move {major}", lambda: _move_major_tag(ctx, finish))
        else:
            finish.failed(f"move {major}")
    return finish


def _mark_success(ctx: ReleaseContext, deployment: DeploymentRef, env_url: str | None, rerun: bool) -> tuple[bool, str]:
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


def _publish(ctx: ReleaseContext) -> tuple[bool, str]:
    assert ctx.github is not None and ctx.release is not None
    published = ctx.github.publish_release(ctx.release)
    ctx.release = ctx.result.release = published.release
    if not published.published_now:
        return False, ""
    latest = "Latest" if published.latest else f"not Latest: {published.latest_reason}"
    # Read back from GitHub: with immutable releases on, the tag and the assets are now locked for good.
    immutable = "immutable: yes, its tag is locked for good" if published.release.immutable else "immutable: no"
    return True, f"published {published.release.tag} ({latest}; {immutable})"


def _deactivate_older(ctx: ReleaseContext, deployment: DeploymentRef) -> tuple[bool, str]:
    assert ctx.github is not None
    deactivated = ctx.github.deactivate_superseded(ctx.environment.name, deployment)
    return bool(deactivated), f"{len(deactivated)} older deployment(s) inactive" if deactivated else ""


def _move_major_tag(ctx: ReleaseContext, finish: _Finish) -> tuple[bool, str]:
    assert ctx.github is not None and ctx.release is not None
    outcome = ctx.github.move_major_tag(ctx.release)
    if outcome.moved:
        ctx.result.major_tag = outcome.tag
        return True, f"moved {outcome.tag}"
    if outcome.ruleset:
        # The release is published and sound; only the floating tag stays behind. Not a failed release.
        finish.warned = True
        return False, f"{outcome.tag} not moved (ruleset): {outcome.kept_reason}"
    if outcome.kept_reason:
        return False, f"{outcome.tag} left alone: {outcome.kept_reason}"
    return False, ""


def _record_finish(ctx: ReleaseContext, stage: Stage, finish: _Finish) -> None:
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
    if finish.warned:
        stage.status = "warning"

