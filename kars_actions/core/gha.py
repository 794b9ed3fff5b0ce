"""The GitHub Actions runtime: masks, outputs, step summary, annotations, groups — and the one redaction layer."""

from __future__ import annotations

import atexit
import base64
import binascii
import html
import io
import json
import logging
import os
import re
import secrets as _random
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from typing import TextIO
from urllib.parse import quote, quote_plus, unquote, urlsplit

from kars_actions.core.errors import ConfigError
from kars_actions.core.summary import SUMMARY_LIMIT, SUMMARY_MARGIN, Fitted, Section, fit, sections

# Environment variables whose values are secrets wherever they appear, whatever their length. Also secret:
# KARS_* and INPUT_* names with a part of SECRET_NAME_PARTS (so a new input such as KARS_INPUT_SLACK_WEBHOOK is
# covered without a code change), and any DATABASE…URL (DATABASE_URL, DATABASE_PUBLIC_URL, which backup reads).
SECRET_ENV_VARS = (
    "RAILWAY_TOKEN",
    "RAILWAY_API_TOKEN",
    "GITHUB_TOKEN",
    "GH_TOKEN",
    "SLACK_WEBHOOK_URL",
    "DISCORD_WEBHOOK_URL",
)
SECRET_NAME_PARTS = ("TOKEN", "WEBHOOK", "SECRET", "PASSWORD", "DATABASE_URL", "HEADERS", "API_KEY")
# Any other variable named like a credential (NPM_TOKEN, ACTIONS_RUNTIME_TOKEN, ...) is a secret too, when its
# value looks like one: a flag such as USE_TOKEN=true must not turn every "true" in the output into ***.
_GENERIC_SECRET_NAME = re.compile(r"(^|_)(TOKEN|SECRET|PASSWORD|PASSWD|API_KEY|WEBHOOK_URL|WEBHOOK)$")
_GENERIC_MIN_LEN = 8
# Short values would redact ordinary words; GitHub masks them anyway, but our own filter does not.
_MIN_REDACT_LEN = 4
# A secret cut short by a truncation must not leave this much of its start (or end) behind; nor 4 or 5
# characters that look like a token's.
_PIECE_LEN = 6
_SHORT_SIZES = (5, 4)
REDACTED = "***"

# Words that introduce a credential in a header value: the bare token after them is a secret of its own.
_SCHEME_WORD = re.compile(r"^(?:bearer|token|basic|bot|digest|apikey|api-key)\s+(\S+)$", re.IGNORECASE)
_HEADER_LINE = re.compile(r"^[A-Za-z0-9!#$&'*+.^_`|~-]+\s*:\s*(\S.*)$")
# The credentials part of any URL the program prints, registered or not: scheme://user:password@host.
_URL_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/\s@?#]+@")
# Where a truncated excerpt ends (or a left-truncated one starts): a piece of a secret next to one of these.
# (" — " is where an annotation's message meets its hint.)
_CUT_AFTER = re.compile(r"(?=\r|\n|…|\.\.\.|%0A|%0D|<br>|\\n|\\r|[\"'`]| — |$)")
_CUT_BEFORE = re.compile(r"(?:^|\r|\n|…|\.\.\.|%0A|%0D|<br>|\\n|\\r|[\"'`])")
# How a value is escaped inside what the program prints: URLs, JSON strings, Python reprs, HTML.
_ESCAPES: tuple[Callable[[str], str], ...] = (
    partial(quote, safe=""),
    partial(quote, safe="/:@"),
    partial(quote, safe="/:@?&=+$,;~!*'()#[]%"),
    quote_plus,
    lambda value: json.dumps(value)[1:-1],
    lambda value: json.dumps(value, ensure_ascii=False)[1:-1],
    lambda value: repr(value)[1:-1],
    partial(html.escape, quote=True),
    partial(html.escape, quote=False),
)


def in_actions() -> bool:
    return os.environ.get("GITHUB_ACTIONS") == "true"


def escape_data(value: str) -> str:
    """Escape a workflow command's message, as GitHub's toolkit does."""
    return value.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(value: str) -> str:
    """Escape a workflow command's property value (file=, title=, ...)."""
    return escape_data(value).replace(":", "%3A").replace(",", "%2C")


def md_escape(text: str) -> str:
    """Escape text for a Markdown table cell."""
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", "<br>")


