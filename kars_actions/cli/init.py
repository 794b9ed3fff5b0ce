"""``kars-actions init``: write hardened workflows into .github/workflows/ that work on their first push."""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import TYPE_CHECKING

import click

from kars_actions.cli._common import run, start
from kars_actions.cli.options import config_option, output_options
from kars_actions.core.report import Result

if TYPE_CHECKING:
    from kars_actions.core.config import Config
    from kars_actions.release.workflow import WorkflowPlan


@click.command(name="init")
@click.argument("templates", nargs=-1, metavar="[TEMPLATE]...")
@click.option("--list", "list_only", is_flag=True, help="Show the templates and what each does, then stop.")
@click.option("--force", is_flag=True, help="Overwrite workflow files that already exist.")
@click.option(
    "--dir",
    "directory",
    type=click.Path(file_okay=False),
    default=".",
    show_default=True,
    help="Repository root; files go to <dir>/.github/workflows/.",
)
@click.option(
    "--action-sha",
    default=None,
    envvar="KARS_ACTION_SHA",
    metavar="SHA",
    help="Pin kars/deploy-action to this commit instead of looking up the release tag with git ls-remote.",
)
@click.option(
    "--action-repository",
    default=None,
    metavar="URL",
    help="Where to look up the release tag (a fork or mirror of kars/deploy-action).",
)
@click.option(
    "--no-pin",
    is_flag=True,
    help="Keep the 000… placeholder commit (offline); replace it yourself before committing.",
)
@click.option(
    "--service",
    "services",
    multiple=True,
    metavar="NAME",
    help="A service the workflow releases (repeatable; default: kars.yml's, else the folders holding a "
    "railway.json / railway.toml, else — with RAILWAY_TOKEN — the project's services deployed from GitHub).",
)
@click.option(
    "--draft",
    is_flag=True,
    help="Write the workflows even when something they need is unknown, with placeholders and the commands "
    "that fill them (default: write nothing and exit 2).",
)
@config_option
@output_options
def command(
    templates: tuple[str, ...],
    list_only: bool,
    force: bool,
    directory: str,
    action_sha: str | None,
    action_repository: str | None,
    no_pin: bool,
    services: tuple[str, ...],
    draft: bool,
    config_path: str | None,
    fmt: str | None,
    color: bool | None,
) -> None:
    """Write workflow templates into .github/workflows/ that work on their first push.

    Without TEMPLATE: ci, release, rollback, and staging when kars.yml has a staging environment. From kars.yml,
    the repository and (with RAILWAY_TOKEN) Railway: the services, one release job per environment released on a
    push, the alert channels kars.yml names (their secrets wired to the action's inputs), and a timeout that covers
    deploy, health, watch and a rollback. kars/deploy-action is pinned to the commit of the release tag matching
    this version of kars-actions. What it cannot know (no services, no tests, no pin) is said with the commands that
    settle it, and nothing is written (exit 2) unless --draft. An existing file is never overwritten without
    --force (exit 2).
    """
    reporter = start(fmt, color)

    def action() -> Result:
        from kars_actions import __version__
        from kars_actions.core.config import load_config
        from kars_actions.core.errors import ExternalError, UsageError
        from kars_actions.release.workflow import missing_pin
        from kars_actions.release.workflow_report import InitResult, TemplateList
        from kars_actions.templates import ActionPin, list_templates, resolve_pin, write_templates

        if list_only:
            return TemplateList(list_templates())
        if no_pin and action_sha:
            raise UsageError("--no-pin and --action-sha contradict each other", hint="pass one of them")
        root = Path(directory)
        if not root.is_dir():
            raise UsageError(f"--dir {directory} is not a folder", hint="pass the repository root")
        known = [info.name for info in list_templates()]
        unknown = [n for n in templates if n.removesuffix(".yml") not in known]
        if unknown:
            raise UsageError(f"unknown template {unknown[0]!r}", hint=f"pick from: {', '.join(known)} (see --list)")
        rerun = " ".join(
            ["kars-actions init", *templates, "--force"]
            + (["--dir", shlex.quote(directory)] if directory != "." else [])
            + (["--config", shlex.quote(config_path)] if config_path else [])
            + [f"--service {shlex.quote(name)}" for name in services]
        )
        plan = _plan(load_config(config_path, root), templates, services, rerun)
        pin: ActionPin | None = None
        if action_sha:
            pin = ActionPin(sha=action_sha.strip().lower(), version=__version__)
        elif not no_pin:
            try:
                pin = resolve_pin(__version__, action_repository)
            except ExternalError as error:
                if not draft:
                    raise
                plan.missing.append(missing_pin(__version__, rerun, error.message))
        result = InitResult(written=[], pin=pin, root=root, plan=plan, draft=draft, version=__version__)
        if not result.refused:
            result.written = write_templates(plan.templates, root, plan.values, pin, force=force)
        return result

    run(reporter, action)


def _plan(config: Config, templates: tuple[str, ...], services: tuple[str, ...], rerun: str) -> WorkflowPlan:
    """What the workflows rest on; Railway is asked only when a token is set and nothing else names a service."""
    from kars_actions.release.services import RailwayScope, list_services, railway_readable
    from kars_actions.release.workflow import plan_workflows

    if list_services(config, services)[0] or not railway_readable():
        return plan_workflows(config, templates, services=services, rerun=rerun)
    from kars_actions.railway.steps import RailwayClient, clock_from_environ

    production = config.environments.get("production")
    environment = (production.railway_environment or production.name) if production else None
    with RailwayClient.from_env(clock=clock_from_environ()) as client:
        return plan_workflows(
            config,
            templates,
            services=services,
            railway=RailwayScope(client, config.project, (environment,)),
            rerun=rerun,
        )
