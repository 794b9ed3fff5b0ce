"""``kars-actions deploy``: deploy services to Railway at the exact commit and wait for the outcome."""

from __future__ import annotations

import os
import subprocess

import click

from kars_actions.cli._common import run, start
from kars_actions.cli.options import (
    FiniteRange,
    config_option,
    environment_option,
    output_options,
    project_option,
    settle_option,
)
from kars_actions.core import gha
from kars_actions.core.errors import ConfigError, KarsError, UsageError
from kars_actions.core.report import Result

FULL_SHA = 40


def resolve_commit(commit: str | None) -> str:
    """``--commit``, else ``GITHUB_SHA``, else ``git rev-parse HEAD``; a short SHA is completed with local git.

    Railway is always sent the full 40-character SHA: a short one is not a commit to its API, and its "Commit not
    found" would then send the user looking for a push that is not missing.
    """
    value = (commit or os.environ.get("GITHUB_SHA") or "").strip()
    if not value:
        value = _git_commit("HEAD") or ""
        if not value:
            raise UsageError(
                "no commit to deploy: not in a git repository and GITHUB_SHA is unset",
                hint="pass --commit SHA",
            )
    if not all(c in "0123456789abcdefABCDEF" for c in value) or not 4 <= len(value) <= FULL_SHA:
        raise UsageError(f"--commit must be a git commit SHA, got {value!r}", hint="pass the full 40-character SHA")
    if len(value) < FULL_SHA:
        full = _git_commit(value)
        if full is None:
            raise UsageError(
                f"--commit {value} is a short SHA and local git cannot resolve it to one commit (not in this "
                "repository, not fetched, or ambiguous)",
                hint="pass the full 40-character SHA (git rev-parse <sha>), or run where the commit is checked out",
            )
        value = full
    return value.lower()


def _git_commit(revision: str) -> str | None:
    try:
        proc = subprocess.run(
            ["git", "rev-parse", "--verify", "--quiet", f"{revision}^{{commit}}"],
            capture_output=True,
            text=True,
            check=False,
            timeout=30,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    full = proc.stdout.strip()
    return full if proc.returncode == 0 and len(full) == FULL_SHA else None


@click.command("deploy")
@click.option(
    "--service",
    "services",
    multiple=True,
    metavar="NAME",
    help="Service to deploy (repeatable; default: kars.yml services).",
)
@environment_option
@project_option
@click.option("--commit", metavar="SHA", help="Commit to deploy (default: GITHUB_SHA, then git rev-parse HEAD).")
@click.option(
    "--timeout",
    type=FiniteRange(min=1),
    default=900.0,
    show_default=True,
    help="Seconds to wait for every service to be live.",
)
@click.option("--dry-run", is_flag=True, help="Resolve, check variables and record rollback targets; send no mutation.")
@click.option(
    "--no-reuse", is_flag=True, help="Always start a new deployment, even if one of this commit is running or live."
)
@settle_option("Keep watching each deployment this long after SUCCESS and fail if it crashes (0: off).")
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
    settle: float,
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
        from kars_actions.railway.report import not_started_report
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
            settle=settle,
        )
        try:
            with RailwayClient.from_env(clock=clock_from_environ()) as client:
                return run_deploy(request, client, progress=reporter.progress)
        except KarsError:
            # Stopped before any deployment started: the outputs and the summary still say so.
            outputs, summary = not_started_report(request.services, request.labels)
            gha.set_outputs(outputs)
            gha.append_summary(summary)
            raise

    run(reporter, action)