def _basic(user: str, password: str) -> str:
    return base64.b64encode(f"{user}:{password}".encode()).decode("ascii")


def url_credentials(value: str) -> set[str]:
    """password, user:password and its base64 (the Basic header httpx builds) of a URL with userinfo; the user
    alone only when there is no password (then it is the token)."""
    try:
        parts = urlsplit(value.strip())
        user, password = parts.username, parts.password
    except ValueError:
        return set()
    found: set[str] = set()
    if user and not password:  # a token given as the user name (https://TOKEN@host); a plain name is no secret
        found.add(user)
        found.add(unquote(user))
    if password:
        found |= {password, unquote(password), f"{user or ''}:{password}", f"{unquote(user or '')}:{unquote(password)}"}
        found.add(_basic(unquote(user or ""), unquote(password)))
    elif user:
        found.add(_basic(unquote(user), ""))
    return found


def _roots(value: str) -> set[str]:
    """The secret and the pieces of it that travel alone: each line, a header's value, the token after Bearer,
    the user:password inside a Basic credential or a URL."""
    roots = {value, value.strip()}
    roots |= {line.strip() for line in value.splitlines() if line.strip()}
    for root in list(roots):
        header = _HEADER_LINE.match(root)
        if header and not header.group(1).startswith("//"):
            roots.add(header.group(1).strip())
    for root in list(roots):
        scheme = _SCHEME_WORD.match(root)
        if scheme:
            token = scheme.group(1)
            roots.add(token)
            if root.lower().startswith("basic"):
                try:
                    decoded = base64.b64decode(token, validate=True).decode("utf-8")
                except (binascii.Error, UnicodeDecodeError):
                    decoded = ""
                roots |= {decoded, decoded.partition(":")[2]}  # too short (or empty) ones are dropped below
    for root in list(roots):
        if "://" in root:
            roots |= url_credentials(root)
            path = _url_path(root)
            if path:
                roots.add(path)
    return {r for r in roots if len(r) >= _MIN_REDACT_LEN}


def _cuttable(root: str) -> bool:
    """Whether a piece of ``root`` is itself secret: not for text with spaces or a header's name in front
    (``Authorization`` alone gives nothing away)."""
    return not any(c.isspace() for c in root) and not (_HEADER_LINE.match(root) and "://" not in root)


def _url_path(value: str) -> str | None:
    """The part of a secret URL after its host (a webhook's secret lives there); printed re-encoded or with a
    different host spelling, it must still be found."""
    try:
        parts = urlsplit(value)
    except ValueError:
        return None
    rest = parts.path + (f"?{parts.query}" if parts.query else "")
    return rest if len(rest.strip("/")) >= _PIECE_LEN + 2 else None


def _encodings(root: str) -> set[str]:
    """How a value looks once printed through each escaping the program uses, and through two of them nested
    (a JSON body quoted inside a JSON output, a JSON value inside a URL) — then inside a workflow command or a
    Markdown table."""
    once = {root} | {escape(root) for escape in _ESCAPES}
    twice = once | {escape(form) for form in once for escape in _ESCAPES}
    forms = set(twice)
    for form in twice:
        forms |= {escape_data(form), escape_property(form), md_escape(form), escape_data(md_escape(form))}
    return forms


