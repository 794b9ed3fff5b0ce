"""How railway config results look: validation findings and the IaC file written, as terminal lines, JSON, the step
summary, annotations and outputs."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from kars_actions.core import gha
from kars_actions.core.report import Annotation, BaseResult, Style
from kars_actions.railway_config.findings import ERROR, FileResult

_FILE_LEVEL_KINDS = frozenset({"parse", "shadowed"})  # about the file, not one place in its data


@dataclass
class ValidationResult(BaseResult):
    """Every file checked in one run, and the dated notice about Config as Code."""

    files: list[FileResult]
    notice: str | None = None
    strict: bool = True
    # Without paths: where each service's file was found and from which source; "said": "backend: backend/… (…)".
    service_files: list[dict[str, Any]] = field(default_factory=list)

    @property
    def error_count(self) -> int:
        return sum(len(f.errors) for f in self.files)

    @property
    def warning_count(self) -> int:
        return sum(len(f.warnings) for f in self.files)

    @property
    def valid(self) -> bool:
        return all(f.ok for f in self.files)

    def exit_code(self) -> int:
        return 0 if self.valid else 1

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "valid": self.valid,
            "strict": self.strict,
            "errors": self.error_count,
            "warnings": self.warning_count,
            "files": [f.to_json() for f in self.files],
        }
        if self.service_files:
            body["service_files"] = self.service_files
        if self.notice:
            body["notice"] = self.notice
        return body

    def outputs(self) -> dict[str, str]:
        return {
            "valid": "true" if self.valid else "false",
            "files": str(len(self.files)),
            "errors": str(self.error_count),
            "warnings": str(self.warning_count),
        }

    def text_lines(self, style: Style) -> list[str]:
        lines: list[str] = [str(entry["said"]) for entry in self.service_files]
        for file in self.files:
            if not file.findings:
                lines.append(f"{file.path}: {style.ok('ok')}")
                continue
            for finding in file.findings:
                label = style.bad("error") if finding.severity == ERROR else style.warn("warning")
                at = "" if finding.kind in _FILE_LEVEL_KINDS else f" (at {finding.path})"
                lines.append(f"{finding.where(file.path)}: {label}: {finding.message}{at}")
                if finding.hint:
                    lines.append(f"    {style.dim('hint')}: {finding.hint}")
        if self.notice:
            lines.append(f"{style.dim('notice')}: {self.notice}")
        verdict = style.ok("valid") if self.valid else style.bad("invalid")
        lines.append(
            f"{_plural(len(self.files), 'file')} checked: {_plural(self.error_count, 'error')}, "
            f"{_plural(self.warning_count, 'warning')} — {verdict}"
        )
        return lines

    def annotations(self) -> list[Annotation]:
        found = [
            Annotation(
                level=f.severity,
                message=f"{f.message} (at {f.path})" + (f" — {f.hint}" if f.hint else ""),
                title=f"railway config: {f.kind}",
                file=file.path,
                line=f.line,
                column=f.column,
            )
            for file in self.files
            for f in file.findings
        ]
        if self.notice:
            found.append(Annotation(level="notice", message=self.notice, title="Railway Config as Code"))
        return found

    def summary_markdown(self) -> str:
        mark = "✅ valid" if self.valid else "❌ invalid"
        parts = [
            f"### Railway config: {mark}\n",
            f"{_plural(len(self.files), 'file')} checked ({'strict' if self.strict else 'lenient'}): "
            f"{_plural(self.error_count, 'error')}, {_plural(self.warning_count, 'warning')}.\n",
        ]
        if self.service_files:
            parts.append("".join(f"- {gha.md_escape(str(entry['said']))}\n" for entry in self.service_files))
        for file in self.files:
            status = "✅" if file.ok else "❌"
            parts.append(f"#### {status} `{file.path}`\n")
            if not file.findings:
                parts.append("No problems found.\n")
                continue
            rows = [
                [f.severity, f"{f.line}:{f.column}" if f.line else "", f"`{f.path}`", f.message, f.hint or ""]
                for f in file.findings
            ]
            parts.append(gha.md_table(["level", "line:col", "path", "problem", "fix"], rows))
        if self.notice:
            parts.append(f"> [!NOTE]\n> {self.notice}\n")
        return "\n".join(parts)


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


@dataclass
class MigrateResult(BaseResult):
    content: str
    path: str
    services: list[str] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
    # Where each service's file was found, and from which source: said in JSON, the summary, and once written (the
    # printed file itself stays exactly the file, so it can be redirected).
    service_files: list[dict[str, Any]] = field(default_factory=list)
    written: bool = False

    def to_json(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "written": self.written,
            "services": self.services,
            "files": self.files,
            "service_files": self.service_files,
            "content": self.content,
        }

    def outputs(self) -> dict[str, str]:
        return {"path": self.path, "written": "true" if self.written else "false"}

    def text_lines(self, style: Style) -> list[str]:
        if self.written:
            wrote = f"{style.ok('wrote')} {self.path}: {len(self.services)} service(s) from {', '.join(self.files)}"
            return [*(str(entry["said"]) for entry in self.service_files), wrote]
        return self.content.rstrip("\n").split("\n")

    def summary_markdown(self) -> str:
        verb = "Wrote" if self.written else "Would write"
        sources = "".join(f"- {gha.md_escape(str(entry['said']))}\n" for entry in self.service_files)
        files = ", ".join(f"`{f}`" for f in self.files)
        return f"### Railway IaC\n\n{verb} `{self.path}` from {files}.\n" + (f"\n{sources}" if sources else "")
