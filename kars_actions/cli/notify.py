"""``kars-actions notify``: send a release alert to Slack, Discord or a signed webhook."""

from __future__ import annotations

import os
import re
import subprocess

import click

from kars_actions.cli._common import run, start
from kars_actions.cli.options import alert_channel_options, config_option, output_options
from kars_actions.core import gha
from kars_actions.core.errors import UsageError
from kars_actions.core.report import Result


def _commit(sha: str | None) -> tuple[str | None, str | None]:
    """The commit's full SHA and subject line from the local checkout (HEAD when no SHA is given). A SHA the
    checkout does not hold is kept as given, without a subject; outside a checkout, nothing is known."""
    if sha is not None and not re.fullmatch(r"[0-9A-Fa-f]{4,64}", sha.strip()):
        return sha, None  # not a commit id: never handed to git, where a leading '-' would read as an option
    try:
        done = subprocess.run(
            ["git", "log", "-1", "--format=%H%n%s", sha or "HEAD", "--"],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return sha, None
    lines = done.stdout.splitlines()
    if done.returncode != 0 or not lines:
        return sha, None
    full = lines[0].strip() or sha
    subject = lines[1].strip() if len(lines) > 1 else ""
    return full, subject or None


@click.command(name="notify")
@click.option(
    "--event",
    type=click.Choice(["failure", "rollback", "recovery", "success"]),
    required=True,
    envvar="KARS_EVENT",
    help="What happened. recovery = the first success after a failure.",
)
@click.option("--service", "services", multiple=True, help="Service concerned (repeatable).")
@click.option("--environment", default=None, help="Environment name, e.g. production.")
@click.option("--version", "version", default=None, help="The version released, e.g. v1.4.2.")
@click.option("--commit", "commit_sha", default=None, envvar="GITHUB_SHA", help="Commit SHA (default: $GITHUB_SHA).")
@click.option("--commit-subject", default=None, help="Commit subject (default: read from git).")
@click.option("--summary", default=None, help="What happened, in a sentence or two.")
@click.option("--failure", default=None, help="The failing assertion, health check or Railway status.")
@click.option("--rollback", "rollback", default=None, help="The rollback outcome.")
@click.option("--run-url", default=None, help="Link to the run (default: built from GITHUB_* variables).")
@click.option("--release-url", default=None, help="Link to the GitHub release.")
@click.option("--deployment-url", default=None, help="Link to the deployment.")
@alert_channel_options
@click.option("--dry-run", is_flag=True, help="Print each channel's payload and send nothing.")
@click.option("--strict", is_flag=True, help="Exit 3 when a channel could not be reached (default: warn, exit 0).")
@config_option
@output_options
def command(
    event: str,
    services: tuple[str, ...],
    environment: str | None,
    version: str | None,
    commit_sha: str | None,
    commit_subject: str | None,
    summary: str | None,
    failure: str | None,
    rollback: str | None,
    run_url: str | None,
    release_url: str | None,
    deployment_url: str | None,
    slack_webhook: str | None,
    discord_webhook: str | None,
    webhook_url: str | None,
    webhook_secret: str | None,
    dry_run: bool,
    strict: bool,
    config_path: str | None,
    fmt: str | None,
    color: bool | None,
) -> None:
    """Send a release alert. A channel that cannot be reached is a warning (exit 0) unless --strict.

    Webhook URLs come from the flags, their KARS_* variables, or the variables kars.yml's `alerts:` names.
    Events not listed in kars.yml `alerts.on` (default: failure, rollback, recovery) are not sent.
    """
    reporter = start(fmt, color)
    for value in (slack_webhook, discord_webhook, webhook_url, webhook_secret):
        gha.SECRETS.register(value)  # before anything can echo a flag value

    def action() -> Result:
        from kars_actions.core.config import load_config
        from kars_actions.core.timing import clock_from_environ
        from kars_actions.notify.alerts import (
            Alert,
            ChannelOverrides,
            channels_from_config,
            run_url_from_environ,
            send_alerts,
            wanted,
        )
        from kars_actions.notify.report import NotifyResult

        config = load_config(config_path)
        sha, subject = _commit(commit_sha)
        if commit_subject and not sha:
            raise UsageError(
                "--commit-subject names a commit's subject, but no commit is known here",
                hint="pass --commit SHA with it (GITHUB_SHA in Actions), or run inside the checkout",
            )
        alert = Alert(
            event=event,
            services=list(services),
            environment=environment,
            version=version,
            commit_sha=sha,
            commit_subject=commit_subject or subject,
            summary=summary,
            failure=failure,
            rollback=rollback,
            repository=os.environ.get("GITHUB_REPOSITORY") or config.project,
            run_url=run_url or run_url_from_environ(),
            release_url=release_url,
            deployment_url=deployment_url,
        )
        overrides = ChannelOverrides(slack_webhook, discord_webhook, webhook_url, webhook_secret)
        channels = channels_from_config(config.alerts, overrides)
        if not dry_run and not wanted(event, config.alerts):
            return NotifyResult(alert.event, [], skipped=f"event {event!r} is not in alerts.on of kars.yml")
        # Retries pause on the virtual clock when the test seam asks for it, as the release's alerts do.
        clock = clock_from_environ()
        return send_alerts(alert, channels, clock, reporter.progress, dry_run=dry_run, strict=strict)

    run(reporter, action)
