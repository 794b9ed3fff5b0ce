"""The pre-deploy backup: whether this release needs one, taking it (and the optional pg_dump), and the restore.

Used by the release's ``backup`` stage and by ``kars-actions backup`` / ``kars-actions restore``.
"""

from __future__ import annotations

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
from kars_actions.core.errors import CheckFailed, ConfigError, KarsError, UsageError
from kars_actions.core.report import Progress, no_progress
from kars_actions.core.timing import Deadline
from kars_actions.railway.api import RailwayClient
from kars_actions.railway.backup import (
    DUMP_URL_ENV,
    BackupFailed,
    BackupRecord,
    DumpRecord,
    VolumeRef,
    commit_staged,
    create_backup,
    dump_database,
    find_backup,
    find_volume,
    ha_refusal,
    list_backups,
    newer_than,
    restore_backup,
    service_variable,
    staged_changes,
)
from kars_actions.railway.deploy import RailwayTarget
from kars_actions.release.backup_report import BackupResult


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


def default_dump_dir() -> Path:
    """Under RUNNER_TEMP in Actions (cleaned after the job unless uploaded), else ./kars-backup."""
    runner_temp = os.environ.get("RUNNER_TEMP")
    return Path(runner_temp) / "kars-backup" if runner_temp else Path("kars-backup")


def dump_file_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-") + ".dump"


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
        if client is None or target is None:
            result.action = "planned"
            result.reason = f"would back up {config.service}'s volume as {name!r} before deploying"
            return result
        assert deadline is not None
        if dry_run:
            # Finding the volume only reads: a database without one stops the dry run where it stops the release.
            volume = locate_volume(client, target, config.service, deadline)
            result.action = "planned"
            result.reason = f"would back up {config.service}'s volume {volume.name} as {name!r} before deploying"
            return result
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
    commit_staged: bool = False  # ship what someone else staged in the environment with the restore
    service_urls: dict[str, str] = field(default_factory=dict)  # for the health checks after the restore
    environment: str | None = None
    project: str | None = None
    timeout: str | None = None
    config_path: str | None = None


def _database_service(service: str | None, config: Config) -> tuple[str, str]:
    """The database service's Railway name, and where it came from (said in the result). A kars.yml service key
    stands for that service's Railway name, as it does for every other command."""
    chosen = service or (config.backup.service if config.backup else None)
    if not chosen:
        raise UsageError(
            "which database service? pass --service NAME (for example Postgres) or set backup.service in kars.yml"
        )
    source = "--service" if service else "kars.yml backup.service"
    name = database_railway_name(config, chosen)
    if name != chosen:
        return name, f"{chosen} is Railway service {name} (kars.yml services.{chosen})"
    return chosen, f"{chosen} ({source})"


