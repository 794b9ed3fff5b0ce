"""``kars-actions init``: write hardened workflow templates into .github/workflows/, filled in from kars.yml."""

from __future__ import annotations

from pathlib import Path

import click

from kars_actions.cli._common import config_option, output_options, run, start
from kars_actions.core.report import Result


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
    config_path: str | None,
    fmt: str | None,
    color: bool | None,
) -> None:
    """Write workflow templates into .github/workflows/.

    Without TEMPLATE: ci, release, rollback, and staging when kars.yml has a staging environment. Environment
    names, branches, the staging prerelease channel, service names and alert secret names come from kars.yml.
    kars/deploy-action is pinned to the commit of the release tag matching this version of kars-actions.
    An existing file is never overwritten without --force (exit 2).
    """
    reporter = start(fmt, color)

    def action() -> Result:
        from kars_actions import __version__
        from kars_actions.core.config import load_config
        from kars_actions.core.errors import UsageError
        from kars_actions.templates import (
            ActionPin,
            InitResult,
            TemplateList,
            default_selection,
            list_templates,
            resolve_pin,
            values_from_config,
            write_templates,
        )

        if list_only:
            return TemplateList(list_templates())
        if no_pin and action_sha:
            raise UsageError("--no-pin and --action-sha contradict each other", hint="pass one of them")
        root = Path(directory)
        if not root.is_dir():
            raise UsageError(f"--dir {directory} is not a folder", hint="pass the repository root")
        values = values_from_config(load_config(config_path, root))
        names = list(templates) or default_selection(values)
        known = [info.name for info in list_templates()]
        unknown = [n for n in names if n.removesuffix(".yml") not in known]
        if unknown:
            raise UsageError(f"unknown template {unknown[0]!r}", hint=f"pick from: {', '.join(known)} (see --list)")
        pin: ActionPin | None = None
        if action_sha:
            pin = ActionPin(sha=action_sha.strip().lower(), version=__version__)
        elif not no_pin:
            pin = resolve_pin(__version__, action_repository)
        written = write_templates(names, root, values, pin, force=force)
        return InitResult(written=written, pin=pin, root=root)

    run(reporter, action)
