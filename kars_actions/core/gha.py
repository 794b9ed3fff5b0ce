"""The GitHub Actions runtime: masks, outputs, step summary, annotations, groups — and secret redaction."""

from __future__ import annotations

import logging
import os
import secrets as _random
import sys
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import TextIO

from kars_actions.core.errors import ConfigError

# Environment variables whose values are secrets wherever they appear. Names matching SECRET_NAME_PARTS are
# treated the same way, so a new input such as KARS_INPUT_SLACK_WEBHOOK is covered without a code change.
SECRET_ENV_VARS = (
    "RAILWAY_TOKEN",
    "RAILWAY_API_TOKEN",
    "GITHUB_TOKEN",
    "GH_TOKEN",
    "DATABASE_URL",
    "KARS_WEBHOOK_SECRET",
)
SECRET_NAME_PARTS = ("TOKEN", "WEBHOOK", "SECRET", "PASSWORD", "DATABASE_URL", "HEADERS", "API_KEY")
# Short values would redact ordinary words; GitHub masks them anyway, but our own filter does not.
_MIN_REDACT_LEN = 4
REDACTED = "***"


def in_actions() -> bool:
    return os.environ.get("GITHUB_ACTIONS") == "true"


def escape_data(value: str) -> str:
    """Escape a workflow command's message, as GitHub's toolkit does."""
    return value.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(value: str) -> str:
    """Escape a workflow command's property value (file=, title=, ...)."""
    return escape_data(value).replace(":", "%3A").replace(",", "%2C")


class SecretRegistry:
    """Every secret value the process knows. Registered values are masked in Actions and redacted from all output."""

    def __init__(self) -> None:
        self._values: set[str] = set()
        self._stream: TextIO | None = None

    def register(self, value: str | None) -> None:
        """Know ``value`` as a secret; in Actions, tell the runner to mask it (before anything else is printed)."""
        if not value or not value.strip():
            return
        parts = {value, *(line.strip() for line in value.splitlines() if line.strip())}
        new = [p for p in parts if p not in self._values]
        if not new:
            return
        self._values.update(new)
        if in_actions():
            stream = self._stream or sys.stdout
            for part in sorted(new, key=len, reverse=True):
                stream.write(f"::add-mask::{escape_data(part)}\n")
            stream.flush()

    def register_from_environ(self, environ: Mapping[str, str] | None = None) -> None:
        env = os.environ if environ is None else environ
        for name, value in env.items():
            upper = name.upper()
            if upper in SECRET_ENV_VARS or (
                upper.startswith(("KARS_", "INPUT_")) and any(p in upper for p in SECRET_NAME_PARTS)
            ):
                self.register(value)

    def redact(self, text: str) -> str:
        if not self._values or not text:
            return text
        for value in sorted(self._values, key=len, reverse=True):
            if len(value) >= _MIN_REDACT_LEN and value in text:
                text = text.replace(value, REDACTED)
        return text

    def __contains__(self, value: object) -> bool:
        return value in self._values

    def clear(self) -> None:
        self._values.clear()


SECRETS = SecretRegistry()


class RedactingFilter(logging.Filter):
    """Second layer behind ``::add-mask::``: strips registered secrets from every log record."""

    def __init__(self, registry: SecretRegistry = SECRETS) -> None:
        super().__init__()
        self.registry = registry

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = self.registry.redact(message)
        if redacted != message:
            record.msg = redacted
            record.args = None
        return True


def install_log_redaction(registry: SecretRegistry = SECRETS) -> None:
    """Put the redacting filter on the root logger and on each of its handlers (records from libraries too)."""
    root = logging.getLogger()
    if not any(isinstance(f, RedactingFilter) for f in root.filters):
        root.addFilter(RedactingFilter(registry))
    for handler in root.handlers:
        if not any(isinstance(f, RedactingFilter) for f in handler.filters):
            handler.addFilter(RedactingFilter(registry))


def workflow_command(name: str, message: str = "", **properties: str | int | None) -> str:
    """Format ``::name key=value,...::message`` with GitHub's escaping."""
    props = ",".join(
        f"{key}={escape_property(str(value))}" for key, value in properties.items() if value is not None and value != ""
    )
    head = f"::{name} {props}" if props else f"::{name}"
    return f"{head}::{escape_data(message)}"


def annotation_command(
    level: str,
    message: str,
    *,
    title: str | None = None,
    file: str | None = None,
    line: int | None = None,
    col: int | None = None,
    end_line: int | None = None,
    end_column: int | None = None,
) -> str:
    if level not in ("error", "warning", "notice"):
        raise ValueError(f"unknown annotation level {level!r}")
    return workflow_command(
        level,
        message,
        file=file,
        line=line,
        endLine=end_line,
        col=col,
        endColumn=end_column,
        title=title,
    )


def _delimiter(value: str) -> str:
    while True:
        candidate = f"ghadelimiter_{_random.token_hex(16)}"
        if candidate not in value:
            return candidate


def format_output(name: str, value: str) -> str:
    """One ``$GITHUB_OUTPUT`` entry; always the heredoc form with a random delimiter (safe for any value)."""
    if not name or any(c in name for c in "\r\n=<"):
        raise ConfigError(f"invalid output name {name!r}")
    delimiter = _delimiter(value)
    return f"{name}<<{delimiter}\n{value}\n{delimiter}\n"


def _append(path: str, text: str) -> None:
    with open(path, "a", encoding="utf-8") as handle:
        handle.write(text)


def writes_outputs() -> bool:
    """Whether Actions gave this step an outputs file (else outputs need not be built)."""
    return bool(os.environ.get("GITHUB_OUTPUT"))


def writes_summary() -> bool:
    """Whether Actions gave this step a summary file (else the summary need not be built)."""
    return bool(os.environ.get("GITHUB_STEP_SUMMARY"))


def set_outputs(outputs: Mapping[str, str], registry: SecretRegistry = SECRETS) -> bool:
    """Append outputs to ``$GITHUB_OUTPUT``; returns False outside Actions (nothing written)."""
    path = os.environ.get("GITHUB_OUTPUT")
    if not path or not outputs:
        return False
    _append(path, "".join(format_output(k, registry.redact(str(v))) for k, v in outputs.items()))
    return True


def append_summary(markdown: str, registry: SecretRegistry = SECRETS) -> bool:
    """Append Markdown to ``$GITHUB_STEP_SUMMARY``; returns False outside Actions."""
    path = os.environ.get("GITHUB_STEP_SUMMARY")
    if not path or not markdown:
        return False
    text = registry.redact(markdown)
    _append(path, text if text.endswith("\n") else text + "\n")
    return True


@contextmanager
def group(title: str, stream: TextIO | None = None) -> Iterator[None]:
    out = stream or sys.stdout
    out.write(f"::group::{escape_data(SECRETS.redact(title))}\n")
    try:
        yield
    finally:
        out.write("::endgroup::\n")
        out.flush()


def md_escape(text: str) -> str:
    """Escape text for a Markdown table cell."""
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", "<br>")


def md_table(headers: Iterable[str], rows: Iterable[Iterable[object]]) -> str:
    head = list(headers)
    lines = ["| " + " | ".join(md_escape(h) for h in head) + " |", "|" + "---|" * len(head)]
    for row in rows:
        lines.append("| " + " | ".join(md_escape("" if c is None else str(c)) for c in row) + " |")
    return "\n".join(lines) + "\n"
