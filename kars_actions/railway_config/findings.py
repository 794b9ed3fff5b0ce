"""What validation found: one finding (severity, kind, message, path, line:column, hint) and where things sit."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

# Only a file with problems needs positions, hints or schema errors: keep them off the import path of a clean run.
if TYPE_CHECKING:
    from kars_actions.railway_config.positions import JsonPath, Position, Positions

ERROR = "error"
WARNING = "warning"


@dataclass(frozen=True)
class Finding:
    """One problem in one file. ``kind`` is a short code: parse, duplicate-key, unknown-key, enum, type, value,
    healthcheck, restart-policy, cron, dockerfile, shadowed."""

    severity: str
    kind: str
    message: str
    path: str = "$"
    line: int | None = None
    column: int | None = None
    hint: str | None = None

    def where(self, file: str) -> str:
        parts = [file] + [str(p) for p in (self.line, self.column) if p is not None]
        return ":".join(parts)

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "severity": self.severity,
            "kind": self.kind,
            "message": self.message,
            "path": self.path,
            "line": self.line,
            "column": self.column,
        }
        if self.hint:
            body["hint"] = self.hint
        return body


@dataclass
class FileResult:
    """The verdict on one file. ``parsed`` is False when the file could not be read as JSON / TOML."""

    path: str
    format: str
    findings: list[Finding] = field(default_factory=list)
    parsed: bool = True

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == ERROR]

    @property
    def warnings(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == WARNING]

    @property
    def ok(self) -> bool:
        return not self.errors

    def to_json(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "format": self.format,
            "valid": self.ok,
            "parsed": self.parsed,
            "errors": [f.to_json() for f in self.errors],
            "warnings": [f.to_json() for f in self.warnings],
        }


class Locator:
    """Positions of the text, scanned on first use only."""

    def __init__(self, text: str, fmt: str) -> None:
        self.text = text
        self.fmt = fmt
        self._positions: Positions | None = None

    @property
    def positions(self) -> Positions:
        if self._positions is None:
            from kars_actions.railway_config.positions import locate_json, locate_toml

            self._positions = locate_json(self.text) if self.fmt == "json" else locate_toml(self.text)
        return self._positions

    def key(self, path: JsonPath) -> Position:
        return self.positions.key(path)

    def value(self, path: JsonPath) -> Position:
        return self.positions.value(path)


def format_path(path: Sequence[object]) -> str:
    """``("deploy", "restartPolicyType")`` → ``$.deploy.restartPolicyType``; odd keys in brackets."""
    out = "$"
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        elif isinstance(part, str) and part.isidentifier():
            out += f".{part}"
        else:
            out += f"[{json.dumps(part)}]"
    return out


def display_path(path: Path) -> str:
    """Relative to the working directory when under it (as annotations want), else as given."""
    try:
        return os.path.relpath(path)
    except ValueError:
        return str(path)