def database_railway_name(config: Config, name: str) -> str:
    """A kars.yml service key stands for that service's Railway name; any other name is Railway's own."""
    entry = config.services.get(name)
    return entry.railway_service if entry is not None else name


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
    service, source = _database_service(request.service, config)
    base = config.backup or BackupConfig(service=service)
    settings = BackupConfig(
        service=service,
        timeout=parse_duration(request.timeout, "--timeout") if request.timeout else base.timeout,
        dump=base.dump if request.dump is None else request.dump,
        dump_dir=request.dump_dir or base.dump_dir,
    )
    result = BackupResult("backup", service, environment=request.environment, notes=[f"database    {source}"])
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
    """Restore the Railway way: look first (HA, newer backups, what else is staged), then copy, commit, follow the
    redeploy and check health. Without ``--yes`` it only looks, says what would happen, and changes nothing."""
    from kars_actions.core.config import load_config, parse_duration
    from kars_actions.railway.steps import RailwayClient, clock_from_environ

    config = load_config(request.config_path)
    service, source = _database_service(request.service, config)
    timeout = parse_duration(request.timeout, "--timeout") if request.timeout else 1800.0
    result = BackupResult("restore", service, environment=request.environment, notes=[f"database    {source}"])
    with RailwayClient.from_env(clock=clock_from_environ()) as client:
        deadline = Deadline(timeout, client.clock)
        target, volume = _database_volume(client, request.project, request.environment, config, service, deadline)
        result.environment = request.environment or target.environment_name
        env_id, ref = target.environment_id, target.services[0]
        backups = list_backups(client, volume, deadline)
        chosen = find_backup(backups, request.backup_id, volume)
        result.backup = chosen
        newer = newer_than(backups, chosen)
        refused = ha_refusal(client, env_id, ref.id, ref.name, deadline)
        if refused:
            return _refuse(result, refused)
        staged = staged_changes(client, env_id, deadline)
        names = _names(client, target, deadline)
        others = None if staged.empty else staged.describe(names)
        if not request.yes:
            # Nothing is sent: a person reads what the restore would do, and says --yes.
            raise UsageError(
                f"restoring backup {chosen.id} replaces the data in {service}'s volume with the backup's"
                + _deletes(newer)
                + (f"; it would also commit what is staged in the environment: {others}" if others else "")
                + "; nothing was changed",
                hint=f"to go ahead: kars-actions restore --backup {chosen.id} --service {service} --yes"
                + (" --commit-staged" if others else ""),
            )
        if others and not request.commit_staged:
            return _refuse(result, _staged_refusal(others, staged.who(), "nothing was restored"))
        try:
            allowed = staged.id if others else None
            _restore(client, target, volume, chosen, names, allowed, request, result, deadline, progress)
        except KarsError as error:
            result.error = error
        gone = _confirm_deleted(client, volume, newer, deadline)
        if gone:
            result.notes.append("Railway deleted the newer backups: " + ", ".join(_backup_line(b) for b in gone))
        if result.error is None and result.action == "restore":
            urls = {**_service_urls(client, target, config, names, deadline), **request.service_urls}
            _check_health(config, urls, result, progress)
    return result


def _service_urls(
    client: RailwayClient, target: RailwayTarget, config: Config, names: dict[str, str], deadline: Deadline
) -> dict[str, str]:
    """The public domain Railway gives each kars.yml service, for its health checks."""
    ids = {name: sid for sid, name in names.items()}
    urls = {}
    for label, service in config.services.items():
        sid = ids.get(service.railway_service)
        if sid is None:
            continue
        try:
            url = client.service_instance(sid, target.environment_id, deadline).url
        except KarsError:
            continue
        if url:
            urls[label] = url
    return urls


def _restore(
    client: RailwayClient,
    target: RailwayTarget,
    volume: VolumeRef,
    chosen: BackupRecord,
    names: dict[str, str],
    allowed: str | None,
    request: RestoreCommand,
    result: BackupResult,
    deadline: Deadline,
    progress: Progress,
) -> None:
    """Copy (the swap is staged), check nothing else was staged meanwhile, commit, follow the redeploy."""
    from kars_actions.railway.wait import StartedDeployment, wait_for_deployments

    env_id, ref = target.environment_id, target.services[0]
    restore_backup(client, volume, chosen.id, deadline=deadline, progress=progress)
    result.notes.append(f"backup {chosen.id} copied into a fresh volume; the swap was staged")
    staged = staged_changes(client, env_id, deadline)
    ours = {volume.service_id, *_fresh_volumes(staged.patch)}
    staged_ids = {rid for kind in ("services", "volumes") for rid in (staged.patch.get(kind) or {})}
    strangers = staged_ids - ours - {volume.volume_id}
    if strangers and allowed is None and not request.commit_staged:
        result.action = "refused"
        outcome = "the restore is staged but was not committed: the volume still holds its current data"
        result.reason = _staged_refusal(staged.describe(names), staged.who(), outcome)
        return
    before = {d.id for d in client.deployments(target.project_id, env_id, ref.id, first=10, deadline=deadline)}
    started = client.clock.monotonic()
    commit_staged(
        client, env_id, f"kars: restore backup {chosen.id} into {ref.name}", deadline=deadline, progress=progress
    )
    result.notes.append("the staged changes were committed" + (" (with what else was staged)" if allowed else ""))
    new = _redeploy(client, target, before, deadline)
    if new is None:
        result.notes.append(f"Railway started no redeploy of {ref.name}: check its deployments in the dashboard")
        return
    progress(f"{ref.name}: following redeploy {new}")
    rows = wait_for_deployments(
        client,
        target.dashboard_url,
        [StartedDeployment(ref, new, False, started)],
        progress=progress,
        deadline=deadline,
    )
    row = rows[ref.label]
    result.redeploy = row.deployment_id
    if not row.live:
        raise BackupFailed(
            f"the restore was committed, but {ref.name}'s redeploy {new} ended {row.status}"
            + (f": {row.reason}" if row.reason else ""),
            hint="the volume swap is applied: check the database's deployment logs in the Railway dashboard",
        )
    result.notes.append(f"{ref.name} redeployed: Railway reports {new} {row.status}")


