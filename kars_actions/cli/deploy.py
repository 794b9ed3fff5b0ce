"""``kars-actions deploy``: deploy services to Railway at the exact commit and wait for the outcome."""

from __future__ import annotations

import os
import subprocess

import click

from kars_actions.cli._common import config_option, output_options, run, start
from kars_actions.core.errors import ConfigError, UsageError
from kars_actions.core.report import Result


def resolve_commit(commit: str | None) -> str:
    """``--commit``, else ``GITHUB_SHA``, else ``git rev-parse HEAD``."""
    value = (commit or os.environ.get("GITHUB_SHA") or "").strip()
    if not value:
        try:
            value = subprocess.run(
                ["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=True, timeout=30
            ).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            raise UsageError(
                "no commit to deploy: not in a git repository and GITHUB_SHA is unset",
                hint="pass --commit SHA",
            ) from None
    if not all(c in "0123456789abcdefABCDEF" for c in value) or not 7 <= len(value) <= 40:
        raise UsageError(f"--commit must be a git commit SHA, got {value!r}", hint="pass the full 40-character SHA")
    return value.lower()


@click.command("deploy")
@click.option(
    "--service",
    "services",
    multiple=True,
    metavar="NAME",
    help="Service to deploy (repeatable; default: kars.yml services).",
)
@click.option(
    "--environment", metavar="NAME", help="Environment (kars.yml name or Railway name; default: the token's)."
)
@click.option(
    "--project", metavar="NAME_OR_ID", help="Railway project (default: kars.yml project, or the project token's)."
)
@click.option("--commit", metavar="SHA", help="Commit to deploy (default: GITHUB_SHA, then git rev-parse HEAD).")
@click.option(
    "--timeout",
    type=click.FloatRange(min=1),
    default=900.0,
    show_default=True,
    help="Seconds to wait for every service to be live.",
)
@click.option("--dry-run", is_flag=True, help="Resolve, check variables and record rollback targets; send no mutation.")
@click.option(
    "--no-reuse", is_flag=True, help="Always start a new deployment, even if one of this commit is running or live."
)
@config_option
@output_options
def command(
    services: tuple[str, ...],
    environment: str | None,
    project: str | None,
    commit: str | None,
    timeout: float,
    dry_run: bool,
    no_reuse: bool,
    config_path: str | None,
    fmt: str | None,
    color: bool | None,
) -> None:
    """Deploy services to Railway at the exact commit and wait until each is live or has failed.

    Needs RAILWAY_TOKEN (project token) or RAILWAY_API_TOKEN (account or workspace token).
    """
    reporter = start(fmt, color)

    def action() -> Result:
        from kars_actions.core.config import load_config
        from kars_actions.railway.steps import DeployRequest, RailwayClient, clock_from_environ, run_deploy

        config = load_config(config_path)
        names = list(services) or list(config.services)
        if not names:
            raise ConfigError(
                "no services to deploy: pass --service NAME or list services in kars.yml",
            )
        railway_names: list[str] = []
        labels: dict[str, str] = {}
        required: dict[str, list[str]] = {}
        for name in names:
            if config.services:
                service = config.service(name)
                railway_names.append(service.railway_service)
                labels[service.railway_service] = service.name
                required[service.name] = list(service.required_variables)
            else:
                railway_names.append(name)
        railway_env = None
        env_url = None
        if environment:
            env = config.environment(environment)
            railway_env = env.railway_environment or env.name
            env_url = env.url
        request = DeployRequest(
            services=tuple(railway_names),
            commit=resolve_commit(commit),
            project=project or config.project,
            environment=railway_env,
            timeout=timeout,
            dry_run=dry_run,
            reuse_existing=not no_reuse,
            required_variables=required,
            environment_url=env_url,
            labels=labels,
        )
        with RailwayClient.from_env(clock=clock_from_environ()) as client:
            return run_deploy(request, client, progress=reporter.progress)

    run(reporter, action)
