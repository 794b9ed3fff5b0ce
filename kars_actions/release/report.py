"""The release's story: stages with outcomes, rendered as terminal lines, a Mermaid flowchart and tables."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from kars_actions.core import gha
from kars_actions.core.errors import EXIT_EXTERNAL, EXIT_FAILED, EXIT_OK, KarsError
from kars_actions.core.report import Annotation, BaseResult, Style, text_table
from kars_actions.core.timing import human_duration

if TYPE_CHECKING:
    from kars_actions.github.api import ReleaseRef
    from kars_actions.github.promotion import PromotionCheck
    from kars_actions.github.versioning import VersionPlan
    from kars_actions.health.report import HealthResult
    from kars_actions.health.targets import HealthTarget
    from kars_actions.notify.report import NotifyResult
    from kars_actions.railway.deploy import DeployOutcome
    from kars_actions.railway.rollback import RollbackOutcome
    from kars_actions.railway.settings_report import SettingsResult
    from kars_actions.railway_config.report import ValidationResult
    from kars_actions.release.backup_report import BackupResult
    from kars_actions.release.watch_report import WatchResult

# The stages in the order they run; those after "publish" belong to the failure path and show only when they ran.
STAGES: dict[str, str] = {
    "preflight": "Preflight (read-only)",
    "validate": "Validate config + health",
    "railway-settings": "Railway settings",
    "version": "Compute version",
    "release": "Tag + draft release",
    "record-targets": "Record rollback targets",
    "github-deployment": "GitHub deployment",
    "backup": "Database backup",
    "deploy": "Deploy + wait",
    "health": "Health (new version)",
    "watch": "Watch window",
    "publish": "Publish release",
    "rollback": "Roll back",
    "restored-health": "Health (restored)",
    "mark-failed": "Mark failed",
    "mark-not-published": "Mark not published",
    "alert": "Alert",
}
MAIN_PATH = list(STAGES)[: list(STAGES).index("publish") + 1]
# Stages that show in the flowchart only when kars.yml asks for them.
OPTIONAL_STAGES = ("backup", "watch")
ICONS = {
    "ok": "✅",
    "failed": "❌",
    "skipped": "⏭️",
    "planned": "📝",
    "pending": "·",
    "running": "…",
    "warning": "⚠️",
}
OUTCOMES = {
    "released": "Released: live, healthy, and published",
    "nothing-to-release": "Nothing to release: no releasable commit since the last release",
    "already-released": "Already released: this commit's release is published",
    "planned": "Dry run: nothing in the plan would stop the release; nothing was created or deployed",
    "would-stop": "Dry run: the release would stop at {stage} and exit {code}; nothing was created or deployed",
    "failed-before-live": "Failed before going live: {environment} was not touched",
    "rolled-back": "Failed after going live: rolled back to the previous version",
    "rollback-failed": "Failed after going live, and the rollback did not complete: check Railway now",
    "github-incomplete": "Live and healthy, but not finished on GitHub: rerun the job to finish it",
    "production-unknown": "Failed, and the state of production is unknown: check Railway now",
    "superseded": (
        "Superseded: not published — a deployment this release did not make replaced it, and nothing was rolled "
        "back over that deployment"
    ),
    "running": "Running",
}


@dataclass
class Stage:
    key: str
    title: str
    status: str = "pending"  # pending | running | ok | failed | skipped | planned | warning
    detail: str = ""
    seconds: float | None = None


@dataclass
class ReleaseResult(BaseResult):
    environment: str
    services: list[str]
    dry_run: bool = False
    outcome: str = "running"
    commit: str | None = None
    plan: VersionPlan | None = None
    release: ReleaseRef | None = None
    major_tag: str | None = None
    validation: ValidationResult | None = None
    settings: SettingsResult | None = None
    deploy: DeployOutcome | None = None
    health: HealthResult | None = None
    planned_health: list[HealthTarget] = field(default_factory=list)
    restored_health: HealthResult | None = None
    rollback_targets: dict[str, str | None] = field(default_factory=dict)
    rollbacks: list[RollbackOutcome] = field(default_factory=list)
    alerts: NotifyResult | None = None
    backup: BackupResult | None = None
    watch: WatchResult | None = None
    environment_url: str | None = None
    production_touched: bool = False
    failure: str | None = None
    error: KarsError | None = None
    stages: dict[str, Stage] = field(default_factory=dict)
    # The success steps on GitHub that did not complete (a rerun finishes them), and whether this run did any.
    unfinished: list[str] = field(default_factory=list)
    finished_now: bool = False
    # What serves each service at the end, as Railway said: {"id", "status", "commit"} or {"id": None, "note"}.
    serving: dict[str, dict[str, Any]] = field(default_factory=dict)
    # Services whose deployment of this release was replaced by one it did not make (that one's id, when known):
    # never rolled back over, and the release not published.
    superseded: dict[str, str | None] = field(default_factory=dict)
    promotion: PromotionCheck | None = None  # the promotion gate's evidence, when the environment requires one
    # A dry run without tokens: the systems it could not read ("Railway", "GitHub"), so it cannot vouch for them.
    not_read: list[str] = field(default_factory=list)
    # Each service's folder and railway config, and the source they came from (kars.yml, Railway, the repository).
    service_files: list[dict[str, Any]] = field(default_factory=list)
    # Said at the start and kept to the end: a total timeout too short to roll back, say.
    warnings: list[str] = field(default_factory=list)
    # The release's total timeout and what its stages need with a rollback after them (release.budget).
    time_budget: dict[str, Any] = field(default_factory=dict)

    def stage(self, key: str) -> Stage:
        if key not in self.stages:
            self.stages[key] = Stage(key, STAGES[key])
        return self.stages[key]

    # --- verdict ----------------------------------------------------------------------------------------------
    @property
    def succeeded(self) -> bool:
        return self.outcome in ("released", "nothing-to-release", "already-released", "planned")

    def exit_code(self) -> int:
        if self.succeeded:
            return EXIT_OK
        if self.outcome == "would-stop":
            # A dry run exits as the release would: a pull-request gate on it refuses what the release refuses.
            return self.error.exit_code if self.error is not None else EXIT_FAILED
        if self.outcome == "production-unknown":
            return EXIT_EXTERNAL  # Railway could not be asked: the one thing the user must do is look
        if self.error is not None and (not self.production_touched or self.outcome == "github-incomplete"):
            return self.error.exit_code  # 2 config, 3 external: what stopped the release without a rollback
        return EXIT_FAILED

    @property
    def stopped_at(self) -> Stage | None:
        """The main-path stage that failed (the one a dry run would stop at), if any."""
        return next((self.stages[k] for k in MAIN_PATH if k in self.stages and self.stages[k].status == "failed"), None)

    def outcome_text(self) -> str:
        """The outcome in words, without the version and environment the headline adds."""
        template = OUTCOMES.get(self.outcome, self.outcome)
        stopped = self.stopped_at
        text = (
            template.replace("{environment}", self.environment)
            .replace("{stage}", stopped.title if stopped else "a stage")
            .replace("{code}", str(self.exit_code()))
        )
        if self.outcome == "planned" and self.not_read:
            text = text.replace(
                "nothing in the plan would stop the release",
                f"nothing in the plan would stop the release as far as it was read ({' and '.join(self.not_read)} "
                "not read)",
            )
        if self.outcome == "github-incomplete" and self.unfinished:
            text = (
                f"Live and healthy, but not finished on GitHub: {', '.join(self.unfinished)} did not complete "
                "— rerun the job to finish them"
            )
        return text

    @property
    def headline(self) -> str:
        tag = self.plan.tag if self.plan and self.plan.tag else None
        text = self.outcome_text()
        if "{environment}" in OUTCOMES.get(self.outcome, ""):
            return text + (f" — {tag}" if tag else "")  # the environment is named already
        return text + (f" — {tag} to {self.environment}" if tag else f" — {self.environment}")

    # --- outputs --------------------------------------------------------------------------------------------------
    def outputs(self) -> dict[str, str]:
        plan = self.plan
        services = self.deploy.services if self.deploy else ()
        healthy = self.health.healthy if self.health else False
        return {
            "outcome": self.outcome,
            "released": "true" if self.outcome == "released" else "false",
            "version": (plan.version or "") if plan else "",
            "tag": (plan.tag or "") if plan else "",
            "previous-tag": (plan.previous_tag or "") if plan else "",
            "changelog": plan.notes_markdown if plan else "",
            "release-url": self.release.html_url if self.release else "",
            "deployment-ids": json.dumps({s.service: s.deployment_id or "" for s in services}, sort_keys=True),
            "previous-deployment-ids": json.dumps(
                {k: v or "" for k, v in self.rollback_targets.items()}, sort_keys=True
            ),
            "environment-url": self.environment_url or "",
            "healthy": "true" if healthy else "false",
            # True only when every service is back on the previous version: a split production is not rolled back.
            "rolled-back": "true" if self.outcome == "rolled-back" else "false",
            "serving": json.dumps(self.serving_ids(), sort_keys=True),
            "production-touched": "true" if self.production_touched else "false",
            "backup-id": self.backup.backup.id if self.backup and self.backup.backup else "",
            "backup-expires-at": (self.backup.backup.expires_at or "") if self.backup and self.backup.backup else "",
            "backup-dump-path": self.backup.dump.path if self.backup and self.backup.dump else "",
            "watch-verdict": self.watch.verdict if self.watch else "",
        }

    def to_json(self) -> dict[str, Any]:
        return {
            "outcome": self.outcome,
            "headline": self.headline,
            "unfinished": self.unfinished,
            "environment": self.environment,
            "services": self.services,
            "service_files": self.service_files,
            "warnings": self.warnings,
            "time_budget": self.time_budget,
            "commit": self.commit,
            "dry_run": self.dry_run,
            "production_touched": self.production_touched,
            "failure": self.failure,
            "error": self.error.message if self.error else None,
            "hint": self.error.hint if self.error else None,
            "version": self.plan.to_json() if self.plan else None,
            "release": self.release.to_json() if self.release else None,
            "stages": [
                {"stage": s.key, "title": s.title, "status": s.status, "detail": s.detail, "seconds": s.seconds}
                for s in self.stages.values()
            ],
            "validation": self.validation.to_json() if self.validation else None,
            "railway_settings": self.settings.to_json() if self.settings else None,
            "rollback_targets": self.rollback_targets,
            "deployments": [
                {**_deployment_json(s), "shown_status": self.shown_status(s)}
                for s in (self.deploy.services if self.deploy else ())
            ],
            "health": self.health.to_json() if self.health else None,
            "planned_health": [_target_json(t) for t in self.planned_health],
            "rollbacks": [_rollback_json(r) for r in self.rollbacks],
            "serving": self.serving,
            "superseded": self.superseded,
            "restored_health": self.restored_health.to_json() if self.restored_health else None,
            "alerts": self.alerts.to_json() if self.alerts else None,
            "backup": self.backup.to_json() if self.backup else None,
            "watch": self.watch.to_json() if self.watch else None,
            "promotion": _promotion_json(self.promotion),
            "outputs": self.outputs(),
        }

    def serving_ids(self) -> dict[str, str]:
        """The ``serving`` output: each service's live deployment as Railway said at the end ("none" when nothing
        is live, "unknown" when Railway could not be asked); empty before anything was read (a dry run)."""
        shown = {}
        for service, serving in self.serving.items():
            deployment_id = serving.get("id")
            shown[service] = deployment_id or ("unknown" if serving.get("status") == "UNKNOWN" else "none")
        return shown

    def _serving_facts(self) -> list[tuple[str, str | None, str, str]]:
        """Per service, as Railway said at the end: its live deployment (None: none, or unknown), whose it is —
        this release's or the previous version's, else why there is none —, and its commit."""
        ours = {s.deployment_id for s in (self.deploy.services if self.deploy else ()) if s.deployment_id}
        previous = {i for i in self.rollback_targets.values() if i} | {
            i for r in self.rollbacks for i in (r.target_deployment_id, r.restored_deployment_id) if i and r.live
        }
        facts = []
        for service, serving in self.serving.items():
            deployment_id = serving.get("id")
            if deployment_id is None:
                whose = "unknown — check Railway now" if serving.get("status") == "UNKNOWN" else "nothing is live"
            elif deployment_id in ours:
                whose = "this release"
            elif deployment_id in previous:
                whose = "the previous version"
            else:
                whose = "a deployment this release did not make"
            facts.append((service, deployment_id, whose, str(serving.get("commit") or "")))
        return facts

    def serving_line(self) -> str:
        """What serves each service now, in words: ``frontend: this release (deployment …, commit abc1234)``."""
        parts = []
        for service, deployment_id, whose, commit in self._serving_facts():
            if deployment_id is None:
                parts.append(f"{service}: {whose}")
            else:
                parts.append(
                    f"{service}: {whose} (deployment {deployment_id}" + (f", commit {commit[:7]})" if commit else ")")
                )
        return "; ".join(parts)

    def shown_status(self, deployment: Any) -> str:
        """A deployment's status as the closing tables show it: one this release rolled back is ROLLED_BACK, not
        the SUCCESS it had; one whose rollback did not complete says so."""
        if deployment.service in self.superseded and deployment.deployment_id is not None:
            return "SUPERSEDED"
        rollback = next((r for r in self.rollbacks if r.service == deployment.service), None)
        if rollback is None or deployment.deployment_id is None:
            return str(deployment.status)
        if rollback.rolled_back and rollback.live:
            return "ROLLED_BACK"
        if rollback.status == "CANCELLED":
            return "CANCELLED"
        if not rollback.settled and deployment.live:
            return f"{deployment.status} (rollback did not complete)"
        return str(deployment.status)

    # --- terminal -------------------------------------------------------------------------------------------------
    def text_lines(self, style: Style) -> list[str]:
        lines = [style.bold(f"kars-actions release → {self.environment}")]
        if self.commit:
            lines.append(f"commit      {self.commit}")
        lines.append(f"services    {', '.join(self.services)}")
        if self.plan and self.plan.tag:
            previous = self.plan.previous_tag or "none"
            lines.append(f"version     {self.plan.tag} (previous {previous}, bump {self.plan.bump or '-'})")
        lines.append("")
        for stage in self.stages.values():
            icon = ICONS.get(stage.status, "?")
            took = f" ({human_duration(stage.seconds)})" if stage.seconds and stage.seconds >= 0.05 else ""
            text = f"{icon} {stage.title:<26} {stage.status:<8} {stage.detail}{took}"
            lines.append(style.bad(text) if stage.status == "failed" else text)
        if self.validation is not None and not self.validation.valid:
            # The same file:line:column lines `kars-actions validate` prints, so the fix is one click away.
            lines.append("")
            lines += self.validation.text_lines(style)
        if self.settings is not None and self.settings.plan is not None and self.settings.plan.drift:
            lines.append("")
            lines.append("railway settings (live → railway.json):")
            lines += ["  " + line for line in self.settings.text_lines(style)[:-1]]
        checks = self._checks_heading()
        if checks:
            lines.append("")
            lines.append(checks)
            targets = [o.target for o in self.health.outcomes] if self.health is not None else self.planned_health
            for target in targets:
                lines.append(f"  {target.name}: {target.method} {target.shown_url}")
                for assertion in _assertions(target):
                    lines.append(f"      expect {assertion}")
        if self.plan and self.plan.notes_markdown and self.outcome in ("planned", "released"):
            lines.append("")
            touching = f" (commits touching {self.plan.folder}/)" if self.plan.folder else ""
            lines.append(f"release notes{touching}:")
            lines += ["  " + line for line in self.plan.notes_markdown.strip().splitlines()]
        if self.deploy and not self.dry_run:
            rows = [
                [
                    s.service,
                    self.shown_status(s),
                    s.deployment_id or "-",
                    human_duration(s.duration) if s.duration else "-",
                ]
                for s in self.deploy.services
            ]
            lines.append("")
            lines += text_table(["service", "status", "deployment", "took"], rows)
        lines.append("")
        verdict = self.headline
        reasons = []
        if self.failure:
            reasons.append(f"reason: {self.failure}")
        elif self.error is not None:
            reasons.append(f"reason: {self.error.message}")
            if self.error.hint:
                reasons.append(f"hint: {self.error.hint}")
        if self.dry_run:
            # A dry run ends on what the release would do and the exit code it shares with it: the last line says so.
            lines += reasons
            lines.append(style.ok(verdict) if self.succeeded else style.bad(verdict))
        else:
            lines.append(style.ok(verdict) if self.succeeded else style.bad(verdict))
            if self.serving and not self.succeeded:
                lines.append(f"serving now: {self.serving_line()}")
            lines += reasons
        return lines

    def _checks_heading(self) -> str | None:
        """The heading of the health checks listed in the console: made, to be made, or none to list (a release that
        stopped before them makes none)."""
        if self.health is not None:
            return "health checks made:"
        if self.planned_health and self.outcome == "planned":
            return "health checks it would make:"
        return None

    # --- step summary ----------------------------------------------------------------------------------------------
    def mermaid(self) -> str:
        main_path = [k for k in MAIN_PATH if k not in OPTIONAL_STAGES or k in self.stages]
        keys = [k for k in STAGES if k in main_path or k in self.stages]
        lines = ["```mermaid", "flowchart LR"]
        for key in keys:
            stage = self.stages.get(key) or Stage(key, STAGES[key])
            status, style = stage.status, stage.status
            if key not in self.stages and self.outcome != "running":
                status, style = "not run", "skipped"  # the release ended before this stage: it will not come
            label = f"{STAGES[key]}<br/>{status}".replace('"', "'")
            lines.append(f'    {key.replace("-", "_")}["{label}"]:::{style}')
        main = [k.replace("-", "_") for k in main_path]
        lines.append("    " + " --> ".join(main))
        failure_path = [
            k.replace("-", "_")
            for k in ("rollback", "restored-health", "mark-failed", "mark-not-published", "alert")
            if k in self.stages
        ]
        if failure_path:
            failed_at = next((k for k in main_path if self.stages.get(k, Stage(k, "")).status == "failed"), None)
            why = "failure"
            if failed_at is None and self.outcome == "superseded":
                failed_at, why = "watch", "superseded"
            start = failed_at.replace("-", "_") if failed_at else main[-1]
            lines.append(f"    {start} -. {why} .-> " + " --> ".join(failure_path))
        lines += [
            "    classDef ok fill:#d4f8d4,stroke:#2da44e",
            "    classDef failed fill:#ffd7d5,stroke:#cf222e",
            "    classDef skipped fill:#eeeeee,stroke:#999999",
            "    classDef planned fill:#ddf4ff,stroke:#0969da",
            "    classDef pending fill:#ffffff,stroke:#cccccc",
            "    classDef running fill:#fff8c5,stroke:#9a6700",
            "    classDef warning fill:#fff8c5,stroke:#9a6700",
            "```",
        ]
        return "\n".join(lines) + "\n"

    def summary_markdown(self) -> str:
        md = [
            f"## {ICONS['ok'] if self.succeeded else ICONS['failed']} {gha.md_escape(self.headline)}\n",
            self.mermaid(),
        ]
        plan = self.plan
        if plan and plan.tag:
            release = f"[{plan.tag}]({self.release.html_url})" if self.release and self.release.html_url else plan.tag
            md.append(
                gha.md_table(
                    ["version", "previous", "bump", "commit", "environment", "release"],
                    [
                        [
                            plan.version,
                            plan.previous_tag or "-",
                            plan.bump or "-",
                            (self.commit or "")[:12],
                            self.environment,
                            release,
                        ]
                    ],
                )
            )
        md.append(
            gha.md_table(
                ["stage", "outcome", "detail", "took"],
                [
                    [
                        s.title,
                        f"{ICONS.get(s.status, '')} {s.status}",
                        s.detail,
                        human_duration(s.seconds) if s.seconds else "",
                    ]
                    for s in self.stages.values()
                ],
            )
        )
        if self.promotion is not None:
            md.append(_promotion_markdown(self.promotion))
        if self.backup is not None and self.backup.action != "skipped":
            md.append(self.backup.section_markdown())
        if self.deploy and self.deploy.services:
            rows = []
            for s in self.deploy.services:
                link = (
                    f"[{s.deployment_id}]({s.dashboard_url})"
                    if s.deployment_id and s.dashboard_url
                    else (s.deployment_id or "-")
                )
                rows.append(
                    [
                        s.service,
                        self.shown_status(s),
                        link,
                        self.rollback_targets.get(s.service) or "-",
                        human_duration(s.duration) if s.duration else "-",
                        s.reason or "",
                    ]
                )
            md.append(
                "### Deployments\n\n"
                + gha.md_table(["service", "status", "deployment", "previous", "took", "note"], rows)
            )
        if self.validation is not None and not self.validation.valid:
            md.append(self.validation.summary_markdown())
        if self.settings is not None and self.settings.plan is not None:
            md.append(self.settings.summary_markdown())
        if self.health is not None:
            md.append(self.health.summary_markdown())
        elif self.planned_health and self.outcome == "planned":
            rows = [[t.name, f"{t.method} {t.shown_url}", "; ".join(_assertions(t))] for t in self.planned_health]
            md.append(
                "### Health checks it would make\n\n" + gha.md_table(["target", "request", "assertions"], rows)
            )
        if self.watch is not None:
            md.append(self.watch.section_markdown())
        if self.rollbacks:
            from kars_actions.railway.rollback import deployment_label

            rows = [
                [
                    r.service,
                    deployment_label(r.from_deployment_id, r.from_commit, r.from_version),
                    deployment_label(r.target_deployment_id, r.target_commit, r.target_version),
                    r.status,
                    r.message,
                ]
                for r in self.rollbacks
            ]
            md.append("### Rollback\n\n" + gha.md_table(["service", "from", "to", "status", "detail"], rows))
            if self.restored_health is not None:
                md.append("#### Restored version\n\n" + self.restored_health.summary_markdown())
        if self.failure or self.error:
            md.append(f"**Why:** {gha.md_escape(self.failure or (self.error.message if self.error else ''))}\n")
            if self.error is not None and self.error.hint and not self.production_touched:
                md.append(f"**What to do:** {gha.md_escape(self.error.hint)}\n")
        if self.serving:
            md.append(self._serving_markdown())
        if self.outcome == "failed-before-live":
            md.append(f"{self.environment} was not touched: no service went live with this release.\n")
            if self.settings is not None and self.settings.written:
                md.append(
                    "The service settings were updated from railway.json before the failure (see Railway settings); "
                    "the running deployments were not changed.\n"
                )
        if self.outcome == "would-stop":
            md.append(
                "Nothing was created or deployed (dry run). The release itself would stop at the same place and "
                f"exit {self.exit_code()}, so a check on this dry run fails as the release would.\n"
            )
        if self.outcome == "superseded":
            md.append(
                "A deployment this release did not make replaced its own on "
                + ", ".join(gha.md_escape(name) for name in self.superseded)
                + ": nothing was rolled back over it, and the release was not published. What serves each service "
                "now is in the table above.\n"
            )
        if self.outcome == "production-unknown":
            md.append(
                "**The state of production is unknown — check Railway now.** A deployment of this release may be "
                "live, and Railway could not confirm what serves.\n"
            )
        if plan and plan.notes_markdown and self.outcome in ("released", "planned"):
            md.append(f"<details><summary>Release notes</summary>\n\n{plan.notes_markdown}\n</details>\n")
        return "\n".join(md)

    def _serving_markdown(self) -> str:
        rows = []
        for service, deployment_id, whose, commit in self._serving_facts():
            serving = self.serving[service]
            if deployment_id is None:
                rows.append([service, whose, "-", serving.get("note") or ""])
            else:
                rows.append([service, f"{deployment_id} ({serving.get('status')})", commit[:12] or "-", whose])
        return "### Serving now (as Railway says)\n\n" + gha.md_table(["service", "deployment", "commit", "is"], rows)

    def annotations(self) -> list[Annotation]:
        found = [Annotation("warning", warning, title="Release") for warning in self.warnings]
        if self.validation is not None:
            found += [a for a in self.validation.annotations() if a.level != "notice"]
        if self.settings is not None:
            found += self.settings.annotations()
        if self.succeeded:
            return found
        message = self.failure or (self.error.message if self.error else self.headline)
        if self.outcome == "github-incomplete" and self.unfinished:
            # Production is fine; what the reader must act on is the list of steps a rerun will finish.
            message = f"{', '.join(self.unfinished)} did not complete; rerun the job to finish" + (
                f" ({self.error.message})" if self.error else ""
            )
        return [
            *found,
            Annotation(
                "error",
                message,
                title=self.outcome_text(),
            ),
        ]


def not_started_report(*, dry_run: bool = False, exit_code: int = EXIT_FAILED) -> tuple[dict[str, str], str]:
    """Outputs and summary for a release stopped before it began (the error says why): nothing was touched. A dry
    run stopped there says that the release would stop there too, with the same exit code."""
    outputs = {
        "outcome": "would-stop" if dry_run else "failed-before-live",
        "released": "false",
        "deployment-ids": "{}",
        "previous-deployment-ids": "{}",
        "healthy": "false",
        "rolled-back": "false",
        "production-touched": "false",
        "serving": "{}",
    }
    summary = (
        f"## {ICONS['failed']} Failed before going live\n\nThe release stopped before anything was created or "
        "deployed, so production was not touched (see the error below).\n"
    )
    if dry_run:
        summary = (
            f"## {ICONS['failed']} Dry run: the release would stop before it starts and exit {exit_code}\n\n"
            "Nothing was created or deployed (dry run); the release itself would stop on the same error (see "
            "below).\n"
        )
    return outputs, summary


def _assertions(target: HealthTarget) -> list[str]:
    check = target.check
    out = ["status " + ", ".join(str(s) for s in check.statuses)]
    out += [j.describe() for j in check.json]
    if check.body_contains:
        out.append(f"body contains {check.body_contains!r}")
    if check.body_regex:
        out.append(f"body matches /{check.body_regex}/")
    out += [f"header {name}: {value}" for name, value in check.headers]
    if check.max_response_time:
        out.append(f"response within {check.max_response_time:g}s")
    if target.check_version and check.version_rule != "off":
        fields, headers = check.version_fields, check.version_headers
        where = " or ".join([f"JSON {f}" for f in fields] + [f"header {h}" for h in headers])
        when = "must report" if check.version_rule == "required" else "when it reports"
        out.append(f"{where} = the released version or commit ({when} one)")
    return out


def _target_json(target: HealthTarget) -> dict[str, Any]:
    return {"name": target.name, "url": target.shown_url, "method": target.method, "assertions": _assertions(target)}


def _deployment_json(s: Any) -> dict[str, Any]:
    return {
        "service": s.service,
        "deployment_id": s.deployment_id,
        "status": s.status,
        "live": s.live,
        "reused": s.reused,
        "duration_seconds": s.duration,
        "url": s.url,
        "dashboard_url": s.dashboard_url,
        "reason": s.reason,
        "possibly_live": s.possibly_live,
    }


def _rollback_json(r: Any) -> dict[str, Any]:
    return {
        "service": r.service,
        "rolled_back": r.rolled_back,
        "live": r.live,
        "status": r.status,
        "message": r.message,
        "from": r.from_deployment_id,
        "to": r.target_deployment_id,
        "restored": r.restored_deployment_id,
    }


def _promotion_json(check: PromotionCheck | None) -> dict[str, Any] | None:
    if check is None:
        return None
    return {
        "requires": check.required,
        "commit": check.commit,
        "tree": check.tree,
        "proven": check.proven,
        "proof": check.proof.to_json() if check.proof else None,
        "last_proven": [p.to_json() for p in check.last_proven],
        "tried": [p.to_json() for p in check.tried],
    }


def _promotion_markdown(check: PromotionCheck) -> str:
    """The promotion gate's evidence: the deployment that proved the commit, or what was proved instead."""
    if check.proof is not None:
        proof = check.proof
        same = "this commit" if proof.same == "commit" else f"`{proof.sha[:12]}` (the same git tree)"
        return (
            f"### Promotion gate\n\n{check.required} proved it: deployment {proof.deployment_id} of "
            f"{gha.md_escape(proof.version or proof.sha[:12])} at {same}, latest status success.\n"
        )
    rows = [[p.version or "-", p.sha[:12], str(p.deployment_id), p.shown_state] for p in check.last_proven]
    text = f"### Promotion gate\n\n{check.required} never proved `{check.commit[:12]}` (nor its tree).\n\n"
    if rows:
        headers = ["version", "commit", "deployment", "state"]
        text += f"What {check.required} proved last:\n\n" + gha.md_table(headers, rows)
    return text
