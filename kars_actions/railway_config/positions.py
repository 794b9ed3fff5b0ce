"""Where each key and value sits in a JSON or TOML text, so errors can name an exact line and column.

The parsers (``json``, ``tomllib``) give values but forget positions. These small scanners walk the original
text once more, only when there is something to report, and map each path (``("deploy", "healthcheckPath")``,
``("build", "watchPatterns", 0)``) to the offset of its key and of its value. Both scanners are iterative, so a
deeply nested document cannot exhaust the Python stack; they assume the text already parsed, and stop quietly
(with what they found so far) if it did not.
"""

from __future__ import annotations

import bisect
import contextlib
import json
from dataclasses import dataclass, field

PathPart = str | int
# Paths are tuples, so each level costs its depth: past this, stop (no Railway config comes close).
MAX_DEPTH = 256
JsonPath = tuple[PathPart, ...]


@dataclass(frozen=True)
class Position:
    """1-based line and column (in characters)."""

    line: int
    column: int


@dataclass(frozen=True)
class Duplicate:
    """A key written more than once in one object: ``position`` is the repeat, ``first`` the earlier one."""

    path: JsonPath
    position: Position
    first: Position


class _LineIndex:
    def __init__(self, text: str) -> None:
        self._starts = [0]
        start = text.find("\n")
        while start != -1:
            self._starts.append(start + 1)
            start = text.find("\n", start + 1)

    def position(self, offset: int) -> Position:
        line = bisect.bisect_right(self._starts, offset) - 1
        return Position(line + 1, offset - self._starts[line] + 1)


@dataclass
class Positions:
    """Key and value offsets by path. Lookups fall back to the nearest ancestor that is known."""

    text: str
    keys: dict[JsonPath, int] = field(default_factory=dict)
    values: dict[JsonPath, int] = field(default_factory=dict)
    duplicates: list[Duplicate] = field(default_factory=list)
    _index: _LineIndex | None = None

    def at(self, offset: int) -> Position:
        if self._index is None:
            self._index = _LineIndex(self.text)
        return self._index.position(offset)

    def key(self, path: JsonPath) -> Position:
        """Where the key of ``path`` is written (for unknown keys); the value's place if it has no key."""
        for n in range(len(path), 0, -1):
            prefix = path[:n]
            if prefix in self.keys:
                return self.at(self.keys[prefix])
            if prefix in self.values:
                return self.at(self.values[prefix])
        return self.at(self.values.get((), 0))

    def value(self, path: JsonPath) -> Position:
        """Where the value of ``path`` starts (for bad values)."""
        for n in range(len(path), -1, -1):
            prefix = path[:n]
            if prefix in self.values:
                return self.at(self.values[prefix])
            if prefix in self.keys:
                return self.at(self.keys[prefix])
        return Position(1, 1)


class _Stop(Exception):
    """The text is not what the scanner expects (it did not parse): keep what was found."""


# JSON ------------------------------------------------------------------------------------------------------------

_JSON_WS = " \t\r\n"
_JSON_SCALAR_END = ",]} \t\r\n"


# kind ("object" | "array"), path, [current index], keys seen in this object -> offset of their first occurrence
_JsonFrame = tuple[str, JsonPath, list[int], dict[str, int]]


def locate_json(text: str) -> Positions:
    """Map every key and value of a JSON document to its offset. Repeated keys land in ``duplicates``;
    the positions kept for a repeated key are those of its last occurrence, the one ``json`` keeps."""
    found = Positions(text)
    with contextlib.suppress(_Stop, IndexError):
        _scan_json(text, found)
    return found


def _json_string_end(text: str, pos: int) -> int:
    """Offset just after the string that opens at ``pos``."""
    i = pos + 1
    while True:
        j = text.index('"', i)
        backslashes = 0
        k = j - 1
        while text[k] == "\\":
            backslashes += 1
            k -= 1
        if backslashes % 2 == 0:
            return j + 1
        i = j + 1


def _skip_json_ws(text: str, pos: int) -> int:
    n = len(text)
    while pos < n and text[pos] in _JSON_WS:
        pos += 1
    return pos


