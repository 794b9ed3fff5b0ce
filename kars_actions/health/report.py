"""The health verdict per target, as a terminal table, a step summary, JSON and action outputs."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from kars_actions.core import gha
from kars_actions.core.errors import EXIT_FAILED, EXIT_OK
from kars_actions.core.report import Annotation, BaseResult, Style, text_table
from kars_actions.core.timing import human_duration
from kars_actions.health.assertions import Failure, Observation, version_matches
from kars_actions.health.evidence import Evidence, gather
from kars_actions.health.targets import HealthTarget

REASONS = {
    "healthy": "healthy",
    "deadline": "deadline reached",
    "retries": "out of attempts",
}


@dataclass
class TargetOutcome:
    """How one target ended: healthy or not, after how many attempts and how long, and the last answer."""

    target: HealthTarget
    healthy: bool
    attempts: int
    elapsed: float
    last: Observation | None
    failures: list[Failure] = field(default_factory=list)
    reason: str = "healthy"  # "healthy" | "deadline" | "retries"
    # The passes in a row it ended on, and what it needed: a target that passed but was not confirmed in time.
    passes: int = 0
    needed: int = 0
    stable_for: float | None = None
    passing_for: float = 0.0

    @property
    def time_to_healthy(self) -> float | None:
        return self.elapsed if self.healthy else None

    @property
    def last_status(self) -> int | None:
        return self.last.status if self.last else None

    @property
    def latency(self) -> float | None:
        return self.last.latency if self.last else None

    @property
    def failure(self) -> Failure | None:
        """What actually failed: the last answer's first failing check; for an answer that passed but ran out of
        attempts or time before it was confirmed, that; only with no attempt at all, the missing first answer."""
        if self.healthy:
            return None
        if self.failures:
            return self.failures[0]
        if self.last is not None and self.passes:
            return self._unconfirmed()
        return Failure("time", "a first answer", "no attempt before the deadline")

    def _unconfirmed(self) -> Failure:
        ended = "the attempts ran out" if self.reason == "retries" else "the deadline came"
        want = f"{self.needed} passes in a row" if self.needed else "a confirmed pass"
        got = f"{self.passes} pass{'' if self.passes == 1 else 'es'} in a row"
        if self.stable_for is not None and self.needed and self.passes >= self.needed:
            want = f"passing for {self.stable_for:g}s"
            got = f"passing for {human_duration(self.passing_for)}"
        return Failure("confirmation", want, f"{got}, then {ended}")

    @cached_property
    def evidence(self) -> Evidence:
        """The last failing answer's quoted fields and body (nothing for a healthy target or a transport error)."""
        if self.healthy or not self.failures:
            return Evidence()
        named = frozenset(f.check.removeprefix("json ") for f in self.failures if f.check.startswith("json "))
        return gather(self.target.check, self.last, named=named)

    def failing_check(self) -> str:
        """The failing check with the fields that say why: ``status: expected 200, got 503 (database: …)``."""
        failure = self.failure
        if failure is None:
            return ""
        fields = self.evidence.fields_text()
        return f"{failure} ({fields})" if fields else str(failure)

    def why(self) -> str:
        """Why this target is not healthy, in one line: every failing check, the quoted fields, the body."""
        checks = "; ".join(str(f) for f in self.failures) or str(self.failure or "")
        evidence = self.evidence
        if evidence.fields:
            checks += f" ({evidence.fields_text()})"
        if evidence.body:
            checks += f"; body: {evidence.body}"
        return checks

    @cached_property
    def reported_version(self) -> str | None:
        """The version or commit a healthy target's answer reported (the release's, when one of several is)."""
        check = self.target.check
        if not self.healthy or self.last is None or not check.checks_version:
            return None
        reported = [value for _, value in check.reported_versions(self.last)]
        matching = [v for v in reported if any(version_matches(e, v) for e in check.expect_versions)]
        found = matching or reported
        return found[0] if found else None

    def version_note(self) -> str:
        """For the version column: what a healthy answer reported, ``not reported``, or ``not checked``."""
        if not self.target.check.checks_version:
            return "not checked"
        if not self.healthy:
            return "-"
        value = self.reported_version
        if value is None:
            return "not reported"
        return value[:12] if len(value) > 12 and all(c in "0123456789abcdefABCDEF" for c in value) else value

    def verdict(self) -> str:
        return "healthy" if self.healthy else f"unhealthy ({REASONS.get(self.reason, self.reason)})"

    def answer(self) -> str:
        if self.last is None:
            return "-"
        if self.last.status is None:
            return self.last.error or "no answer"
        return f"HTTP {self.last.status}"

    def to_json(self) -> dict[str, Any]:
        failure = self.failure
        return {
            "name": self.target.name,
            "service": self.target.service,
            "url": self.target.shown_url,
            "healthy": self.healthy,
            "verdict": "healthy" if self.healthy else "unhealthy",
            "reason": self.reason,
            "attempts": self.attempts,
            "seconds": round(self.elapsed, 3),
            "time_to_healthy": round(self.elapsed, 3) if self.healthy else None,
            "last_status": self.last_status,
            "last_error": self.last.error if self.last else None,
            "latency_ms": round(self.latency * 1000, 1) if self.latency is not None else None,
            "failure": failure.to_json() if failure else None,
            "failures": [f.to_json() for f in self.failures],
            "evidence": self.evidence.to_json() if self.evidence else None,
            "version": self.reported_version,
        }


