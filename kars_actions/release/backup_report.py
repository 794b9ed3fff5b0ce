"""How a backup or a restore looks: what was taken or put back, the command that restores it, as terminal lines, JSON,
the step summary (and the release summary's section), annotations and outputs."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from kars_actions.core import gha
from kars_actions.core.errors import EXIT_FAILED, EXIT_OK, KarsError
from kars_actions.core.report import Annotation, BaseResult, Style
from kars_actions.core.timing import human_duration
from kars_actions.railway.backup import BackupRecord, DumpRecord


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
    redeploy: str | None = None  # restore: the database's deployment that the commit started
    healthy: bool | None = None  # restore: the app's health checks after the redeploy

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
        if self.action in ("refused", "planned"):
            return self.reason or self.action  # a dry run's plan says what it would back up, not just "planned"
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
            "notes": list(self.notes),
            "redeploy": self.redeploy,
            "healthy": self.healthy,
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
        if self.notes:
            md.append("\n".join(f"- {gha.md_escape(note)}" for note in self.notes) + "\n")
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
