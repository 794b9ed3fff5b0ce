"""What every subcommand shares: the output options, secret masking first, and the single error edge."""

from __future__ import annotations

import logging
import math
import os
import sys
import traceback
from collections.abc import Callable
from typing import Any, TypeVar

import click

from kars_actions.core import gha
from kars_actions.core.errors import EXIT_FAILED, EXIT_USAGE, KarsError
from kars_actions.core.report import FORMATS, Reporter, Result, make_reporter

F = TypeVar("F", bound=Callable[..., Any])


class FiniteRange(click.FloatRange):
    """A number in a range that is also finite: click's FloatRange takes nan and inf, and a deadline of nan
    or inf never ends."""

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        number = super().convert(value, param, ctx)
        if not math.isfinite(number):
            self.fail(f"{value!r} is not a finite number", param, ctx)
        return number


def output_options(func: F) -> F:
    """``--format`` and ``--color/--no-color``, on every subcommand."""
    func = click.option(
        "--color/--no-color",
        "color",
        default=None,
        help="Force colour on or off (default: on a terminal, unless NO_COLOR is set).",
    )(func)
    func = click.option(
        "--format",
        "fmt",
        type=click.Choice(FORMATS),
        default=None,
        envvar="KARS_FORMAT",
        help="Output format (default: github inside GitHub Actions, text elsewhere).",
    )(func)
    return func


def skip_used_up_option(func: F) -> F:
    """``--skip-used-up/--no-skip-used-up``, for the commands that compute a version (tag, release)."""
    return click.option(
        "--skip-used-up/--no-skip-used-up",
        "skip_used_up",
        default=None,
        help="When GitHub refuses the computed version as used up by an immutable release, release the next patch "
        "instead (default: kars.yml release.skip_used_up_versions, on); --no-skip-used-up stops and names it.",
    )(func)


def config_option(func: F) -> F:
    return click.option(
        "--config",
        "config_path",
        type=click.Path(dir_okay=False),
        default=None,
        envvar="KARS_CONFIG",
        help="kars.yml to use (default: .github/kars.yml, then kars.yml).",
    )(func)


def start(fmt: str | None, color: bool | None) -> Reporter:
    """Mask every secret in the environment before anything else is printed, then build the reporter."""
    gha.SECRETS.register_from_environ()
    logging.basicConfig(level=logging.DEBUG if os.environ.get("KARS_DEBUG") else logging.WARNING)
    gha.install_log_redaction()
    return make_reporter(fmt, color=color)


def run(reporter: Reporter, action: Callable[[], Result]) -> None:
    """Run one command's work and turn its result or error into output and an exit code."""
    try:
        result = action()
    except KarsError as error:
        reporter.error(error)
        sys.exit(error.exit_code)
    except KeyboardInterrupt:
        reporter.error(KarsError("interrupted"))
        sys.exit(130)
    except click.exceptions.Exit:
        raise
    except Exception as error:  # noqa: BLE001 - the last line of defence: one redacted line, never a bare traceback
        report_crash(error, reporter)
        sys.exit(EXIT_FAILED)
    reporter.result(result)
    sys.exit(result.exit_code())


def report_crash(error: BaseException, reporter: Reporter | None = None) -> None:
    """An unexpected exception as one error line; with KARS_DEBUG, its traceback after it, redacted."""
    debug = bool(os.environ.get("KARS_DEBUG"))
    hint = (
        "this is a bug in kars-actions; the traceback follows — please report it"
        if debug
        else "this is a bug in kars-actions; rerun with KARS_DEBUG=1 for the traceback and report it"
    )
    (reporter or make_reporter()).error(KarsError(f"internal error: {type(error).__name__}: {error}", hint=hint))
    if debug:
        trace = "".join(traceback.format_exception(error))
        sys.stderr.write(gha.SECRETS.redact(trace))
        sys.stderr.flush()


def usage_exit(reporter: Reporter, message: str, hint: str | None = None) -> None:
    reporter.error(KarsError(message, hint=hint))
    sys.exit(EXIT_USAGE)
