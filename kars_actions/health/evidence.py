"""What a failing answer says about itself: its body as one short, redacted line, and the JSON fields that say
what is wrong (``database: "disconnected"``), for the console, the step summary and the alert."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from kars_actions.core import gha
from kars_actions.health.assertions import MISSING, HealthCheck, Observation, is_missing, lookup, show

BODY_LIMIT = 300  # characters of a body shown as evidence: enough for a health JSON, short enough for an alert
FIELD_LIMIT = 5  # fields quoted at most
JSON_LIMIT = 64 * 1024  # a body larger than this is shown as text, not parsed again
_DEPTH = 6

# Values health endpoints use to say that a part is not well: Spring Boot's "DOWN", terminus' "error", the
# health+json draft's "fail", ASP.NET's "Unhealthy", and the plain words apps write by hand.
UNHEALTHY_WORDS = frozenset(
    {
        "down",
        "fail",
        "failed",
        "failing",
        "failure",
        "error",
        "errored",
        "unhealthy",
        "degraded",
        "disconnected",
        "unavailable",
        "unreachable",
        "critical",
        "offline",
        "timeout",
        "timed out",
        "dead",
        "stopped",
        "not ok",
        "not_ok",
    }
)
# Keys whose ``false`` means that something is not well: {"database": {"connected": false}}.
HEALTH_FLAGS = frozenset({"ok", "healthy", "up", "connected", "alive", "ready", "available", "live", "success"})


@dataclass(frozen=True)
class Evidence:
    """What the last answer of an unhealthy target showed: the quoted failing fields and the body, one line each,
    redacted."""

    fields: tuple[str, ...] = ()
    body: str | None = None

    def __bool__(self) -> bool:
        return bool(self.fields or self.body)

    def fields_text(self) -> str:
        return ", ".join(self.fields)

    def to_json(self) -> dict[str, Any]:
        return {"fields": list(self.fields), "body": self.body}


def gather(check: HealthCheck, seen: Observation | None, *, named: frozenset[str] = frozenset()) -> Evidence:
    """The evidence in ``seen``. ``named``: JSON paths a failure already quotes, not quoted twice."""
    if seen is None or seen.error is not None or not seen.body:
        return Evidence()
    document = _document(seen)
    fields = tuple(gha.SECRETS.redact(f"{path}: {show(value)}") for path, value in _failing(check, document, named))
    return Evidence(fields, body_line(seen))


def body_line(seen: Observation, limit: int = BODY_LIMIT) -> str | None:
    """The body as one line: JSON written compactly, other text with its whitespace collapsed, control characters
    made visible, secrets redacted (before the cut, so a cut never leaves part of one), at most ``limit``
    characters."""
    if not seen.body:
        return None
    document = _document(seen)
    if is_missing(document):
        text = " ".join(seen.body[: (limit + 4096) * 4].decode("utf-8", errors="replace").split())
    else:
        text = json.dumps(document, separators=(",", ":"), ensure_ascii=False)
    window = gha.SECRETS.redact(_visible(text[: limit + 4096]))
    line = window if len(window) <= limit else window[: limit - 1].rstrip() + "…"
    if seen.truncated:
        line += f" (cut at {len(seen.body)} bytes)"
    return line


def _visible(text: str) -> str:
    """Control and other non-printing characters as escapes: a body must not move the cursor or start a line."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in text)


def _document(seen: Observation) -> Any:
    if seen.truncated or len(seen.body) > JSON_LIMIT or seen.body.lstrip()[:1] not in (b"{", b"["):
        return MISSING
    try:
        return json.loads(seen.body)
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError):
        return MISSING


def _failing(check: HealthCheck, document: Any, named: frozenset[str]) -> list[tuple[str, Any]]:
    """The asserted fields that do not hold, then the fields whose value reads as unwell; at most FIELD_LIMIT."""
    if is_missing(document):
        return []
    found: dict[str, Any] = {}
    for expectation in check.json:
        if expectation.check(document) is not None:
            actual = lookup(document, expectation.path)
            if not is_missing(actual) and expectation.path not in named:
                found.setdefault(expectation.path, actual)
    for path, value in _unwell(document, ()):
        if len(found) >= FIELD_LIMIT:
            break
        if path not in named:
            found.setdefault(path, value)
    return list(found.items())[:FIELD_LIMIT]


def _unwell(value: Any, path: tuple[str, ...]) -> Iterator[tuple[str, Any]]:
    if len(path) > _DEPTH:
        return
    if isinstance(value, Mapping):
        items: Iterator[tuple[str, Any]] = ((str(k), v) for k, v in value.items())
    elif isinstance(value, list):
        items = ((str(i), v) for i, v in enumerate(value))
    else:
        return
    for key, child in items:
        here = (*path, key)
        unwell_word = isinstance(child, str) and child.strip().lower() in UNHEALTHY_WORDS
        if unwell_word or (child is False and key.lower() in HEALTH_FLAGS):
            yield _dotted(here), child
        else:
            yield from _unwell(child, here)


def _dotted(path: tuple[str, ...]) -> str:
    """A path as ``--expect-json`` reads it back: dots between keys, ``\\.`` for a dot inside one."""
    return ".".join(part.replace("\\", "\\\\").replace(".", "\\.") for part in path)