def _redeploy(client: RailwayClient, target: RailwayTarget, before: set[str], deadline: Deadline) -> str | None:
    """The deployment the commit started for the database service (Railway starts it with the commit)."""
    ref = target.services[0]
    for _ in range(6):
        listed = client.deployments(target.project_id, target.environment_id, ref.id, first=10, deadline=deadline)
        fresh = [d for d in listed if d.id not in before]
        if fresh:
            return max(fresh, key=lambda d: d.created_at).id
        client.clock.sleep(5.0)
    return None


def _fresh_volumes(patch: Any) -> list[str]:
    volumes = (patch.get("volumes") or {}) if isinstance(patch, dict) else {}
    return [vid for vid, entry in volumes.items() if isinstance(entry, dict) and entry.get("isCreated")]


def _names(client: RailwayClient, target: RailwayTarget, deadline: Deadline) -> dict[str, str]:
    """Service names by id, so a staged change reads "service backend", not an id."""
    from kars_actions.railway.deploy import edges

    try:
        return dict(edges(client.project(target.project_id, deadline), "services"))
    except KarsError:
        return {ref.id: ref.name for ref in target.services}


def _deletes(newer: list[BackupRecord]) -> str:
    if not newer:
        return " (no backup is newer than it)"
    return f", and Railway deletes the {len(newer)} backup(s) newer than it: " + ", ".join(
        _backup_line(b) for b in newer
    )


def _backup_line(b: BackupRecord) -> str:
    return f"{b.id} ({b.name or 'unnamed'}, {b.created_at or 'date not given'})"


def _staged_refusal(what: str, who: str, outcome: str) -> str:
    return (
        f"the environment has staged changes that are not this restore's: {what} ({who}). Committing the restore "
        f"commits every staged change with it, so {outcome}. Apply or discard them in Railway first, or pass "
        "--commit-staged to ship them with the restore"
    )


def _refuse(result: BackupResult, reason: str) -> BackupResult:
    result.action = "refused"
    result.reason = reason
    return result


def _confirm_deleted(
    client: RailwayClient, volume: VolumeRef, newer: list[BackupRecord], deadline: Deadline
) -> list[BackupRecord]:
    """The newer backups that are gone now, read back from Railway (never assumed)."""
    if not newer:
        return []
    try:
        left = {b.id for b in list_backups(client, volume, deadline)}
    except KarsError:
        return []
    return [b for b in newer if b.id not in left]


def _check_health(config: Config, urls: dict[str, str], result: BackupResult, progress: Progress) -> None:
    """After the redeploy: the app's health checks in kars.yml (the app reads the restored database)."""
    from kars_actions.core.timing import clock_from_environ
    from kars_actions.health.plan import HealthPlan, plan_targets
    from kars_actions.health.poll import check_health

    services = tuple(config.services)
    if not services:
        result.notes.append("no health checks in kars.yml: only the database's redeploy was checked")
        return
    try:
        targets = plan_targets(HealthPlan(services=services, service_urls=urls), config)
    except KarsError as error:
        result.notes.append(f"health not checked: {error.message}")
        return
    if not targets:
        result.notes.append("no health checks in kars.yml: only the database's redeploy was checked")
        return
    health = check_health(targets, deadline=120.0, progress=progress, clock=clock_from_environ())
    result.healthy = health.healthy
    if health.healthy:
        result.notes.append(f"health after the restore: {len(health.outcomes)} target(s) healthy")
        return
    result.error = CheckFailed(
        "the restore is applied, but the app is not healthy after it: "
        + "; ".join(
            f"{o.target.name}: " + ("; ".join(str(f) for f in o.failures) or o.reason) for o in health.unhealthy()
        ),
        hint="the database holds the backup's data now; check the app's logs",
    )
