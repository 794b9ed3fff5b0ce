"""What a health response must look like: status codes, JSON paths, body, headers, latency and the version."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from kars_actions.core.errors import UsageError

_MISSING = object()
MISSING = _MISSING  # what ``lookup`` returns for a path the document does not have
_HEX = re.compile(r"^[0-9a-fA-F]+$")
MIN_SHA_PREFIX = 7


# Status codes ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class StatusRange:
    low: int
    high: int

    def __contains__(self, code: object) -> bool:
        return isinstance(code, int) and self.low <= code <= self.high

    def __str__(self) -> str:
        if self.low == self.high:
            return str(self.low)
        if self.high - self.low == 99 and self.low % 100 == 0:
            return f"{self.low // 100}xx"
        return f"{self.low}-{self.high}"


def _status_code(text: str, spec: str) -> int:
    if not text.isdigit() or not 100 <= int(text) <= 599:
        raise UsageError(
            f"invalid expected status {spec!r}: {text!r} is not an HTTP status code (100-599)",
            hint='use codes, ranges or classes: "200", "200-299", "2xx", "200,204"',
        )
    return int(text)


def parse_statuses(specs: str | Sequence[str | int]) -> tuple[StatusRange, ...]:
    """``"200,201,300-399"``, ``["2xx"]``, ``[200]`` → ranges. Empty means the default, 200."""
    items: list[str] = []
    for spec in [specs] if isinstance(specs, str) else specs:
        items.extend(part.strip() for part in str(spec).split(",") if part.strip())
    ranges: list[StatusRange] = []
    for item in items:
        lowered = item.lower()
        if len(lowered) == 3 and lowered.endswith("xx") and lowered[0] in "12345":
            ranges.append(StatusRange(int(lowered[0]) * 100, int(lowered[0]) * 100 + 99))
        elif "-" in item:
            low_text, _, high_text = item.partition("-")
            low, high = _status_code(low_text.strip(), item), _status_code(high_text.strip(), item)
            if low > high:
                raise UsageError(f"invalid expected status range {item!r}: {low} is above {high}")
            ranges.append(StatusRange(low, high))
        else:
            code = _status_code(item, item)
            ranges.append(StatusRange(code, code))
    return tuple(ranges) or (StatusRange(200, 200),)


# JSON paths -----------------------------------------------------------------------------------------------------


def split_path(path: str) -> list[str]:
    """``checks.redis.ok`` and ``items.0.id`` / ``items[0].id`` → segments; ``\\.`` keeps a dot in a key."""
    if not path or not path.strip():
        raise UsageError("empty JSON path", hint="name a field such as status or checks.db.ok")
    segments: list[str] = []
    current = ""
    i = 0
    while i < len(path):
        char = path[i]
        if char == "\\" and i + 1 < len(path):
            current += path[i + 1]
            i += 2
            continue
        if char == ".":
            segments.append(current)
            current = ""
        elif char == "[":
            end = path.find("]", i)
            if end < 0:
                raise UsageError(f"invalid JSON path {path!r}: '[' without ']'")
            if current:
                segments.append(current)
            segments.append(path[i + 1 : end])
            current = ""
            i = end + 1
            if i < len(path) and path[i] == ".":
                i += 1
            continue
        else:
            current += char
        i += 1
    if current or (path and path[-1] == "."):
        segments.append(current)
    if any(segment == "" for segment in segments):
        raise UsageError(f"invalid JSON path {path!r}: empty segment")
    return segments


def lookup(document: Any, path: str) -> Any:
    """The value at a dotted path, or ``_MISSING``. Digits index lists; a dict key that is all digits still works."""
    value = document
    for segment in split_path(path):
        if isinstance(value, Mapping):
            if segment not in value:
                return _MISSING
            value = value[segment]
        elif isinstance(value, list):
            if not segment.lstrip("-").isdigit():
                return _MISSING
            index = int(segment)
            if not -len(value) <= index < len(value):
                return _MISSING
            value = value[index]
        else:
            return _MISSING
    return value


def is_missing(value: Any) -> bool:
    return value is _MISSING


def parse_typed(text: str) -> Any:
    """``true``/``false``/``null``, numbers and ``"quoted"`` strings are typed; anything else is the string itself."""
    stripped = text.strip()
    if stripped in ("true", "false", "null"):
        return {"true": True, "false": False, "null": None}[stripped]
    if re.fullmatch(r"-?\d+", stripped):
        return int(stripped)
    if re.fullmatch(r"-?\d+\.\d+([eE][-+]?\d+)?|-?\d+[eE][-+]?\d+", stripped):
        return float(stripped)
    if len(stripped) >= 2 and stripped[0] == stripped[-1] == '"':
        try:
            decoded = json.loads(stripped)
        except json.JSONDecodeError:
            return text
        return decoded
    return text


def typed_equal(expected: Any, actual: Any) -> bool:
    """Equality that keeps JSON types apart: ``true`` is not ``1``, ``"1"`` is not ``1``."""
    if isinstance(expected, bool) or isinstance(actual, bool):
        return isinstance(expected, bool) and isinstance(actual, bool) and expected == actual
    if isinstance(expected, (int, float)) and isinstance(actual, (int, float)):
        return expected == actual
    return type(expected) is type(actual) and bool(expected == actual)


def show(value: Any) -> str:
    """A JSON value as the user would write it, short."""
    if is_missing(value):
        return "(missing)"
    text = json.dumps(value, default=str)
    return text if len(text) <= 80 else text[:77] + "..."


@dataclass(frozen=True)
class JsonExpectation:
    """One assertion on the JSON body: ``equals`` a typed value, ``present``, or ``matches`` a regex."""

    path: str
    kind: str  # "equals" | "present" | "matches"
    value: Any = None

    @classmethod
    def parse(cls, spec: str) -> JsonExpectation:
        """``status=ok``, ``checks.redis.ok=true``, ``version~^v1\\.`` (whichever of ``=``/``~`` comes first)."""
        eq, tilde = spec.find("="), spec.find("~")
        if eq < 0 and tilde < 0:
            raise UsageError(
                f"invalid JSON expectation {spec!r}",
                hint="write PATH=VALUE (typed: true, false, null, numbers) or PATH~REGEX",
            )
        if tilde >= 0 and (eq < 0 or tilde < eq):
            path, pattern = spec[:tilde].strip(), spec[tilde + 1 :]
            split_path(path)
            try:
                re.compile(pattern)
            except re.error as error:
                raise UsageError(f"invalid regex in JSON expectation {spec!r}: {error}") from None
            return cls(path, "matches", pattern)
        path, value = spec[:eq].strip(), spec[eq + 1 :]
        split_path(path)
        return cls(path, "equals", parse_typed(value))

    @classmethod
    def present(cls, path: str) -> JsonExpectation:
        split_path(path)
        return cls(path.strip(), "present")

    def describe(self) -> str:
        if self.kind == "present":
            return f"json {self.path} present"
        if self.kind == "matches":
            return f"json {self.path} ~ /{self.value}/"
        return f"json {self.path} = {show(self.value)}"

    def check(self, document: Any) -> Failure | None:
        actual = lookup(document, self.path)
        name = f"json {self.path}"
        if self.kind == "present":
            return Failure(name, "present", "missing") if is_missing(actual) else None
        if self.kind == "matches":
            text = actual if isinstance(actual, str) else show(actual)
            if is_missing(actual) or re.search(str(self.value), text) is None:
                return Failure(name, f"matches /{self.value}/", show(actual))
            return None
        if is_missing(actual) or not typed_equal(self.value, actual):
            return Failure(name, show(self.value), show(actual))
        return None


# Versions -------------------------------------------------------------------------------------------------------

# The version rule (docs/steps/health.md, "Proving the new version"). An answer proves which version runs when it
# reports one: a JSON field ``version`` or ``commit`` (Railway injects RAILWAY_GIT_COMMIT_SHA into every
# deployment), or a header ``X-App-Version`` / ``X-Commit-Sha``. ``auto`` (the default): a reported value must match
# the release — the tag, the version or the commit — or the answer comes from another version; an answer that reports
# nothing passes on its other checks, since nothing can tell its version. ``required``: it must report one.
# ``off``: no version check. The same rule holds whether or not JSON fields are asserted.
VERSION_RULES = ("auto", "required", "off")
VERSION_FIELDS = ("version", "commit")
VERSION_HEADERS = ("X-App-Version", "X-Commit-Sha")


def parse_version_rule(value: str | None) -> str:
    """``auto`` (default), ``required`` or ``off``."""
    rule = (value or "auto").strip().lower()
    if rule not in VERSION_RULES:
        raise UsageError(
            f"unknown version check {value!r}",
            hint="use auto (check the version when the app reports one), required, or off",
        )
    return rule


def _strip_v(text: str) -> str:
    text = text.strip()
    return text[1:] if len(text) > 1 and text[0] in "vV" and text[1].isdigit() else text


def version_matches(expected: str, actual: str) -> bool:
    """``v1.4.0`` == ``1.4.0``; a commit sha matches by prefix of at least 7 characters either way."""
    exp, act = _strip_v(expected), _strip_v(actual)
    if exp == act:
        return True
    if _HEX.match(exp) and _HEX.match(act) and min(len(exp), len(act)) >= MIN_SHA_PREFIX:
        exp, act = exp.lower(), act.lower()
        return exp.startswith(act) or act.startswith(exp)
    return False


# The whole check ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Failure:
    """Why one response is not healthy yet: which assertion, what was expected, what came back."""

    check: str
    expected: str
    actual: str

    def __str__(self) -> str:
        if self.check == "request":  # a transport failure says it all: "connection refused"
            return self.actual
        return f"{self.check}: expected {self.expected}, got {self.actual}"

    def to_json(self) -> dict[str, str]:
        return {"check": self.check, "expected": self.expected, "actual": self.actual}


@dataclass(frozen=True)
class Observation:
    """One HTTP answer as the poller saw it (after redirects), or the transport error instead."""

    status: int | None = None
    headers: Mapping[str, str] = field(default_factory=dict)  # lower-case names
    body: bytes = b""
    truncated: bool = False
    latency: float = 0.0
    error: str | None = None
    url: str = ""
    retry_after: float | None = None

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())


@dataclass(frozen=True)
class HealthCheck:
    """Everything a response must satisfy to count as a pass."""

    statuses: tuple[StatusRange, ...] = (StatusRange(200, 200),)
    json: tuple[JsonExpectation, ...] = ()
    body_contains: str | None = None
    body_regex: str | None = None
    headers: tuple[tuple[str, str], ...] = ()
    max_response_time: float | None = None
    expect_versions: tuple[str, ...] = ()
    version_field: str | None = None  # None: the fields in VERSION_FIELDS
    version_header: str | None = None  # None: the headers in VERSION_HEADERS
    version_rule: str = "auto"  # see VERSION_RULES

    def __post_init__(self) -> None:
        parse_version_rule(self.version_rule)
        if self.version_field is not None:
            split_path(self.version_field)  # "a..b" is refused now, not read as a missing field on every poll
        if self.body_regex is not None:
            try:
                re.compile(self.body_regex)
            except re.error as error:
                raise UsageError(f"invalid body regex {self.body_regex!r}: {error}") from None
        if self.max_response_time is not None and not 0 < self.max_response_time < math.inf:
            raise UsageError("max response time must be a number of seconds above 0")

    @property
    def needs_json(self) -> bool:
        return bool(self.json)

    @property
    def checks_version(self) -> bool:
        return bool(self.expect_versions) and self.version_rule != "off"

    def evaluate(self, seen: Observation) -> list[Failure]:
        """Every failed assertion, in the order a reader would check them; empty means a pass."""
        if seen.error is not None:
            return [Failure("request", "an HTTP response", seen.error)]
        assert seen.status is not None
        if not any(seen.status in r for r in self.statuses):
            return [Failure("status", " or ".join(str(r) for r in self.statuses), str(seen.status))]
        failures: list[Failure] = []
        document: Any = _MISSING
        if self.needs_json:
            document, problem = self._decode(seen)
            if problem is not None:
                return [problem]
        # The version first: an old instance answering is the most useful thing to say.
        failures.extend(self._version(seen, document))
        failures.extend(f for f in (e.check(document) for e in self.json) if f is not None)
        text = seen.body.decode("utf-8", errors="replace")
        if self.body_contains is not None and self.body_contains not in text:
            failures.append(Failure("body", f"contains {self.body_contains!r}", _excerpt(text)))
        if self.body_regex is not None and re.search(self.body_regex, text) is None:
            failures.append(Failure("body", f"matches /{self.body_regex}/", _excerpt(text)))
        for name, value in self.headers:
            actual = seen.header(name)
            if actual is None or actual.strip() != value.strip():
                failures.append(Failure(f"header {name}", value, "(missing)" if actual is None else actual))
        if self.max_response_time is not None and seen.latency > self.max_response_time:
            failures.append(
                Failure("response time", f"<= {self.max_response_time:g}s", f"{seen.latency:.3f}s"),
            )
        return failures

    def _decode(self, seen: Observation) -> tuple[Any, Failure | None]:
        if seen.truncated:
            return None, Failure("json body", "a JSON document", f"a body larger than {len(seen.body)} bytes")
        try:
            return json.loads(seen.body), None
        except (json.JSONDecodeError, UnicodeDecodeError):
            return None, Failure(
                "json body", "a JSON document", f"invalid JSON: {_excerpt(seen.body.decode(errors='replace'))}"
            )

    @property
    def version_fields(self) -> tuple[str, ...]:
        """JSON fields that may report the version. A configured field or header replaces the defaults."""
        if self.version_field or self.version_header:
            return (self.version_field,) if self.version_field else ()
        return VERSION_FIELDS

    @property
    def version_headers(self) -> tuple[str, ...]:
        if self.version_field or self.version_header:
            return (self.version_header,) if self.version_header else ()
        return VERSION_HEADERS

    def _sources(self) -> tuple[tuple[str, ...], tuple[str, ...]]:
        return self.version_fields, self.version_headers

    def reported_versions(self, seen: Observation, document: Any = _MISSING) -> list[tuple[str, str]]:
        """Every (where, value) the answer reports as its version or commit."""
        fields, headers = self._sources()
        found: list[tuple[str, str]] = []
        for name in headers:
            value = seen.header(name)
            if value is not None and value.strip():
                found.append((f"version header {name}", value.strip()))
        if fields:
            if is_missing(document):
                document = _lenient_json(seen)
            for path in fields:
                value = lookup(document, path)
                if isinstance(value, (str, int, float)) and not isinstance(value, bool) and str(value).strip():
                    found.append((f"version field {path}", str(value).strip()))
        return found

    def _where(self) -> str:
        fields, headers = self._sources()
        return "version " + " or ".join([f"field {f}" for f in fields] + [f"header {h}" for h in headers])

    def _version(self, seen: Observation, document: Any) -> list[Failure]:
        if not self.checks_version:
            return []
        expected = " or ".join(self.expect_versions)
        reported = self.reported_versions(seen, document)
        if not reported:
            if self.version_rule == "required":
                return [Failure(self._where(), expected, "(missing)")]
            return []  # auto: an answer that names no version cannot be told apart; its other checks decide
        if any(version_matches(v, actual) for v in self.expect_versions for _, actual in reported):
            return []
        where, actual = reported[0]
        return [Failure(where, expected, f"{actual} (another version is answering)")]

    def describe(self) -> list[str]:
        """The assertions in words, for the summary."""
        lines = ["status " + " or ".join(str(r) for r in self.statuses)]
        if self.checks_version:
            when = "must be reported" if self.version_rule == "required" else "when reported"
            lines.append(f"{self._where()} = {' or '.join(self.expect_versions)} ({when})")
        lines.extend(e.describe() for e in self.json)
        if self.body_contains is not None:
            lines.append(f"body contains {self.body_contains!r}")
        if self.body_regex is not None:
            lines.append(f"body ~ /{self.body_regex}/")
        lines.extend(f"header {name}: {value}" for name, value in self.headers)
        if self.max_response_time is not None:
            lines.append(f"response time <= {self.max_response_time:g}s")
        return lines


def _lenient_json(seen: Observation) -> Any:
    """The body as JSON when it is a whole JSON document, else missing: the version is looked for, not demanded."""
    if seen.truncated or seen.body.lstrip()[:1] not in (b"{", b"["):
        return _MISSING
    try:
        return json.loads(seen.body)
    except (json.JSONDecodeError, UnicodeDecodeError):
        return _MISSING


def _excerpt(text: str, limit: int = 60) -> str:
    flat = " ".join(text.split())
    return repr(flat if len(flat) <= limit else flat[: limit - 3] + "...")


def parse_header(spec: str) -> tuple[str, str]:
    """``'Name: value'`` → (name, value), for both --header and --expect-header."""
    name, sep, value = spec.partition(":")
    if any(c in spec for c in "\r\n\x00"):
        # A line break would end this header and start another: refused, and the value is never echoed.
        raise UsageError(
            "invalid header: it contains a line break or NUL; a header is one line",
            hint="pass one header per --header, without CR or LF in its value",
        )
    if not sep or not name.strip() or any(c.isspace() for c in name.strip()):
        # The value may be a token: say what is wrong without echoing any of it.
        raise UsageError(
            "invalid header: expected 'Name: value' (a name without spaces, a colon, then the value)",
            hint="write it as --header 'Authorization: Bearer $TOKEN'",
        )
    return name.strip(), value.strip()
