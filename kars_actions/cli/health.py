"""``kars-actions health``: poll health endpoints until the new version proves healthy."""

from __future__ import annotations

from pathlib import Path

import click

from kars_actions.cli._common import run, start
from kars_actions.cli.options import (
    FiniteRange,
    config_option,
    expect_json_option,
    expect_status_option,
    output_options,
    service_url_option,
    version_check_option,
)
from kars_actions.core.report import Result


@click.command(name="health")
@click.argument("urls", nargs=-1, metavar="[URL]...")
@click.option("--service", "services", multiple=True, metavar="NAME", help="Check this kars.yml service (repeatable).")
@service_url_option("Public base URL of a service; its railway.json healthcheckPath is appended (repeatable).")
@expect_status_option
@expect_json_option
@click.option("--expect-json-present", multiple=True, metavar="PATH", help="JSON field must exist (repeatable).")
@click.option("--expect-body", default=None, metavar="TEXT", help="Body must contain this text.")
@click.option("--expect-body-regex", default=None, metavar="RE", help="Body must match this regex.")
@click.option(
    "--expect-header",
    "expect_headers",
    multiple=True,
    metavar="'NAME: VALUE'",
    help="Response header that must have this value (repeatable).",
)
@click.option(
    "--max-response-time",
    type=FiniteRange(min=0, min_open=True),
    default=None,
    metavar="SECONDS",
    help="Slowest answer that still passes.",
)
@click.option(
    "--expect-version",
    "expect_versions",
    multiple=True,
    envvar="KARS_EXPECT_VERSION",
    metavar="VERSION",
    help="The version or commit being released (v optional; sha prefix of 7+ matches). Repeat to accept either.",
)
@click.option(
    "--version-field",
    default=None,
    metavar="PATH",
    help="JSON field holding the version or commit (default: version, then commit).",
)
@click.option(
    "--version-header",
    default=None,
    metavar="NAME",
    help="Header holding the version or commit (default: X-App-Version, then X-Commit-Sha).",
)
@version_check_option(
    "auto (default): a version or commit the answer reports must be the expected one; "
    "required: the answer must report one; off: ignore versions."
)
@click.option(
    "--header",
    "headers",
    multiple=True,
    metavar="'NAME: VALUE'",
    help="Request header, masked in all output; never sent to another host (repeatable). "
    "KARS_HEALTH_HEADERS may hold more, one per line.",
)
@click.option(
    "--method",
    type=click.Choice(["GET", "HEAD"], case_sensitive=False),
    default=None,
    help="Request method (default GET, or the kars.yml check's).",
)
@click.option(
    "--timeout",
    type=FiniteRange(min=0, min_open=True),
    default=10.0,
    show_default=True,
    help="Seconds one request may take, redirects and body included.",
)
@click.option(
    "--deadline",
    type=FiniteRange(min=0, min_open=True),
    default=300.0,
    show_default=True,
    help="Seconds every target has to prove healthy.",
)
@click.option(
    "--interval",
    type=FiniteRange(min=0, min_open=True),
    default=0.25,
    show_default=True,
    help="Wait between attempts at a target not healthy yet; it grows by --backoff up to --max-interval.",
)
@click.option(
    "--backoff",
    type=FiniteRange(min=1),
    default=1.0,
    show_default=True,
    help="Factor the wait grows by after each failed attempt (1: a steady pace).",
)
@click.option(
    "--max-interval",
    type=FiniteRange(min=0, min_open=True),
    default=4.0,
    show_default=True,
    help="Longest wait between attempts.",
)
@click.option(
    "--confirm-interval",
    type=FiniteRange(min=0, min_open=True),
    default=0.2,
    show_default=True,
    help="Wait between the passes that confirm a target is steadily healthy.",
)
@click.option(
    "--max-rate",
    type=FiniteRange(min=0, min_open=True),
    default=5.0,
    show_default=True,
    metavar="PER_SECOND",
    help="Most requests a second to any one target, whatever the waits above.",
)
@click.option(
    "--jitter",
    type=click.Choice(["full", "decorrelated", "none"]),
    default="full",
    show_default=True,
    help="Randomness in the waits, so many pollers do not ask in step.",
)
@click.option(
    "--stable",
    "stable_passes",
    type=click.IntRange(min=1),
    default=2,
    show_default=True,
    help="Consecutive passes before a target counts healthy.",
)
@click.option(
    "--stable-for", type=FiniteRange(min=0), default=None, metavar="SECONDS", help="And passing this long."
)
@click.option(
    "--retries", type=click.IntRange(min=1), default=None, help="Max attempts per target (default: deadline)."
)
@click.option(
    "--max-body",
    type=click.IntRange(min=1),
    default=1024 * 1024,
    show_default=True,
    metavar="BYTES",
    help="Most of a body read, counted after unpacking gzip or deflate; a longer one is cut (and fails JSON checks), "
    "a compressed one is refused as a possible compression bomb.",
)
@click.option(
    "--max-redirects",
    type=click.IntRange(min=0),
    default=5,
    show_default=True,
    help="Redirects followed per request.",
)
@click.option(
    "--allow-cross-host-redirects",
    is_flag=True,
    help="Follow redirects to other hosts (without the custom headers).",
)
@click.option("--ca-bundle", type=click.Path(dir_okay=False), default=None, help="PEM file of trusted CAs.")
@click.option(
    "--concurrency",
    type=click.IntRange(min=1),
    default=6,
    show_default=True,
    help="Requests in flight at once, across all targets.",
)
@config_option
@output_options
def command(
    urls: tuple[str, ...],
    services: tuple[str, ...],
    service_urls: tuple[str, ...],
    expect_status: tuple[str, ...],
    expect_json: tuple[str, ...],
    expect_json_present: tuple[str, ...],
    expect_body: str | None,
    expect_body_regex: str | None,
    expect_headers: tuple[str, ...],
    max_response_time: float | None,
    expect_versions: tuple[str, ...],
    version_field: str | None,
    version_header: str | None,
    version_check: str | None,
    headers: tuple[str, ...],
    method: str | None,
    timeout: float,
    deadline: float,
    interval: float,
    backoff: float,
    max_interval: float,
    confirm_interval: float,
    max_rate: float,
    jitter: str,
    stable_passes: int,
    stable_for: float | None,
    retries: int | None,
    max_body: int,
    max_redirects: int,
    allow_cross_host_redirects: bool,
    ca_bundle: str | None,
    concurrency: int,
    config_path: str | None,
    fmt: str | None,
    color: bool | None,
) -> None:
    """Poll health endpoints until each passes its checks twice in a row; exit 1 if any is not healthy in time.

    Targets are the URLs given, or kars.yml services (--service, or all of them when no URL is given).
    Connection refused, DNS and TLS errors, 404 and 5xx are retried while the new deployment comes up.
    """
    reporter = start(fmt, color)

    def action() -> Result:
        from kars_actions.core.config import load_config
        from kars_actions.health.plan import CheckOverrides, HealthPlan, parse_service_urls, plan_targets
        from kars_actions.health.poll import PollSettings, check_health

        plan = HealthPlan(
            urls=urls,
            services=services,
            service_urls=parse_service_urls(service_urls),
            overrides=CheckOverrides(
                expect_status=expect_status,
                expect_json=expect_json,
                expect_json_present=expect_json_present,
                expect_body=expect_body,
                expect_body_regex=expect_body_regex,
                expect_headers=expect_headers,
                max_response_time=max_response_time,
                version_field=version_field,
                version_header=version_header,
                version_check=version_check,
                headers=headers,
                method=method,
            ),
        )
        config = load_config(config_path) if (services or not urls or config_path) else None
        settings = PollSettings(
            timeout=timeout,
            deadline=deadline,
            interval=interval,
            backoff=backoff,
            max_interval=max_interval,
            confirm_interval=confirm_interval,
            max_rate=max_rate,
            jitter=jitter,
            stable_passes=stable_passes,
            stable_for=stable_for,
            retries=retries,
            concurrency=concurrency,
            max_body=max_body,
            max_redirects=max_redirects,
            allow_cross_host_redirects=allow_cross_host_redirects,
            ca_bundle=str(Path(ca_bundle)) if ca_bundle else None,
        )
        targets = plan_targets(plan, config)
        return check_health(targets, expect_version=expect_versions, settings=settings, progress=reporter.progress)

    run(reporter, action)
