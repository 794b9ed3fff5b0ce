"""Validate railway.json / railway.toml against Railway's schema, naming the exact line:column and the fix.

Values come from the stdlib parsers (``json``, ``tomllib``); positions come from ``positions``, which scans the
original text only when there is something to report. The schema check is jsonschema's ``Draft7Validator`` on
the package's copy of Railway's schema (imported only once a file has parsed), so the verdict is exactly the
schema's; the messages, hints and the checks past the schema are ours.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kars_actions.core.errors import UsageError
from kars_actions.railway_config.config_checks import SCHEMA_FILE, SchemaChecker, schema_findings, semantic_findings
from kars_actions.railway_config.findings import ERROR, WARNING, FileResult, Finding, Locator, display_path, format_path
from kars_actions.railway_config.report import ValidationResult

__all__ = [
    "CONFIG_NAMES",
    "SCHEMA_FILE",
    "FileResult",
    "Finding",
    "SchemaChecker",
    "ValidateOptions",
    "ValidationResult",
]

# Only a file with problems needs positions, hints or schema errors: keep them off the import path of a clean run.
if TYPE_CHECKING:
    pass

SCHEMA_URL = "https://railway.com/railway.schema.json"
CONFIG_NAMES = ("railway.toml", "railway.json")  # the order Railway prefers them in one folder
MAX_BYTES = 5 * 1024 * 1024  # a real railway.json is a few hundred bytes
SUNSET = date(2026, 12, 1)
MIGRATION_DOCS = "https://docs.railway.com/infrastructure-as-code"


# Options and entry point -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ValidateOptions:
    """What ``kars-actions validate`` was asked to do. ``today`` is injectable for the dated notice."""

    paths: tuple[str, ...] = ()
    schema_path: str | None = None
    strict: bool = True
    deprecation_notice: bool = True
    today: date | None = None
    root: Path | None = None


def validate(options: ValidateOptions) -> ValidationResult:
    """Find the files, check each one, and return the verdict (raises UsageError for bad paths or schema)."""
    root = (options.root or Path.cwd()).resolve()
    schema = SchemaChecker.from_file(Path(options.schema_path)) if options.schema_path else SchemaChecker()
    if not options.paths:
        raise UsageError(
            "no railway.json or railway.toml given", hint="pass the files or folders to check (or none, to the CLI)"
        )
    files = files_from_paths(options.paths)
    results = [validate_file(path, checker=schema, strict=options.strict, root=root) for path in files]
    notice = deprecation_notice(options.today or date.today()) if options.deprecation_notice else None
    return ValidationResult(files=results, notice=notice, strict=options.strict)


def deprecation_notice(today: date) -> str:
    """Railway stops reading Config as Code files on SUNSET; the notice says what is true on the day it runs."""
    keep = (
        "`kars-actions config plan` shows where the service settings differ from it and `kars-actions config apply` "
        "keeps it in force (a release does it with railway_config: apply); `kars-actions config migrate` moves it "
        "to Railway's Infrastructure as Code (.railway/railway.ts)"
    )
    if today < SUNSET:
        days = (SUNSET - today).days
        return (
            f"Railway Config as Code files (railway.json / railway.toml) will stop being read on {SUNSET.isoformat()} "
            f"(in {days} day{'s' if days != 1 else ''}): from then on a deployment runs with the service settings "
            f"alone, and settings that only this file held are lost. {keep[0].upper()}{keep[1:]}. "
            f"Migration guide: {MIGRATION_DOCS}"
        )
    return (
        f"Railway Config as Code files (railway.json / railway.toml) are no longer read since {SUNSET.isoformat()}: "
        "Railway deploys with the service settings alone. This file is still checked because kars applies it: "
        f"{keep}. Migration guide: {MIGRATION_DOCS}"
    )


# Finding the files -------------------------------------------------------------------------------------------------


def files_from_paths(paths: Iterable[str]) -> list[Path]:
    """Files as given, and the railway.toml / railway.json inside each folder given."""
    found: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            inside = [path / name for name in CONFIG_NAMES if (path / name).is_file()]
            if not inside:
                raise UsageError(
                    f"{raw}: no railway.json or railway.toml in this folder",
                    hint="pass the config file itself, or the folder of the service that has one",
                )
            found.extend(inside)
        elif path.is_file():
            if path.suffix.lower() not in (".json", ".toml"):
                raise UsageError(
                    f"{raw}: cannot tell whether this is JSON or TOML",
                    hint="Railway reads railway.json or railway.toml; name the file with one of those endings",
                )
            found.append(path)
        elif path.exists():
            raise UsageError(f"{raw}: not a regular file or folder")
        else:
            raise UsageError(
                f"{raw}: no such file or folder",
                hint="pass a railway.json / railway.toml, or a folder holding one",
            )
    return _unique(found)


def _unique(paths: Iterable[Path]) -> list[Path]:
    seen: set[Path] = set()
    out: list[Path] = []
    for path in paths:
        key = path.resolve()
        if key not in seen:
            seen.add(key)
            out.append(path)
    return out


# One file ------------------------------------------------------------------------------------------------------------


def validate_file(path: Path, *, checker: SchemaChecker, strict: bool = True, root: Path | None = None) -> FileResult:
    """Read, parse and check one file on disk."""
    shown = display_path(path)
    fmt = "toml" if path.suffix.lower() == ".toml" else "json"
    try:
        size = path.stat().st_size
        if size > MAX_BYTES:
            return _unparsed(
                shown,
                fmt,
                f"file is {size / 1024 / 1024:.1f} MB; a Railway config is a few hundred bytes, "
                f"so files over {MAX_BYTES // 1024 // 1024} MB are refused",
                hint="check that this is the right file",
            )
        with path.open("rb") as handle:
            data = handle.read(MAX_BYTES + 1)
    except OSError as error:
        return _unparsed(shown, fmt, f"cannot read the file: {error.strerror or error}")
    if len(data) > MAX_BYTES:
        return _unparsed(shown, fmt, f"file is over {MAX_BYTES // 1024 // 1024} MB; refused")
    result = check_bytes(data, fmt, checker=checker, strict=strict, base_dir=path.parent, root=root)
    result.path = shown
    if fmt == "json" and path.name == "railway.json" and (path.parent / "railway.toml").is_file():
        result.findings.append(
            Finding(
                WARNING,
                "shadowed",
                "railway.toml sits in the same folder and wins: Railway ignores this railway.json",
                hint="keep one of the two files (delete this one, or move its settings into railway.toml)",
            )
        )
    return result


def _unparsed(
    shown: str, fmt: str, message: str, *, hint: str | None = None, at: tuple[int, int] | None = None
) -> FileResult:
    return FileResult(
        shown,
        fmt,
        [Finding(ERROR, "parse", message, line=at[0] if at else None, column=at[1] if at else None, hint=hint)],
        parsed=False,
    )


def check_bytes(
    data: bytes,
    fmt: str,
    *,
    checker: SchemaChecker | None = None,
    strict: bool = True,
    base_dir: Path | None = None,
    root: Path | None = None,
    shown: str = "<text>",
) -> FileResult:
    """Check one file's content. ``fmt`` is "json" or "toml"; ``base_dir``/``root`` let dockerfilePath be checked."""
    problem = _encoding_problem(data)
    if problem is not None:
        return _unparsed(shown, fmt, problem[0], hint=problem[1], at=problem[2])
    text = data.decode("utf-8")
    conflicts = _conflict_markers(text)
    if conflicts:
        return FileResult(shown, fmt, conflicts, parsed=False)
    if not text.strip():
        return _unparsed(
            shown,
            fmt,
            "file is empty",
            hint=("write the settings (at least {})" if fmt == "json" else "write the settings")
            + " or delete the file, so Railway uses the service's dashboard settings",
            at=(1, 1),
        )
    parsed = _parse_json(text) if fmt == "json" else _parse_toml(text)
    if isinstance(parsed, Finding):
        return FileResult(shown, fmt, [parsed], parsed=False)
    instance, has_duplicates = parsed
    locator = Locator(text, fmt)
    findings: list[Finding] = []
    if has_duplicates:
        for dup in locator.positions.duplicates:
            findings.append(
                Finding(
                    ERROR,
                    "duplicate-key",
                    f"duplicate key {str(dup.path[-1])!r} (first written at line {dup.first.line}, column "
                    f"{dup.first.column}); JSON parsers silently keep only the last one",
                    path=format_path(dup.path),
                    line=dup.position.line,
                    column=dup.position.column,
                    hint="keep one of the two and delete the other",
                )
            )
    checker = checker or SchemaChecker()
    findings.extend(schema_findings(instance, checker, locator, strict=strict))
    findings.extend(semantic_findings(instance, locator, base_dir=base_dir, root=root))
    findings.sort(key=lambda f: (f.line or 0, f.column or 0, f.severity != ERROR))
    return FileResult(shown, fmt, findings)


