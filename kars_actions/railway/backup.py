"""Volume backups on Railway before a release, their restore (never automatic), and an optional pg_dump copy.

A backup is a workflow: ``volumeInstanceBackupCreate`` starts it, ``workflowStatus`` follows it to Complete or
Error, and ``volumeInstanceBackupList`` then gives its id, size and expiry. The create is a mutation: it is sent
once; after a lost answer the list is read for a backup of that name before anything is sent again.

A restore is Railway's two steps: ``volumeInstanceBackupRestore`` copies the backup into a fresh volume and only
STAGES the swap (deleting the backups newer than the one restored); ``environmentPatchCommitStaged`` applies the
environment's whole staged patch — anything else staged rides along — and redeploys the database service.
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

DOCUMENTS["EnvironmentStagedChanges"] = """query EnvironmentStagedChanges($environmentId: String!) {
  environmentStagedChanges(environmentId: $environmentId) {
    id status message createdAt updatedAt lastAppliedError patch appliedBy { name email }
  }
}"""
DOCUMENTS["EnvironmentPatchCommitStaged"] = """mutation EnvironmentPatchCommitStaged(
  $environmentId: String!, $commitMessage: String
) {
  environmentPatchCommitStaged(environmentId: $environmentId, commitMessage: $commitMessage)
}"""
DOCUMENTS["RestoreEnvironment"] = """query RestoreEnvironment($id: String!) {
  environment(id: $id) { id config }
}"""

EMPTY_PATCH_ID = "<empty>"  # what Railway answers for the staged changes of an environment with none
NOT_FOUND_GRACE = 3  # workflowStatus reads that may not see a just-started commit workflow yet
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
    volume_id: str = ""  # the volume's own id (the environment config keys volumes by it)


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
        volume_id=str((node.get("volume") or {}).get("id") or ""),
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


@dataclass(frozen=True)
class StagedChanges:
    """An environment's staged, uncommitted changes, as Railway tells them: what, when, and by whom if it says."""

    id: str
    patch: Mapping[str, Any]
    message: str | None = None
    updated_at: str | None = None
    by: str | None = None
    last_error: str | None = None

    @property
    def empty(self) -> bool:
        return self.id == EMPTY_PATCH_ID or not any(_has_content(v) for v in self.patch.values())

    def describe(self, names: Mapping[str, str]) -> str:
        """``service api: deploy.startCommand, variables.API_KEY; volume 1a2b: isDeleted`` — keys, never values
        (a staged variable's value may be a secret)."""
        parts = []
        for kind in ("services", "volumes", "buckets"):
            for rid, entry in (self.patch.get(kind) or {}).items():
                label = f"{kind[:-1]} {names.get(rid, rid)}"
                keys = sorted(_paths(entry)) if isinstance(entry, Mapping) else []
                parts.append(f"{label}: {', '.join(keys) or 'changed'}")
        shared = self.patch.get("sharedVariables")
        if shared:
            parts.append("shared variables: " + ", ".join(sorted(shared)))
        return "; ".join(parts) or "an empty patch"

    def who(self) -> str:
        when = f"last changed {self.updated_at}" if self.updated_at else "when: Railway does not say"
        by = f" by {self.by}" if self.by else " (Railway does not say by whom)"
        return when + by


def _has_content(value: Any) -> bool:
    if isinstance(value, Mapping):
        return bool(value)
    return value is not None


def _paths(entry: Mapping[str, Any], prefix: str = "") -> list[str]:
    out = []
    for key, value in entry.items():
        path = f"{prefix}{key}"
        if isinstance(value, Mapping) and value and key not in ("variables", "volumeMounts"):
            out += _paths(value, path + ".")
        elif isinstance(value, Mapping) and key in ("variables", "volumeMounts"):
            out += [f"{path}.{name}" for name in value] or [path]
        else:
            out.append(path)
    return out


def staged_changes(client: RailwayClient, environment_id: str, deadline: Deadline | None = None) -> StagedChanges:
    data = client.query("EnvironmentStagedChanges", {"environmentId": environment_id}, deadline)
    node = data.get("environmentStagedChanges") or {}
    by = node.get("appliedBy") or {}
    who = " ".join(p for p in (by.get("name"), f"<{by['email']}>" if by.get("email") else None) if p) or None
    patch = node.get("patch")
    return StagedChanges(
        id=str(node.get("id") or EMPTY_PATCH_ID),
        patch=patch if isinstance(patch, Mapping) else {},
        message=node.get("message"),
        updated_at=node.get("updatedAt") or node.get("createdAt"),
        by=who,
        last_error=node.get("lastAppliedError"),
    )