def _scan_json(text: str, found: Positions) -> None:
    stack: list[_JsonFrame] = []
    pos = _skip_json_ws(text, 0)
    path: JsonPath = ()
    expecting_value = True
    while True:
        if expecting_value:
            pos = _skip_json_ws(text, pos)
            found.values[path] = pos
            c = text[pos]
            if c == "{" or c == "[":
                kind = "object" if c == "{" else "array"
                frame: _JsonFrame = (kind, path, [0], {})
                stack.append(frame)
                if len(stack) > MAX_DEPTH:
                    raise _Stop
                pos = _skip_json_ws(text, pos + 1)
                closer = "}" if kind == "object" else "]"
                if text[pos] == closer:
                    pos += 1
                    stack.pop()
                    expecting_value = False
                    continue
                if kind == "array":
                    path = (*frame[1], 0)
                    continue
                path, pos = _json_member_key(text, pos, frame, found)
                continue
            if c == '"':
                pos = _json_string_end(text, pos)
            else:
                while pos < len(text) and text[pos] not in _JSON_SCALAR_END:
                    pos += 1
            expecting_value = False
            continue
        if not stack:
            return
        frame = stack[-1]
        pos = _skip_json_ws(text, pos)
        c = text[pos]
        if c == ",":
            pos = _skip_json_ws(text, pos + 1)
            if frame[0] == "array":
                frame[2][0] += 1
                path = (*frame[1], frame[2][0])
            else:
                path, pos = _json_member_key(text, pos, frame, found)
            expecting_value = True
        elif (c == "}" and frame[0] == "object") or (c == "]" and frame[0] == "array"):
            pos += 1
            stack.pop()
        else:
            raise _Stop


def _json_member_key(
    text: str,
    pos: int,
    frame: _JsonFrame,
    found: Positions,
) -> tuple[JsonPath, int]:
    """Read ``"key" :`` at ``pos``; record its place (and any repeat); return the member's path and the
    offset just after the colon."""
    if text[pos] != '"':
        raise _Stop
    end = _json_string_end(text, pos)
    key = json.loads(text[pos:end])
    path = (*frame[1], key)
    seen = frame[3]
    if key in seen:
        found.duplicates.append(Duplicate(path, found.at(pos), found.at(seen[key])))
    else:
        seen[key] = pos
    found.keys[path] = pos
    pos = _skip_json_ws(text, end)
    if text[pos] != ":":
        raise _Stop
    return path, pos + 1


# TOML ------------------------------------------------------------------------------------------------------------

_TOML_BARE = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")
_TOML_SCALAR_END = ",]}#\n\r"


def locate_toml(text: str) -> Positions:
    """Map every key, table header and value of a TOML document to its offset."""
    found = Positions(text)
    found.values[()] = 0
    with contextlib.suppress(_Stop, IndexError):
        _TomlScanner(text, found).run()
    return found


