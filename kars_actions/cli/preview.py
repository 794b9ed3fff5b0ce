"""``kars-actions preview``: a pull request's Railway preview, proven healthy and reported on the pull request."""

from __future__ import annotations

import click

from kars_actions.cli._common import run, start
from kars_actions.cli.options import (
    config_option,
    deploy_timeout_option,
    expect_json_option,
    expect_status_option,
    github_token_env_option,
    health_deadline_option,
    output_options,
    service_url_option,
    total_timeout_option,
    version_check_option,
)
from kars_actions.core import gha
from kars_actions.core.errors import KarsError
from kars_actions.core.report import Result


@click.command("preview")
@click.option(
    "--pr", type=click.IntRange(min=1), default=None, help="Pull request number (default: the pull_request event's)."
)
@click.option(
    "--close",
    is_flag=True,
    help="Tear the preview down: deployments inactive, comment updated, environment deleted if kars created it "
    "(default on a pull_request closed event).",
)
@click.option(
    "--service",
    "services",
    multiple=True,
    metavar="NAME",
    help="Service to preview (repeatable; default: all in kars.yml).",
)
@click.option("--project", metavar="NAME_OR_ID", help="Railway project (default: kars.yml project).")
@github_token_env_option("Token that reads the pull request and writes its deployment and comment.")
@deploy_timeout_option("Seconds for Railway to build and deploy the head commit.")
@health_deadline_option("Seconds for the preview to prove healthy.")
@total_timeout_option("Seconds for the whole preview.")
@service_url_option(
    "URL a service answers on in the preview, when not its Railway domain; {pr} becomes the pull request's "
    "number, e.g. web=https://pr-{pr}.preview.example.com (repeatable)."
)
@expect_status_option
@expect_json_option
@version_check_option(
    "How health proves the head commit: auto (default: a commit the app reports must be the head), "
    "required (the app must report one), off."
)
@config_option
@output_options
def command(
    pr: int | None,
    close: bool,
    services: tuple[str, ...],
    project: str | None,
    github_token: str | None,
    deploy_timeout: float,
    health_deadline: float,
    total_timeout: float,
    service_urls: tuple[str, ...],
    expect_status: tuple[str, ...],
    expect_json: tuple[str, ...],
    version_check: str | None,
    config_path: str | None,
    fmt: str | None,
    color: bool | None,
) -> None:
    """Wait for the pull request's head commit to be live in its Railway environment, prove it healthy, and report
    through a GitHub deployment (pr-<n>) and one pull-request comment kept up to date.

    Needs RAILWAY_API_TOKEN (a workspace or account token: every pull request has its own environment) and
    GITHUB_TOKEN (pull-requests: write, deployments: write). A fork's pull request, which gets no secrets, is
    skipped with a note.
    """
    reporter = start(fmt, color)

    def action() -> Result:
        from kars_actions.health.plan import parse_service_urls
        from kars_actions.release.preview import PreviewOptions, run_preview

        options = PreviewOptions(
            config_path=config_path,
            pr=pr,
            close=close,
            services=services,
            project=project,
            github_token=github_token,
            deploy_timeout=deploy_timeout,
            health_deadline=health_deadline,
            total_timeout=total_timeout,
            service_urls=parse_service_urls(service_urls),
            expect_status=expect_status,
            expect_json=expect_json,
            version_check=version_check,
        )
        try:
            return run_preview(options, progress=reporter.progress)
        except KarsError as error:
            # Stopped before anything was read or written: the outputs and the summary still say so.
            from kars_actions.release.preview_report import not_started_report

            outputs, summary = not_started_report(pr, error)
            gha.set_outputs(outputs)
            gha.append_summary(summary)
            raise

    run(reporter, action)
