"""The pre-deploy backup: whether this release needs one, taking it (and the optional pg_dump), and its report.

Used by the release's ``backup`` stage and by ``kars-actions backup`` / ``kars-actions restore``.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from kars_actions.core import gha
from kars_actions.core.config import BackupConfig, Config
from kars_actions.core.errors import EXIT_FAILED, EXIT_OK, ConfigError, KarsError, UsageError
from kars_actions.core.report import Annotation, BaseResult, Progress, Style, no_progress
from kars_actions.core.timing import Deadline, human_duration
from kars_actions.railway.api import RailwayClient
from kars_actions.railway.backup import (
    DUMP_URL_ENV,
    BackupRecord,
    DumpRecord,
    VolumeRef,
    create_backup,
    dump_database,
    find_volume,
    restore_backup,
    service_variable,
)
from kars_actions.railway.deploy import RailwayTarget


def backup_name(tag: str | None, commit: str | None) -> str:
    """``kars v1.4.0 1a2b3c4``: the same name on a rerun of the same release, so the rerun finds it."""
    return " ".join(p for p in ("kars", tag or "manual", (commit or "")[:7]) if p)


@lru_cache(maxsize=64)
def _glob_regex(pattern: str) -> re.Pattern[str]:
    """``**`` crosses folders, ``*`` and ``?`` stay inside one; a pattern ending in ``/`` means the whole folder."""
    pattern = pattern.strip().lstrip("./") if pattern.startswith("./") else pattern.strip().lstrip("/")
    if pattern.endswith("/"):
        pattern += "**"
    out = []
    i = 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif pattern[i] == "*":
            out.append("[^/]*")
            i += 1
        elif pattern[i] == "?":
            out.append("[^/]")
            i += 1
        else:
            out.append(re.escape(pattern[i]))
            i += 1
    return re.compile("".join(out) + r"\Z")


def matching_paths(changed: Sequence[str], patterns: Sequence[str]) -> list[str]:
    return [path for path in changed if any(_glob_regex(p).match(path) for p in patterns)]


def changed_files(repo: Path, base: str | None, head: str) -> list[str]:
    """Files the release's commits touch: base..head, or every file of head on a first release."""
    argv = (
        ["git", "diff", "--name-only", "--no-renames", f"{base}..{head}"]
        if base
        else ["git", "ls-tree", "-r", "--name-only", head]
    )
    try:
        proc = subprocess.run(argv, cwd=repo, capture_output=True, text=True, check=False, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as error:
        raise KarsError(f"cannot list the files this release changes: {type(error).__name__}") from None
    if proc.returncode != 0:
        raise KarsError(
            f"cannot list the files this release changes (git exit {proc.returncode})",
            hint="backup.when: migrations needs the full history: actions/checkout with fetch-depth: 0",
        )
    return [line for line in proc.stdout.splitlines() if line.strip()]


@dataclass
class BackupResult(BaseResult):
    """``kars-actions backup`` / ``restore``, and the release's backup stage: what was taken or put back."""

    action: str  # backup | restore | refused | skipped
    service: str
    environment: str | None = None
    backup: BackupRecord | None = None
    dump: DumpRecord | None = None
    reason: str | None = None
    error: KarsError | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.error is None and self.action != "refused"

    def restore_command(self) -> str | None:
        return self.backup.restore_command(self.service, self.environment) if self.backup else None

    def exit_code(self) -> int:
        if self.error is not None:
            return self.error.exit_code
        return EXIT_FAILED if self.action == "refused" else EXIT_OK

    def outputs(self) -> dict[str, str]:
        return {
            "backup-id": self.backup.id if self.backup else "",
            "backup-expires-at": (self.backup.expires_at or "") if self.backup else "",
            "backup-dump-path": self.dump.path if self.dump else "",
        }

    def headline(self) -> str:
        if self.error is not None:
            return f"{self.action.capitalize()} failed: {self.error.message}"
        if self.action == "refused":
            return self.reason or "refused"
        if self.action == "skipped":
            return f"No backup: {self.reason}"
        if self.backup is None:
            return self.action
        if self.action == "restore":
            return f"Restored backup {self.backup.id} into {self.service}'s volume {self.backup.volume.name}"
        took = f" in {human_duration(self.backup.seconds)}" if self.backup.seconds else ""
        reused = " (reused from an earlier run)" if self.backup.reused else ""
        return f"Backup {self.backup.id} of {self.service} taken{took}{reused}"

    def to_json(self) -> dict[str, Any]:
        return {
            "action": self.action,
            "service": self.service,
            "environment": self.environment,
            "headline": self.headline(),
            "backup": self.backup.to_json() if self.backup else None,
            "dump": self.dump.to_json() if self.dump else None,
            "restore_command": self.restore_command() if self.action == "backup" else None,
            "reason": self.reason,
            "error": self.error.message if self.error else None,
            "outputs": self.outputs(),
        }

    def text_lines(self, style: Style) -> list[str]:
        lines = [style.bold(f"kars-actions {self.action} → {self.service}")]
        b = self.backup
        if b is not None:
            lines += [
                f"backup      {b.id} ({b.name or 'unnamed'})",
                f"volume      {b.volume.name} ({b.volume.id})",
                f"size        {_size(b.size_mb)}",
                f"expires     {b.expires_at or 'not said'}",
            ]
        if self.dump is not None:
            lines.append(f"dump        {self.dump.path} ({self.dump.size_bytes} bytes, {self.dump.entries} entries)")
        lines += self.notes
        head = self.headline()
        lines.append(style.ok(head) if self.ok else style.bad(head))
        if self.action == "backup" and b is not None:
            lines.append(f"to restore it: {self.restore_command()}")
        return lines

    def summary_markdown(self) -> str:
        icon = "✅" if self.ok else "❌"
        return f"## {icon} {gha.md_escape(self.headline())}\n\n" + self.section_markdown()

    def section_markdown(self) -> str:
        b = self.backup
        md = ["### Database backup\n"]
        if b is not None:
            md.append(
                gha.md_table(
                    ["service", "backup", "name", "size", "expires"],
                    [[self.service, b.id, b.name or "-", _size(b.size_mb), b.expires_at or "-"]],
                )
            )
            if self.action == "backup":
                md.append(
                    f"Restoring is never automatic. To put this backup back (it replaces the volume's data):\n\n"
                    f"```sh\n{self.restore_command()}\n```\n"
                )
        elif self.reason:
            md.append(gha.md_escape(self.reason) + "\n")
        if self.dump is not None:
            md.append(
                f"pg_dump: `{self.dump.path}` ({self.dump.size_bytes} bytes, {self.dump.entries} entries, read back "
                "with pg_restore --list) — upload it with actions/upload-artifact.\n"
            )
        if self.error is not None:
            md.append(f"**Why:** {gha.md_escape(self.error.message)}\n")
        return "\n".join(md)

    def annotations(self) -> list[Annotation]:
        if self.error is not None:
            return [Annotation("error", self.error.message, title=f"{self.action.capitalize()} failed")]
        if self.action == "refused" and self.reason:
            return [Annotation("error", self.reason, title="Restore refused")]
        return []


def _size(mb: float | None) -> str:
    if mb is None:
        return "-"
    return f"{mb / 1024:.2f} GB" if mb >= 1024 else f"{mb:.0f} MB"


def default_dump_dir() -> Path:
    """Under RUNNER_TEMP in Actions (cleaned after the job unless uploaded), else ./kars-backup."""
    runner_temp = os.environ.get("RUNNER_TEMP")
    return Path(runner_temp) / "kars-backup" if runner_temp else Path("kars-backup")


def dump_file_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-") + ".dump"


def outputs_json(result: BackupResult) -> str:
    return json.dumps(result.to_json(), sort_keys=True, default=str)


def take_release_backup(
    client: RailwayClient | None,
    target: RailwayTarget | None,
    config: BackupConfig,
    *,
    tag: str | None,
    commit: str | None,
    base: str | None,
    repo: Path,
    dry_run: bool,
    environment: str | None,
    deadline: Deadline | None,
    progress: Progress = no_progress,
) -> BackupResult:
    """The release's backup stage: decide (``when``), back up and follow it, optionally pg_dump. Errors are kept
    in the result (``error``) so the summary shows them; the caller stops the release on one."""
    result = BackupResult("backup", config.service, environment=environment)
    try:
        if config.when == "migrations":
            touched = matching_paths(changed_files(repo, base, commit or "HEAD"), config.paths)
            if not touched:
                result.action = "skipped"
                result.reason = f"no change under {', '.join(config.paths)} since {base or 'the first commit'}"
                return result
            result.notes.append(f"migrations changed: {', '.join(touched[:5])}" + (" …" if len(touched) > 5 else ""))
        name = backup_name(tag, commit)
        if dry_run or client is None or target is None:
            result.action = "planned"
            result.reason = f"would back up {config.service}'s volume as {name!r} before deploying"
            return result
        assert deadline is not None
        volume = locate_volume(client, target, config.service, deadline)
        result.backup = create_backup(client, volume, name, deadline=deadline, progress=progress)
        if config.dump:
            result.dump = _dump(client, target, volume.service_id, config, name)
    except KarsError as error:
        result.error = error
    return result


def locate_volume(client: RailwayClient, target: RailwayTarget, service: str, deadline: Deadline | None) -> VolumeRef:
    """The volume of the database service, found by name or id in the release's project and environment."""
    from kars_actions.railway.deploy import resolve_target

    resolved = resolve_target(client, target.project_id, target.environment_id, [service], deadline=deadline)
    ref = resolved.services[0]
    return find_volume(client, target.environment_id, ref.id, ref.name, deadline)


def _dump(client: RailwayClient, target: RailwayTarget, service_id: str, config: BackupConfig, name: str) -> DumpRecord:
    """pg_dump of DATABASE_PUBLIC_URL: from the environment when set, else from the database service's variables."""
    url = os.environ.get(DUMP_URL_ENV, "").strip()
    if not url:
        url = service_variable(client, target.project_id, target.environment_id, service_id, DUMP_URL_ENV) or ""
    if not url:
        raise ConfigError(
            f"backup.dump needs {DUMP_URL_ENV}: neither the environment nor the {config.service} service has it",
            hint=f"enable the database's public networking in Railway, or pass the URL from a secret as {DUMP_URL_ENV}",
        )
    gha.SECRETS.register(url)
    folder = Path(config.dump_dir) if config.dump_dir else default_dump_dir()
    return dump_database(url, folder / dump_file_name(name))


# --- ``kars-actions backup`` and ``kars-actions restore`` -----------------------------------------------------------


@dataclass(frozen=True)
class BackupCommand:
    service: str | None = None
    name: str | None = None
    environment: str | None = None
    project: str | None = None
    timeout: str | None = None
    dump: bool | None = None
    dump_dir: str | None = None
    config_path: str | None = None


@dataclass(frozen=True)
class RestoreCommand:
    backup_id: str
    service: str | None = None
    yes: bool = False
    environment: str | None = None
    project: str | None = None
    timeout: str | None = None
    config_path: str | None = None


def _database_service(service: str | None, config: Config) -> str:
    chosen = service or (config.backup.service if config.backup else None)
    if not chosen:
        raise UsageError(
            "which database service? pass --service NAME (for example Postgres) or set backup.service in kars.yml"
        )
    return chosen


def _railway_environment(environment: str | None, config: Config) -> str | None:
    if not environment:
        return None
    env = config.environment(environment)
    return env.railway_environment or env.name


def _head_commit(root: Path) -> str | None:
    try:
        proc = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, check=False, timeout=30
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return proc.stdout.strip() if proc.returncode == 0 else None


def run_backup_command(request: BackupCommand, *, progress: Progress = no_progress) -> BackupResult:
    from kars_actions.core.config import load_config, parse_duration
    from kars_actions.railway.steps import RailwayClient, clock_from_environ

    config = load_config(request.config_path)
    service = _database_service(request.service, config)
    base = config.backup or BackupConfig(service=service)
    settings = BackupConfig(
        service=service,
        timeout=parse_duration(request.timeout, "--timeout") if request.timeout else base.timeout,
        dump=base.dump if request.dump is None else request.dump,
        dump_dir=request.dump_dir or base.dump_dir,
    )
    result = BackupResult("backup", service, environment=request.environment)
    with RailwayClient.from_env(clock=clock_from_environ()) as client:
        deadline = Deadline(settings.timeout + 60.0, client.clock)
        target, volume = _database_volume(client, request.project, request.environment, config, service, deadline)
        result.environment = request.environment or target.environment_name
        ref = target.services[0]
        name = request.name or backup_name(None, _head_commit(config.root))
        try:
            result.backup = create_backup(
                client, volume, name, deadline=Deadline(settings.timeout, client.clock), progress=progress
            )
            if settings.dump:
                result.dump = _dump(client, target, ref.id, settings, name)
        except KarsError as error:
            result.error = error
    return result


def _database_volume(
    client: RailwayClient,
    project: str | None,
    environment: str | None,
    config: Config,
    service: str,
    deadline: Deadline,
) -> tuple[RailwayTarget, VolumeRef]:
    """The database service in the target environment, and the volume its data lives on."""
    from kars_actions.railway.deploy import resolve_target

    target = resolve_target(
        client, project or config.project, _railway_environment(environment, config), [service], deadline=deadline
    )
    ref = target.services[0]
    return target, find_volume(client, target.environment_id, ref.id, ref.name, deadline)


def run_restore_command(request: RestoreCommand, *, progress: Progress = no_progress) -> BackupResult:
    from kars_actions.core.config import load_config, parse_duration
    from kars_actions.railway.steps import RailwayClient, clock_from_environ

    config = load_config(request.config_path)
    service = _database_service(request.service, config)
    if not request.yes:
        # Before any request: restoring replaces the database's data, so nothing happens without the word.
        raise UsageError(
            f"restoring backup {request.backup_id} replaces the data in {service}'s volume with the backup's; "
            "nothing was changed",
            hint=f"to go ahead: kars-actions restore --backup {request.backup_id} --service {service} --yes",
        )
    timeout = parse_duration(request.timeout, "--timeout") if request.timeout else 1800.0
    result = BackupResult("restore", service, environment=request.environment)
    with RailwayClient.from_env(clock=clock_from_environ()) as client:
        deadline = Deadline(timeout, client.clock)
        target, volume = _database_volume(client, request.project, request.environment, config, service, deadline)
        result.environment = request.environment or target.environment_name
        try:
            result.backup = restore_backup(client, volume, request.backup_id, deadline=deadline, progress=progress)
        except KarsError as error:
            result.error = error
    return result