# Parsing -----------------------------------------------------------------------------------------------------------


def _encoding_problem(data: bytes) -> tuple[str, str | None, tuple[int, int]] | None:
    if data.startswith(b"\xef\xbb\xbf"):
        return (
            "file starts with a UTF-8 byte order mark (BOM), which JSON and TOML parsers reject",
            "save the file as UTF-8 without BOM (in VS Code: click 'UTF-8 with BOM' in the status bar → "
            "Save with Encoding → UTF-8)",
            (1, 1),
        )
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return ("file is UTF-16 text, not UTF-8", "save the file as UTF-8", (1, 1))
    if b"\x00" in data[:8192]:
        offset = data.index(b"\x00")
        return ("file is binary (it contains NUL bytes), not a text config", None, _byte_position(data, offset))
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as error:
        bad = data[error.start : error.start + 1].hex()
        return (
            f"file is not UTF-8 text (byte 0x{bad} cannot be decoded)",
            "save the file as UTF-8",
            _byte_position(data, error.start),
        )
    return None


def _byte_position(data: bytes, offset: int) -> tuple[int, int]:
    """1-based line and character column of a byte offset."""
    line_start = data.rfind(b"\n", 0, offset) + 1
    column = len(data[line_start:offset].decode("utf-8", errors="replace")) + 1
    return (data.count(b"\n", 0, offset) + 1, column)


