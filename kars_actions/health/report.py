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
from kars_actions.health.assertions import Failure, Observation
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
        if self.healthy:
            return None
        if self.failures:
            return self.failures[0]
        return Failure("time", "a first answer", "no attempt before the deadline")

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

    def _headers(self) -> list[str]:
        return [h for h in self.HEADERS if h != "url" or self._show_urls]

    @cached_property
    def _rows(self) -> list[list[str]]:
        show_urls = self._show_urls
        rows = []
        for o in self.outcomes:
            failure = o.failure
            rows.append(
                [
                    o.target.name,
                    *([o.target.shown_url] if show_urls else []),
                    o.verdict(),
                    str(o.attempts),
                    human_duration(o.elapsed),
                    o.answer(),
                    f"{o.latency * 1000:.0f}ms" if o.latency is not None else "-",
                    str(failure) if failure else "",
                ]
            )
        return rows

    HEADERS = ("target", "url", "verdict", "attempts", "time", "last answer", "latency", "failing check")

    def text_lines(self, style: Style) -> list[str]:
        lines = text_table(self._headers(), self._rows)
        coloured = [style.bold(lines[0])]
        for line, outcome in zip(lines[1:], self.outcomes, strict=True):
            coloured.append(style.ok(line) if outcome.healthy else style.bad(line))
        bad = self.unhealthy()
        if bad:
            coloured.append(style.bad(f"{len(bad)} of {len(self.outcomes)} target(s) not healthy"))
        else:
            coloured.append(style.ok(f"all {len(self.outcomes)} target(s) healthy"))
        return coloured

    def summary_markdown(self) -> str:
        head = "✅ Healthy" if self.healthy else "❌ Not healthy"
        version = f" — version {gha.md_escape(' or '.join(self.versions))}" if self.versions else ""
        return f"### Health: {head}{version}\n\n" + gha.md_table(self._headers(), self._rows)

    def annotations(self) -> list[Annotation]:
        return [
            Annotation(
                "error",
                f"{o.target.name} ({o.target.shown_url}) not healthy after {o.attempts} attempt(s), "
                f"{human_duration(o.elapsed)}: {o.failure}",
                title="Health check failed",
            )
            for o in self.unhealthy()
        ]

    def outputs(self) -> dict[str, str]:
        return {
            "healthy": "true" if self.healthy else "false",
            "results": json.dumps(self._targets_json, separators=(",", ":")),
        }
