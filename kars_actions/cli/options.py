"""The options several commands share, each declared once: the same flag, type, default and help wherever it appears.

A decorator that takes ``help`` is an option whose meaning depends on the command (what a timeout bounds, which
version health proves); everything else about it — the flag, its type, its default — is shared.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import date
from typing import Any, TypeVar

import click

from kars_actions.core.report import FORMATS

F = TypeVar("F", bound=Callable[..., Any])
Decorator = Callable[[F], F]


class FiniteRange(click.FloatRange):
    """A number in a range that is also finite: click's FloatRange takes nan and inf, and a deadline of nan
    or inf never ends."""

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        number = super().convert(value, param, ctx)
        if not math.isfinite(number):
            self.fail(f"{value!r} is not a finite number", param, ctx)
        return number


def _all(*options: Callable[[F], F]) -> Callable[[F], F]:
    """Several options as one decorator, shown in --help in the order given."""

    def apply(func: F) -> F:
        for option in reversed(options):
            func = option(func)
        return func

    return apply


# Every command ----------------------------------------------------------------------------------------------------


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


def config_option(func: F) -> F:
    return click.option(
        "--config",
        "config_path",
        type=click.Path(dir_okay=False),
        default=None,
        envvar="KARS_CONFIG",
        help="kars.yml to use (default: .github/kars.yml, then kars.yml).",
    )(func)


def _parse_day(_ctx: click.Context, _param: click.Parameter, value: str | None) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a date (YYYY-MM-DD)") from None


def today_option(func: F) -> F:
    """The hidden ``--today``: the dated railway.json notices and cutoff, tested on any day."""
    return click.option("--today", callback=_parse_day, default=None, hidden=True, help="Pretend today is this date.")(
        func
    )


# Railway ----------------------------------------------------------------------------------------------------------


def project_option(func: F) -> F:
    """``--project`` for the commands a project token also serves (previews need an account token: their own)."""
    return click.option(
        "--project", metavar="NAME_OR_ID", help="Railway project (default: kars.yml project, or the project token's)."
    )(func)


def environment_option(func: F) -> F:
    """``--environment`` for the commands that act in one Railway environment, the token's by default."""
    return click.option(
        "--environment", metavar="NAME", help="Environment (kars.yml name or Railway name; default: the token's)."
    )(func)


def settle_option(help: str) -> Decorator[Any]:
    return click.option(
        "--settle", type=FiniteRange(min=0), default=30.0, show_default=True, metavar="SECONDS", help=help
    )


def deploy_timeout_option(help: str) -> Decorator[Any]:
    return click.option("--deploy-timeout", type=FiniteRange(min=1), default=900.0, show_default=True, help=help)


def health_deadline_option(help: str) -> Decorator[Any]:
    return click.option("--health-deadline", type=FiniteRange(min=1), default=300.0, show_default=True, help=help)


def total_timeout_option(help: str, default: float | None = 1800.0) -> Decorator[Any]:
    """``--timeout`` over a whole run (release, preview): every stage's budget comes out of it. ``default`` None:
    the command works out its own (the help says how)."""
    return click.option(
        "--timeout",
        "total_timeout",
        type=FiniteRange(min=1),
        default=default,
        show_default=default is not None,
        help=help,
    )


# Health -----------------------------------------------------------------------------------------------------------


def service_url_option(help: str) -> Decorator[Any]:
    return click.option("--service-url", "service_urls", multiple=True, metavar="NAME=URL", help=help)


def expect_status_option(func: F) -> F:
    return click.option(
        "--expect-status",
        "expect_status",
        multiple=True,
        metavar="CODES",
        help='Accepted status codes: "200", "200,204", "200-299", "2xx" (repeatable; default: the kars.yml '
        "check's, else 200).",
    )(func)


def expect_json_option(func: F) -> F:
    return click.option(
        "--expect-json",
        "expect_json",
        multiple=True,
        metavar="PATH=VALUE|PATH~REGEX",
        help="JSON field equals a typed value (true, false, null, numbers) or matches a regex (repeatable).",
    )(func)


def version_check_option(help: str) -> Decorator[Any]:
    return click.option("--version-check", type=click.Choice(["auto", "required", "off"]), default=None, help=help)


# GitHub and the version -------------------------------------------------------------------------------------------


def github_token_option(func: F) -> F:
    """The token of the tag and release-status steps, handed over by their actions as KARS_INPUT_GITHUB_TOKEN."""
    return click.option(
        "--github-token", metavar="TOKEN", envvar="KARS_INPUT_GITHUB_TOKEN", default=None, help="Default: GITHUB_TOKEN."
    )(func)


def github_token_env_option(help: str) -> Decorator[Any]:
    """The token of a whole run (release, preview), read from GITHUB_TOKEN."""
    return click.option("--github-token", envvar="GITHUB_TOKEN", default=None, show_envvar=True, help=help)


def bump_option(func: F) -> F:
    return click.option(
        "--bump",
        type=click.Choice(["auto", "patch", "minor", "major"]),
        default=None,
        help="Version bump (default: kars.yml release.bump, else auto from Conventional Commits).",
    )(func)


def exact_version_option(func: F) -> F:
    return click.option(
        "--version", "version", metavar="X.Y.Z", help="Release exactly this version (must be above the latest)."
    )(func)


def prerelease_option(func: F) -> F:
    return click.option(
        "--prerelease",
        metavar="CHANNEL",
        help="Cut a prerelease on this channel, e.g. rc → v1.5.0-rc.1 (default: the environment's in kars.yml).",
    )(func)


def force_release_option(func: F) -> F:
    return click.option("--force", is_flag=True, help="Release a patch even when no commit asks for a release.")(func)


def skip_used_up_option(func: F) -> F:
    """``--skip-used-up/--no-skip-used-up``, for the commands that compute a version (tag, release)."""
    return click.option(
        "--skip-used-up/--no-skip-used-up",
        "skip_used_up",
        default=None,
        help="When GitHub refuses the computed version as used up by an immutable release, release the next patch "
        "instead (default: kars.yml release.skip_used_up_versions, on); --no-skip-used-up stops and names it.",
    )(func)


def move_major_option(func: F) -> F:
    return click.option(
        "--move-major/--no-move-major",
        "move_major",
        default=None,
        help="After publishing, point the major tag (v1) at the release (default: kars.yml release.move_major_tag, "
        "on).",
    )(func)


# Alerts -----------------------------------------------------------------------------------------------------------

alert_channel_options = _all(
    click.option(
        "--slack-webhook", envvar="KARS_SLACK_WEBHOOK", default=None, help="Slack incoming webhook URL (secret)."
    ),
    click.option(
        "--discord-webhook", envvar="KARS_DISCORD_WEBHOOK", default=None, help="Discord webhook URL (secret)."
    ),
    click.option("--webhook-url", envvar="KARS_WEBHOOK_URL", default=None, help="Generic JSON webhook URL (secret)."),
    click.option(
        "--webhook-secret", envvar="KARS_WEBHOOK_SECRET", default=None, help="HMAC-SHA256 key for the generic webhook."
    ),
)
"""The alert channels (Slack, Discord, a signed webhook), their URLs and key read from the KARS_* variables."""
