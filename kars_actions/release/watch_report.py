"""How the watch window looks: the verdict, each check against its threshold, the detection bound, the 5xx and p95
charts, and what the long watch after a release did — as terminal lines, JSON, the step summary (and the release
summary's section), annotations and outputs."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from kars_actions.core import gha
from kars_actions.core.errors import EXIT_FAILED, EXIT_OK
from kars_actions.core.report import Annotation, BaseResult, Style, text_table
from kars_actions.core.timing import human_duration
from kars_actions.railway.metrics import THIN, TrafficSample, stats
from kars_actions.release.watch_state import ServiceWatch, WatchSettings


@dataclass
class AfterRelease:
    """The long watch after a release: which release, what it did once the watch failed, each step as it ended."""

    tag: str
    commit: str
    release_url: str | None = None
    not_watched: list[str] = field(default_factory=list)  # services not watched, and why
    steps: list[tuple[str, bool, str]] = field(default_factory=list)  # (step, done, what happened)

    def step(self, name: str, done: bool, detail: str) -> None:
        self.steps.append((name, done, detail))

    def lines(self) -> list[str]:
        out = [f"after release {self.tag} ({self.commit[:12]})"]
        out += [f"not watched: {why}" for why in self.not_watched]
        out += [f"{name}: {'done' if done else 'NOT done'} — {detail}" for name, done, detail in self.steps]
        return out

    def markdown(self) -> str:
        md = [f"### After release {gha.md_escape(self.tag)}\n"]
        md += [f"- not watched: {gha.md_escape(why)}" for why in self.not_watched]
        if self.steps:
            md.append(
                gha.md_table(
                    ["step", "done", "what happened"],
                    [[name, "✅" if done else "❌", detail] for name, done, detail in self.steps],
                )
            )
        return "\n".join(md) + "\n"

    def to_json(self) -> dict[str, Any]:
        return {
            "tag": self.tag,
            "commit": self.commit,
            "release_url": self.release_url,
            "not_watched": list(self.not_watched),
            "steps": [{"step": n, "done": d, "detail": m} for n, d, m in self.steps],
        }


@dataclass
class WatchResult(BaseResult):
    settings: WatchSettings
    services: list[ServiceWatch]
    verdict: str = "watching"  # passed | failed | inconclusive | skipped
    seconds: float = 0.0
    requests: int = 0
    health_rounds: int = 0
    health_detail: str | None = None
    environment: str | None = None
    cut_short: bool = False  # the release's own time limit ended the window early
    rollbacks: list[tuple[str, bool, str]] = field(default_factory=list)  # (service, restored, what happened)
    after_release: AfterRelease | None = None  # the long watch after a release: what it did about a failure
    # ``kars-actions watch``: where each service's railway config was found; "said": "backend: backend/… (…)".
    service_files: list[dict[str, Any]] = field(default_factory=list)

    def detection(self) -> str:
        """The detection bound, from the traffic seen before go-live (the slowest service decides)."""
        rates = [s.requests_per_step for s in self.services]
        known = [r for r in rates if r is not None]
        return self.settings.detection(min(known) if known else None)

    @property
    def failed(self) -> bool:
        return self.verdict == "failed" or (self.settings.on_inconclusive == "fail" and bool(self.inconclusive))

    @property
    def inconclusive(self) -> list[ServiceWatch]:
        return [s for s in self.services if s.verdict == "inconclusive"]

    @property
    def superseded(self) -> list[ServiceWatch]:
        return [s for s in self.services if s.verdict == "superseded"]

    @property
    def budget(self) -> int:
        return self.settings.budget(len(self.services))

    def undecided(self) -> str | None:
        """Why the inconclusive services got no verdict, when it is not only thin traffic (a refused metric, a
        status still on its way at the deadline, looks Railway never answered); None when it is."""
        open_checks = [
            (s.label, c)
            for s in self.inconclusive
            for c in s.checks
            if c.verdict == "inconclusive" and c.name != "memory"
        ]
        if all(c.seen.startswith(THIN) for _, c in open_checks):
            return None
        return "; ".join(f"{label}: {c.name} {c.seen}" for label, c in open_checks)

    def failure(self) -> str:
        bad = [s for s in self.services if s.verdict == "failed"]
        if bad:
            return "watch failed: " + "; ".join(s.evidence() for s in bad)
        if self.failed:
            return f"watch inconclusive (on_inconclusive: fail): {self.undecided() or THIN}"
        return ""

    def exit_code(self) -> int:
        return EXIT_FAILED if self.failed else EXIT_OK

    def headline(self) -> str:
        names = ", ".join(s.label for s in self.services)
        short = (
            f" (cut short at {human_duration(self.seconds)} of {human_duration(self.settings.duration)} by the "
            "release's time limit)"
            if self.cut_short
            else ""
        )
        gone = [s for s in self.services if s.verdict == "superseded"]
        if gone:
            names = ", ".join(s.label for s in self.services if s.verdict != "superseded")
        stopped = "; ".join(f"{s.label}: {s.reason}" for s in gone)
        if self.verdict == "superseded":
            rest = [f"{s.label} {s.verdict}" for s in self.services if s.verdict != "superseded"]
            return f"Watch stopped: {stopped}" + (
                f"; {', '.join(rest)} after {human_duration(self.seconds)}{short}" if rest else ""
            )
        if gone and self.verdict != "failed":
            short += f"; stopped early for {stopped}"
        undecided = self.undecided() if self.verdict == "inconclusive" else None
        return {
            "passed": f"Watch passed: {names} stayed healthy for {human_duration(self.seconds)}{short}",
            "inconclusive": (
                f"Watch inconclusive: {undecided}{short}"
                if undecided
                else f"Watch inconclusive: {names} stayed up, but there was not enough traffic to judge{short}"
            ),
            "failed": "Watch failed: " + "; ".join(s.evidence() for s in self.services if s.verdict == "failed"),
            "skipped": "Watch skipped",
        }.get(self.verdict, self.verdict)

    def outputs(self) -> dict[str, str]:
        return {
            "watch-verdict": self.verdict,
            "watch-evidence": json.dumps([s.to_json() for s in self.services], sort_keys=True, default=str),
        }

    def to_json(self) -> dict[str, Any]:
        return {
            "verdict": self.verdict,
            "headline": self.headline(),
            "environment": self.environment,
            "seconds": self.seconds,
            "duration": self.settings.duration,
            "step": self.settings.step,
            "requests": self.requests,
            "budget": self.budget,
            "health_rounds": self.health_rounds,
            "health": self.health_detail,
            "thresholds": self.settings.thresholds.__dict__,
            "services": [s.to_json() for s in self.services],
            "rollbacks": [{"service": n, "restored": ok, "message": m} for n, ok, m in self.rollbacks],
            "detection": self.detection(),
            "after_release": self.after_release.to_json() if self.after_release else None,
            "service_files": self.service_files,
            "outputs": self.outputs(),
        }

    def rollback_lines(self) -> list[str]:
        """``watch --rollback``: each service put back, or not and why."""
        return [
            f"rollback {service}: {'done' if restored else 'NOT done'} — {message}"
            for service, restored, message in self.rollbacks
        ]

    def text_lines(self, style: Style) -> list[str]:
        lines = [style.bold("kars-actions watch"), *(str(e["said"]) for e in self.service_files), ""]
        rows = []
        for s in self.services:
            for c in s.checks:
                rows.append([s.label, c.name, c.verdict, c.before, c.seen, c.threshold])
        if rows:
            lines += text_table(["service", "check", "verdict", "before", "during", "fails when"], rows)
            lines.append("")
        lines.append(f"Railway requests: {self.requests} (budget {self.budget})")
        lines.append(self.detection())
        for s in self.services:
            lines.append(f"{s.label} {s.judged()}")
        lines += self.rollback_lines()
        if self.after_release is not None:
            lines += self.after_release.lines()
        if self.failed and not self.rollbacks and self.after_release is None:
            for s in self.services:
                if s.verdict == "failed":
                    lines.append(f"to roll {s.label} back: kars-actions rollback --service {s.label}")
        verdict = self.headline()
        lines.append(style.bad(verdict) if self.failed else style.ok(verdict))
        for s in self.services:
            if s.log_tail:
                lines.append(f"{s.label} log tail:")
                lines += ["  " + line for line in s.log_tail]
        return lines

    def summary_markdown(self) -> str:
        icon = "❌" if self.failed else ("⚠️" if self.verdict == "inconclusive" else "✅")
        sources = "".join(f"- {gha.md_escape(str(e['said']))}\n" for e in self.service_files)
        # ``watch --rollback``: what production serves after the failure is part of the summary's first lines.
        rollbacks = "".join(f"- {gha.md_escape(line)}\n" for line in self.rollback_lines())
        return (
            f"## {icon} {gha.md_escape(self.headline())}\n\n"
            + (sources + "\n" if sources else "")
            + (rollbacks + "\n" if rollbacks else "")
            + self.section_markdown()
        )

    def section_markdown(self) -> str:
        """The watch's part of a step summary: the chart, the thresholds and what was seen, the budget."""
        md = ["### Watch window\n"]
        md.append(
            f"{human_duration(self.seconds)} of {human_duration(self.settings.duration)} watched, one look every "
            f"{self.settings.step}s; Railway requests: {self.requests} (budget {self.budget}); "
            f"health rounds: {self.health_rounds}.\n"
        )
        md.append(gha.md_escape(self.detection()[0].upper() + self.detection()[1:]) + ".\n")
        for s in self.services:
            md.append(f"{gha.md_escape(s.label)} {gha.md_escape(s.judged())}.\n")
        rows = []
        for s in self.services:
            for c in s.checks:
                rows.append(
                    [s.label, c.name, _verdict_icon(c.verdict) + " " + c.verdict, c.before, c.seen, c.threshold]
                )
        if rows:
            md.append(gha.md_table(["service", "check", "verdict", "before", "during", "fails when"], rows))
        for s in self.services:
            if s.reason:
                md.append(f"**{gha.md_escape(s.evidence())}**\n")
            if s.refused:
                md.append(
                    f"{gha.md_escape(s.label)}: Railway refused "
                    + ", ".join(f"{k} metrics ({v})" for k, v in s.refused.items())
                    + ": those checks are inconclusive.\n"
                )
            if s.unknown_looks:
                md.append(
                    f"{gha.md_escape(s.label)}: Railway could not be asked {s.unknown_looks} time(s) "
                    f"({gha.md_escape(s.unknown_reason or 'no answer')}); those looks decided nothing.\n"
                )
            chart = chart_markdown(s)
            if chart:
                md.append(chart)
            if s.error_lines:
                md.append(
                    f"<details><summary>{gha.md_escape(s.label)}: its latest 5xx requests</summary>\n\n```\n"
                    + "\n".join(s.error_lines)
                    + "\n```\n</details>\n"
                )
            if s.log_tail:
                md.append(
                    "<details><summary>Log tail</summary>\n\n```\n" + "\n".join(s.log_tail) + "\n```\n</details>\n"
                )
        if self.after_release is not None:
            md.append(self.after_release.markdown())
        return "\n".join(md)

    def annotations(self) -> list[Annotation]:
        if self.failed:
            return [Annotation("error", self.failure(), title="Watch failed")]
        if self.verdict == "inconclusive":
            why = self.undecided() or f"{THIN} the release"
            return [Annotation("warning", why, title="Watch inconclusive")]
        return []