_CONFLICT_MARKERS = ("<<<<<<<", "=======", ">>>>>>>")


def _conflict_markers(text: str) -> list[Finding]:
    """One error per unresolved merge conflict (each ``<<<<<<<``; a stray ``=======``/``>>>>>>>`` otherwise)."""
    marks: list[tuple[int, str]] = []
    for number, line in enumerate(text.splitlines(), start=1):
        for marker in _CONFLICT_MARKERS:
            if line.startswith(marker) and (len(line) == len(marker) or line[len(marker)] in " \t\r"):
                marks.append((number, marker))
    if not marks:
        return []
    starts = [n for n, m in marks if m == "<<<<<<<"] or [marks[0][0]]
    all_lines = ", ".join(str(n) for n, _ in marks)
    return [
        Finding(
            ERROR,
            "parse",
            f"unresolved merge conflict at line {n} (conflict markers on line(s) {all_lines})",
            line=n,
            column=1,
            hint="resolve the conflict: keep the right side, delete the <<<<<<< ======= >>>>>>> lines, and commit",
        )
        for n in starts
    ]


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _parse_json(text: str) -> tuple[Any, bool] | Finding:
    duplicates = False

    def pairs_hook(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        nonlocal duplicates
        obj = dict(pairs)
        if len(obj) != len(pairs):
            duplicates = True
        return obj

    try:
        value = json.loads(text, object_pairs_hook=pairs_hook, parse_constant=_reject_constant)
    except json.JSONDecodeError as error:
        error = _same_on_every_python(error, text)
        return Finding(
            ERROR,
            "parse",
            f"invalid JSON: {error.msg}",
            line=error.lineno,
            column=error.colno,
            hint=_json_error_hint(error, text),
        )
    except RecursionError:
        return Finding(ERROR, "parse", "invalid JSON: nested too deeply to be a Railway config", line=1, column=1)
    except ValueError as error:  # NaN / Infinity
        return _json_constant_error(text, str(error))
    return value, duplicates


def _json_constant_error(text: str, message: str) -> Finding:
    name = message.split(" ", 1)[0]
    offset = max(text.find(name), 0)
    from kars_actions.railway_config.positions import Positions

    pos = Positions(text).at(offset)
    return Finding(
        ERROR, "parse", f"invalid JSON: {message}", line=pos.line, column=pos.column, hint="write a number, or null"
    )


def _same_on_every_python(error: json.JSONDecodeError, text: str) -> json.JSONDecodeError:
    """Python 3.13 reports a trailing comma at the comma itself ("Illegal trailing comma before end of object");
    earlier versions report what they expected at the closing bracket. Report it one way, at the bracket, so the
    position and the hint do not depend on the interpreter."""
    if not error.msg.startswith("Illegal trailing comma"):
        return error
    closing = len(text) - len(text[error.pos + 1 :].lstrip()) if error.pos < len(text) else error.pos
    expected = "Expecting property name enclosed in double quotes" if "object" in error.msg else "Expecting value"
    return json.JSONDecodeError(expected, text, closing)


def _json_error_hint(error: json.JSONDecodeError, text: str) -> str | None:
    before = text[: error.pos].rstrip()
    if error.msg.startswith(("Expecting property name", "Expecting value")) and before.endswith(","):
        return "JSON allows no trailing comma: delete the comma before this point"
    if error.msg.startswith("Expecting property name") and text[error.pos : error.pos + 1] == "'":
        return "JSON strings need double quotes"
    if text[error.pos : error.pos + 2] in ("//", "/*") or text[error.pos : error.pos + 1] == "#":
        return "JSON allows no comments: delete them (railway.toml allows # comments)"
    if error.msg.startswith("Expecting ',' delimiter"):
        return "a comma is missing between two entries, or a quote is not closed"
    return None


def _parse_toml(text: str) -> tuple[Any, bool] | Finding:
    import re
    import tomllib

    try:
        return tomllib.loads(text), False
    except tomllib.TOMLDecodeError as error:
        raw = str(error)
        match = re.search(r"\(at line (\d+), column (\d+)\)", raw)
        message = re.sub(r"\s*\(at (?:line \d+, column \d+|end of document)\)", "", raw)
        line = int(match.group(1)) if match else None
        column = int(match.group(2)) if match else None
        hint = None
        twice = re.match(r"Cannot declare \((.*)\) twice", message)
        if twice:
            table = ".".join(part.strip().strip("'\"") for part in twice.group(1).split(",") if part.strip())
            first, line, column = _table_headers(text, table, line, column)
            message = f"table [{table}] is declared twice" + (f" (first at line {first})" if first else "")
            hint = f"merge the two [{table}] sections into one"
        elif message.startswith("Cannot overwrite a value"):
            message = "a key is set twice (or a table is written over a value)"
            hint = "keep one of the two assignments"
        elif message == "Invalid value":
            hint = 'strings need quotes (startCommand = "npm start"); lists use [ ], tables { }'
        elif message.startswith("Cannot mutate immutable namespace"):
            hint = "a table defined inline ({ ... }) or by dotted keys cannot be extended later; write it once"
        elif "end of document" in raw and line is None:
            lines = text.splitlines() or [""]
            line, column = len(lines), len(lines[-1]) + 1
        return Finding(ERROR, "parse", f"invalid TOML: {message}", line=line, column=column, hint=hint)
    except RecursionError:
        return Finding(ERROR, "parse", "invalid TOML: nested too deeply to be a Railway config", line=1, column=1)


def _table_headers(
    text: str, table: str, line: int | None, column: int | None
) -> tuple[int | None, int | None, int | None]:
    """For a table declared twice: the line of the first ``[table]`` header, and the column of the name in the
    repeated one (tomllib points past it)."""
    import re

    pattern = re.compile(r"^\s*\[\s*(" + r"\s*\.\s*".join(re.escape(p) for p in table.split(".")) + r")\s*\]")
    first = None
    for number, text_line in enumerate(text.splitlines(), start=1):
        match = pattern.match(text_line)
        if match and number != line:
            first = first or number
        elif match and number == line:
            column = match.start(1) + 1
    return first, line, column
