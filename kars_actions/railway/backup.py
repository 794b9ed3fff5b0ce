"""Volume backups on Railway before a release, their restore (never automatic), and an optional pg_dump copy.

A backup is a workflow: ``volumeInstanceBackupCreate`` starts it, ``workflowStatus`` follows it to Complete or
Error, and ``volumeInstanceBackupList`` then gives its id, size and expiry. The create is a mutation: it is sent
once; after a lost answer the list is read for a backup of that name before anything is sent again.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit, urlunsplit

from kars_actions.core import gha
from kars_actions.core.errors import CheckFailed, ConfigError, DeadlineExceeded
from kars_actions.core.report import Progress, no_progress
from kars_actions.core.timing import Deadline, human_duration
from kars_actions.railway.api import DOCUMENTS, OutcomeUnknown, RailwayClient

DOCUMENTS["EnvironmentVolumes"] = """query EnvironmentVolumes($id: String!) {
  environment(id: $id) {
    id
    volumeInstances { edges { node { id serviceId mountPath currentSizeMB state volume { id name } } } }
  }
}"""
DOCUMENTS[
    "VolumeInstanceBackupCreate"
] = """mutation VolumeInstanceBackupCreate($volumeInstanceId: String!, $name: String) {
  volumeInstanceBackupCreate(volumeInstanceId: $volumeInstanceId, name: $name) { workflowId }
}"""
DOCUMENTS["WorkflowStatus"] = """query WorkflowStatus($workflowId: String!) {
  workflowStatus(workflowId: $workflowId) { status error }
}"""
DOCUMENTS["VolumeInstanceBackupList"] = """query VolumeInstanceBackupList($volumeInstanceId: String!) {
  volumeInstanceBackupList(volumeInstanceId: $volumeInstanceId) { id name createdAt expiresAt usedMB referencedMB }
}"""
DOCUMENTS["VolumeInstanceBackupRestore"] = """mutation VolumeInstanceBackupRestore(
  $volumeInstanceBackupId: String!, $volumeInstanceId: String!
) {
  volumeInstanceBackupRestore(volumeInstanceBackupId: $volumeInstanceBackupId, volumeInstanceId: $volumeInstanceId) {
    workflowId
  }
}"""

WORKFLOW_POLL = 5.0  # seconds between workflowStatus reads; a backup of a small database takes tens of seconds
DUMP_URL_ENV = "DATABASE_PUBLIC_URL"


class BackupFailed(CheckFailed):
    """Railway's backup or restore workflow ended in Error (exit 1)."""

    title = "Backup failed"


@dataclass(frozen=True)
class VolumeRef:
    id: str  # the volume instance id
    service_id: str
    name: str
    mount_path: str
    size_mb: float | None


@dataclass(frozen=True)
class BackupRecord:
    id: str
    name: str | None
    created_at: str | None
    expires_at: str | None
    size_mb: float | None
    volume: VolumeRef
    workflow_id: str | None = None
    reused: bool = False
    seconds: float | None = None

    def restore_command(self, service: str, environment: str | None = None) -> str:
        env = f" --environment {environment}" if environment else ""
        return f"kars-actions restore --backup {self.id} --service {service}{env} --yes"

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "created_at": self.created_at,
            "expires_at": self.expires_at,
            "size_mb": self.size_mb,
            "volume_instance_id": self.volume.id,
            "volume": self.volume.name,
            "workflow_id": self.workflow_id,
            "reused": self.reused,
            "seconds": self.seconds,
        }


def find_volume(
    client: RailwayClient, environment_id: str, service_id: str, service_name: str, deadline: Deadline | None = None
) -> VolumeRef:
    """The volume instance attached to the service in this environment."""
    data = client.query("EnvironmentVolumes", {"id": environment_id}, deadline)
    edges = (((data.get("environment") or {}).get("volumeInstances")) or {}).get("edges") or []
    mine = [e["node"] for e in edges if e.get("node") and e["node"].get("serviceId") == service_id]
    if not mine:
        raise ConfigError(
            f"service {service_name} has no volume in this environment: nothing to back up",
            hint="backup.service in kars.yml must name the database service (the one with the volume), e.g. Postgres",
        )
    node = mine[0]
    return VolumeRef(
        id=str(node["id"]),
        service_id=service_id,
        name=str((node.get("volume") or {}).get("name") or node["id"]),
        mount_path=str(node.get("mountPath") or ""),
        size_mb=node.get("currentSizeMB"),
    )


