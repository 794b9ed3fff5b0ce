"""How a settings plan or apply looks: terminal lines, JSON, the step summary's tables, outputs and annotations."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from kars_actions.core import gha
from kars_actions.core.errors import EXIT_FAILED, EXIT_OK, KarsError
from kars_actions.core.report import Annotation, BaseResult, Style, text_table
from kars_actions.railway_config.settings import EnvironmentApply, FieldChange, SettingsPlan, shown_value

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