class SecretRegistry:
    """Every secret value the process knows, with every form it can be printed in.

    Registered values are masked in Actions (``::add-mask::``) and redacted from every byte the program
    writes, after formatting: escaping, truncation, tables and JSON all happen before ``redact`` runs.
    """

    def __init__(self) -> None:
        self._values: set[str] = set()
        self._forms: set[str] = set()
        self._cut_forms: set[str] = set()
        self._stream: TextIO | None = None
        self._matcher: _Matcher | None = None  # built at the first redaction after a new form
        self._httpx_done: set[str] = set()

    def register(self, value: str | None) -> None:
        """Know ``value`` as a secret; in Actions, tell the runner to mask it (before anything else is printed)."""
        if not value or not value.strip() or value in self._values:
            return
        self._values.add(value)
        new: set[str] = set()
        cut: set[str] = set()
        for root in _roots(value):
            forms = _encodings(root)  # as long as the root at least: escaping never shortens
            new |= forms
            if _cuttable(root):
                cut |= forms
        self._add_forms(new, cut)

    def _add_forms(self, forms: set[str], cut: set[str]) -> None:
        new = forms - self._forms
        self._cut_forms |= cut
        if new:
            self._forms |= new
            self._matcher = None
            if in_actions():
                self._mask(new)

    def _mask(self, forms: Iterable[str]) -> None:
        stream = self._stream or sys.stdout
        lines = "".join(f"::add-mask::{escape_data(p)}\n" for p in sorted(forms, key=len, reverse=True))
        raw = stream.write_raw if isinstance(stream, RedactingStream) else stream.write
        raw(lines)
        stream.flush()

    def register_from_environ(self, environ: Mapping[str, str] | None = None) -> None:
        env = os.environ if environ is None else environ
        for name, value in env.items():
            if is_secret_name(name, value):
                self.register(value)

    # --- redaction -----------------------------------------------------------------------------------------

    def _learn_httpx_forms(self) -> None:
        """httpx logs URLs re-encoded; once it is loaded, know each secret URL the way it will print it."""
        httpx = sys.modules.get("httpx")
        if httpx is None:
            return
        pending = [v for v in self._values if "://" in v and v not in self._httpx_done]
        for value in pending:
            self._httpx_done.add(value)
            try:
                shown = str(httpx.URL(value.strip()))
            except Exception:  # noqa: BLE001 - a value httpx cannot parse is never printed by it either
                continue
            path = _url_path(shown)
            forms = _encodings(shown) | (_encodings(path) if path else set())
            self._add_forms(forms, forms)

    def redact(self, text: str) -> str:
        if "://" in text:  # what the pattern needs before it can match: most text is passed over at once
            text = _URL_USERINFO.sub(rf"\1{REDACTED}@", text)
        if not self._forms:
            return text
        self._learn_httpx_forms()
        if self._matcher is None:
            self._matcher = _Matcher.build(self._forms, self._cut_forms)
        return self._matcher.redact(text)

    def __contains__(self, value: object) -> bool:
        return value in self._values

    def clear(self) -> None:
        """Forget every secret (between tests; a process never forgets one)."""
        self._values.clear()
        self._forms.clear()  # the matcher is rebuilt when a form is next added
        self._cut_forms.clear()
        self._httpx_done.clear()