@dataclass
class HealthResult(BaseResult):
    outcomes: list[TargetOutcome]
    deadline: float = 0.0
    versions: tuple[str, ...] = ()

    @property
    def healthy(self) -> bool:
        return all(o.healthy for o in self.outcomes)

    def unhealthy(self) -> list[TargetOutcome]:
        return [o for o in self.outcomes if not o.healthy]

    def exit_code(self) -> int:
        return EXIT_OK if self.healthy else EXIT_FAILED

    def to_json(self) -> dict[str, Any]:
        return {
            "healthy": self.healthy,
            "expect_version": list(self.versions),
            "targets": self._targets_json,
        }

    # Built once each, in one pass over the outcomes: the text table, the JSON and the summary of 2,000 targets
    # must not cost more than the polling did.
    @cached_property
    def _targets_json(self) -> list[dict[str, Any]]:
        return [o.to_json() for o in self.outcomes]

    @cached_property
    def _show_urls(self) -> bool:
        return any(o.target.name != o.target.shown_url for o in self.outcomes)

    @cached_property
    def _show_versions(self) -> bool:
        return any(o.target.check.checks_version for o in self.outcomes)

    def _headers(self) -> list[str]:
        return [h for h in self.HEADERS if (h != "url" or self._show_urls) and (h != "version" or self._show_versions)]

    @cached_property
    def _rows(self) -> list[list[str]]:
        show_urls, show_versions = self._show_urls, self._show_versions
        rows = []
        for o in self.outcomes:
            rows.append(
                [
                    o.target.name,
                    *([o.target.shown_url] if show_urls else []),
                    o.verdict(),
                    *([o.version_note()] if show_versions else []),
                    str(o.attempts),
                    human_duration(o.elapsed),
                    o.answer(),
                    f"{o.latency * 1000:.0f}ms" if o.latency is not None else "-",
                    o.failing_check(),
                ]
            )
        return rows

    HEADERS = ("target", "url", "verdict", "version", "attempts", "time", "last answer", "latency", "failing check")

    def text_lines(self, style: Style) -> list[str]:
        lines = text_table(self._headers(), self._rows)
        coloured = [style.bold(lines[0])]
        for line, outcome in zip(lines[1:], self.outcomes, strict=True):
            coloured.append(style.ok(line) if outcome.healthy else style.bad(line))
        bad = self.unhealthy()
        for outcome in bad:
            if outcome.evidence.body:
                coloured.append(f"{outcome.target.name} answered: {outcome.evidence.body}")
        if bad:
            coloured.append(style.bad(f"{len(bad)} of {len(self.outcomes)} target(s) not healthy"))
        else:
            coloured.append(style.ok(f"all {len(self.outcomes)} target(s) healthy"))
        return coloured

    def summary_markdown(self) -> str:
        head = "✅ Healthy" if self.healthy else "❌ Not healthy"
        lines = [f"### Health: {head}\n"]
        if self.versions and self._show_versions:
            lines.append(
                f"Expected version (where an answer reports one): {gha.md_escape(' or '.join(self.versions))}\n"
            )
        headers = self._headers()
        rows = [list(row) for row in self._rows]
        if any(o.evidence.body for o in self.outcomes):
            headers.append("last body")
            for row, outcome in zip(rows, self.outcomes, strict=True):
                row.append(_code(outcome.evidence.body) if outcome.evidence.body else "")
        headers.append("checks made")
        for row, outcome in zip(rows, self.outcomes, strict=True):
            row.append("; ".join(outcome.target.check.describe()))
        lines.append(gha.md_table(headers, rows))
        return "\n".join(lines)

    def annotations(self) -> list[Annotation]:
        return [
            Annotation(
                "error",
                f"{o.target.name} ({o.target.shown_url}) not healthy after {o.attempts} attempt(s), "
                f"{human_duration(o.elapsed)}: {o.why()}",
                title="Health check failed",
            )
            for o in self.unhealthy()
        ]

    def outputs(self) -> dict[str, str]:
        return {
            "healthy": "true" if self.healthy else "false",
            "results": json.dumps(self._targets_json, separators=(",", ":")),
        }


def _code(text: str) -> str:
    """``text`` as a Markdown code span (a fence longer than any run of backticks in it): a body is shown, never
    rendered as Markdown or HTML."""
    longest = run = 0
    for char in text:
        run = run + 1 if char == "`" else 0
        longest = max(longest, run)
    fence = "`" * (longest + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"