class _TomlScanner:
    def __init__(self, text: str, found: Positions) -> None:
        self.text = text
        self.n = len(text)
        self.pos = 0
        self.found = found
        self.array_tables: dict[JsonPath, int] = {}

    def run(self) -> None:
        table: JsonPath = ()
        while True:
            self.skip(newlines=True)
            if self.pos >= self.n:
                return
            if self.text[self.pos] == "[":
                table = self.header()
            else:
                keys = self.dotted_key(table)
                self.skip()
                if self.text[self.pos] != "=":
                    raise _Stop
                self.pos += 1
                self.value(keys)

    # pieces ------------------------------------------------------------------------------------------------
    def skip(self, newlines: bool = False) -> None:
        """Skip blanks and comments (and line ends, when ``newlines``)."""
        text, n = self.text, self.n
        while self.pos < n:
            c = text[self.pos]
            if c in " \t" or (newlines and c in "\r\n"):
                self.pos += 1
            elif c == "#":
                end = text.find("\n", self.pos)
                self.pos = n if end == -1 else end
            else:
                return

    def record_key(self, path: JsonPath, offset: int) -> None:
        self.found.keys.setdefault(path, offset)
        self.found.values.setdefault(path, offset)

    def header(self) -> JsonPath:
        is_array = self.text.startswith("[[", self.pos)
        self.pos += 2 if is_array else 1
        self.skip()
        path = self.dotted_key(())
        self.skip()
        closer = "]]" if is_array else "]"
        if not self.text.startswith(closer, self.pos):
            raise _Stop
        self.pos += len(closer)
        if is_array:
            index = self.array_tables.get(path, -1) + 1
            self.array_tables[path] = index
            element = (*path, index)
            self.found.values[element] = self.found.keys[path]
            return element
        return path

    def dotted_key(self, base: JsonPath) -> JsonPath:
        """Read ``a.b."c"`` at the cursor; record where each part is written under ``base``."""
        path = base
        while True:
            self.skip()
            start = self.pos
            path = (*path, self.simple_key())
            self.record_key(path, start)
            self.skip()
            if self.pos < self.n and self.text[self.pos] == ".":
                self.pos += 1
                continue
            return path

    def simple_key(self) -> str:
        text = self.text
        c = text[self.pos]
        if c == '"' or c == "'":
            end = self.string_end(self.pos)
            raw = text[self.pos : end]
            self.pos = end
            if c == "'":
                return raw[1:-1]
            try:
                key: str = json.loads(raw)
            except ValueError:
                return raw[1:-1]
            return key
        start = self.pos
        while self.pos < self.n and text[self.pos] in _TOML_BARE:
            self.pos += 1
        if self.pos == start:
            raise _Stop
        return text[start : self.pos]

    def string_end(self, pos: int) -> int:
        """Offset just after the string (basic, literal, or either multi-line form) opening at ``pos``."""
        text = self.text
        quote = text[pos]
        if text.startswith(quote * 3, pos):
            end = pos + 3
            while True:
                j = text.index(quote * 3, end)
                if quote == '"' and _escaped(text, j):
                    end = j + 1
                    continue
                # Up to two quotes may sit right before the closing delimiter.
                while text.startswith(quote, j + 3):
                    j += 1
                return j + 3
        i = pos + 1
        while True:
            j = text.index(quote, i)
            if quote == '"' and _escaped(text, j):
                i = j + 1
                continue
            return j + 1

    def value(self, path: JsonPath) -> None:
        """Walk the value at the cursor: a scalar, or arrays and inline tables nested to any depth."""
        text = self.text
        stack: list[tuple[str, JsonPath, list[int]]] = []
        expecting_value = True
        while True:
            if expecting_value:
                in_array = bool(stack) and stack[-1][0] == "array"
                self.skip(newlines=in_array)
                self.found.values[path] = self.pos
                c = text[self.pos]
                if c == "[" or c == "{":
                    kind = "array" if c == "[" else "table"
                    frame = (kind, path, [0])
                    stack.append(frame)
                    if len(stack) > MAX_DEPTH:
                        raise _Stop
                    self.pos += 1
                    self.skip(newlines=kind == "array")
                    if text[self.pos] == ("]" if kind == "array" else "}"):
                        self.pos += 1
                        stack.pop()
                        expecting_value = False
                        continue
                    path = (*path, 0) if kind == "array" else self.inline_member(frame[1])
                    continue
                if c == '"' or c == "'":
                    self.pos = self.string_end(self.pos)
                else:
                    while self.pos < self.n and text[self.pos] not in _TOML_SCALAR_END:
                        if text[self.pos] in " \t" and not _scalar_continues(text, self.pos):
                            break
                        self.pos += 1
                expecting_value = False
                continue
            if not stack:
                return
            kind, base, index = stack[-1]
            self.skip(newlines=kind == "array")
            c = text[self.pos]
            if c == ",":
                self.pos += 1
                self.skip(newlines=kind == "array")
                if kind == "array":
                    if text[self.pos] == "]":  # trailing comma
                        continue
                    index[0] += 1
                    path = (*base, index[0])
                else:
                    path = self.inline_member(base)
                expecting_value = True
            elif (c == "]" and kind == "array") or (c == "}" and kind == "table"):
                self.pos += 1
                stack.pop()
            else:
                raise _Stop

    def inline_member(self, base: JsonPath) -> JsonPath:
        path = self.dotted_key(base)
        self.skip()
        if self.text[self.pos] != "=":
            raise _Stop
        self.pos += 1
        return path


def _escaped(text: str, quote_at: int) -> bool:
    backslashes = 0
    k = quote_at - 1
    while k >= 0 and text[k] == "\\":
        backslashes += 1
        k -= 1
    return backslashes % 2 == 1


def _scalar_continues(text: str, pos: int) -> bool:
    """A blank inside a bare scalar only belongs to it in a date-time written with a space (``1979-05-27 07:32``)."""
    return pos > 0 and text[pos - 1].isdigit() and pos + 1 < len(text) and text[pos + 1].isdigit()