@dataclass
class _Matcher:
    """What redaction looks for, built from the registry's forms (again after each new secret): every form, the
    8-character ends of tokens, and the pieces of each form a cut could leave (keyed by their 6 characters)."""

    pattern: re.Pattern[str]
    ends: re.Pattern[str] | None
    heads: dict[str, list[tuple[str, int]]]
    tails: dict[str, list[tuple[str, int]]]
    short_heads: frozenset[str]
    short_tails: frozenset[str]
    # A piece of a form starts as the form does and ends as it does: text holding none of these starts and ends
    # holds no piece, and is passed over without looking at each of its cuts.
    markers: tuple[str, ...]

    @classmethod
    def build(cls, forms: set[str], cut_forms: set[str]) -> _Matcher:
        pattern = re.compile("|".join(re.escape(f) for f in sorted(forms, key=len, reverse=True)))
        # The last 8 characters of a token identify it: found anywhere, alone, they are redacted too. Not a
        # URL's that ends at its host or with a short path (postgres://…@db:5432/app): that end is no secret.
        ends = {f[-8:] for f in cut_forms if len(f) >= 12 and _looks_random(f[-8:]) and _ends_in_secret(f)}
        heads: dict[str, list[tuple[str, int]]] = {}
        tails: dict[str, list[tuple[str, int]]] = {}
        short_heads: set[str] = set()
        short_tails: set[str] = set()
        markers: set[str] = set()
        for form in cut_forms:
            # A URL's scheme and host are not the secret part: only a piece past them counts.
            least = _PIECE_LEN
            if "://" in form:
                least = max(least, len(form) - len(_url_path(form) or "") + 1)
            for k in range(least, len(form)):
                heads.setdefault(form[k - _PIECE_LEN : k], []).append((form, k))
            for j in range(1, len(form) - _PIECE_LEN + 1):
                tails.setdefault(form[j : j + _PIECE_LEN], []).append((form, j))
            # 4 or 5 characters are a piece too when they look like a token's (digits or mixed case): "…fXYZ".
            shortest_head, shortest_tail = least, _PIECE_LEN  # the shortest piece each way, found below
            for size in _SHORT_SIZES:
                if _looks_random(form[:size]):  # never a URL's: a scheme is letters of one case
                    short_heads.add(form[:size])
                    shortest_head = min(shortest_head, size)
                if _looks_random(form[-size:]):
                    short_tails.add(form[-size:])
                    shortest_tail = min(shortest_tail, size)
            markers.add(form[:shortest_head])
            markers.add(form[-shortest_tail:])
        end_pattern = re.compile("|".join(re.escape(e) for e in ends)) if ends else None
        return cls(
            pattern, end_pattern, heads, tails, frozenset(short_heads), frozenset(short_tails), tuple(sorted(markers))
        )

    def redact(self, text: str) -> str:
        text = self.pattern.sub(REDACTED, text)
        # Pieces before the 8-character ends: an end redacted first would hide the longer piece it closes.
        text = self._redact_pieces(text)
        return self.ends.sub(REDACTED, text) if self.ends is not None else text

    def _redact_pieces(self, text: str) -> str:
        """A secret's start before a cut (``ghp_abc…``) or its end after one: a truncation never leaks a piece.

        4 or 5 characters count when they look like a token's and stand alone (no letter or digit beyond)."""
        if not any(marker in text for marker in self.markers):
            return text
        spans: list[tuple[int, int]] = []
        heads, tails, short_heads, short_tails = self.heads, self.tails, self.short_heads, self.short_tails
        for match in _CUT_AFTER.finditer(text):
            end = match.start()
            key = text[end - _PIECE_LEN : end] if end >= _PIECE_LEN else ""
            best = 0
            for form, k in heads.get(key, ()):
                if text[end - k : end] == form[:k]:
                    best = max(best, k)
            if not best:
                for size in _SHORT_SIZES:
                    alone = not text[end - size - 1 : end - size].isalnum()
                    if end >= size and text[end - size : end] in short_heads and alone:
                        best = size
                        break
            if best:
                spans.append((end - best, end))
        for match in _CUT_BEFORE.finditer(text):
            start = match.end()
            key = text[start : start + _PIECE_LEN]
            best = 0
            for form, j in tails.get(key, ()):
                if text[start : start + len(form) - j] == form[j:]:
                    best = max(best, len(form) - j)
            if not best:
                for size in _SHORT_SIZES:
                    alone = not text[start + size : start + size + 1].isalnum()
                    if text[start : start + size] in short_tails and alone:
                        best = size
                        break
            if best:
                spans.append((start, start + best))
        spans.sort()
        out: list[str] = []
        cursor = 0
        for start, end in spans:
            if end <= cursor:
                continue
            out.append(text[cursor : max(start, cursor)])
            out.append(REDACTED)
            cursor = end
        out.append(text[cursor:])
        return "".join(out)


def _ends_in_secret(form: str) -> bool:
    """Whether the end of ``form`` is secret: not for a URL (escaped or not) ending at its host or a short path."""
    plain = unquote(unquote(form))
    return "://" not in plain or _url_path(plain) is not None


def _looks_random(text: str) -> bool:
    """A token's end (digits, or mixed case), not an ordinary word such as "database"."""
    return not any(c.isspace() for c in text) and (
        any(c.isdigit() for c in text) or (any(c.isupper() for c in text) and any(c.islower() for c in text))
    )


def is_secret_name(name: str, value: str) -> bool:
    """Whether the environment variable ``name`` holds a secret."""
    upper = name.upper()
    if upper in SECRET_ENV_VARS:
        return True
    if upper.startswith(("KARS_", "INPUT_")) and any(p in upper for p in SECRET_NAME_PARTS):
        return True
    if "DATABASE" in upper and upper.endswith("URL"):  # DATABASE_PUBLIC_URL, DATABASE_PRIVATE_URL, ...
        return True
    if _GENERIC_SECRET_NAME.search(upper):
        text = value.strip()
        return len(text) >= _GENERIC_MIN_LEN  # so "true", "false" and other short switches are not
    return False


SECRETS = SecretRegistry()