def list_backups(client: RailwayClient, volume: VolumeRef, deadline: Deadline | None = None) -> list[BackupRecord]:
    data = client.query("VolumeInstanceBackupList", {"volumeInstanceId": volume.id}, deadline)
    return [
        BackupRecord(
            id=str(b["id"]),
            name=b.get("name"),
            created_at=b.get("createdAt"),
            expires_at=b.get("expiresAt"),
            size_mb=b.get("usedMB") if b.get("usedMB") is not None else b.get("referencedMB"),
            volume=volume,
        )
        for b in data.get("volumeInstanceBackupList") or []
    ]


def follow_workflow(
    client: RailwayClient,
    workflow_id: str,
    what: str,
    *,
    deadline: Deadline,
    progress: Progress = no_progress,
    interval: float = WORKFLOW_POLL,
) -> None:
    """Wait for a Railway workflow to be Complete; Error or a deadline raise."""
    clock = client.clock
    started = clock.monotonic()
    while True:
        data = client.query("WorkflowStatus", {"workflowId": workflow_id}, deadline)
        state = data.get("workflowStatus") or {}
        status = str(state.get("status") or "NotFound")
        elapsed = clock.monotonic() - started
        if status == "Complete":
            return
        if status == "Error":
            raise BackupFailed(
                f"{what} failed on Railway: {state.get('error') or 'no reason given'}",
                hint="see the volume's Backups tab in the Railway dashboard",
            )
        if status == "NotFound":
            raise BackupFailed(f"{what}: Railway does not know workflow {workflow_id}")
        progress(f"{what}: {status.lower()} ({human_duration(elapsed)}, {human_duration(deadline.remaining())} left)")
        if deadline.remaining() <= 0:
            raise DeadlineExceeded(
                f"{what} did not finish within {human_duration(deadline.seconds)} (workflow {workflow_id} still "
                f"{status})",
                hint="Railway may still complete it: check the volume's Backups tab; raise backup.timeout in kars.yml",
            )
        clock.sleep(min(interval, deadline.remaining()))


def create_backup(
    client: RailwayClient,
    volume: VolumeRef,
    name: str,
    *,
    deadline: Deadline,
    progress: Progress = no_progress,
) -> BackupRecord:
    """Back the volume up under ``name`` and wait for it; a backup of that name already there is reused (a rerun)."""
    clock = client.clock
    started = clock.monotonic()
    existing = list_backups(client, volume, deadline)
    for backup in existing:
        if backup.name == name:
            progress(f"backup: reusing {backup.id} ({name}), taken by an earlier run of this release")
            return _with(backup, reused=True, seconds=0.0)
    known = {b.id for b in existing}
    try:
        data = client.mutate("VolumeInstanceBackupCreate", {"volumeInstanceId": volume.id, "name": name}, deadline)
        workflow_id = (data.get("volumeInstanceBackupCreate") or {}).get("workflowId")
    except OutcomeUnknown:
        workflow_id = None  # the request may have been applied: follow the list instead of sending it again
    progress(f"backup: {name} of volume {volume.name} requested")
    if workflow_id:
        follow_workflow(client, str(workflow_id), f"backup {name}", deadline=deadline, progress=progress)
    while True:
        found = [b for b in list_backups(client, volume, deadline) if b.id not in known and b.name == name]
        if found:
            return _with(found[0], workflow_id=workflow_id, seconds=clock.monotonic() - started)
        if deadline.remaining() <= 0:
            raise DeadlineExceeded(
                f"backup {name} did not appear in the volume's backups within {human_duration(deadline.seconds)}",
                hint="check the volume's Backups tab in the Railway dashboard before deploying",
            )
        clock.sleep(min(WORKFLOW_POLL, deadline.remaining()))


def _with(backup: BackupRecord, **changes: Any) -> BackupRecord:
    from dataclasses import replace

    return replace(backup, **changes)