def ha_refusal(
    client: RailwayClient, environment_id: str, service_id: str, name: str, deadline: Deadline | None = None
) -> str | None:
    """Why Railway refuses an in-place restore of this database, if it is part of an HA cluster (a root or replica
    role, Patroni on, or replicas pointing at it in the environment's config); None otherwise."""
    data = client.query("RestoreEnvironment", {"id": environment_id}, deadline)
    config = (data.get("environment") or {}).get("config") or {}
    services = config.get("services") or {}
    mine = services.get(service_id) or {}
    variables = mine.get("variables") or {}
    patroni = variables.get("PATRONI_ENABLED") or {}
    replicas = [sid for sid, entry in services.items() if (entry or {}).get("parentServiceId") == service_id]
    if mine.get("clusterRole") or str(patroni.get("value")).lower() == "true" or replicas:
        return (
            f"{name} is an HA cluster: restoring a backup in place would leave its replicas diverged from the "
            "restored leader (Railway refuses it). Use the dashboard, which reseeds replicas as part of the restore"
        )
    return None


def commit_staged(
    client: RailwayClient,
    environment_id: str,
    message: str,
    *,
    deadline: Deadline,
    progress: Progress = no_progress,
    interval: float = WORKFLOW_POLL,
) -> str:
    """Commit the environment's staged patch and follow its workflow to the end; the workflow's id.

    A commit Railway accepted is never reported failed over a read that went wrong: a workflow it cannot see yet
    (NotFound, the first reads) is waited for, then the staged patch itself says (cleared or COMMITTED: done;
    back to STAGED with an error: failed)."""
    data = client.mutate(
        "EnvironmentPatchCommitStaged", {"environmentId": environment_id, "commitMessage": message}, deadline
    )
    workflow_id = str(data.get("environmentPatchCommitStaged") or "")
    clock = client.clock
    reads = 0
    while True:
        state = (client.query("WorkflowStatus", {"workflowId": workflow_id}, deadline).get("workflowStatus")) or {}
        status = str(state.get("status") or "NotFound")
        reads += 1
        if status == "Complete":
            return workflow_id
        if status == "Error":
            staged = staged_changes(client, environment_id, deadline)
            raise BackupFailed(
                f"Railway could not apply the staged changes: {staged.last_error or state.get('error') or 'no reason'}",
                hint="the changes are staged again in the environment: fix what Railway says and apply them there",
            )
        if status == "NotFound" and reads > NOT_FOUND_GRACE:
            staged = staged_changes(client, environment_id, deadline)
            if staged.empty:
                return workflow_id
            if staged.last_error:
                raise BackupFailed(f"Railway could not apply the staged changes: {staged.last_error}")
        progress(f"committing the staged changes: {status.lower()}")
        if deadline.remaining() <= 0:
            raise DeadlineExceeded(
                f"the staged changes were committed but Railway's workflow {workflow_id} had not finished within "
                f"{human_duration(deadline.seconds)}",
                hint="check the environment's deployments in the Railway dashboard",
            )
        clock.sleep(min(interval, deadline.remaining()))


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
) -> str:
    """Copy a backup into a fresh volume and wait for Railway's workflow: the swap is then STAGED, not applied.
    Only ever called on request; the workflow's id."""
    data = client.mutate(
        "VolumeInstanceBackupRestore", {"volumeInstanceBackupId": backup_id, "volumeInstanceId": volume.id}, deadline
    )
    workflow_id = str((data.get("volumeInstanceBackupRestore") or {}).get("workflowId") or "")
    progress(f"copying backup {backup_id} into a fresh volume for {volume.name}")
    if workflow_id:
        follow_workflow(client, workflow_id, f"restore of {backup_id}", deadline=deadline, progress=progress)
    return workflow_id


def find_backup(backups: list[BackupRecord], backup_id: str, volume: VolumeRef) -> BackupRecord:
    chosen = next((b for b in backups if b.id == backup_id), None)
    if chosen is None:
        names = ", ".join(f"{b.id} ({b.name or 'unnamed'})" for b in backups[:5]) or "none"
        raise ConfigError(
            f"backup {backup_id} is not a backup of volume {volume.name}; its latest: {names}",
            hint="pass an id from the release's backup-id output or the volume's Backups tab",
        )
    return chosen


def newer_than(backups: list[BackupRecord], chosen: BackupRecord) -> list[BackupRecord]:
    """The backups Railway deletes when ``chosen`` is restored: every one taken after it."""
    from kars_actions.railway.api import parse_time

    at = parse_time(chosen.created_at) or 0.0
    return [b for b in backups if b.id != chosen.id and (parse_time(b.created_at) or 0.0) > at]


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
