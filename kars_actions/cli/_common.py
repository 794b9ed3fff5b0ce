"""What every subcommand shares: secret masking first, the reporter, and the single error edge."""

from __future__ import annotations

import logging
import os
import sys
import traceback
from collections.abc import Callable

import click

from kars_actions.core import gha
from kars_actions.core.errors import EXIT_FAILED, EXIT_USAGE, KarsError
from kars_actions.core.report import Reporter, Result, make_reporter


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
