"""JUnit XML reports: counts, durations and the failing tests, each placed at its file and line when it can be."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# A report larger than this is not a test report we can use; reading it would only cost memory.
MAX_REPORT_BYTES = 64 * 1024 * 1024
MAX_MESSAGE_CHARS = 2000

# ``at fn (/abs/file.js:12:5)``, ``at /abs/file.js:12:5``, ``at file:///abs/file.mjs:12:5``
_JS_FRAME = re.compile(r"\bat (?:.*?\()?(?:file://)?(?P<path>[^\s():]+):(?P<line>\d+):(?P<col>\d+)\)?")
# ``File "/abs/test_x.py", line 12`` (a Python traceback)
_PY_TRACEBACK = re.compile(r'File "(?P<path>[^"]+)", line (?P<line>\d+)')
# ``tests/test_x.py:12: AssertionError`` / ``test_x.py:12: in test_y`` (pytest's own format)
_PY_LOCATION = re.compile(r"^(?P<path>[^\s:]+\.py):(?P<line>\d+):", re.MULTILINE)
_SKIP_PARTS = ("node_modules", "site-packages", "dist-packages", ".venv", "__pypackages__")


class JUnitError(ValueError):
    """A report that cannot be read: malformed XML, a DTD/entity declaration, too large."""


class NotJUnit(JUnitError):
    """Well-formed XML of another kind (a coverage report in ``reports/``): not an error, just not ours."""


@dataclass(frozen=True)
class FailedTest:
    name: str
    classname: str
    message: str
    kind: str  # "failure" | "error"
    file: str | None = None  # relative to the repository root, forward slashes
    line: int | None = None

    @property
    def title(self) -> str:
        return f"{self.classname} › {self.name}" if self.classname else self.name

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "classname": self.classname,
            "kind": self.kind,
            "message": self.message,
            "file": self.file,
            "line": self.line,
        }


@dataclass
class JUnitReport:
    tests: int = 0
    failures: int = 0
    errors: int = 0
    skipped: int = 0
    duration: float = 0.0
    failed: list[FailedTest] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)

    @property
    def failed_count(self) -> int:
        return self.failures + self.errors

    def merge(self, other: JUnitReport) -> None:
        self.tests += other.tests
        self.failures += other.failures
        self.errors += other.errors
        self.skipped += other.skipped
        self.duration += other.duration
        self.failed.extend(other.failed)
        self.sources.extend(other.sources)

    def to_json(self) -> dict[str, Any]:
        return {
            "tests": self.tests,
            "failures": self.failures,
            "errors": self.errors,
            "skipped": self.skipped,
            "duration": round(self.duration, 3),
            "failed": [f.to_json() for f in self.failed],
            "reports": self.sources,
        }


def _float(value: str | None) -> float:
    try:
        return float(value) if value else 0.0
    except ValueError:
        return 0.0


def _clean_message(text: str) -> str:
    text = text.strip()
    return text if len(text) <= MAX_MESSAGE_CHARS else text[: MAX_MESSAGE_CHARS - 1] + "…"


def _restore_newlines(message: str, body: str) -> str:
    """The message with its line breaks back, taken from the element's text.

    A message attribute cannot hold a raw line break (XML turns it into a space, and node's reporter drops it), so
    a diff arrives as one line; the element's text usually carries the same message whole."""
    if not message or "\n" in message or not body:
        return message
    for joiner in ("", " "):
        flat: list[str] = []
        origin: list[int] = []
        for index, char in enumerate(body):
            if char == "\r":
                continue
            if char == "\n":
                if joiner:
                    flat.append(joiner)
                    origin.append(index)
                continue
            flat.append(char)
            origin.append(index)
        at = "".join(flat).find(message)
        if at >= 0:
            restored = body[origin[at] : origin[at + len(message) - 1] + 1].replace("\r", "")
            if "\n" in restored:
                return restored
    return message


def _relative(candidate: str, base: Path, root: Path) -> str | None:
    """``candidate`` as a path relative to ``root`` if it is a file inside it (and not a dependency)."""
    path = Path(candidate)
    if not path.is_absolute():
        path = base / path
    try:
        resolved = path.resolve()
        relative = resolved.relative_to(root.resolve())
    except (OSError, ValueError):
        return None
    if any(part in _SKIP_PARTS for part in relative.parts) or not resolved.is_file():
        return None
    return relative.as_posix()


def locate_failure(text: str, base: Path, root: Path) -> tuple[str, int] | None:
    """Where a failure happened, from its stack trace: the innermost frame that is in the repository's own code.

    JavaScript stacks list the innermost frame first; Python tracebacks and pytest's report list it last.
    """
    for match in _JS_FRAME.finditer(text):
        rel = _relative(match["path"], base, root)
        if rel:
            return rel, int(match["line"])
    python: list[tuple[int, str, int]] = []
    for pattern in (_PY_TRACEBACK, _PY_LOCATION):
        for match in pattern.finditer(text):
            python.append((match.start(), match["path"], int(match["line"])))
    for _, candidate, line in sorted(python, reverse=True):
        rel = _relative(candidate, base, root)
        if rel:
            return rel, line
    return None


def _file_from_classname(classname: str, base: Path, root: Path) -> str | None:
    """pytest's classname ``tests.test_api.TestUsers`` names a module; find its file."""
    parts = classname.split(".")
    for end in range(len(parts), 0, -1):
        rel = _relative("/".join(parts[:end]) + ".py", base, root)
        if rel:
            return rel
    return None


def _failed_test(case: ET.Element, problem: ET.Element, base: Path, root: Path) -> FailedTest:
    name = case.get("name", "")
    classname = case.get("classname", "")
    message = problem.get("message") or ""
    body = problem.text or ""
    if not message:
        message = next((line.strip() for line in body.splitlines() if line.strip()), "")
    file: str | None = None
    line: int | None = None
    attr_file = case.get("file") or problem.get("file")
    attr_line = case.get("line") or problem.get("line")
    if attr_file:
        file = _relative(attr_file, base, root)
        if file and attr_line and attr_line.isdigit():
            line = int(attr_line)
    found = locate_failure(f"{body}\n{message}", base, root)
    if found and (file is None or found[0] == file):
        # The stack points at the failing assertion; the attribute only at the test's definition.
        file, line = found
    if file is None and classname:
        file = _file_from_classname(classname, base, root)
    return FailedTest(
        name=name,
        classname=classname,
        message=_clean_message(_restore_newlines(message, body)),
        kind=problem.tag,
        file=file,
        line=line,
    )


def parse_junit_text(text: str, *, base: Path, root: Path, source: str = "<report>") -> JUnitReport:
    """Parse one JUnit XML document. ``base`` resolves relative paths (the runner's folder); ``root`` is the
    repository, which every reported path is made relative to."""
    if "<!DOCTYPE" in text or "<!ENTITY" in text:
        raise JUnitError(f"{source}: refusing a JUnit report with a DTD or entity declaration")
    try:
        tree = ET.fromstring(text)
    except ET.ParseError as error:
        raise JUnitError(f"{source}: not well-formed XML ({error})") from None
    if tree.tag not in ("testsuites", "testsuite", "testcase"):
        raise NotJUnit(f"{source}: not a JUnit report (root element <{tree.tag}>)")
    report = JUnitReport(sources=[source])
    cases = list(tree.iter("testcase"))
    for case in cases:
        report.tests += 1
        report.duration += _float(case.get("time"))
        problem = case.find("failure")
        kind = "failure"
        if problem is None:
            problem = case.find("error")
            kind = "error"
        if problem is not None:
            if kind == "failure":
                report.failures += 1
            else:
                report.errors += 1
            report.failed.append(_failed_test(case, problem, base, root))
        elif case.find("skipped") is not None:
            report.skipped += 1
    # A suite's own time includes set-up outside the cases; prefer it when it is given at the top.
    top_time = _float(tree.get("time"))
    if top_time <= 0 and tree.tag == "testsuites":
        top_time = sum(_float(s.get("time")) for s in tree.findall("testsuite"))
    if top_time > report.duration:
        report.duration = top_time
    if not cases:
        # A suite that failed to load (import error) may report only counts.
        suites = [tree] if tree.tag == "testsuite" else tree.findall("testsuite")
        for suite in suites:
            report.tests += int(_float(suite.get("tests")))
            report.failures += int(_float(suite.get("failures")))
            report.errors += int(_float(suite.get("errors")))
            report.skipped += int(_float(suite.get("skipped")))
    return report


def parse_junit_file(path: Path, *, base: Path, root: Path) -> JUnitReport:
    try:
        size = path.stat().st_size
        if size > MAX_REPORT_BYTES:
            raise JUnitError(f"{path.name}: report is {size} bytes, larger than {MAX_REPORT_BYTES}")
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as error:
        raise JUnitError(f"{path.name}: cannot read ({error.strerror})") from None
    try:
        source = path.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        source = path.name
    return parse_junit_text(text, base=base, root=root, source=source)
