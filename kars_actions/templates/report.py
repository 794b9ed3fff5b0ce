"""How ``kars-actions init --list`` looks: the shipped templates and what each does."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from kars_actions.core.report import BaseResult, Style, text_table
from kars_actions.templates import TemplateInfo


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