class RedactingStream(io.TextIOBase):
    """stdout or stderr with every line redacted before it reaches the real stream.

    Text is held until its line is complete, so a secret written in two pieces is still found; whatever is
    left is written at exit. It has no ``buffer``: nobody (click included) can write around it.
    """

    _MAX_PENDING = 64 * 1024

    def __init__(self, raw: TextIO, registry: SecretRegistry = SECRETS) -> None:
        super().__init__()
        self.raw = raw
        self.registry = registry
        self._pending = ""

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return getattr(self.raw, "encoding", None) or "utf-8"

    @property
    def errors(self) -> str:  # type: ignore[override]
        return "backslashreplace"

    def writable(self) -> bool:
        return True

    def isatty(self) -> bool:
        return bool(getattr(self.raw, "isatty", lambda: False)())

    def fileno(self) -> int:
        return self.raw.fileno()

    def write(self, text: str) -> int:
        if not isinstance(text, str):
            raise TypeError(f"write() argument must be str, not {type(text).__name__}")
        self._pending += text
        if "\n" in self._pending:
            head, _, self._pending = self._pending.rpartition("\n")
            self._emit(head + "\n")
        if len(self._pending) > self._MAX_PENDING:
            self.drain()
        return len(text)

    def _emit(self, text: str) -> None:
        safe = self.registry.redact(text)
        try:
            self.raw.write(safe)
        except UnicodeEncodeError:
            encoding = self.encoding
            self.raw.write(safe.encode(encoding, "backslashreplace").decode(encoding))

    def write_raw(self, text: str) -> None:
        """For ``::add-mask::`` lines only: they must name the secret to hide it."""
        self.raw.write(text)

    def flush(self) -> None:
        # A partial line stays held: the rest of it may complete a secret.
        try:
            self.raw.flush()
        except (OSError, ValueError):
            return

    def drain(self) -> None:
        """Write the held partial line (at exit, or when it grows too long)."""
        if self._pending:
            pending, self._pending = self._pending, ""
            self._emit(pending)
        self.flush()


def install_redacting_streams(registry: SecretRegistry = SECRETS) -> None:
    """Put ``sys.stdout`` and ``sys.stderr`` behind the redaction layer (once), for the rest of the process."""
    for name in ("stdout", "stderr"):
        current = getattr(sys, name)
        if current is None or isinstance(current, RedactingStream):
            continue
        wrapped = RedactingStream(current, registry)
        setattr(sys, name, wrapped)
        atexit.register(wrapped.drain)


def drain_streams() -> None:
    for stream in (sys.stdout, sys.stderr):
        if isinstance(stream, RedactingStream):
            stream.drain()


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


ANNOTATION_LEVELS = ("error", "warning", "notice")  # in the order they matter
ANNOTATIONS_PER_STEP = 10  # of each level: GitHub drops the rest without a word
ANNOTATIONS_PER_JOB = 50
_JOB_COUNT_FILE = "kars-actions-annotations"


class AnnotationBudget:
    """How many annotations of each level this step may still show.

    GitHub shows at most 10 errors, 10 warnings and 10 notices per step and 50 annotations per job, and drops
    the rest silently. The job's count is kept in ``$RUNNER_TEMP``, which the runner empties at each job's start
    and end, so a later kars step of the same job knows what earlier ones used."""

    def __init__(self, directory: str | None = None) -> None:
        folder = os.environ.get("RUNNER_TEMP") if directory is None else directory
        self._path = os.path.join(folder, _JOB_COUNT_FILE) if folder else None
        self._step = dict.fromkeys(ANNOTATION_LEVELS, 0)

    def _job_used(self) -> int:
        if self._path is None:
            return 0
        try:
            with open(self._path, encoding="utf-8") as handle:
                return int(handle.read().strip() or 0)
        except (OSError, ValueError):
            return 0

    def step_left(self, level: str) -> int:
        return max(0, ANNOTATIONS_PER_STEP - self._step[level])

    def job_left(self) -> int:
        return max(0, ANNOTATIONS_PER_JOB - self._job_used())

    def left(self, level: str) -> int:
        return min(self.step_left(level), self.job_left())

    def take(self, level: str) -> bool:
        """Count one annotation of ``level`` if GitHub will still show it; False if it would be dropped."""
        if self.left(level) <= 0:
            return False
        self._step[level] += 1
        if self._path is not None:
            used = self._job_used() + 1
            try:
                with open(self._path, "w", encoding="utf-8") as handle:
                    handle.write(f"{used}\n")
            except OSError:
                self._path = None  # counted for this step only: the step limit still holds
        return True


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


_FILE_WARNED: set[str] = set()


