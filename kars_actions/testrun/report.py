"""The test gate's result: each service's outcome, and how the gate looks — logs folded per service, the table,
the failing tests with their file:line, the step summary, annotations and outputs."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from typing import Any

from kars_actions.core import gha
from kars_actions.core.errors import EXIT_FAILED, EXIT_OK
from kars_actions.core.report import Annotation, BaseResult, Style, text_table
from kars_actions.core.timing import human_duration
from kars_actions.testrun.junit import JUnitReport


@dataclass
class ServiceTestResult:
    service: str
    directory: str
    status: str  # "passed" | "failed" | "timed out" | "error" | "skipped"
    duration: float = 0.0
    exit_code: int | None = None
    output: str = ""
    commands: list[str] = field(default_factory=list)
    message: str = ""
    report: JUnitReport | None = None
    warnings: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.status in ("passed", "skipped")

    def to_json(self) -> dict[str, Any]:
        return {
            "service": self.service,
            "directory": self.directory,
            "status": self.status,
            "exit_code": self.exit_code,
            "duration": round(self.duration, 3),
            "commands": self.commands,
            "message": self.message,
            "report": self.report.to_json() if self.report else None,
            "warnings": self.warnings,
            "output": self.output,
        }


def _counts(service: ServiceTestResult) -> tuple[str, str, str]:
    if service.report is None:
        return "-", "-", "-"
    r = service.report
    return str(r.tests), str(r.failed_count), str(r.skipped)


class TestGateResult(BaseResult):
    """Every service's outcome. ``grouped`` output (Actions) folds each service's log into a ``::group::``;
    otherwise each line is prefixed with ``[service]``."""

    __test__ = False

    def __init__(
        self, services: list[ServiceTestResult], grouped: bool = False, interrupted: str | None = None
    ) -> None:
        self.services = services
        self.grouped = grouped
        self.interrupted = interrupted  # the signal that stopped the run, if one did

    @property
    def passed(self) -> bool:
        return all(s.ok for s in self.services)

    @property
    def failed_services(self) -> list[ServiceTestResult]:
        return [s for s in self.services if not s.ok]

    def exit_code(self) -> int:
        return EXIT_OK if self.passed else EXIT_FAILED

    def to_json(self) -> dict[str, Any]:
        return {
            "passed": self.passed,
            "interrupted": self.interrupted,
            "services": [s.to_json() for s in self.services],
        }

    def outputs(self) -> dict[str, str]:
        reports = [s.report for s in self.services if s.report]
        return {
            "passed": "true" if self.passed else "false",
            "failed-services": ",".join(s.service for s in self.failed_services),
            "tests": str(sum(r.tests for r in reports)),
            "failures": str(sum(r.failed_count for r in reports)),
        }

    def _status(self, service: ServiceTestResult, style: Style) -> str:
        if service.status == "passed":
            return style.ok("passed")
        if service.status == "skipped":
            return style.warn("skipped")
        return style.bad(service.status)

    def _log_lines(self, service: ServiceTestResult, style: Style) -> list[str]:
        body = service.output.rstrip("\n").splitlines() if service.output else []
        if self.grouped:
            # Test output must not be able to issue workflow commands (set outputs, add masks, fake annotations).
            token = secrets.token_hex(16)
            return [
                f"::group::{gha.escape_data(f'{service.service} — {service.status}')}",
                f"::stop-commands::{token}",
                *body,
                f"::{token}::",
                "::endgroup::",
            ]
        prefix = style.dim(f"[{service.service}]")
        return [f"{prefix} {line}" for line in body]

    def text_lines(self, style: Style) -> list[str]:
        lines: list[str] = []
        for service in self.services:
            lines += self._log_lines(service, style)
        rows = [
            [s.service, self._status(s, style), *_counts(s), human_duration(s.duration) if s.duration else "-"]
            for s in self.services
        ]
        if lines:
            lines.append("")
        lines += text_table(["service", "result", "tests", "failed", "skipped", "duration"], rows)
        for service in self.services:
            if service.message:
                lines.append(f"{service.service}: {service.message}")
            for warning in service.warnings:
                lines.append(f"{style.warn('warning')}: {warning}")
            for failed in service.report.failed if service.report else []:
                where = f"{failed.file}:{failed.line}" if failed.file and failed.line else failed.file or "?"
                first = failed.message.splitlines()[0] if failed.message else failed.kind
                lines.append(f"  {style.bad('✗')} {service.service}  {where}  {failed.title}: {first}")
        broken = self.failed_services
        if self.interrupted:
            lines.append(style.bad(f"interrupted by {self.interrupted}: the tests did not finish"))
        elif broken:
            lines.append(
                style.bad(f"{len(broken)} of {len(self.services)} service(s) failed: ")
                + ", ".join(s.service for s in broken)
            )
        else:
            ran = [s for s in self.services if s.status == "passed"]
            lines.append(style.ok(f"tests passed for {len(ran)} service(s)"))
        return lines

    def summary_markdown(self) -> str:
        icon = {"passed": "✅", "failed": "❌", "timed out": "⏱️", "error": "❌", "skipped": "⚠️", "interrupted": "⏹️"}
        rows = [
            [
                s.service,
                f"{icon.get(s.status, '')} {s.status}",
                *_counts(s),
                human_duration(s.duration) if s.duration else "-",
            ]
            for s in self.services
        ]
        parts = [
            "### Tests\n",
            gha.md_table(["service", "result", "tests", "failed", "skipped", "duration"], rows),
        ]
        failures = [(s, f) for s in self.services for f in (s.report.failed if s.report else [])]
        if failures:
            parts.append("\n#### Failing tests\n\n")
            parts.append(
                gha.md_table(
                    ["service", "test", "where", "message"],
                    [
                        [s.service, f.title, f"{f.file}:{f.line}" if f.file and f.line else (f.file or ""), f.message]
                        for s, f in failures[:50]
                    ],
                )
            )
        for service in self.failed_services:
            tail = "\n".join(service.output.rstrip("\n").splitlines()[-80:])
            escaped = tail.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            parts.append(
                f"\n<details><summary>{gha.md_escape(service.service)}: {gha.md_escape(service.message)}</summary>"
                f"\n\n<pre>{escaped}</pre>\n</details>\n"
            )
        return "".join(parts)

    def annotations(self) -> list[Annotation]:
        notes: list[Annotation] = []
        for service in self.services:
            located = False
            for failed in service.report.failed if service.report else []:
                if failed.file:
                    located = True
                notes.append(
                    Annotation(
                        "error",
                        failed.message or f"{failed.kind} in {failed.title}",
                        title=f"{service.service}: {failed.title}",
                        file=failed.file,
                        line=failed.line,
                    )
                )
            if not service.ok and not located:
                notes.append(
                    Annotation(
                        "error",
                        f"{service.message} — see the {service.service} group in the log",
                        title=f"{service.service}: tests {service.status}",
                    )
                )
            for warning in service.warnings:
                notes.append(Annotation("warning", warning, title=f"{service.service}: tests"))
            if service.status == "skipped":
                notes.append(Annotation("warning", service.message, title=f"{service.service}: no tests"))
        return notes