def restore_backup(
    client: RailwayClient,
    volume: VolumeRef,
    backup_id: str,
    *,
    deadline: Deadline,
    progress: Progress = no_progress,
) -> BackupRecord:
    """Replace the volume's data with a backup and wait for Railway's workflow. Only ever called on request."""
    backups = list_backups(client, volume, deadline)
    chosen = next((b for b in backups if b.id == backup_id), None)
    if chosen is None:
        names = ", ".join(f"{b.id} ({b.name or 'unnamed'})" for b in backups[:5]) or "none"
        raise ConfigError(
            f"backup {backup_id} is not a backup of volume {volume.name}; its latest: {names}",
            hint="pass an id from the release's backup-id output or the volume's Backups tab",
        )
    data = client.mutate(
        "VolumeInstanceBackupRestore", {"volumeInstanceBackupId": backup_id, "volumeInstanceId": volume.id}, deadline
    )
    workflow_id = str((data.get("volumeInstanceBackupRestore") or {}).get("workflowId") or "")
    progress(f"restore of backup {backup_id} into volume {volume.name} requested")
    if workflow_id:
        follow_workflow(client, workflow_id, f"restore of {backup_id}", deadline=deadline, progress=progress)
    return _with(chosen, workflow_id=workflow_id or None)


# --- pg_dump ---------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DumpRecord:
    path: str
    size_bytes: int
    entries: int  # table-of-contents entries pg_restore --list reads back

    def to_json(self) -> dict[str, Any]:
        return {"path": self.path, "size_bytes": self.size_bytes, "entries": self.entries}


def split_password(url: str) -> tuple[str, str | None]:
    """The URL without its password (safe to pass as an argument) and the password (passed in PGPASSWORD)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url, None
    user = parts.username or ""
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = (f"{user}@" if user else "") + host + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment)), unquote(parts.password)


def dump_database(
    url: str,
    path: Path,
    *,
    timeout: float = 1800.0,
    environ: Mapping[str, str] | None = None,
) -> DumpRecord:
    """``pg_dump --format=custom`` of ``url`` into ``path``, read back with ``pg_restore --list``.

    The URL and its password are secrets: registered for masking, kept out of argv (the password travels in
    PGPASSWORD), and never put in an error message.
    """
    gha.SECRETS.register(url)
    safe_url, password = split_password(url)
    gha.SECRETS.register(password)
    for tool in ("pg_dump", "pg_restore"):
        if shutil.which(tool) is None:
            raise ConfigError(
                f"{tool} is not installed: the database dump needs PostgreSQL's client tools",
                hint="on ubuntu-latest: sudo apt-get install -y postgresql-client (its major version must be at "
                "least the server's), or set backup.dump: false",
            )
    path.parent.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ if environ is None else environ)
    if password is not None:
        env["PGPASSWORD"] = password
    env.setdefault("PGCONNECT_TIMEOUT", "20")
    dump = _run(["pg_dump", "--format=custom", "--no-owner", "--file", str(path), "--dbname", safe_url], env, timeout)
    if dump.returncode != 0:
        raise CheckFailed(
            "pg_dump failed: " + _first_error(dump.stderr),
            hint="a pg_dump older than the server refuses to dump it: install the client of the server's major "
            "version; check that DATABASE_PUBLIC_URL is the database's public URL",
        )
    listing = _run(["pg_restore", "--list", str(path)], env, 120.0)
    entries = sum(1 for line in listing.stdout.splitlines() if line.strip() and not line.startswith(";"))
    if listing.returncode != 0 or entries == 0:
        raise CheckFailed(
            "the dump could not be read back with pg_restore --list: " + _first_error(listing.stderr or "empty"),
            hint="the dump file is damaged; nothing was deployed",
        )
    return DumpRecord(str(path), path.stat().st_size, entries)


def _run(argv: list[str], env: Mapping[str, str], timeout: float) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(
            argv, env=dict(env), capture_output=True, text=True, timeout=timeout, check=False, stdin=subprocess.DEVNULL
        )
    except subprocess.TimeoutExpired:
        raise DeadlineExceeded(f"{argv[0]} did not finish within {human_duration(timeout)}") from None


def _first_error(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return gha.SECRETS.redact(lines[0] if lines else "no message")[:300]


def service_variable(
    client: RailwayClient,
    project_id: str,
    environment_id: str,
    service_id: str,
    name: str,
    deadline: Deadline | None = None,
) -> str | None:
    """One variable's value, registered as a secret at once; every other value of the answer is dropped unread."""
    data = client.query(
        "Variables", {"projectId": project_id, "environmentId": environment_id, "serviceId": service_id}, deadline
    )
    variables = data.get("variables")
    value = variables.get(name) if isinstance(variables, dict) else None
    if not value:
        return None
    gha.SECRETS.register(str(value))
    return str(value)
