"""``kars-actions watch``: watch live services for a window — status, restarts, health, real traffic — and judge."""

from __future__ import annotations

import click

from kars_actions.cli._common import run, start
from kars_actions.cli.options import (
    config_option,
    environment_option,
    output_options,
    project_option,
    service_url_option,
)
from kars_actions.core.report import Result


@click.command("watch")
@click.option(
    "--service",
    "services",
    multiple=True,
    metavar="NAME",
    help="Service to watch (repeatable; kars.yml name or Railway name/id; default: kars.yml's, else the folders "
    "holding a railway.json / railway.toml, else the project's services deployed from GitHub).",
)
@click.option("--duration", metavar="DURATION", help="How long to watch: 90s, 10m, 1h (default: kars.yml, else 5m).")
@click.option("--interval", metavar="DURATION", help="Time between looks, also the metrics step (default 30s).")
@environment_option
@project_option
@service_url_option("Public URL of a service for its health checks (default: its Railway domain).")
@click.option(
    "--health/--no-health", default=True, help="Run the health checks while watching (default) or watch metrics only."
)
@click.option(
    "--rollback", is_flag=True, help="On a failed watch, put back the deployment that served before (exit 1 still)."
)
@click.option(
    "--after-release",
    "after_release",
    metavar="TAG",
    help="The long watch after a release (its own job): watch TAG's live deployments (default 30m, kars.yml "
    "watch.after_release); on a failure roll back what still serves, mark the GitHub deployment and the release "
    "failed, and alert. Needs GITHUB_TOKEN.",
)
@click.option(
    "--memory-limit-ratio",
    type=click.FloatRange(0, 1),
    metavar="RATIO",
    help="Fail when memory passes this share of the service's Railway memory limit (default 0.9; 0: off).",
)
@config_option
@output_options
def command(
    services: tuple[str, ...],
    duration: str | None,
    interval: str | None,
    environment: str | None,
    project: str | None,
    service_urls: tuple[str, ...],
    health: bool,
    rollback: bool,
    after_release: str | None,
    memory_limit_ratio: float | None,
    config_path: str | None,
    fmt: str | None,
    color: bool | None,
) -> None:
    """Watch live Railway services: a crash or restart, a failing health check, a 5xx or latency rise over the
    traffic before, or memory past its ceiling fails the watch (exit 1). Low traffic says so instead of passing.

    Needs RAILWAY_TOKEN (project token) or RAILWAY_API_TOKEN (account or workspace token).
    """
    reporter = start(fmt, color)

    def action() -> Result:
        from dataclasses import replace

        from kars_actions.core.config import load_config, parse_duration
        from kars_actions.core.errors import UsageError
        from kars_actions.health.plan import parse_service_urls
        from kars_actions.railway.steps import RailwayClient, clock_from_environ
        from kars_actions.release.services import RailwayScope, resolve
        from kars_actions.release.watch import WatchRequest, watch_services
        from kars_actions.release.watch_state import settings_from_config

        config = load_config(config_path)
        if after_release is not None and rollback:
            raise UsageError("--after-release rolls back by itself: drop --rollback")
        settings = settings_from_config(
            config.watch,
            parse_duration(duration, "--duration") if duration is not None else None,
            after_release=after_release is not None,
        )
        if interval is not None:
            settings = replace(settings, step=max(1, int(parse_duration(interval, "--interval"))))
        if memory_limit_ratio is not None:
            ratio = memory_limit_ratio or None
            settings = replace(settings, thresholds=replace(settings.thresholds, memory_limit_ratio=ratio))
        if settings.duration <= 0:
            raise UsageError("--duration must be above 0 to watch anything")
        railway_env = env_name = None
        if environment:
            env = config.environment(environment)
            railway_env = env.railway_environment or env.name
            env_name = env.name
        clock = clock_from_environ()
        if after_release is not None and not after_release.strip():
            raise UsageError("--after-release needs the release's tag, e.g. --after-release v1.4.0")
        with RailwayClient.from_env(clock=clock) as client:
            # Each service and its railway config (its health check path) found the way a release finds them.
            found = resolve(config, services, RailwayScope(client, project or config.project, (railway_env,)))
            if after_release is not None:
                from kars_actions.release.after_release import AfterReleaseRequest, watch_after_release

                after = AfterReleaseRequest(
                    tag=after_release.strip(),
                    settings=settings,
                    services=tuple(found.names),
                    project=project,
                    environment=env_name,
                    railway_environment=railway_env,
                    service_urls=parse_service_urls(service_urls),
                    health=health,
                )
                return watch_after_release(after, client, found.config, progress=reporter.progress, clock=clock)
            request = WatchRequest(
                services=tuple(found.names),
                settings=settings,
                project=project,
                environment=railway_env,
                service_urls=parse_service_urls(service_urls),
                health=health,
                rollback=rollback,
            )
            result = watch_services(request, client, found.config, progress=reporter.progress)
            result.service_files = found.to_json()
            return result

    run(reporter, action)
