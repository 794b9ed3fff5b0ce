"""Release alerts: Slack (Block Kit), Discord (embed) and a signed JSON webhook, built from data, never raising."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from kars_actions.core import gha
from kars_actions.core.backoff import Backoff
from kars_actions.core.errors import ConfigError
from kars_actions.core.report import Progress, no_progress
from kars_actions.core.timing import SYSTEM_CLOCK, Clock
from kars_actions.core.tls import tls_context
from kars_actions.core.urls import check_url
from kars_actions.notify.report import PLATFORM_NAMES, ChannelOutcome, NotifyResult

if TYPE_CHECKING:
    import httpx

    from kars_actions.core.config import AlertsConfig

EVENTS = ("failure", "rollback", "recovery", "success")
TRUNCATED = "… (truncated)"
ATTEMPTS = 3
BACKOFF = 2.0  # seconds before the second attempt; doubles after
# A channel's own wait (its 429's Retry-After, up to MAX_RETRY_AFTER) replaces the schedule's pause for that try.
RETRIES = Backoff(BACKOFF, retry_after="as-asked")
MAX_RETRY_AFTER = 60.0  # a rate limit asking for longer than this is not worth holding a release job for
REQUEST_TIMEOUT = 10.0
SIGNATURE_HEADER = "X-Kars-Signature-256"
TIMESTAMP_HEADER = "X-Kars-Timestamp"
EVENT_HEADER = "X-Kars-Event"
DELIVERY_HEADER = "X-Kars-Delivery"
PAYLOAD_SCHEMA = "kars.alert/v1"

# Slack Block Kit limits (https://api.slack.com/reference/block-kit/blocks)
SLACK_HEADER = 150
SLACK_SECTION = 3000
SLACK_FIELD = 2000
SLACK_FIELDS = 10
SLACK_BLOCKS = 50
SLACK_CONTEXT_ELEMENTS = 10
SLACK_BUTTON_TEXT = 75
SLACK_BUTTON_URL = 3000
# Discord embed limits
DISCORD_TITLE = 256
DISCORD_DESCRIPTION = 4096
DISCORD_FIELD_NAME = 256
DISCORD_FIELD_VALUE = 1024
DISCORD_FIELDS = 25
DISCORD_FOOTER = 2048
DISCORD_EMBED_TOTAL = 6000
DISCORD_CONTENT = 2000

_HEADLINES = {
    "failure": ("🔴", "Release failed"),
    "rollback": ("🟠", "Rolled back"),
    "recovery": ("🟢", "Recovered"),
    "success": ("✅", "Released"),
}
# A rollback event whose rollback did not end with the previous version serving: the title says so, never
# "Rolled back" (the release's outcome decides).
_OUTCOME_HEADLINES = {
    "rollback-failed": ("🔴", "Rollback did not complete"),
    "production-unknown": ("🔴", "State of production unknown"),
    # Another deployment replaced the release's during its watch: not published, nothing rolled back over it.
    "superseded": ("🟠", "Superseded, not published"),
}
_DISCORD_COLOURS = {"failure": 0xCF222E, "rollback": 0xBC4C00, "recovery": 0x1A7F37, "success": 0x1A7F37}


# The alert --------------------------------------------------------------------------------------------------


@dataclass
class Alert:
    """What happened, filled by the pipeline (or the ``notify`` command's flags). Every field is plain data."""

    event: str  # failure | rollback | recovery | success
    services: list[str] = field(default_factory=list)
    environment: str | None = None
    version: str | None = None
    commit_sha: str | None = None
    commit_subject: str | None = None
    summary: str | None = None  # what happened, in a sentence or two
    failure: str | None = None  # the failing assertion, health check or Railway status
    rollback: str | None = None  # the rollback outcome
    repository: str | None = None
    run_url: str | None = None
    release_url: str | None = None
    deployment_url: str | None = None
    outcome: str | None = None  # the release's outcome, when it changes what the title must say

    def __post_init__(self) -> None:
        if self.event not in EVENTS:
            raise ConfigError(f"unknown alert event {self.event!r}", hint=f"use one of: {', '.join(EVENTS)}")

    @property
    def short_sha(self) -> str | None:
        return self.commit_sha[:7] if self.commit_sha else None

    @property
    def headline(self) -> str:
        icon, words = _OUTCOME_HEADLINES.get(self.outcome or "") or _HEADLINES[self.event]
        what = ", ".join(self.services) if self.services else (self.repository or "release")
        parts = [f"{icon} {words}: {what}"]
        if self.version:
            parts.append(self.version)
        if self.environment:
            parts.append(f"→ {self.environment}")
        return " ".join(parts)

    def commit_line(self) -> str | None:
        """The short SHA and the subject; nothing without a SHA (a subject alone names no commit)."""
        if not self.short_sha:
            return None
        return " ".join(p for p in (self.short_sha, self.commit_subject) if p)

    def links(self) -> list[tuple[str, str]]:
        pairs = [("View run", self.run_url), ("Release", self.release_url), ("Deployment", self.deployment_url)]
        return [(label, url) for label, url in pairs if url and url.startswith(("https://", "http://"))]

    def to_json(self) -> dict[str, Any]:
        return {
            "event": self.event,
            "outcome": self.outcome,
            "services": list(self.services),
            "environment": self.environment,
            "version": self.version,
            # Whole or absent: a subject without the SHA it belongs to is never sent.
            "commit": (
                {"sha": self.commit_sha, "short_sha": self.short_sha, "subject": self.commit_subject}
                if self.commit_sha
                else None
            ),
            "summary": self.summary,
            "failure": self.failure,
            "rollback": self.rollback,
            "repository": self.repository,
            "links": {"run": self.run_url, "release": self.release_url, "deployment": self.deployment_url},
        }


def run_url_from_environ(environ: Mapping[str, str] | None = None) -> str | None:
    """``$GITHUB_SERVER_URL/$GITHUB_REPOSITORY/actions/runs/$GITHUB_RUN_ID`` when Actions provides them."""
    env = os.environ if environ is None else environ
    server, repo, run_id = env.get("GITHUB_SERVER_URL"), env.get("GITHUB_REPOSITORY"), env.get("GITHUB_RUN_ID")
    if not (server and repo and run_id):
        return None
    url = f"{server.rstrip('/')}/{repo}/actions/runs/{run_id}"
    attempt = env.get("GITHUB_RUN_ATTEMPT")
    return f"{url}/attempts/{attempt}" if attempt and attempt != "1" else url


# Text helpers -----------------------------------------------------------------------------------------------


def truncate(text: str, limit: int, note: str = TRUNCATED) -> str:
    """``text`` cut to ``limit`` characters, ending with ``note`` when it had to be cut."""
    if len(text) <= limit:
        return text
    if limit <= len(note):
        return text[:limit]
    return text[: limit - len(note)].rstrip() + note


def slack_escape(text: str) -> str:
    """Slack mrkdwn control characters; also defuses ``<!channel>``, ``<@U123>`` and ``<url|label>`` links."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _slack_truncate(escaped: str, limit: int) -> str:
    """Truncate already-escaped text without leaving half an entity (``&am``) behind."""
    if len(escaped) <= limit:
        return escaped
    cut = escaped[: limit - len(TRUNCATED)]
    cut = re.sub(r"&[a-z]{0,4}$", "", cut)
    return cut.rstrip() + TRUNCATED


def _slack_text(text: str, limit: int) -> str:
    return _slack_truncate(slack_escape(text), limit)


_DISCORD_MARKDOWN = re.compile(r"([\\*_~`|>#\[\]()-])")
_DISCORD_MENTION = re.compile(r"@(everyone|here)")


def discord_escape(text: str) -> str:
    """Show text literally in Discord: Markdown escaped, mass mentions broken (``allowed_mentions`` also
    forbids every ping, so ``<@id>`` and ``<@&role>`` stay inert)."""
    text = _DISCORD_MARKDOWN.sub(r"\\\1", text)
    return _DISCORD_MENTION.sub("@\u200b\\1", text)


def _discord_text(text: str, limit: int) -> str:
    escaped = discord_escape(text)
    if len(escaped) <= limit:
        return escaped
    cut = escaped[: limit - len(TRUNCATED)]
    if cut.endswith("\\") and not cut.endswith("\\\\"):
        cut = cut[:-1]
    return cut.rstrip() + TRUNCATED


def _facts(alert: Alert) -> list[tuple[str, str]]:
    facts: list[tuple[str, str]] = []
    if alert.services:
        facts.append(("Service" if len(alert.services) == 1 else "Services", ", ".join(alert.services)))
    if alert.environment:
        facts.append(("Environment", alert.environment))
    if alert.version:
        facts.append(("Version", alert.version))
    commit = alert.commit_line()
    if commit:
        facts.append(("Commit", commit))
    return facts


def _describe(alert: Alert) -> list[tuple[str, str]]:
    """The long parts, in order: what happened, why, and what was done about it."""
    parts: list[tuple[str, str]] = []
    if alert.summary:
        parts.append(("What happened", alert.summary))
    if alert.failure:
        parts.append(("Failure", alert.failure))
    if alert.rollback:
        parts.append(("Rollback", alert.rollback))
    return parts


def _footer(alert: Alert) -> str:
    return " · ".join(p for p in (alert.repository, "kars-actions") if p)


# Payloads ---------------------------------------------------------------------------------------------------


def build_slack_payload(alert: Alert) -> dict[str, Any]:
    """A Block Kit message: header, facts as fields, the story as sections, context, link buttons."""
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": truncate(alert.headline, SLACK_HEADER)}}
    ]
    facts = _facts(alert)[:SLACK_FIELDS]
    if facts:
        blocks.append(
            {
                "type": "section",
                "fields": [
                    {"type": "mrkdwn", "text": _slack_text(f"*{name}*\n", 40) + _slack_text(value, SLACK_FIELD - 50)}
                    for name, value in facts
                ],
            }
        )
    for name, text in _describe(alert):
        # Failure text is shown verbatim in a code block; backticks inside would end it early, so they are swapped.
        if name == "Failure":
            body = "```" + _slack_text(text.replace("```", "ˋˋˋ"), SLACK_SECTION - 40) + "```"
        else:
            body = _slack_text(text, SLACK_SECTION - 40)
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": f"*{name}*\n{body}"}})
    context = [p for p in (alert.repository, f"event: {alert.event}") if p][:SLACK_CONTEXT_ELEMENTS]
    blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": _slack_text(c, 300)} for c in context]})
    links = alert.links()
    if links:
        blocks.append(
            {
                "type": "actions",
                "elements": [
                    {
                        "type": "button",
                        "text": {"type": "plain_text", "text": truncate(label, SLACK_BUTTON_TEXT)},
                        "url": url,
                    }
                    for label, url in links
                    if len(url) <= SLACK_BUTTON_URL
                ],
            }
        )
    if len(blocks) > SLACK_BLOCKS:
        more = {"type": "context", "elements": [{"type": "mrkdwn", "text": "more details were left out"}]}
        blocks = [*blocks[: SLACK_BLOCKS - 1], more]
    fallback = alert.headline + (f" — {alert.failure}" if alert.failure else "")
    # ``text`` is what notifications and screen readers show; Block Kit renders the blocks.
    return {"text": _slack_text(fallback, SLACK_SECTION), "blocks": blocks}


def _embed_size(embed: dict[str, Any]) -> int:
    size = len(embed.get("title", "")) + len(embed.get("description", ""))
    size += sum(len(f["name"]) + len(f["value"]) for f in embed.get("fields", []))
    size += len(embed.get("footer", {}).get("text", ""))
    return size


def build_discord_payload(alert: Alert) -> dict[str, Any]:
    """One embed coloured by outcome, with the facts as inline fields; no mention can ping anyone."""
    description_parts = [f"**{name}**\n{discord_escape(text)}" for name, text in _describe(alert)]
    description = "\n\n".join(description_parts)
    if len(description) > DISCORD_DESCRIPTION:
        description = truncate(description, DISCORD_DESCRIPTION)
    fields = [
        {
            "name": truncate(name, DISCORD_FIELD_NAME),
            "value": _discord_text(value, DISCORD_FIELD_VALUE),
            "inline": name != "Commit",
        }
        for name, value in _facts(alert)
    ]
    links = alert.links()
    if links:
        value = " · ".join(f"[{label}]({url})" for label, url in links)
        fields.append({"name": "Links", "value": truncate(value, DISCORD_FIELD_VALUE), "inline": False})
    embed: dict[str, Any] = {
        "title": truncate(alert.headline, DISCORD_TITLE),
        "color": _DISCORD_COLOURS["failure" if alert.outcome in _OUTCOME_HEADLINES else alert.event],
        "fields": fields[:DISCORD_FIELDS],
        "footer": {"text": truncate(_footer(alert), DISCORD_FOOTER)},
    }
    if description:
        embed["description"] = description
    if alert.run_url and alert.run_url.startswith(("https://", "http://")):
        embed["url"] = alert.run_url
    overflow = _embed_size(embed) - DISCORD_EMBED_TOTAL
    if overflow > 0 and description:
        embed["description"] = truncate(description, max(len(TRUNCATED), len(description) - overflow))
    while _embed_size(embed) > DISCORD_EMBED_TOTAL and embed["fields"]:
        embed["fields"].pop()
    return {
        "content": truncate(_discord_text(alert.headline, DISCORD_CONTENT), DISCORD_CONTENT),
        "embeds": [embed],
        "allowed_mentions": {"parse": []},
    }


def build_webhook_payload(alert: Alert) -> dict[str, Any]:
    """The generic webhook's body: the alert as structured data, plus its headline for simple receivers."""
    return {"schema": PAYLOAD_SCHEMA, "title": alert.headline, **alert.to_json()}


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """``sha256=<hex>`` of HMAC-SHA256 over ``<timestamp>.<body>`` — the receiver recomputes it to verify."""
    digest = hmac.new(secret.encode("utf-8"), timestamp.encode("ascii") + b"." + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


# Channels ---------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Channel:
    kind: str  # slack | discord | webhook
    url: str = field(repr=False)
    secret: str | None = field(default=None, repr=False)

    @property
    def name(self) -> str:
        return PLATFORM_NAMES[self.kind]


@dataclass(frozen=True)
class ChannelOverrides:
    """Webhooks given on the command line (or their env vars); each beats kars.yml's ``alerts.*_env``."""

    slack_webhook: str | None = None
    discord_webhook: str | None = None
    webhook_url: str | None = None
    webhook_secret: str | None = None


def _check_url(kind: str, url: str) -> str:
    # The value is a secret: say what is wrong without echoing it.
    return check_url(
        url,
        "the webhook URL" if kind == "webhook" else f"the {PLATFORM_NAMES[kind]} webhook",
        error=ConfigError,
        secret=True,
        hint="pass the full webhook URL (https://...) through a secret",
    )


def channels_from_config(
    cfg: AlertsConfig | None,
    overrides: ChannelOverrides | None = None,
    environ: Mapping[str, str] | None = None,
) -> list[Channel]:
    """The channels to alert, from overrides first, then the env vars kars.yml names. Every URL and the secret
    are registered as secrets before anything can print them."""
    env = os.environ if environ is None else environ
    given = overrides or ChannelOverrides()

    def pick(value: str | None, env_name: str | None) -> str | None:
        if value and value.strip():
            return value.strip()
        if env_name:
            found = env.get(env_name)
            if found and found.strip():
                return found.strip()
        return None

    slack = pick(given.slack_webhook, cfg.slack_webhook_env if cfg else None)
    discord = pick(given.discord_webhook, cfg.discord_webhook_env if cfg else None)
    webhook = pick(given.webhook_url, cfg.webhook_url_env if cfg else None)
    secret = pick(given.webhook_secret, (cfg.webhook_secret_env if cfg else None) or "KARS_WEBHOOK_SECRET")
    for value in (slack, discord, webhook, secret):
        gha.SECRETS.register(value)
    channels: list[Channel] = []
    if slack:
        channels.append(Channel("slack", _check_url("slack", slack)))
    if discord:
        channels.append(Channel("discord", _check_url("discord", discord)))
    if webhook:
        channels.append(Channel("webhook", _check_url("webhook", webhook), secret))
    return channels


def wanted(event: str, cfg: AlertsConfig | None) -> bool:
    """Whether kars.yml's ``alerts.on`` asks for this event (default: failure, rollback, recovery)."""
    on = cfg.on if cfg else ["failure", "rollback", "recovery"]
    return event in on


# Delivery ---------------------------------------------------------------------------------------------------


def _retry_after(response: httpx.Response) -> float | None:
    header = response.headers.get("Retry-After")
    if header:
        try:
            return max(0.0, float(header))
        except ValueError:
            pass
    try:
        body = response.json()
    except ValueError:
        return None
    value = body.get("retry_after") if isinstance(body, dict) else None
    if isinstance(value, (int, float)):
        # Discord sends seconds as a float; very old API versions sent milliseconds (values in the thousands).
        return float(value) / 1000 if value > 1000 else float(value)
    return None


def _request(channel: Channel, alert: Alert, now: Callable[[], float]) -> tuple[bytes, dict[str, str]]:
    if channel.kind == "slack":
        payload = build_slack_payload(alert)
    elif channel.kind == "discord":
        payload = build_discord_payload(alert)
    else:
        payload = build_webhook_payload(alert)
    body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    headers = {"Content-Type": "application/json", "User-Agent": "kars-actions"}
    if channel.kind == "webhook":
        timestamp = str(int(now()))
        headers[EVENT_HEADER] = alert.event
        headers[TIMESTAMP_HEADER] = timestamp
        headers[DELIVERY_HEADER] = str(uuid.uuid4())
        if channel.secret:
            headers[SIGNATURE_HEADER] = sign(channel.secret, timestamp, body)
    return body, headers


def _deliver(
    client: httpx.Client,
    channel: Channel,
    alert: Alert,
    clock: Clock,
    progress: Progress,
    now: Callable[[], float],
    attempts: int,
) -> ChannelOutcome:
    import httpx

    outcome = ChannelOutcome(channel.kind, delivered=False)
    pauses = RETRIES.start()
    for attempt in range(1, attempts + 1):
        outcome.attempts = attempt
        # Rebuilt per attempt: the signed timestamp must be fresh for receivers that reject old deliveries.
        body, headers = _request(channel, alert, now)
        wait: float | None = None
        try:
            response = client.post(channel.url, content=body, headers=headers)
        except httpx.TimeoutException:
            outcome.message = f"{channel.name} did not answer within {REQUEST_TIMEOUT:.0f}s"
        except httpx.HTTPError as error:
            # httpx errors carry the URL, which is a secret: say only what kind of failure it was.
            outcome.message = f"could not reach {channel.name} ({type(error).__name__})"
        else:
            outcome.status = response.status_code
            if response.is_success:
                outcome.delivered = True
                outcome.message = ""
                if channel.kind == "webhook" and not channel.secret:
                    outcome.message = "sent unsigned: set KARS_WEBHOOK_SECRET so the receiver can verify it"
                return outcome
            if response.status_code == 429:
                wait = _retry_after(response)
                outcome.message = f"{channel.name} rate limited the alert (HTTP 429)"
                if wait is not None and wait > MAX_RETRY_AFTER:
                    outcome.message += f"; it asked to wait {wait:.0f}s, longer than kars waits"
                    return outcome
            elif response.status_code >= 500:
                outcome.message = f"{channel.name} answered HTTP {response.status_code}"
            else:
                outcome.message = f"{channel.name} refused the alert (HTTP {response.status_code})" + (
                    ": check that the webhook URL is current" if response.status_code in (401, 403, 404) else ""
                )
                return outcome
        if attempt < attempts:
            pause = pauses.next(retry_after=wait)
            progress(f"{channel.name}: {outcome.message}; retrying in {pause:.1f}s")
            clock.sleep(pause)
    outcome.message += f" (gave up after {attempts} attempts)"
    return outcome


def send_alerts(
    alert: Alert,
    channels: list[Channel],
    clock: Clock = SYSTEM_CLOCK,
    progress: Progress = no_progress,
    *,
    dry_run: bool = False,
    strict: bool = False,
    attempts: int = ATTEMPTS,
    client: httpx.Client | None = None,
    now: Callable[[], float] = time.time,
) -> NotifyResult:
    """Send ``alert`` to every channel. Never raises for a delivery failure: each channel's outcome is returned."""
    if not channels:
        # Said in a dry run too: a dry run that prints nothing reads as "all set" when nothing would be sent.
        return NotifyResult(
            alert.event, [], strict=strict, skipped="no alert channel configured (set a Slack, Discord or webhook URL)"
        )
    if dry_run:
        outcomes = []
        for channel in channels:
            body, _ = _request(channel, alert, now)
            outcomes.append(ChannelOutcome(channel.kind, False, payload=json.loads(body), dry_run=True))
        return NotifyResult(alert.event, outcomes, strict=strict)
    import httpx

    own = client is None
    http = client or httpx.Client(
        timeout=REQUEST_TIMEOUT, follow_redirects=False, verify=tls_context(trust_env=True)
    )
    try:
        outcomes = [_deliver(http, c, alert, clock, progress, now, max(1, attempts)) for c in channels]
    finally:
        if own:
            http.close()
    return NotifyResult(alert.event, outcomes, strict=strict)
