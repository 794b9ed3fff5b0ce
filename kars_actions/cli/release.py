"""``kars-actions release``: the whole release, or with ``--dry-run`` the plan of it."""

from __future__ import annotations

from datetime import date

import click

from kars_actions.cli._common import run, start
from kars_actions.cli.options import (
    alert_channel_options,
    bump_option,
    config_option,
    deploy_timeout_option,
    exact_version_option,
    expect_json_option,
    expect_status_option,
    force_release_option,
    github_token_env_option,
    health_deadline_option,
    move_major_option,
    output_options,
    prerelease_option,
    service_url_option,
    settle_option,
    skip_used_up_option,
    today_option,
    total_timeout_option,
    version_check_option,
)
from kars_actions.core import gha
from kars_actions.core.errors import KarsError
from kars_actions.core.report import Result


@click.command("release")
@click.option(
    "--environment", metavar="NAME", help="Target environment (default: kars.yml's for this branch, else production)."
)
@click.option(
    "--service",
    "services",
    multiple=True,
    metavar="NAME",
    help="Service to release (repeatable; default: all in kars.yml).",
)
@bump_option
@exact_version_option
@prerelease_option
@force_release_option
@click.option("--commit", metavar="SHA", help="Commit to release (default: GITHUB_SHA, then HEAD).")
@click.option("--dry-run", is_flag=True, help="Do every read and no write: print the plan.")
@github_token_env_option("Token for tags, releases and deployments.")
@deploy_timeout_option("Seconds for Railway to build and deploy.")
@health_deadline_option("Seconds for the new version to prove healthy.")
@click.option(
    "--watch-duration",
    metavar="DURATION",
    help="How long to watch the live release before publishing: 90s, 10m; 0 turns it off (default: kars.yml, 5m).",
)
@total_timeout_option(
    "Seconds for the whole release, a rollback included (default: what its stages need with a rollback after them — "
    "backup (if kars.yml asks) + deploy + health + settle + watch + the rollback's deploy + health: 2730 with the "
    "defaults). A shorter one is warned about at the start.",
    default=None,
)
@service_url_option("Public URL of a service for health checks (default: its Railway domain).")
@click.option(
    "--health-url",
    "health_urls",
    multiple=True,
    metavar="URL",
    help="Another endpoint to prove healthy, besides each service's checks (repeatable).",
)
@expect_status_option
@expect_json_option
@version_check_option(
    "How health proves the new version: auto (default: a version or commit the app reports must be the "
    "release's), required (the app must report one), off."
)
@settle_option(
    "After health passes, keep watching Railway this long after going live; a crash fails the release (0: off)."
)
@click.option(
    "--alert-on-success", is_flag=True, help="Alert on success too (failures, rollbacks and recoveries always alert)."
)
@move_major_option
@skip_used_up_option
@alert_channel_options
@click.option(
    "--railway-config",
    "railway_config",
    type=click.Choice(["apply", "check", "off"]),
    default=None,
    help="How railway.json stays in force now that Railway no longer reads it: apply its settings before the "
    "deploy, check (refuse to deploy on a difference), or off (default: kars.yml, else check).",
)
@click.option(
    "--requires",
    metavar="ENV",
    default=None,
    help="Promotion gate: release only a commit (or git tree) kars-actions proved healthy in ENV first, e.g. "
    "staging (default: kars.yml environments.<name>.requires).",
)
@today_option
@config_option
@output_options
def command(
    environment: str | None,
    services: tuple[str, ...],
    bump: str | None,
    version: str | None,
    prerelease: str | None,
    force: bool,
    commit: str | None,
    dry_run: bool,
    github_token: str | None,
    deploy_timeout: float,
    health_deadline: float,
    watch_duration: str | None,
    total_timeout: float | None,
    service_urls: tuple[str, ...],
    health_urls: tuple[str, ...],
    expect_status: tuple[str, ...],
    expect_json: tuple[str, ...],
    version_check: str | None,
    settle: float,
    alert_on_success: bool,
    move_major: bool | None,
    skip_used_up: bool | None,
    slack_webhook: str | None,
    discord_webhook: str | None,
    webhook_url: str | None,
    webhook_secret: str | None,
    railway_config: str | None,
    requires: str | None,
    today: date | None,
    config_path: str | None,
    fmt: str | None,
    color: bool | None,
) -> None:
    """Validate, version, tag, deploy to Railway, prove the new version healthy, then publish — or roll back.

    Needs GITHUB_TOKEN (contents: write, deployments: write) and RAILWAY_TOKEN or RAILWAY_API_TOKEN, except with
    --dry-run, which needs nothing and writes nothing.
    """
    reporter = start(fmt, color)

    def action() -> Result:
        from kars_actions.core.config import parse_duration
        from kars_actions.health.plan import parse_service_urls
        from kars_actions.release.pipeline import ReleaseOptions, run_release

        options = ReleaseOptions(
            config_path=config_path,
            environment=environment,
            services=services,
            bump=bump,
            version=version,
            prerelease=prerelease,
            force=force,
            dry_run=dry_run,
            commit=commit,
            github_token=github_token,
            deploy_timeout=deploy_timeout,
            health_deadline=health_deadline,
            watch_duration=parse_duration(watch_duration, "--watch-duration") if watch_duration else None,
            total_timeout=total_timeout,
            service_urls=parse_service_urls(service_urls),
            health_urls=health_urls,
            expect_status=expect_status,
            expect_json=expect_json,
            version_check=version_check,
            alert_on_success=alert_on_success,
            move_major_tag=move_major,
            skip_used_up=skip_used_up,
            slack_webhook=slack_webhook,
            discord_webhook=discord_webhook,
            webhook_url=webhook_url,
            webhook_secret=webhook_secret,
            railway_config=railway_config,
            today=today,
            settle=settle,
            requires=requires,
        )
        try:
            return run_release(options, progress=reporter.progress)
        except KarsError as error:
            # Stopped before anything was created or deployed: the outputs and the summary still say so.
            from kars_actions.release.report import not_started_report

            outputs, summary = not_started_report(dry_run=dry_run, exit_code=error.exit_code)
            gha.set_outputs(outputs)
            gha.append_summary(summary)
            raise

    run(reporter, action)
