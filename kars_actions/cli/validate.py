"""``kars-actions validate``: check railway.json / railway.toml files against Railway's schema."""

from __future__ import annotations

from datetime import date

import click

from kars_actions.cli._common import config_option, output_options, run, start
from kars_actions.core.report import Result


def _parse_day(_ctx: click.Context, _param: click.Parameter, value: str | None) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a date (YYYY-MM-DD)") from None


@click.command(
    "validate",
    help=(
        "Validate railway.json / railway.toml against Railway's schema, with line:column for every problem.\n\n"
        "PATH may be a file or a folder (its railway.toml / railway.json). Without PATH: the files kars.yml names, "
        "else those in the repository root and each immediate subfolder.\n\n"
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
@click.option("--today", callback=_parse_day, default=None, hidden=True, help="Pretend today is this date.")
@config_option
@output_options
def command(
    paths: tuple[str, ...],
    schema_path: str | None,
    strict: bool,
    no_deprecation_notice: bool,
    today: date | None,
    config_path: str | None,
    fmt: str | None,
    color: bool | None,
) -> None:
    reporter = start(fmt, color)

    def action() -> Result:
        from kars_actions.railway_config.config import ValidateOptions, validate

        return validate(
            ValidateOptions(
                paths=paths,
                schema_path=schema_path,
                strict=strict,
                deprecation_notice=not no_deprecation_notice,
                today=today,
                config_path=config_path,
            )
        )

    run(reporter, action)
