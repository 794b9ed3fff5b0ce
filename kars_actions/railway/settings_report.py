"""How a settings plan or apply looks: terminal lines, JSON, the step summary's tables, outputs and annotations."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kars_actions.core import gha
from kars_actions.core.errors import EXIT_FAILED, EXIT_OK, CheckFailed, KarsError
from kars_actions.core.report import Annotation, BaseResult, Style, text_table
from kars_actions.railway.environment_config import IacOwned, apply_settings, plan_settings, resolve_scope
from kars_actions.railway_config.settings import (
    CUTOFF,
    ApplyOptions,
    EnvironmentApply,
    EnvironmentPlan,
    FieldChange,
    ManagedService,
    ServiceFiles,
    ServicePlan,
    SettingsPlan,
    SettingsScope,
    iac_file,
    read_repo_config,
    shown_value,
)

if TYPE_CHECKING:
    from kars_actions.core.config import Config
    from kars_actions.core.timing import Deadline
    from kars_actions.railway.api import RailwayClient

UNSET = "(unset)"


def show(change: FieldChange, value: Any) -> str:
    value = shown_value(change, value)
    if value is None:
        return UNSET
    return value if isinstance(value, str) else json.dumps(value, separators=(", ", ": "))


@dataclass
class SettingsResult(BaseResult):
    """``config plan`` / ``config apply``: the plan, what was written, and the error that stopped it, if any."""

    plan: SettingsPlan | None
    command: str = "plan"  # "plan" | "apply"
    check: bool = False
    dry_run: bool = False
    applied: list[EnvironmentApply] = field(default_factory=list)
    error: KarsError | None = None
    # Where each service's railway config was found and from which source; "said": "backend: backend/railway.json (…)".
    service_files: list[dict[str, Any]] = field(default_factory=list)

    @property
    def written(self) -> bool:
        return any(a.committed or a.cleared_config_files for a in self.applied)

    @property
    def drift(self) -> bool:
        """Drift that is still there when the command ends (an apply that went through leaves none)."""
        if self.plan is None:
            return False
        if self.command == "apply" and not self.dry_run and self.error is None:
            return False
        done = {a.environment for a in self.applied if a.committed}
        return any(e.drift and e.name not in done for e in self.plan.environments)

    def exit_code(self) -> int:
        if self.error is not None:
            return self.error.exit_code
        if self.check and self.plan is not None and self.plan.drift:
            return EXIT_FAILED
        return EXIT_OK

    def outputs(self) -> dict[str, str]:
        plan = self.plan.to_json() if self.plan else None
        return {
            "drift": "unknown" if plan is None else ("true" if self.drift else "false"),
            "plan": json.dumps(plan, separators=(",", ":"), default=str) if plan else "",
            "applied": "true" if self.written else "false",  # a plan never writes: false
        }

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "command": self.command,
            "drift": self.drift,
            "service_files": self.service_files,
            "plan": self.plan.to_json() if self.plan else None,
        }
        if self.command == "apply":
            body["dry_run"] = self.dry_run
            body["applied"] = [a.to_json() for a in self.applied]
        if self.error is not None:
            body["error"] = {"message": self.error.message, "hint": self.error.hint, "exit_code": self.error.exit_code}
        return body

    # Text ---------------------------------------------------------------------------------------------------------

    def text_lines(self, style: Style) -> list[str]:
        lines: list[str] = [str(entry["said"]) for entry in self.service_files]
        plan = self.plan
        if plan is not None:
            for env in plan.environments:
                for service in env.services:
                    head = f"{env.name} / {service.label} ({service.file})"
                    if not service.changes and not service.removed:
                        lines.append(f"{head}: {style.ok('in sync')} ({service.in_sync} setting(s))")
                    else:
                        lines.append(
                            f"{head}: {style.warn(f'{len(service.changes)} to change')}, {service.in_sync} in sync"
                        )
                        rows = [[c.field, show(c, c.live), show(c, c.repo)] for c in service.changes]
                        rows += [[c.field, show(c, c.live), "(removed from the file)"] for c in service.removed]
                        lines.extend("    " + row for row in text_table(["field", "live", "repo"], rows))
                    if service.config_file:
                        lines.append(
                            f"    {style.warn('note')}: the service still names config file {service.config_file!r}"
                            " (clear it with --clear-config-file)"
                        )
            if plan.unmanaged:
                lines.append(f"no railway.json / railway.toml, not managed: {', '.join(plan.unmanaged)}")
            if plan.removed:
                lines.append(
                    f"{style.warn('note')}: {len(plan.removed)} setting(s) kars applied are no longer in the file; "
                    "they are kept — `kars-actions config apply --prune` resets them"
                )
            if plan.iac_owner:
                lines.append(f"{style.warn('note')}: {plan.iac_owner}: Railway's IaC owns these settings")
        for step in self.applied:
            verb = "would send" if self.dry_run else ("committed" if step.committed else "sent nothing")
            lines.append(f"{step.environment}: {verb} environmentPatchCommit")
            if self.dry_run or step.committed:
                lines.append("    " + json.dumps(_redacted(step), sort_keys=True))
            for label in step.cleared_config_files:
                lines.append(f"    cleared the config file of {label}")
        if self.error is not None:
            lines.append(f"{style.bad('error')}: {self.error}")
            if self.error.hint:
                lines.append(f"  {style.dim('hint')}: {self.error.hint}")
        lines.append(self.verdict(style))
        return lines

    def verdict(self, style: Style) -> str:
        plan = self.plan
        if plan is None:
            return (
                style.bad("no plan")
                + ": the service settings were not read"
                + ("; nothing was written" if self.command == "apply" else "")
            )
        if self.command == "apply" and not self.dry_run:
            if self.error is not None:
                done = [a.environment for a in self.applied if a.committed]
                return style.bad("apply stopped") + (
                    f"; already applied: {', '.join(done)}" if done else "; nothing was written"
                )
            if self.written:
                return style.ok("applied") + ": the service settings now match the repository"
            return style.ok("nothing to apply") + ": the service settings already match the repository"
        if plan.drift:
            return style.warn("drift") + ": the service settings differ from the repository"
        return style.ok("in sync") + ": the service settings match the repository"

    # Step summary ---------------------------------------------------------------------------------------------

    def summary_markdown(self) -> str:
        plan = self.plan
        if plan is None:
            error = gha.md_escape(str(self.error)) if self.error else ""
            return f"### Railway settings from railway.json: ❌ no plan\n\n{error}\n\n{self.verdict(Style(False))}\n"
        title = {
            (True, "plan"): "⚠️ drift",
            (False, "plan"): "✅ in sync",
        }.get((plan.drift, self.command), "")
        if self.command == "apply":
            title = "❌ apply stopped" if self.error else ("✅ applied" if self.written else "✅ nothing to apply")
            if self.dry_run:
                title = "📝 dry run"
        parts = [f"### Railway settings from railway.json: {title}\n"]
        if self.service_files:
            parts.append("".join(f"- {gha.md_escape(str(entry['said']))}\n" for entry in self.service_files))
        for env in plan.environments:
            for service in env.services:
                head = f"#### {env.name} / `{service.label}` — `{service.file}`\n"
                if not service.changes and not service.removed:
                    parts.append(head + f"In sync ({service.in_sync} setting(s)).\n")
                    continue
                rows = [[f"`{c.field}`", _md(show(c, c.live)), _md(show(c, c.repo))] for c in service.changes]
                kept = "removed from the file (kept)"
                rows += [[f"`{c.field}`", _md(show(c, c.live)), kept] for c in service.removed]
                parts.append(head + gha.md_table(["field", "live", "repo"], rows))
        for step in self.applied:
            verb = "Would send" if self.dry_run else ("Committed" if step.committed else "Sent nothing to")
            parts.append(
                f"{verb} `environmentPatchCommit` to {step.environment}:\n\n```json\n"
                + json.dumps(_redacted(step), indent=2, sort_keys=True)
                + "\n```\n"
            )
        if plan.iac_owner:
            parts.append(f"> [!WARNING]\n> {plan.iac_owner}: Railway's Infrastructure as Code owns these settings.\n")
        if self.error is not None:
            parts.append(f"> [!CAUTION]\n> {gha.md_escape(self.error.message)}\n")
        parts.append(self.verdict(Style(False)) + "\n")
        return "\n".join(parts)

    def annotations(self) -> list[Annotation]:
        found: list[Annotation] = []
        if self.error is not None:
            where = self.error.location
            found.append(
                Annotation(
                    level="error",
                    message=self.error.message + (f" — {self.error.hint}" if self.error.hint else ""),
                    title=self.error.title,
                    file=where.file if where else None,
                    line=where.line if where else None,
                    column=where.column if where else None,
                )
            )
        plan = self.plan
        if plan is None:
            return found
        for env in plan.environments:
            for service in env.services:
                if service.changes and self.command == "plan":
                    fields = ", ".join(c.field for c in service.changes)
                    found.append(
                        Annotation(
                            level="warning",
                            title="Railway settings drift",
                            message=f"{env.name} / {service.label}: the service settings differ from "
                            f"{service.file} in {fields}",
                            file=service.file,
                        )
                    )
                for change in service.removed:
                    found.append(
                        Annotation(
                            level="notice",
                            title="Setting removed from railway.json",
                            message=f"{env.name} / {service.label}: {change.field} is no longer in {service.file}; "
                            "Railway keeps the value kars applied (reset it with config apply --prune)",
                            file=service.file,
                        )
                    )
        return found


def _redacted(step: EnvironmentApply) -> dict[str, Any]:
    return step.to_json()["patch"]  # type: ignore[no-any-return]


def _md(text: str) -> str:
    return "`" + text.replace("`", "'") + "`" if text != UNSET else UNSET


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
