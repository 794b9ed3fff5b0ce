"""``kars-actions rollback``: put a service's previous Railway deployment back and wait until it is live."""

from __future__ import annotations

import click

from kars_actions.cli._common import run, start
from kars_actions.cli.options import FiniteRange, config_option, environment_option, output_options, project_option
from kars_actions.core.report import Result


@click.command("rollback")
@click.option(
    "--service", required=True, metavar="NAME", help="Service to roll back (kars.yml name or Railway name/id)."
)
@click.option(
    "--to",
    "to",
    metavar="DEPLOYMENT_ID",
    help="Deployment to restore (default: the last successful one before the current).",
)
@environment_option
@project_option
@click.option(
    "--timeout",
    type=FiniteRange(min=1),
    default=600.0,
    show_default=True,
    help="Seconds to wait for the restored deployment to be live.",
)
@click.option(
    "--allow-failed-version",
    "allow_failed",
    is_flag=True,
    help="Allow restoring a deployment of a version that failed its release (one rolled away from, or crashed).",
)
@click.option("--dry-run", is_flag=True, help="Find the deployment to restore and check it can be; send no mutation.")
@config_option
@output_options
def command(
    service: str,
    to: str | None,
    environment: str | None,
    project: str | None,
    timeout: float,
    allow_failed: bool,
    dry_run: bool,
    config_path: str | None,
    fmt: str | None,
    color: bool | None,
) -> None:
    """Roll a Railway service back to an earlier deployment and wait until it serves again.

    Needs RAILWAY_TOKEN (project token) or RAILWAY_API_TOKEN (account or workspace token).
    """
    reporter = start(fmt, color)

    def action() -> Result:
        from kars_actions.core import gha
        from kars_actions.core.config import load_config
        from kars_actions.core.errors import KarsError
        from kars_actions.railway.report import not_rolled_back
        from kars_actions.railway.steps import RailwayClient, RollbackRequest, clock_from_environ
        from kars_actions.release.rollback import run_rollback_command

        config = load_config(config_path)
        railway_service, label = service, None
        if config.services:
            found = config.service(service)
            railway_service, label = found.railway_service, found.name
        railway_env = None
        if environment:
            env = config.environment(environment)
            railway_env = env.railway_environment or env.name
        request = RollbackRequest(
            service=railway_service,
            to=to,
            project=project or config.project,
            environment=railway_env,
            timeout=timeout,
            dry_run=dry_run,
            label=label,
            allow_failed=allow_failed,
        )
        try:
            with RailwayClient.from_env(clock=clock_from_environ()) as client:
                return run_rollback_command(
                    request, client, root=config.root, prefix=config.release.tag_prefix, progress=reporter.progress
                )
        except KarsError as error:
            # Refused or stopped before a rollback was sent: the outputs and the summary still say so.
            outputs, summary = not_rolled_back(label or railway_service, error)
            gha.set_outputs(outputs)
            gha.append_summary(summary)
            raise

    run(reporter, action)
