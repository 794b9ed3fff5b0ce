"""``kars-actions restore``: put a Railway volume backup back — only when asked with --yes, never automatically."""

from __future__ import annotations

import click

from kars_actions.cli._common import config_option, output_options, run, start
from kars_actions.core.report import Result


@click.command("restore")
@click.option("--backup", "backup_id", required=True, metavar="ID", help="The backup to restore (backup-id output).")
@click.option(
    "--service", metavar="NAME", help="The database service with the volume (default: kars.yml backup.service)."
)
@click.option("--yes", is_flag=True, help="Confirm: the volume's current data is replaced by the backup's.")
@click.option(
    "--environment", metavar="NAME", help="Environment (kars.yml name or Railway name; default: the token's)."
)
@click.option(
    "--project", metavar="NAME_OR_ID", help="Railway project (default: kars.yml project, or the project token's)."
)
@click.option("--timeout", metavar="DURATION", help="How long the restore may take (default 30m).")
@config_option
@output_options
def command(
    backup_id: str,
    service: str | None,
    yes: bool,
    environment: str | None,
    project: str | None,
    timeout: str | None,
    config_path: str | None,
    fmt: str | None,
    color: bool | None,
) -> None:
    """Restore a volume backup into a database service (volumeInstanceBackupRestore) and wait for the workflow.

    It replaces the volume's data, so it refuses to run without --yes (exit 2).
    """
    reporter = start(fmt, color)

    def action() -> Result:
        from kars_actions.release.backup import RestoreCommand, run_restore_command

        return run_restore_command(
            RestoreCommand(
                backup_id=backup_id,
                service=service,
                yes=yes,
                environment=environment,
                project=project,
                timeout=timeout,
                config_path=config_path,
            ),
            progress=reporter.progress,
        )

    run(reporter, action)
