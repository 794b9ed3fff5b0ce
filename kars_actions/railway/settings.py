"""The service settings against Railway: ``config plan|apply`` (plan, then apply, keeping what was written when a
write fails), and the release's settings stage (check before anything is written, apply right before the deploy)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kars_actions.core.errors import CheckFailed, KarsError
from kars_actions.railway.environment_config import IacOwned, apply_settings, plan_settings, resolve_scope
from kars_actions.railway.settings_report import SettingsResult
from kars_actions.railway_config.settings import (
    CUTOFF,
    ApplyOptions,
    EnvironmentPlan,
    ManagedService,
    ServiceFiles,
    ServicePlan,
    SettingsPlan,
    SettingsScope,
    iac_file,
    read_repo_config,
)

if TYPE_CHECKING:
    from kars_actions.core.config import Config
    from kars_actions.core.timing import Deadline
    from kars_actions.railway.api import RailwayClient


@dataclass(frozen=True)
class SettingsRequest:
    """What ``kars-actions config plan|apply`` was asked to do."""

    command: str = "plan"
    services: tuple[str, ...] = ()
    environments: tuple[str, ...] = ()
    project: str | None = None
    check: bool = False
    apply: ApplyOptions = field(default_factory=ApplyOptions)


def default_environments(config: Config, client: RailwayClient) -> tuple[str, ...]:
    """kars.yml's environments (a project token can only see its own, so then none: the token's)."""
    from kars_actions.railway.api import TokenKind

    if client.credentials.kind is TokenKind.PROJECT:
        return ()
    return tuple(env.railway_environment or env.name for env in config.environments.values())


def run_settings(
    request: SettingsRequest,
    config: Config,
    client: RailwayClient,
    files: Sequence[ServiceFiles],
    *,
    service_files: Sequence[dict[str, Any]] = (),
    deadline: Deadline | None = None,
) -> SettingsResult:
    """Plan (and for ``apply``, apply) the settings of ``files`` (each service and its railway config, located by
    the caller). A failure after the plan is kept in the result, with what was already written, so every exit
    reports the true state of the settings."""
    try:
        environments = request.environments or default_environments(config, client)
        scope = resolve_scope(
            client, request.project or config.project, environments, files, root=config.root, deadline=deadline
        )
        plan = plan_settings(client, scope, repo_iac_file=iac_file(config.root), deadline=deadline)
    except KarsError as error:
        # No plan: the outputs say the drift is unknown (never "false"), and nothing was written.
        return SettingsResult(
            None, command=request.command, check=request.check, error=error, service_files=list(service_files)
        )
    result = SettingsResult(
        plan,
        command=request.command,
        check=request.check,
        dry_run=request.apply.dry_run,
        service_files=list(service_files),
    )
    if request.command == "apply":
        try:
            apply_settings(client, plan, request.apply, deadline=deadline, done=result.applied)
        except KarsError as error:
            result.error = error
    return result


# --- The release's settings stage ----------------------------------------------------------------------------


class SettingsDrift(CheckFailed):
    """A release refused to deploy: the service settings differ from railway.json, which Railway no longer reads."""

    title = "Railway settings differ from railway.json"


@dataclass(frozen=True)
class ReleaseService:
    """A service of the release: its kars.yml key, Railway name and id, its file, and its railway_config mode."""

    label: str
    name: str
    id: str
    path: Path | None
    mode: str | None  # apply | check | off; None: check, warning only before the cutoff


@dataclass
class ReleaseSettings:
    """What the settings stage of a release did: a stage status and detail, the plan, the error that stops it, and
    the part of the plan still to apply right before the deploy."""

    status: str
    detail: str
    result: SettingsResult | None = None
    error: KarsError | None = None
    to_apply: SettingsPlan | None = None
    notes: str = ""


def check_release_settings(
    client: RailwayClient,
    scope: tuple[str, str, str, str],  # project id, project name, environment id, environment name
    services: Sequence[ReleaseService],
    *,
    root: Path,
    today: date,
    dry_run: bool,
    deadline: Deadline | None = None,
) -> ReleaseSettings:
    """Read-only, before the release writes anything: compare railway.json with the service settings, refuse on a
    difference (check, or the default from the cutoff), warn (the default before it), or keep the plan of the
    apply-mode services for :func:`apply_release_settings` right before the deploy."""
    kept = [s for s in services if s.path is not None and s.mode != "off"]
    if not kept:
        off = [s.label for s in services if s.mode == "off"]
        return ReleaseSettings(
            "skipped",
            "railway_config: off" if off and len(off) == len(services) else "no railway.json / railway.toml to keep",
        )
    project_id, project_name, env_id, env_name = scope
    managed = tuple(
        ManagedService(s.label, s.name, s.id, read_repo_config(s.path, root)) for s in kept if s.path is not None
    )
    plan = plan_settings(
        client,
        SettingsScope(project_id, project_name, ((env_id, env_name),), managed),
        repo_iac_file=iac_file(root),
        deadline=deadline,
    )
    modes = {s.label: s.mode for s in kept}
    env = plan.environments[0]
    drifted = [s for s in env.services if s.changes]
    refuse = [s for s in drifted if modes[s.label] == "check" or (modes[s.label] is None and today >= CUTOFF)]
    to_apply = [s for s in drifted if modes[s.label] == "apply"]
    result = SettingsResult(plan, command="apply" if to_apply and not refuse else "plan", dry_run=dry_run)
    notes = _notes(plan)
    if refuse:
        error = SettingsDrift(
            f"the service settings in {env_name} differ from railway.json: {_fields(refuse)}. Railway no longer "
            f"reads railway.json (since {CUTOFF.isoformat()}), so this deploy would run without them; {env_name} "
            "was not touched",
            hint="either let kars apply them (railway_config: apply in kars.yml, the railway-config input, or "
            "`kars-actions config apply`), or move to Railway's Infrastructure as Code (`kars-actions config "
            "migrate`, then `railway config apply`)",
        )
        result.error = error
        if dry_run:
            # The dry run refuses where the release refuses, with its exit code; its words say what would happen.
            detail = f"the release would stop here: {_fields(refuse)} differ from railway.json"
            return ReleaseSettings("failed", detail, result, error)
        return ReleaseSettings("failed", error.message, result, error)
    if to_apply:
        if plan.iac_owner:
            owned = IacOwned(
                f"railway_config: apply, but {plan.iac_owner}: Railway's Infrastructure as Code owns these "
                f"settings; {env_name} was not touched",
                hint="keep one owner per setting: set railway_config: off (or check) for these services, or remove "
                "the IaC file to let kars apply railway.json",
            )
            result.error = owned
            return ReleaseSettings("failed", owned.message, result, owned)
        sub = SettingsPlan(
            plan.project_id,
            plan.project_name,
            [
                EnvironmentPlan(
                    env.id,
                    env.name,
                    env.etag,
                    env.ephemeral,
                    [s for s in env.services if modes[s.label] == "apply"],
                    env.managed_before,
                    env.iac_applied,
                )
            ],
            iac_file=plan.iac_file,
        )
        verb = "would apply" if dry_run else "will apply"
        detail = f"{verb} {_fields(to_apply)} right before the deploy"
        return ReleaseSettings("planned" if dry_run else "ok", detail + notes, result, to_apply=sub, notes=notes)
    if drifted:  # the default mode before the cutoff: Railway still reads the file, so it only warns
        return ReleaseSettings(
            "warning",
            f"{_fields(drifted)} differ from railway.json; Railway reads the file until {CUTOFF.isoformat()}, "
            "from then on a release refuses to deploy (set railway_config: apply or check in kars.yml)" + notes,
            result,
        )
    count = sum(s.in_sync for s in env.services)
    # In sync is what was read, dry run or not: the check is done and nothing would be written.
    return ReleaseSettings("ok", f"in sync: {count} setting(s) of {len(env.services)} service(s)" + notes, result)


def apply_release_settings(
    client: RailwayClient,
    checked: ReleaseSettings,
    apply: ApplyOptions,
    *,
    deadline: Deadline | None = None,
) -> ReleaseSettings:
    """Right before the deploy, so the deploy uses the new settings: write what the check planned. The etag taken
    by the check guards it: an edit since then stops the release before anything deploys."""
    sub, result = checked.to_apply, checked.result
    if sub is None or result is None:
        return checked
    try:
        apply_settings(client, sub, apply, deadline=deadline, done=result.applied)
    except KarsError as error:
        result.error = error
        return ReleaseSettings("failed", error.message, result, error)
    env = sub.environments[0]
    verb = "would apply" if apply.dry_run else "applied"
    detail = f"{verb} {_fields([s for s in env.services if s.changes])} in {env.name}"
    return ReleaseSettings("planned" if apply.dry_run else "ok", detail + checked.notes, result)


def _fields(services: Sequence[ServicePlan]) -> str:
    return "; ".join(f"{s.label} ({', '.join(c.field for c in s.changes)})" for s in services)


def _notes(plan: SettingsPlan) -> str:
    notes = []
    if plan.removed:
        notes.append(f"{len(plan.removed)} setting(s) no longer in the file are kept (config apply --prune resets)")
    if plan.config_files:
        notes.append("a leftover railwayConfigFile: clear it with config apply --clear-config-file")
    return "".join(f"; {n}" for n in notes)
