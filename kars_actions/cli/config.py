"""``kars-actions config plan|apply|migrate``: keep railway.json in force after Railway stops reading it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

from kars_actions.cli._common import run, start
from kars_actions.cli.options import config_option, output_options
from kars_actions.core.report import Result

F = TypeVar("F", bound=Callable[..., Any])


def _scope_options(func: F) -> F:
    func = click.option(
        "--project", metavar="NAME_OR_ID", help="Railway project (default: kars.yml's, or the project token's)."
    )(func)
    func = click.option(
        "--environment",
        "environments",
        multiple=True,
        metavar="NAME",
        help="Railway environment (repeatable; default: kars.yml's with an account token, else the token's).",
    )(func)
    func = click.option(
        "--service",
        "services",
        multiple=True,
        metavar="NAME",
        help="Service (repeatable; default: kars.yml's, else the folders holding a railway.json / railway.toml, else "
        "the project's services deployed from GitHub).",
    )(func)
    return func


@click.group(
    "config",
    help=(
        "Keep railway.json / railway.toml in force after Railway stops reading them on 2026-12-01.\n\n"
        "plan compares the files with the service settings Railway holds; apply writes the differences; "
        "migrate writes .railway/railway.ts for Railway's own Infrastructure as Code instead.\n\n"
        "Exit codes: 0 done, 1 drift with --check / apply refused or not taken, 2 usage or configuration error, "
        "3 Railway refused or was unreachable."
    ),
)
def command() -> None:
    """The ``config`` group."""


@command.command("plan")
@_scope_options
@click.option("--check", is_flag=True, help="Exit 1 when the settings differ from the files (for pull requests).")
@config_option
@output_options
def plan_command(
    services: tuple[str, ...],
    environments: tuple[str, ...],
    project: str | None,
    check: bool,
    config_path: str | None,
    fmt: str | None,
    color: bool | None,
) -> None:
    """Show, per service and environment, each setting where Railway differs from the repository. Read-only.

    Needs RAILWAY_TOKEN (one environment) or RAILWAY_API_TOKEN (several).
    """
    reporter = start(fmt, color)

    def action() -> Result:
        from kars_actions.railway.settings import SettingsRequest

        return _run(SettingsRequest("plan", services, environments, project, check=check), config_path)

    run(reporter, action)


@command.command("apply")
@_scope_options
@click.option("--dry-run", is_flag=True, help="Plan and print the patch it would send; send nothing.")
@click.option(
    "--prune", is_flag=True, help="Reset settings kars applied earlier that the file no longer sets (else reported)."
)
@click.option(
    "--clear-config-file",
    is_flag=True,
    help="Clear a leftover railwayConfigFile on the services (Railway accepts only the empty value now).",
)
@click.option("--commit", metavar="SHA", help="Repository commit named in Railway's history (default: GITHUB_SHA).")
@config_option
@output_options
def apply_command(
    services: tuple[str, ...],
    environments: tuple[str, ...],
    project: str | None,
    dry_run: bool,
    prune: bool,
    clear_config_file: bool,
    commit: str | None,
    config_path: str | None,
    fmt: str | None,
    color: bool | None,
) -> None:
    """Write the differences the plan shows: one narrow environmentPatchCommit per environment, refused if the
    environment changed since the plan, then read back and compared."""
    reporter = start(fmt, color)

    def action() -> Result:
        import os

        from kars_actions.railway.settings import SettingsRequest
        from kars_actions.railway_config.settings import ApplyOptions

        options = ApplyOptions(
            commit=commit or os.environ.get("GITHUB_SHA") or _head(),
            repository=os.environ.get("GITHUB_REPOSITORY"),
            dry_run=dry_run,
            prune=prune,
            clear_config_file=clear_config_file,
        )
        return _run(SettingsRequest("apply", services, environments, project, apply=options), config_path)

    run(reporter, action)


@command.command("migrate")
@click.option("--write", "write", is_flag=True, help="Write the file (default: print it).")
@click.option("--force", is_flag=True, help="With --write, replace an existing file.")
@click.option(
    "--output",
    metavar="PATH",
    default=".railway/railway.ts",
    show_default=True,
    help="Where --write puts the file, relative to the repository root.",
)
@config_option
@output_options
def migrate_command(
    write: bool, force: bool, output: str, config_path: str | None, fmt: str | None, color: bool | None
) -> None:
    """Write .railway/railway.ts for Railway's IaC from every railway.json / railway.toml in the repository,
    keeping every setting and every environments.* override (as ctx.isEnvironment(...) branches). Each file is
    named after the service whose file it is (kars.yml, else Railway's root directory and config file path when
    a token can read them, else its folder)."""
    reporter = start(fmt, color)

    def action() -> Result:
        from kars_actions.core.config import load_config
        from kars_actions.railway_config.iac import MigrateRequest
        from kars_actions.release.repository import migrate_repository
        from kars_actions.release.services import RailwayScope, railway_readable

        config = load_config(config_path)
        request = MigrateRequest(write=write, force=force, output=output)
        if not railway_readable():
            return migrate_repository(request, config)
        from kars_actions.railway.steps import RailwayClient, clock_from_environ

        with RailwayClient.from_env(clock=clock_from_environ()) as client:
            return migrate_repository(request, config, RailwayScope(client, config.project))

    run(reporter, action)


def _run(request: Any, config_path: str | None) -> Result:
    from kars_actions.core.config import load_config
    from kars_actions.railway.steps import RailwayClient, clock_from_environ
    from kars_actions.release.repository import run_config
    from kars_actions.release.services import railway_readable

    config = load_config(config_path)
    if not railway_readable():
        return run_config(request, config, None)  # names each service's file, then says a token is needed
    with RailwayClient.from_env(clock=clock_from_environ()) as client:
        return run_config(request, config, client)


def _head() -> str | None:
    import subprocess

    try:
        proc = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=False, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return None
    return proc.stdout.strip() or None if proc.returncode == 0 else None
