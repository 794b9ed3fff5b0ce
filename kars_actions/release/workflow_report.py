"""How ``kars-actions init`` looks: what it wrote, or why nothing was written and the commands that settle it; and
with ``--list``, the shipped templates."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kars_actions.core.errors import EXIT_OK, EXIT_USAGE
from kars_actions.core.gha import md_escape, md_table
from kars_actions.core.report import BaseResult, Style, text_table
from kars_actions.release.workflow import WorkflowPlan, ls_remote
from kars_actions.templates import ACTION_REPOSITORY, PLACEHOLDER_SHA, ActionPin, TemplateInfo, WrittenTemplate


@dataclass
class InitResult(BaseResult):
    """What init wrote — or, when the workflow would not work on its first push and no draft was asked for, why
    nothing was written and the commands that settle it."""

    written: list[WrittenTemplate]
    pin: ActionPin | None
    root: Path
    plan: WorkflowPlan | None = None
    draft: bool = False
    version: str = ""

    @property
    def refused(self) -> bool:
        return self.plan is not None and bool(self.plan.missing) and not self.draft

    def exit_code(self) -> int:
        return EXIT_USAGE if self.refused else EXIT_OK

    def _shown(self, path: Path) -> str:
        try:
            return str(path.relative_to(self.root))
        except ValueError:
            return str(path)

    def to_json(self) -> dict[str, Any]:
        return {
            "written": [
                {"template": w.name, "path": self._shown(w.path), "replaced": w.replaced} for w in self.written
            ],
            "pinned": {"sha": self.pin.sha, "version": self.pin.version} if self.pin else None,
            "draft": self.draft,
            "plan": self.plan.to_json() if self.plan else None,
        }

    def text_lines(self, style: Style) -> list[str]:
        lines = list(self.plan.facts()) if self.plan else []
        missing = self.plan.missing if self.plan else []
        if self.refused:
            lines.append(style.bad("nothing was written") + ": the workflow would not work on its first push")
        for item in missing:
            label = style.warn("still needed") if self.draft else style.bad("cannot know")
            lines.append(f"{label} {item.what}: {item.why}; to settle it:")
            lines += [f"    {command}" for command in item.commands]
        if self.refused:
            lines.append(f"  {style.dim('hint')}: settle them, or write a draft with placeholders: add --draft")
            return lines
        lines += [
            f"{style.ok('wrote')} {self._shown(w.path)}" + (style.dim(" (replaced)") if w.replaced else "")
            for w in self.written
        ]
        if self.pin:
            lines.append(f"{ACTION_REPOSITORY} pinned to v{self.pin.version} ({self.pin.sha})")
        elif not any(m.what == "pin" for m in missing):
            files = " ".join(self._shown(w.path) for w in self.written)
            lines.append(
                style.warn("not pinned: ")
                + f"{PLACEHOLDER_SHA} stays until you put the release's commit in: "
                + f'sed -i "s/0\\{{40\\}}/$({ls_remote(self.version)})/" {files}'
            )
        if self.plan and self.plan.secrets:
            lines.append("next: the secrets these workflows read (Settings → Secrets, or the GitHub CLI):")
            lines += [f"    gh secret set {name}   # {holds}" for name, holds in self.plan.secrets]
        return lines

    def summary_markdown(self) -> str:
        if self.refused:
            return "### Workflows not written\n\n" + "".join(
                f"- {md_escape(m.what)}: {md_escape(m.why)}\n" for m in (self.plan.missing if self.plan else [])
            )
        rows = [[md_escape(w.name), f"`{md_escape(self._shown(w.path))}`"] for w in self.written]
        return "### Workflows written\n\n" + md_table(["template", "file"], rows)

    def outputs(self) -> dict[str, str]:
        return {"files": "\n".join(self._shown(w.path) for w in self.written)}


@dataclass
class TemplateList(BaseResult):
    templates: list[TemplateInfo]

    def to_json(self) -> dict[str, Any]:
        return {
            "templates": [
                {"name": t.name, "title": t.title, "description": t.description, "categories": t.categories}
                for t in self.templates
            ]
        }

    def text_lines(self, style: Style) -> list[str]:
        return text_table(["template", "what it does"], [[t.name, t.description] for t in self.templates])
