"""``kars-actions backup``: back a database service's Railway volume up now, and wait until Railway has it."""

from __future__ import annotations

import click

from kars_actions.cli._common import run, start
from kars_actions.cli.options import config_option, environment_option, output_options, project_option
from kars_actions.core.report import Result


@click.command("backup")
@click.option(
    "--service", metavar="NAME", help="The database service with the volume (default: kars.yml backup.service)."
)
@click.option("--name", metavar="TEXT", help="Name of the backup (default: kars manual <short sha of HEAD>).")
@environment_option
@project_option
@click.option("--timeout", metavar="DURATION", help="How long the backup may take (default: kars.yml, else 10m).")
@click.option("--dump/--no-dump", default=None, help="Also pg_dump DATABASE_PUBLIC_URL (default: kars.yml).")
@click.option("--dump-dir", metavar="DIR", help="Folder for the dump (default $RUNNER_TEMP/kars-backup).")
@config_option
@output_options
def command(
    service: str | None,
    name: str | None,
    environment: str | None,
    project: str | None,
    timeout: str | None,
    dump: bool | None,
    dump_dir: str | None,
    config_path: str | None,
    fmt: str | None,
    color: bool | None,
) -> None:
    """Back up the volume of a database service on Railway (volumeInstanceBackupCreate) and wait for the workflow.

    Outputs backup-id, backup-expires-at (and backup-dump-path with --dump). Restoring is never automatic: see
    kars-actions restore.
    """
    reporter = start(fmt, color)

    def action() -> Result:
        from kars_actions.release.backup import BackupCommand, run_backup_command

        return run_backup_command(
            BackupCommand(
                service=service,
                name=name,
                environment=environment,
                project=project,
                timeout=timeout,
                dump=dump,
                dump_dir=dump_dir,
                config_path=config_path,
            ),
            progress=reporter.progress,
        )

    run(reporter, action)