def _verdict_icon(verdict: str) -> str:
    return {"passed": "✅", "failed": "❌", "inconclusive": "⚠️"}.get(verdict, "")


# --- The chart ------------------------------------------------------------------------------------------------------


def _groups(samples: Sequence[TrafficSample], count: int) -> list[list[TrafficSample]]:
    if not samples:
        return []
    size = max(1, -(-len(samples) // count))
    return [list(samples[i : i + size]) for i in range(0, len(samples), size)]


def chart_markdown(s: ServiceWatch, points: int = 10) -> str:
    """Mermaid xycharts of the 5xx ratio and p95 before (the old version) and during the watch."""
    groups = _groups(s.baseline, points) + _groups(s.window, points)
    if not groups or s.split_at is None:
        return ""
    labels = []
    ratios = []
    p95s = []
    for group in groups:
        offset = round(group[0].ts - s.split_at)
        minutes, seconds = divmod(abs(offset), 60)
        labels.append(f'"{"-" if offset < 0 else "+"}{minutes}:{seconds:02d}"')
        st = stats(group)
        ratios.append(round((st.error_ratio or 0.0) * 100, 2))
        p95s.append(round(st.p95_ms or 0.0))
    axis = ", ".join(labels)
    top_ratio = max(max(ratios) * 1.2, 1.0)
    top_p95 = max(max(p95s) * 1.2, 10.0)
    return (
        f'```mermaid\nxychart-beta\n    title "{s.label}: 5xx ratio (%), minutes from go-live"\n'
        f'    x-axis [{axis}]\n    y-axis "5xx %" 0 --> {top_ratio:.2f}\n    line {json.dumps(ratios)}\n```\n\n'
        f'```mermaid\nxychart-beta\n    title "{s.label}: p95 latency (ms), minutes from go-live"\n'
        f'    x-axis [{axis}]\n    y-axis "p95 ms" 0 --> {top_p95:.0f}\n    bar {json.dumps(p95s)}\n```\n'
    )
