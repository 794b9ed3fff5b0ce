"""How the deploy and rollback steps look: terminal lines, JSON, the step summary, annotations and outputs, and the
outputs and summary of a step stopped before it sent anything."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from kars_actions.core import gha
from kars_actions.core.errors import KarsError
from kars_actions.core.report import Annotation, BaseResult, Style, text_table
from kars_actions.core.timing import human_duration
from kars_actions.railway.deploy import DeployOutcome, RailwayTarget
from kars_actions.railway.rollback import RollbackOutcome, deployment_label
from kars_actions.railway.wait import UNKNOWN, ServiceDeployment


def _json_map(values: Mapping[str, object]) -> str:
    return json.dumps(values, sort_keys=True)


# --- deploy -------------------------------------------------------------------------------------------------------


def not_started_report(services: Sequence[str], labels: Mapping[str, str]) -> tuple[dict[str, str], str]:
    """Outputs and summary for a deploy stopped before any deployment started (the error says why)."""
    names = [labels.get(s) or s for s in services]
    empty = _json_map({name: "" for name in names})
    outputs = {
        "deployment-ids": empty,
        "previous-deployment-ids": empty,
        "statuses": _json_map({name: "NOT_STARTED" for name in names}),
        "service-urls": empty,
        "environment-url": "",
        "deployed": "false",
        "serving": _json_map({name: "unchanged" for name in names}),
    }
    summary = (
        "### Railway deploy\n\nNothing was deployed: the deploy stopped before any deployment started, so "
        "production was not touched (see the error below).\n"
    )
    return outputs, summary


def serving_now(row: ServiceDeployment) -> str:
    """Which deployment serves the service now, in words, from what Railway last said about this deploy."""
    if row.live:
        return row.deployment_id or "-"
    if row.unknown:
        return f"unknown — deployment {row.deployment_id} may be live" if row.deployment_id else "unknown"
    if row.status == "CRASHED":
        return "none: the app crashed"
    if row.status == "REMOVED":
        return "a newer deployment"
    if row.status == "PLANNED":
        return row.previous_deployment_id or "-"
    return f"{row.previous_deployment_id} (previous)" if row.previous_deployment_id else "none"


class DeployResult(BaseResult):
    def __init__(self, outcome: DeployOutcome, environment_url: str | None = None) -> None:
        self.outcome = outcome
        urls = [s.url for s in outcome.services if s.url]
        self.environment_url = environment_url or (urls[0] if urls else None)

    def exit_code(self) -> int:
        o = self.outcome
        if o.dry_run or o.deployed:
            return 0
        # A definite failure says more than an unanswered question; only when nothing failed outright does
        # "Railway could not be asked" (exit 3) decide.
        if any(s.failed and not s.external for s in o.services):
            return 1
        return 3 if any(s.unknown or s.external for s in o.services) else 1

    def outputs(self) -> dict[str, str]:
        services = self.outcome.services
        return {
            "deployment-ids": _json_map({s.service: s.deployment_id or "" for s in services}),
            "previous-deployment-ids": _json_map({s.service: s.previous_deployment_id or "" for s in services}),
            "statuses": _json_map({s.service: s.status for s in services}),
            "service-urls": _json_map({s.service: s.url or "" for s in services}),
            "environment-url": self.environment_url or "",
            "deployed": "true" if self.outcome.deployed else "false",
            "serving": _json_map({s.service: serving_now(s) for s in services}),
        }

    def to_json(self) -> dict[str, Any]:
        t = self.outcome.target
        return {
            "project": {"id": t.project_id, "name": t.project_name},
            "environment": {"id": t.environment_id, "name": t.environment_name},
            "commit": self.outcome.commit,
            "dry_run": self.outcome.dry_run,
            "deployed": self.outcome.deployed,
            "environment_url": self.environment_url,
            "api_requests": self.outcome.requests,
            "services": [
                {
                    "service": s.service,
                    "service_id": s.service_id,
                    "deployment_id": s.deployment_id,
                    "previous_deployment_id": s.previous_deployment_id,
                    "status": s.status,
                    "live": s.live,
                    "reused": s.reused,
                    "duration_seconds": round(s.duration, 1) if s.duration is not None else None,
                    "url": s.url,
                    "dashboard_url": s.dashboard_url,
                    "reason": s.reason,
                    "log_tail": list(s.log_tail),
                    "possibly_live": s.possibly_live,
                    "serving_now": serving_now(s),
                }
                for s in self.outcome.services
            ],
        }

    def _headline(self) -> str:
        o = self.outcome
        where = f"{o.target.project_name} / {o.target.environment_name} at {o.commit[:12]}"
        if o.dry_run:
            return f"Dry run: plan to deploy {len(o.services)} service(s) to {where} (nothing was sent)"
        if o.deployed:
            return f"Deployed {len(o.services)} service(s) to {where}"
        failed = [s.service for s in o.services if s.failed]
        unknown = [f"{s.service} ({s.deployment_id or 'no id'})" for s in o.unknown_services]
        parts = [f"failed for: {', '.join(failed)}"] if failed else []
        if unknown:
            parts.append(f"state unknown for: {', '.join(unknown)} — it may be live, check Railway")
        return f"Deploy to {where} " + "; ".join(parts)

    def text_lines(self, style: Style) -> list[str]:
        o = self.outcome
        head = self._headline()
        lines = [style.ok(head) if o.deployed or o.dry_run else style.bad(head)]
        rows = [
            [
                s.service,
                s.status,
                s.deployment_id or "-",
                s.previous_deployment_id or "-",
                human_duration(s.duration) if s.duration is not None else "-",
                s.url or "-",
            ]
            for s in o.services
        ]
        lines += [
            "  " + line for line in text_table(["service", "status", "deployment", "previous", "took", "url"], rows)
        ]
        for s in o.services:
            if s.reason and (s.failed or s.unknown or o.dry_run):
                lines.append(f"  {s.service}: {s.reason}")
            for log in s.log_tail:
                lines.append(style.dim(f"    | {log}"))
            if (s.failed or s.unknown) and s.dashboard_url:
                lines.append(f"  {s.service}: {s.dashboard_url}")
            if not o.dry_run and not s.live:
                lines.append(f"  {s.service}: serving now: {serving_now(s)}")
        if o.deployed and self.environment_url:
            lines.append(f"environment: {self.environment_url}")
        return lines

    def summary_markdown(self) -> str:
        o = self.outcome
        rows = []
        for s in o.services:
            deployment = f"[{s.deployment_id}]({s.dashboard_url})" if s.deployment_id and s.dashboard_url else "-"
            rows.append(
                [
                    s.service,
                    ("✅ " if s.live else "❌ " if s.failed else "⚠️ " if s.unknown else "") + s.status,
                    deployment,
                    s.previous_deployment_id or "-",
                    serving_now(s),
                    human_duration(s.duration) if s.duration is not None else "-",
                    s.url or "-",
                    s.reason or "",
                ]
            )
        text = f"### Railway deploy\n\n{gha.md_escape(self._headline())}\n\n"
        text += gha.md_table(
            ["service", "status", "deployment", "previous", "serving now", "took", "url", "note"], rows
        )
        tails = [s for s in o.services if s.log_tail]
        for s in tails:
            logs = "\n".join(s.log_tail).replace("```", "'''")
            summary = f"<summary>{gha.md_escape(s.service)}: last log lines</summary>"
            text += f"\n<details>{summary}\n\n```\n{logs}\n```\n</details>\n"
        if any(s.status == "FAILED" for s in o.services):
            text += "\nA deployment that FAILED never went live: the previous deployment keeps serving.\n"
        if o.unknown_services:
            text += (
                "\n**The state of production is unknown** for "
                + ", ".join(s.service for s in o.unknown_services)
                + ": Railway could not be asked, and the deployment may be live. Check Railway now.\n"
            )
        return text

    def annotations(self) -> list[Annotation]:
        return [
            Annotation(
                "error",
                f"{s.service}: {s.status}: {s.reason or 'deploy failed'}",
                title="Railway state unknown" if s.unknown else "Railway deploy failed",
            )
            for s in self.outcome.services
            if s.failed or s.unknown
        ]


# --- rollback -----------------------------------------------------------------------------------------------------


def not_rolled_back(service: str, error: KarsError) -> tuple[dict[str, str], str]:
    """Outputs and summary for a rollback refused or stopped before any rollback was sent (the error says why):
    what served keeps serving."""
    outputs = {
        "rolled-back": "false",
        "deployment-ids": _json_map({service: ""}),
        "previous-deployment-ids": _json_map({service: ""}),
        "statuses": _json_map({service: "NOT_ROLLED_BACK"}),
        "service-urls": _json_map({service: ""}),
        "environment-url": "",
        "serving": _json_map({service: "unchanged"}),
        "target-commit": "",
        "target-version": "",
    }
    summary = (
        f"### Railway rollback\n\nNothing was rolled back: {gha.md_escape(error.message)}\n\n"
        "No rollback took place, so what served keeps serving.\n"
    )
    return outputs, summary


def rollback_serving(outcome: RollbackOutcome) -> str:
    """What serves the service now, from what Railway last said during the rollback."""
    if outcome.status == UNKNOWN:
        return "unknown — check Railway now"
    if outcome.serving_id is None:
        return "none"
    version = outcome.target_version if outcome.serving_commit == outcome.target_commit else None
    if outcome.serving_commit == outcome.from_commit and outcome.serving_commit != outcome.target_commit:
        version = outcome.from_version
    return deployment_label(outcome.serving_id, outcome.serving_commit, version)


class RollbackResult(BaseResult):
    def __init__(self, outcome: RollbackOutcome, target: RailwayTarget) -> None:
        self.outcome = outcome
        self.target = target

    def exit_code(self) -> int:
        if self.outcome.settled:
            return 0
        return 3 if self.outcome.status == UNKNOWN else 1

    def outputs(self) -> dict[str, str]:
        o = self.outcome
        return {
            "rolled-back": "true" if o.rolled_back and o.live else "false",
            "deployment-ids": _json_map({o.service: o.restored_deployment_id or o.target_deployment_id or ""}),
            "previous-deployment-ids": _json_map({o.service: o.from_deployment_id or ""}),
            "statuses": _json_map({o.service: o.status}),
            "service-urls": _json_map({o.service: o.url or ""}),
            "environment-url": o.url or "",
            "serving": _json_map({o.service: rollback_serving(o)}),
            "target-commit": o.target_commit or "",
            "target-version": o.target_version or "",
        }

    def to_json(self) -> dict[str, Any]:
        o = self.outcome
        return {
            "project": {"id": self.target.project_id, "name": self.target.project_name},
            "environment": {"id": self.target.environment_id, "name": self.target.environment_name},
            "service": o.service,
            "service_id": o.service_id,
            "rolled_back": o.rolled_back,
            "live": o.live,
            "status": o.status,
            "message": o.message,
            "from_deployment_id": o.from_deployment_id,
            "from_commit": o.from_commit,
            "from_version": o.from_version,
            "target_deployment_id": o.target_deployment_id,
            "target_commit": o.target_commit,
            "target_version": o.target_version,
            "restored_deployment_id": o.restored_deployment_id,
            "failed_version": o.failed_version,
            "passed_over": list(o.skipped),
            "serving": rollback_serving(o),
            "duration_seconds": round(o.duration, 1) if o.duration is not None else None,
            "url": o.url,
            "dashboard_url": o.dashboard_url,
            "dry_run": o.dry_run,
        }

    def text_lines(self, style: Style) -> list[str]:
        o = self.outcome
        head = f"{o.service}: {o.message}"
        lines = [style.ok(head) if self.exit_code() == 0 else style.bad(head)]
        for line in o.skipped:
            lines.append(f"  passed over {line}")
        if o.duration is not None:
            lines.append(f"  took {human_duration(o.duration)}")
        if not o.dry_run:
            lines.append(f"  serving now: {rollback_serving(o)}")
        if o.dashboard_url:
            lines.append(f"  {o.dashboard_url}")
        return lines

    def summary_markdown(self) -> str:
        o = self.outcome
        to = deployment_label(o.target_deployment_id, o.target_commit, o.target_version)
        row = [
            o.service,
            o.status,
            deployment_label(o.from_deployment_id, o.from_commit, o.from_version),
            f"[{to}]({o.dashboard_url})" if o.target_deployment_id and o.dashboard_url else to,
            o.restored_deployment_id or "-",
            "-" if o.dry_run else rollback_serving(o),
            human_duration(o.duration) if o.duration is not None else "-",
        ]
        text = f"### Railway rollback\n\n{gha.md_escape(o.message)}\n\n" + gha.md_table(
            ["service", "status", "from", "to", "restored as", "serving now", "took"], [row]
        )
        if o.skipped:
            text += "\nPassed over (rolled away from, failed, or the same commit):\n\n"
            text += "".join(f"- {gha.md_escape(line)}\n" for line in o.skipped)
        return text

    def annotations(self) -> list[Annotation]:
        o = self.outcome
        if self.exit_code() != 0:
            return [Annotation("error", f"{o.service}: {o.message}", title="Railway rollback did not complete")]
        if o.failed_version and not o.dry_run:
            restored = deployment_label(o.target_deployment_id, o.target_commit, o.target_version)
            return [
                Annotation(
                    "warning",
                    f"{o.service}: restored {restored}, a version that failed its release",
                    title="Rolled back onto a failed version",
                )
            ]
        return []