def _append(variable: str, path: str, text: str, registry: SecretRegistry) -> bool:
    """Append redacted ``text`` to the file Actions named; a failure is one warning on stderr, never a crash:
    the command's own result and exit code stand."""
    try:
        with open(path, "a", encoding="utf-8", errors="backslashreplace") as handle:
            handle.write(registry.redact(text))
    except (OSError, ValueError) as error:
        if variable not in _FILE_WARNED:
            _FILE_WARNED.add(variable)
            reason = getattr(error, "strerror", None) or type(error).__name__
            message = f"cannot write {variable} ({path}): {reason}; its contents for this step are lost"
            line = workflow_command("warning", message) if in_actions() else f"warning: {message}"
            sys.stderr.write(registry.redact(line) + "\n")
            sys.stderr.flush()
        return False
    return True


def writes_outputs() -> bool:
    """Whether Actions gave this step an outputs file (else outputs need not be built)."""
    return bool(os.environ.get("GITHUB_OUTPUT"))


def writes_summary() -> bool:
    """Whether Actions gave this step a summary file (else the summary need not be built)."""
    return bool(os.environ.get("GITHUB_STEP_SUMMARY"))


def set_outputs(outputs: Mapping[str, str], registry: SecretRegistry = SECRETS) -> bool:
    """Append outputs to ``$GITHUB_OUTPUT``; returns False outside Actions or when it cannot be written."""
    path = os.environ.get("GITHUB_OUTPUT")
    if not path or not outputs:
        return False
    text = "".join(format_output(k, registry.redact(str(v))) for k, v in outputs.items())
    return _append("GITHUB_OUTPUT", path, text, registry)


def append_summary(markdown: str, registry: SecretRegistry = SECRETS) -> bool:
    """Append Markdown to ``$GITHUB_STEP_SUMMARY``; returns False outside Actions or when it cannot be written.

    What the step's summary cannot hold within GitHub's 1 MiB is cut, least important first (see
    ``core/summary.py``), said in the summary, and printed whole in the step's log."""
    fitted = write_summary(sections(markdown), registry)
    return fitted is not None


_CUT_GROUP = "Step summary: the parts cut to fit GitHub's 1 MiB limit"


def write_summary(parts: Sequence[Section], registry: SecretRegistry = SECRETS) -> Fitted | None:
    """Append ``parts`` to ``$GITHUB_STEP_SUMMARY`` within what the step's summary has left of GitHub's limit;
    what was written and cut, or None outside Actions or when the file cannot be written."""
    path = os.environ.get("GITHUB_STEP_SUMMARY")
    if not path or not parts:
        return None
    try:
        used = os.path.getsize(path)
    except OSError:
        used = 0
    budget = SUMMARY_LIMIT - SUMMARY_MARGIN - used
    raw = "".join(p.markdown for p in parts)
    # Redaction only shortens text, but for ``user@`` turned into ``***@``: a summary clearly small enough is
    # not measured twice.
    if len(raw.encode("utf-8", "backslashreplace")) + 2 * raw.count("@") <= budget:
        fitted = Fitted(raw)
    else:

        def measure(text: str) -> int:
            return len(registry.redact(text).encode("utf-8", "backslashreplace"))

        where = f"They are printed whole in this step's log (group “{_CUT_GROUP}”)."
        fitted = fit(parts, budget, measure, where=where)
    if not fitted.whole:
        # The log has no size limit worth the name: nothing the summary could not hold is lost.
        sys.stderr.write(registry.redact(workflow_command("group", _CUT_GROUP)) + "\n")
        sys.stderr.write(registry.redact(fitted.cut_text if fitted.cut_text.endswith("\n") else fitted.cut_text + "\n"))
        sys.stderr.write("::endgroup::\n")
        sys.stderr.flush()
    text = fitted.markdown if fitted.markdown.endswith("\n") else fitted.markdown + "\n"
    return fitted if _append("GITHUB_STEP_SUMMARY", path, text, registry) else None


@contextmanager
def group(title: str, stream: TextIO | None = None) -> Iterator[None]:
    out = stream or sys.stdout
    out.write(f"::group::{SECRETS.redact(escape_data(title))}\n")
    try:
        yield
    finally:
        out.write("::endgroup::\n")
        out.flush()


def md_table(headers: Iterable[str], rows: Iterable[Iterable[object]]) -> str:
    head = list(headers)
    lines = ["| " + " | ".join(md_escape(h) for h in head) + " |", "|" + "---|" * len(head)]
    for row in rows:
        lines.append("| " + " | ".join(md_escape("" if c is None else str(c)) for c in row) + " |")
    return "\n".join(lines) + "\n"
