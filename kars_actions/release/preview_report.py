"""A preview's story, rendered: the terminal lines, the step summary, the outputs, and the sticky pull-request
comment — all from the PreviewResult the preview filled in, so every place says the same thing.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from kars_actions.core import gha
from kars_actions.core.errors import EXIT_EXTERNAL, EXIT_FAILED, EXIT_OK, KarsError
from kars_actions.core.report import Annotation, BaseResult, Style, text_table
from kars_actions.core.timing import human_duration

if TYPE_CHECKING:
    from kars_actions.health.report import HealthResult

# The hidden line that finds the preview's one comment again on every run.
COMMENT_MARKER = "<!-- kars:preview -->"

OUTCOMES = {
    "deploying": "deploying — not ready yet",
    "ready": "ready: live and healthy",
    "failed": "failed: a deployment did not go live",
    "unhealthy": "unhealthy: live, but the health checks failed",
    "timed-out": "not ready in time: a deployment is still in progress",
    "unknown": "state unknown: Railway could not be asked",
    "no-environment": "no environment: Railway did not create the PR environment in time",
    "closed": "closed",
    "fork-skipped": "not deployed: the pull request comes from a fork",
    "not-started": "not started",
}
ICONS = {
    "deploying": "⏳",
    "ready": "✅",
    "failed": "❌",
    "unhealthy": "❌",
    "timed-out": "⌛",
    "unknown": "⚠️",
    "no-environment": "❌",
    "closed": "🧹",
    "fork-skipped": "ℹ️",
    "not-started": "❌",
}
FORK_NOTE = (
    "This pull request comes from a fork. GitHub gives a fork's workflow runs no secrets and a read-only token, so "
    "no preview was deployed and nothing was written to the pull request. This is not a failure. To preview it, "
    "push the branch to this repository, or run `kars-actions preview --pr {pr}` with the tokens yourself."
)


@dataclass
class ServicePreview:
    """One service of the preview as Railway and the health checks last said."""

    service: str
    status: str = "PENDING"  # Railway's status, or PENDING / NOT_STARTED / TIMED_OUT / UNKNOWN
    deployment_id: str | None = None
    dashboard_url: str | None = None
    url: str | None = None
    healthy: bool | None = None  # None: not checked
    health_note: str = ""
    seconds: float | None = None  # from the start of this run until it was live
    reason: str | None = None

    @property
    def live(self) -> bool:
        return self.status in ("SUCCESS", "SLEEPING")

    def to_json(self) -> dict[str, Any]:
        return {
            "service": self.service,
            "status": self.status,
            "deployment_id": self.deployment_id,
            "dashboard_url": self.dashboard_url,
            "url": self.url,
            "healthy": self.healthy,
            "health": self.health_note,
            "seconds": round(self.seconds, 1) if self.seconds is not None else None,
            "reason": self.reason,
        }


@dataclass
class PreviewResult(BaseResult):
    pr: int | None
    closing: bool = False
    outcome: str = "not-started"
    commit: str | None = None
    superseded: list[str] = field(default_factory=list)  # older heads followed, then left for a newer push
    environment: str | None = None  # the Railway environment's name
    environment_id: str | None = None
    created_by_kars: bool = False
    created_now: bool = False
    environment_deleted: bool = False
    services: list[ServicePreview] = field(default_factory=list)
    health: HealthResult | None = None
    github_environment: str | None = None
    github_deployment_id: int | None = None
    deactivated: list[int] = field(default_factory=list)
    comment_url: str | None = None
    missing_permissions: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    seconds: float | None = None
    run_url: str | None = None
    error: KarsError | None = None

    # --- verdict ----------------------------------------------------------------------------------------------
    @property
    def healthy(self) -> bool:
        return self.outcome == "ready"

    @property
    def environment_url(self) -> str | None:
        return next((s.url for s in self.services if s.url), None)

    def exit_code(self) -> int:
        if self.outcome == "fork-skipped":
            return EXIT_OK
        if self.error is not None:
            return self.error.exit_code
        if self.outcome in ("ready", "closed"):
            return EXIT_OK
        return EXIT_EXTERNAL if self.outcome == "unknown" else EXIT_FAILED

    @property
    def headline(self) -> str:
        text = OUTCOMES.get(self.outcome, self.outcome)
        pr = f"#{self.pr}" if self.pr is not None else "the pull request"
        at = f" at {self.commit[:12]}" if self.commit and self.outcome not in ("closed", "fork-skipped") else ""
        return f"Preview of {pr}{at}: {text}"

    def failure(self) -> str:
        reasons = [f"{s.service}: {s.reason}" for s in self.services if s.reason and not s.live]
        reasons += [f"{s.service}: {s.health_note}" for s in self.services if s.live and s.healthy is False]
        if not reasons and self.error is not None:
            reasons.append(self.error.message)
        return "; ".join(reasons)

    # --- outputs --------------------------------------------------------------------------------------------------
    def outputs(self) -> dict[str, str]:
        return {
            "outcome": self.outcome,
            "commit": self.commit or "",
            "healthy": "true" if self.healthy else "false",
            "environment-url": self.environment_url or "",
            "service-urls": json.dumps({s.service: s.url or "" for s in self.services}, sort_keys=True),
            "statuses": json.dumps({s.service: s.status for s in self.services}, sort_keys=True),
            "deployment-ids": json.dumps({s.service: s.deployment_id or "" for s in self.services}, sort_keys=True),
            "railway-environment": self.environment or "",
            "github-deployment-id": str(self.github_deployment_id or ""),
            "comment-url": self.comment_url or "",
            "missing-permissions": ", ".join(self.missing_permissions),
        }

    def to_json(self) -> dict[str, Any]:
        return {
            "outcome": self.outcome,
            "headline": self.headline,
            "pr": self.pr,
            "closing": self.closing,
            "commit": self.commit,
            "superseded": self.superseded,
            "environment": {
                "name": self.environment,
                "id": self.environment_id,
                "created_by_kars": self.created_by_kars,
                "created_now": self.created_now,
                "deleted": self.environment_deleted,
            },
            "services": [s.to_json() for s in self.services],
            "health": self.health.to_json() if self.health else None,
            "github": {
                "environment": self.github_environment,
                "deployment_id": self.github_deployment_id,
                "deactivated": self.deactivated,
                "comment_url": self.comment_url,
                "missing_permissions": self.missing_permissions,
            },
            "warnings": self.warnings,
            "seconds": round(self.seconds, 1) if self.seconds is not None else None,
            "failure": self.failure() or None,
            "error": self.error.message if self.error else None,
            "hint": self.error.hint if self.error else None,
            "outputs": self.outputs(),
        }

    # --- words shared by every rendering ----------------------------------------------------------------------
    def _where(self) -> str:
        if not self.environment:
            return "no Railway environment"
        if self.created_by_kars:
            return f"Railway environment {self.environment} (created by kars from the base environment)"
        return f"Railway environment {self.environment} (Railway's PR environment)"

    def _closing_lines(self) -> list[str]:
        lines = []
        if self.deactivated:
            lines.append(f"{len(self.deactivated)} GitHub deployment(s) of {self.github_environment} marked inactive.")
        if self.environment is None:
            lines.append("No Railway environment was found for this pull request.")
        elif self.environment_deleted:
            lines.append(f"The Railway environment {self.environment}, which kars created, was deleted.")
        elif self.created_by_kars:
            lines.append(f"The Railway environment {self.environment}, which kars created, was NOT deleted.")
        else:
            lines.append(
                f"The Railway environment {self.environment} is Railway's own PR environment: Railway removes it "
                "when the pull request closes; kars left it alone."
            )
        return lines

    def _health_cell(self, s: ServicePreview) -> str:
        if s.healthy is None:
            return s.health_note or "not checked"
        return ("✅ " if s.healthy else "❌ ") + (s.health_note or ("healthy" if s.healthy else "unhealthy"))

    def _rows(self) -> list[list[str]]:
        rows = []
        for s in self.services:
            url = f"[{s.url}]({s.url})" if s.url and s.live else (s.url or "-")
            status = f"[{s.status}]({s.dashboard_url})" if s.dashboard_url else s.status
            took = human_duration(s.seconds) if s.seconds is not None else "-"
            rows.append([s.service, url, status, self._health_cell(s), took])
        return rows

    # --- the sticky comment -----------------------------------------------------------------------------------
    def comment_markdown(self) -> str:
        lines = [COMMENT_MARKER, f"### {ICONS.get(self.outcome, '')} {gha.md_escape(self.headline)}", ""]
        if self.closing:
            lines += self._closing_lines()
        else:
            if self.commit:
                lines.append(f"Commit: `{self.commit}`")
                lines.append("")
            if self.services:
                lines.append(gha.md_table(["service", "URL", "status", "health", "live after"], self._rows()))
            failure = self.failure()
            if failure and self.outcome not in ("ready", "deploying"):
                lines.append(f"**Why:** {gha.md_escape(failure)}")
                lines.append("")
            if self.superseded:
                lines.append(
                    "Followed the newest push: "
                    + ", ".join(f"`{sha[:12]}`" for sha in self.superseded)
                    + (" were" if len(self.superseded) > 1 else " was")
                    + " superseded by a newer push while deploying."
                )
                lines.append("")
            lines.append(self._where() + ".")
        tail = []
        if self.seconds is not None and self.outcome != "deploying":
            tail.append(f"took {human_duration(self.seconds)}")
        if self.run_url:
            tail.append(f"[run]({self.run_url})")
        if tail:
            lines += ["", " · ".join(tail)]
        return "\n".join(lines).rstrip() + "\n"

    # --- terminal ---------------------------------------------------------------------------------------------
    def text_lines(self, style: Style) -> list[str]:
        lines = [style.bold(f"kars-actions preview → #{self.pr}" if self.pr is not None else "kars-actions preview")]
        if self.commit:
            lines.append(f"commit      {self.commit}")
        if self.environment:
            lines.append(f"railway     {self._where()}")
        if self.services:
            rows = [
                [
                    s.service,
                    s.status,
                    s.deployment_id or "-",
                    "healthy" if s.healthy else "unhealthy" if s.healthy is False else "-",
                    s.url or "-",
                ]
                for s in self.services
            ]
            lines.append("")
            lines += text_table(["service", "status", "deployment", "health", "url"], rows)
        if self.closing:
            lines += ["", *self._closing_lines()]
        if self.outcome == "fork-skipped":
            lines += ["", FORK_NOTE.format(pr=self.pr)]
        for permission in self.missing_permissions:
            lines.append(style.warn(f"warning: the token lacks {permission}; that part was not written"))
        for warning in self.warnings:
            lines.append(style.warn(f"warning: {warning}"))
        if self.comment_url:
            lines.append(f"comment     {self.comment_url}")
        lines.append("")
        lines.append(style.ok(self.headline) if self.exit_code() == EXIT_OK else style.bad(self.headline))
        failure = self.failure()
        if failure and self.outcome not in ("ready", "closed", "fork-skipped"):
            lines.append(f"reason: {failure}")
        if self.error is not None and self.error.hint:
            lines.append(f"hint: {self.error.hint}")
        return lines

    # --- step summary ---------------------------------------------------------------------------------------------
    def summary_markdown(self) -> str:
        md = [f"## {ICONS.get(self.outcome, '')} {gha.md_escape(self.headline)}\n"]
        if self.outcome == "fork-skipped":
            md.append(FORK_NOTE.format(pr=self.pr) + "\n")
            return "\n".join(md)
        if self.commit:
            md.append(f"Commit: `{self.commit}` · {gha.md_escape(self._where())}\n")
        if self.services:
            md.append(gha.md_table(["service", "URL", "status", "health", "live after"], self._rows()))
        if self.closing:
            md.append("\n".join(self._closing_lines()) + "\n")
        failure = self.failure()
        if failure and self.outcome not in ("ready", "closed"):
            md.append(f"**Why:** {gha.md_escape(failure)}\n")
        if self.health is not None:
            md.append(self.health.summary_markdown())
        if self.missing_permissions:
            md.append(
                "**Not written to the pull request:** the token lacks "
                + "; ".join(f"`{p}`" for p in self.missing_permissions)
                + ". Add them to the job's `permissions:` block.\n"
            )
        if self.warnings:
            md.append("\n".join(f"- ⚠️ {gha.md_escape(w)}" for w in self.warnings) + "\n")
        if self.comment_url:
            md.append(f"Pull request comment: {self.comment_url}\n")
        if self.error is not None and self.outcome == "not-started":
            md.append(f"**Error:** {gha.md_escape(self.error.message)}\n")
        return "\n".join(md)

    def annotations(self) -> list[Annotation]:
        found = [
            Annotation("warning", f"the token lacks {p}: the preview was checked, but not reported there", title=p)
            for p in self.missing_permissions
        ]
        found += [Annotation("warning", w, title="Preview") for w in self.warnings]
        if self.outcome == "fork-skipped":
            return [Annotation("notice", FORK_NOTE.format(pr=self.pr), title="Preview skipped for a fork")]
        if self.exit_code() != EXIT_OK:
            found.append(Annotation("error", self.failure() or self.headline, title=self.headline))
        return found


def not_started_report(pr: int | None, error: KarsError) -> tuple[dict[str, str], str]:
    """Outputs and summary for a preview stopped before it began (the error says why)."""
    result = PreviewResult(pr=pr, error=error)
    return result.outputs(), result.summary_markdown()
