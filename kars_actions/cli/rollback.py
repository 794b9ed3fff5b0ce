"""``kars-actions rollback``: put a service's previous Railway deployment back and wait until it is live."""

from __future__ import annotations

import click

from kars_actions.cli._common import FiniteRange, config_option, output_options, run, start
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
@click.option(
    "--environment", metavar="NAME", help="Environment (kars.yml name or Railway name; default: the token's)."
)
@click.option(
    "--project", metavar="NAME_OR_ID", help="Railway project (default: kars.yml project, or the project token's)."
)
@click.option(
    "--timeout",
    type=FiniteRange(min=1),
    default=600.0,
    show_default=True,
    help="Seconds to wait for the restored deployment to be live.",
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
        from kars_actions.core.config import load_config
        from kars_actions.railway.steps import RailwayClient, RollbackRequest, clock_from_environ, run_rollback

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
        )
        with RailwayClient.from_env(clock=clock_from_environ()) as client:
            return run_rollback(request, client, progress=reporter.progress)

    run(reporter, action)
