"""The release's alerts: built from what the release knows, sent when kars.yml asks; a failed alert is a warning.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from kars_actions.core.config import Config
from kars_actions.core.timing import Clock, clock_from_environ
from kars_actions.release.context import ReleaseContext, ReleaseOptions, in_stage

if TYPE_CHECKING:
    from kars_actions.notify.alerts import Alert, ChannelOverrides


def _alert_clock(ctx: ReleaseContext) -> Clock:
    """Retries of a failed alert pause on the release's clock, or on the virtual one when the test seam
    (``KARS_TEST_VIRTUAL_CLOCK=1``) asks for it, as Railway's waits do."""
    clock = clock_from_environ()
    return clock if clock.virtual else ctx.clock


def _overrides(options: ReleaseOptions) -> ChannelOverrides:
    from kars_actions.notify.alerts import ChannelOverrides

    return ChannelOverrides(
        slack_webhook=options.slack_webhook,
        discord_webhook=options.discord_webhook,
        webhook_url=options.webhook_url,
        webhook_secret=options.webhook_secret,
    )


def check_channels(options: ReleaseOptions, config: Config) -> None:
    """The alert channels, before anything starts: a malformed webhook URL is a configuration error now (exit 2),
    not an alert that cannot be sent after production changed."""
    from kars_actions.notify.alerts import channels_from_config

    channels_from_config(config.alerts, _overrides(options))


def send_alert(
    ctx: ReleaseContext, event: str, *, summary: str, failure: str | None = None, outcome: str | None = None
) -> None:
    """Alert when kars.yml asks for it. A failed alert is a warning: it never changes the release's result."""
    from kars_actions.notify.alerts import channels_from_config, send_alerts, wanted

    if not wanted(event, ctx.config.alerts) and not (event == "success" and ctx.options.alert_on_success):
        return
    with in_stage(ctx, "alert", stop_on_failure=False) as stage:
        channels = channels_from_config(ctx.config.alerts, _overrides(ctx.options))
        if not channels:
            stage.status = "skipped"
            stage.detail = "no alert channel configured"
            return
        alert = _make_alert(ctx, event, summary, failure, outcome)
        sent = send_alerts(alert, channels, _alert_clock(ctx), ctx.progress)
        ctx.result.alerts = sent
        failed = sent.failed
        stage.status = "warning" if failed else "ok"
        stage.detail = f"{event} alert: " + ", ".join(
            f"{o.name} {'failed' if not o.delivered else 'sent'}" for o in sent.outcomes
        )


def _make_alert(ctx: ReleaseContext, event: str, summary: str, failure: str | None, outcome: str | None) -> Alert:
    from kars_actions.notify.alerts import Alert, run_url_from_environ

    result = ctx.result
    rollback = "; ".join(f"{r.service}: {r.message or r.status}" for r in result.rollbacks) or None
    return Alert(
        event=event,
        outcome=outcome,
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


def _commit_subject(ctx: ReleaseContext) -> str | None:
    plan = ctx.result.plan
    if plan is None:
        return None
    for commit in plan.commits:
        if commit.commit.sha == plan.target_sha:
            return commit.commit.subject
    return None

