"""The ``kars-actions`` click group. Subcommands live one per module and load only when called,
so ``--help`` and ``--version`` never import httpx or jsonschema."""

from __future__ import annotations

import importlib
from typing import Any

import click

from kars_actions import __version__

# name -> (module, one-line help). The help text is here so that ``--help`` needs no import of the command.
COMMANDS: dict[str, tuple[str, str]] = {
    "release": (
        "kars_actions.cli.release",
        "Run the whole release: validate, tag, deploy, verify, publish or roll back.",
    ),
    "test": ("kars_actions.cli.test", "Run each service's tests (the gate before anything is tagged)."),
    "validate": ("kars_actions.cli.validate", "Validate railway.json / railway.toml against Railway's schema."),
    "tag": ("kars_actions.cli.tag", "Compute the next version, create the tag and a draft GitHub release."),
    "release-status": ("kars_actions.cli.release_status", "Publish the draft release, or mark it failed."),
    "deploy": ("kars_actions.cli.deploy", "Deploy services to Railway at the exact commit and wait for the outcome."),
    "health": ("kars_actions.cli.health", "Poll health endpoints until the new version proves healthy."),
    "rollback": ("kars_actions.cli.rollback", "Put a service's previous Railway deployment back and wait for it."),
    "watch": ("kars_actions.cli.watch", "Watch live services: crashes, restarts, health, 5xx and latency vs before."),
    "backup": ("kars_actions.cli.backup", "Back a database service's Railway volume up and wait until it is taken."),
    "restore": ("kars_actions.cli.restore", "Restore a volume backup into a database service (asks for --yes)."),
    "notify": ("kars_actions.cli.notify", "Send a release alert to Slack, Discord or a signed webhook."),
    "preview": (
        "kars_actions.cli.preview",
        "Prove a pull request's Railway preview healthy and report it on the pull request.",
    ),
    "init": ("kars_actions.cli.init", "Write a workflow template into .github/workflows/."),
    "config": (
        "kars_actions.cli.config",
        "Plan, apply or migrate railway.json settings now that Railway no longer reads the file.",
    ),
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        entry = COMMANDS.get(cmd_name)
        if entry is None:
            return None
        module = importlib.import_module(entry[0])
        command: click.Command = module.command
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, help_text) for name, (_, help_text) in COMMANDS.items()]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110})
@click.version_option(__version__, "--version", prog_name="kars-actions")
def cli() -> None:
    """Release web apps to Railway that you can trust: tests, tag, validate, deploy, verify, roll back.

    Exit codes: 0 done, 1 a check or operation failed, 2 usage or configuration error,
    3 an external service refused or was unreachable.
    """


def main(args: list[str] | None = None, **kwargs: Any) -> None:
    """The process entry. Before click parses anything, stdout and stderr go behind the redaction layer and
    every secret the process can know of (environment, credential flags, the variables kars.yml names) is
    registered and masked: a usage error or a test's output cannot print one."""
    import sys

    from kars_actions.cli._common import report_crash, usage_exit
    from kars_actions.core import gha
    from kars_actions.core.masking import register_process_secrets
    from kars_actions.core.report import make_reporter

    gha.install_redacting_streams()
    argv = list(sys.argv[1:] if args is None else args)
    try:
        register_process_secrets(argv)
        for index, arg in enumerate(argv, start=1):
            if any("\ud800" <= c <= "\udfff" for c in arg):
                # Bytes that are not UTF-8 arrive as lone surrogates, which no later write could encode.
                usage_exit(make_reporter(), f"argument {index} is not valid UTF-8 text", hint="pass UTF-8 text")
        cli.main(args=argv, prog_name="kars-actions", **kwargs)
    except Exception as error:  # noqa: BLE001 - outside a command's own edge (click, a command's import)
        report_crash(error)
        sys.exit(1)
    finally:
        gha.drain_streams()
