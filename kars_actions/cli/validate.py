"""``kars-actions validate``: check railway.json / railway.toml files against Railway's schema."""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING

import click

from kars_actions.cli._common import run, start
from kars_actions.cli.options import config_option, output_options, today_option
from kars_actions.core.report import Result

if TYPE_CHECKING:
    from kars_actions.railway_config.config import ValidateOptions


@click.command(
    "validate",
    help=(
        "Validate railway.json / railway.toml against Railway's schema, with line:column for every problem.\n\n"
        "PATH may be a file or a folder (its railway.toml / railway.json). Without PATH: each service's file, found "
        "the way a release finds it — kars.yml, else the service's Railway root directory and config file path "
        "(when RAILWAY_TOKEN or RAILWAY_API_TOKEN can read them), else the repository's folders holding one — and "
        "each says where it came from.\n\n"
        "Exit codes: 0 valid (warnings allowed), 1 invalid, 2 usage error."
    ),
)
@click.argument("paths", nargs=-1, type=click.Path())
@click.option(
    "--schema",
    "schema_path",
    type=click.Path(),
    default=None,
    help="Validate against this copy of Railway's schema instead of the one shipped with kars-actions.",
)
@click.option(
    "--strict/--lenient",
    default=True,
    help="--strict (default) follows the schema exactly; --lenient turns lower-case enum values and the "
    "dashboard's legacy keys (build.buildEnvironment, deploy.useLegacyStacker) into warnings.",
)
@click.option(
    "--no-deprecation-notice",
    is_flag=True,
    default=False,
    help="Do not print the notice that Railway stops reading Config as Code files on 2026-12-01.",
)
@click.option(
    "--service",
    "services",
    multiple=True,
    metavar="NAME",
    help="Without PATH: only this service's file (repeatable; default: every service).",
)
@click.option(
    "--environment",
    metavar="NAME",
    help="Without PATH, with a Railway token: the environment whose service settings say where each file is "
    "(default: the project token's, else every one).",
)
@today_option
@config_option
@output_options
def command(
    paths: tuple[str, ...],
    schema_path: str | None,
    strict: bool,
    no_deprecation_notice: bool,
    services: tuple[str, ...],
    environment: str | None,
    today: date | None,
    config_path: str | None,
    fmt: str | None,
    color: bool | None,
) -> None:
    reporter = start(fmt, color)

    def action() -> Result:
        from kars_actions.core.errors import UsageError
        from kars_actions.railway_config.config import ValidateOptions, validate

        options = ValidateOptions(
            paths=paths,
            schema_path=schema_path,
            strict=strict,
            deprecation_notice=not no_deprecation_notice,
            today=today,
        )
        if not paths:
            return _validate_repository(options, config_path, services, environment)
        if services or environment:
            raise UsageError("--service and --environment choose files only without PATH", hint="pass one or the other")
        return validate(options)

    run(reporter, action)


def _validate_repository(
    options: ValidateOptions, config_path: str | None, services: tuple[str, ...], environment: str | None
) -> Result:
    from kars_actions.core.config import load_config
    from kars_actions.release.repository import validate_repository
    from kars_actions.release.services import RailwayScope, railway_readable

    config = load_config(config_path)
    if not railway_readable():
        return validate_repository(options, config, services)
    from kars_actions.railway.steps import RailwayClient, clock_from_environ

    env = config.environment(environment) if environment else None
    with RailwayClient.from_env(clock=clock_from_environ()) as client:
        scope = RailwayScope(client, config.project, ((env.railway_environment or env.name) if env else None,))
        return validate_repository(options, config, services, scope)
