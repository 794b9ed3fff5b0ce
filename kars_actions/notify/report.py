"""How the alerts sent look: each channel's outcome as terminal lines, JSON, the step summary, annotations and
outputs."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from kars_actions.core import gha
from kars_actions.core.errors import EXIT_EXTERNAL, EXIT_OK
from kars_actions.core.report import Annotation, BaseResult, Style

PLATFORM_NAMES = {"slack": "Slack", "discord": "Discord", "webhook": "webhook"}


@dataclass
class ChannelOutcome:
    channel: str  # kind
    delivered: bool
    attempts: int = 0
    status: int | None = None
    message: str = ""
    payload: dict[str, Any] | None = None
    dry_run: bool = False

    @property
    def name(self) -> str:
        return PLATFORM_NAMES.get(self.channel, self.channel)

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "channel": self.channel,
            "delivered": self.delivered,
            "attempts": self.attempts,
            "status": self.status,
            "message": self.message,
        }
        if self.dry_run:
            data["dry_run"] = True
            data["payload"] = self.payload
        return data


class NotifyResult(BaseResult):
    """Per-channel outcomes. A failed alert is a warning: exit 0 unless ``strict`` (then 3)."""

    def __init__(
        self, event: str, outcomes: list[ChannelOutcome], *, strict: bool = False, skipped: str | None = None
    ) -> None:
        self.event = event
        self.outcomes = outcomes
        self.strict = strict
        self.skipped = skipped

    @property
    def failed(self) -> list[ChannelOutcome]:
        return [o for o in self.outcomes if not o.delivered and not o.dry_run]

    def exit_code(self) -> int:
        return EXIT_EXTERNAL if self.strict and self.failed else EXIT_OK

    def to_json(self) -> dict[str, Any]:
        return {
            "event": self.event,
            "skipped": self.skipped,
            "channels": [o.to_json() for o in self.outcomes],
        }

    def outputs(self) -> dict[str, str]:
        return {
            "alerted": ",".join(o.channel for o in self.outcomes if o.delivered),
            "alert-failed": ",".join(o.channel for o in self.failed),
        }

    def text_lines(self, style: Style) -> list[str]:
        if self.skipped:
            return [f"no alert sent: {self.skipped}"]
        lines: list[str] = []
        for outcome in self.outcomes:
            if outcome.dry_run:
                lines.append(f"{outcome.name} (dry run, not sent):")
                lines += json.dumps(outcome.payload, indent=2, ensure_ascii=False).splitlines()
            elif outcome.delivered:
                lines.append(f"{style.ok('sent')} {outcome.name} alert ({self.event})")
            else:
                lines.append(f"{style.warn('warning')}: {outcome.name} alert not delivered: {outcome.message}")
        return lines

    def summary_markdown(self) -> str:
        if self.skipped or not self.outcomes or all(o.dry_run for o in self.outcomes):
            return ""
        rows = [[o.name, "sent" if o.delivered else "not delivered", str(o.attempts), o.message] for o in self.outcomes]
        return f"### Alerts ({self.event})\n\n" + gha.md_table(["channel", "result", "attempts", "note"], rows)

    def annotations(self) -> list[Annotation]:
        return [
            Annotation("warning", f"{o.name} alert not delivered: {o.message}", title="Alert not delivered")
            for o in self.failed
        ]
