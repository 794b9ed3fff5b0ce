"""``kars-actions restore``: put a Railway volume backup back — only when asked with --yes, never automatically."""

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


@click.command("restore")
@click.option("--backup", "backup_id", required=True, metavar="ID", help="The backup to restore (backup-id output).")
@click.option(
    "--service", metavar="NAME", help="The database service with the volume (default: kars.yml backup.service)."
)
@click.option(
    "--yes",
    is_flag=True,
    help="Confirm: the volume's current data is replaced by the backup's and Railway deletes the newer backups.",
)
@click.option(
    "--commit-staged",
    is_flag=True,
    help="Also commit what someone else staged in the environment (Railway commits the whole staged patch).",
)
@environment_option
@project_option
@click.option("--timeout", metavar="DURATION", help="How long the restore may take (default 30m).")
@service_url_option(
    "Public URL of a kars.yml service for the health checks after the restore (default: its Railway domain)."
)
@config_option
@output_options
def command(
    backup_id: str,
    service: str | None,
    yes: bool,
    commit_staged: bool,
    environment: str | None,
    project: str | None,
    timeout: str | None,
    service_urls: tuple[str, ...],
    config_path: str | None,
    fmt: str | None,
    color: bool | None,
) -> None:
    """Restore a volume backup into a database service the way Railway restores: copy the backup into a fresh
    volume (volumeInstanceBackupRestore), commit the staged swap (environmentPatchCommitStaged), follow the redeploy
    it starts, and check health after.

    Without --yes it only reads and says what would happen — the newer backups Railway would delete, anything else
    staged in the environment — and exits 2. It refuses HA databases (Railway does) and, unless --commit-staged,
    an environment where someone else has staged changes.
    """
    reporter = start(fmt, color)

    def action() -> Result:
        from kars_actions.health.plan import parse_service_urls
        from kars_actions.release.backup import RestoreCommand, run_restore_command

        return run_restore_command(
            RestoreCommand(
                backup_id=backup_id,
                service=service,
                yes=yes,
                commit_staged=commit_staged,
                environment=environment,
                project=project,
                timeout=timeout,
                service_urls=parse_service_urls(service_urls),
                config_path=config_path,
            ),
            progress=reporter.progress,
        )

    run(reporter, action)
