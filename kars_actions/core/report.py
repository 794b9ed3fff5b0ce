"""Results to people and machines: the text, json and github reporters.

Step modules never print. They return a result object (anything with the ``Result`` shape below) and report
live progress through a ``Progress`` callback; a reporter chosen by ``--format`` decides how that looks.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass
from typing import Any, Protocol, TextIO, runtime_checkable

from kars_actions.core import gha
from kars_actions.core.errors import KarsError
from kars_actions.core.summary import Fitted, Section, sections

FORMATS = ("text", "json", "github")
_HIDDEN_TITLE = "Annotations not shown"


@dataclass(frozen=True)
class Annotation:
    level: str  # "error" | "warning" | "notice"
    message: str
    title: str | None = None
    file: str | None = None
    line: int | None = None
    column: int | None = None

    def where(self) -> str:
        if not self.file:
            return ""
        parts = [self.file] + [str(p) for p in (self.line, self.column) if p is not None]
        return ":".join(parts)


@runtime_checkable
class Result(Protocol):
    """What every command returns. ``BaseResult`` gives empty defaults."""

    def exit_code(self) -> int: ...
    def to_json(self) -> dict[str, Any]: ...
    def text_lines(self, style: Style) -> list[str]: ...
    def summary_markdown(self) -> str: ...
    def annotations(self) -> list[Annotation]: ...
    def outputs(self) -> dict[str, str]: ...


class BaseResult:
    def exit_code(self) -> int:
        return 0

    def to_json(self) -> dict[str, Any]:
        return {}

    def text_lines(self, style: Style) -> list[str]:
        return []

    def summary_markdown(self) -> str:
        return ""

    def summary_sections(self) -> list[Section]:
        """The summary as sections, so it can be cut to GitHub's size limit by importance (core/summary.py):
        by default read from ``summary_markdown``; a result may give its own."""
        return sections(self.summary_markdown())

    def annotations(self) -> list[Annotation]:
        return []

    def outputs(self) -> dict[str, str]:
        return {}


Progress = Callable[[str], None]
"""A live line while a step waits (``service  BUILDING  1m20s``). Step modules take one; default: discard."""


def no_progress(_message: str) -> None:
    return None


class Style:
    """ANSI colour for a terminal; plain when not a TTY, when NO_COLOR is set, or when asked."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled

    @classmethod
    def for_stream(cls, stream: TextIO, force: bool | None = None) -> Style:
        if force is not None:
            return cls(force)
        if os.environ.get("NO_COLOR"):
            return cls(False)
        isatty = getattr(stream, "isatty", None)
        return cls(bool(isatty and isatty()))

    def _wrap(self, code: str, text: str) -> str:
        return f"\x1b[{code}m{text}\x1b[0m" if self.enabled else text

    def ok(self, text: str) -> str:
        return self._wrap("32", text)

    def bad(self, text: str) -> str:
        return self._wrap("31", text)

    def warn(self, text: str) -> str:
        return self._wrap("33", text)

    def dim(self, text: str) -> str:
        return self._wrap("2", text)

    def bold(self, text: str) -> str:
        return self._wrap("1", text)


def text_table(headers: list[str], rows: list[list[str]]) -> list[str]:
    """A plain aligned table for the terminal."""
    cells = [headers] + [[str(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    return ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells]


class Reporter:
    """Base reporter. Every write goes through ``gha.SECRETS.redact`` — the last layer before a stream."""

    name = "base"

    def __init__(self, out: TextIO | None = None, err: TextIO | None = None, color: bool | None = None) -> None:
        self.out = out or sys.stdout
        self.err = err or sys.stderr
        self.style = Style.for_stream(self.out, color if self.name == "text" else False)

    def _write(self, stream: TextIO, text: str) -> None:
        stream.write(gha.SECRETS.redact(text))
        if not text.endswith("\n"):
            stream.write("\n")
        stream.flush()

    # Live lines -------------------------------------------------------------------------------------------
    def progress(self, message: str) -> None:
        self._write(self.err, message)

    def group(self, title: str) -> AbstractContextManager[None]:
        return nullcontext()

    def warning(self, message: str, annotation: Annotation | None = None) -> None:
        self._write(self.err, f"{self.style.warn('warning')}: {message}")

    # The end ------------------------------------------------------------------------------------------------
    def result(self, result: Result) -> None:
        self._side_channels(result)
        for line in result.text_lines(self.style):
            self._write(self.out, line)

    def error(self, error: KarsError) -> None:
        self._write(self.err, f"{self.style.bad('error')}: {error}")
        if error.hint:
            self._write(self.err, f"  {self.style.dim('hint')}: {error.hint}")

    def _side_channels(self, result: Result, extra: list[Section] | None = None) -> Fitted | None:
        """Outputs and the step summary go to their files whenever Actions provides them, whatever the format.

        Each is built only when there is a file to write it to: for thousands of health targets the summary
        table costs as much as the polling did. The summary is fitted to GitHub's limit; what it kept is returned.
        """
        if gha.writes_outputs():
            gha.set_outputs(result.outputs())
        if not gha.writes_summary():
            return None
        given = getattr(result, "summary_sections", None)
        parts = list(given()) if callable(given) else sections(result.summary_markdown())
        return gha.write_summary(parts + (extra or []))


class TextReporter(Reporter):
    name = "text"


class JsonReporter(Reporter):
    """Machine-readable: stdout carries exactly one JSON document; live lines go to stderr."""

    name = "json"

    def result(self, result: Result) -> None:
        self._side_channels(result)
        payload = dict(result.to_json())
        payload.setdefault("exit_code", result.exit_code())
        self._write(self.out, json.dumps(payload, indent=2, sort_keys=False, default=str))

    def warning(self, message: str, annotation: Annotation | None = None) -> None:
        self._write(self.err, json.dumps({"warning": message}))

    def error(self, error: KarsError) -> None:
        body: dict[str, Any] = {"type": type(error).__name__, "message": error.message, "exit_code": error.exit_code}
        if error.hint:
            body["hint"] = error.hint
        if error.location:
            body["location"] = str(error.location)
        self._write(self.out, json.dumps({"error": body}, indent=2))


class GithubReporter(Reporter):
    """Inside Actions: log lines on stdout, annotations, groups, outputs and the step summary.

    Annotations stay within what GitHub shows (10 of each level per step, 50 per job): the most important ones
    — errors before warnings before notices; within a level, those about the whole step before those about a
    file, each in the order given — then one annotation per level saying how many more there are and where they
    are listed (the log always, the step summary when it can hold them)."""

    name = "github"

    def __init__(self, out: TextIO | None = None, err: TextIO | None = None, color: bool | None = None) -> None:
        super().__init__(out, err, color)
        self.budget = gha.AnnotationBudget()

    def progress(self, message: str) -> None:
        self._write(self.out, message)

    @contextmanager
    def _group(self, title: str) -> Iterator[None]:
        with gha.group(title, self.out):
            yield

    def group(self, title: str) -> AbstractContextManager[None]:
        return self._group(title)

    def warning(self, message: str, annotation: Annotation | None = None) -> None:
        self._annotate(annotation or Annotation("warning", message))

    def _annotate(self, a: Annotation) -> None:
        if self.budget.take(a.level):
            line = gha.annotation_command(a.level, a.message, title=a.title, file=a.file, line=a.line, col=a.column)
        else:  # GitHub would drop it: the log line is all there is, so it says everything
            line = _log_line(a)
        self._write(self.out, line)

    def result(self, result: Result) -> None:
        for line in result.text_lines(self.style):
            self._write(self.out, line)
        plan = plan_annotations(result.annotations(), self.budget)
        extra: list[Section] = []
        hidden = [a for level in gha.ANNOTATION_LEVELS for a in plan.hidden.get(level, [])]
        group = f"{len(hidden)} annotation(s) not shown"
        if hidden:
            with gha.group(group, self.out):
                for a in hidden:
                    self._write(self.out, _log_line(a))
            rows = [[a.level, a.where(), a.title or "", a.message] for a in hidden]
            extra.append(
                Section(
                    f"\n<details><summary>{_HIDDEN_TITLE} ({len(hidden)}: GitHub shows 10 of each kind per step)"
                    "</summary>\n\n" + gha.md_table(["level", "where", "title", "message"], rows) + "\n</details>\n",
                    "details",
                    _HIDDEN_TITLE,
                )
            )
        fitted = self._side_channels(result, extra)
        where = f"in this step's log (group “{group}”)"
        if fitted is not None and _HIDDEN_TITLE not in fitted.cut:
            where += f" and in the step summary ({_HIDDEN_TITLE})"
        for level in gha.ANNOTATION_LEVELS:
            for a in plan.shown.get(level, []):
                self._annotate(a)
            if level in plan.noted:
                self._annotate(_overflow_note(level, len(plan.hidden[level]), where))

    def error(self, error: KarsError) -> None:
        loc = error.location
        message = error.message + (f" — {error.hint}" if error.hint else "")
        self._annotate(
            Annotation(
                "error",
                message,
                title=error.title,
                file=loc.file if loc else None,
                line=loc.line if loc else None,
                column=loc.column if loc else None,
            )
        )
        gha.append_summary(f"### {error.title}\n\n{gha.md_escape(message)}\n")


_LEVEL_RANK = {level: rank for rank, level in enumerate(gha.ANNOTATION_LEVELS)}


@dataclass(frozen=True)
class AnnotationPlan:
    shown: dict[str, list[Annotation]]  # by level, in order
    hidden: dict[str, list[Annotation]]  # what GitHub would drop
    noted: frozenset[str]  # the levels whose last place shown is a note about their hidden ones


def plan_annotations(found: list[Annotation], budget: gha.AnnotationBudget) -> AnnotationPlan:
    """Which annotations GitHub will show, by importance. A level with more than its room shows one fewer and,
    in that last place, a note saying how many more there are and where they are listed."""
    ordered = sorted(found, key=lambda a: (_LEVEL_RANK.get(a.level, len(_LEVEL_RANK)), a.file is not None))
    shown: dict[str, list[Annotation]] = {}
    hidden: dict[str, list[Annotation]] = {}
    noted: set[str] = set()
    job_left = budget.job_left()  # shared by the levels: errors take theirs first
    for level in gha.ANNOTATION_LEVELS:
        items = [a for a in ordered if a.level == level]
        room = min(budget.step_left(level), job_left)
        if len(items) <= room:
            shown[level] = items
            job_left -= len(items)
            continue
        keep = max(room - 1, 0)
        shown[level], hidden[level] = items[:keep], items[keep:]
        if room:
            noted.add(level)
        job_left -= room
    return AnnotationPlan(shown, hidden, frozenset(noted))


def _overflow_note(level: str, count: int, where: str) -> Annotation:
    return Annotation(
        level,
        f"GitHub shows at most {gha.ANNOTATIONS_PER_STEP} {level}s per step and {gha.ANNOTATIONS_PER_JOB} "
        f"annotations per job: {count} more {level}(s) are listed {where}.",
        title=f"{count} more {level}(s) not shown",
    )


def _log_line(a: Annotation) -> str:
    """An annotation as a plain log line: level, place, title and message."""
    where = a.where()
    return f"{a.level}: " + (f"{where}: " if where else "") + (f"{a.title}: " if a.title else "") + a.message


REPORTERS: dict[str, type[Reporter]] = {"text": TextReporter, "json": JsonReporter, "github": GithubReporter}


def default_format() -> str:
    return "github" if gha.in_actions() else "text"


def make_reporter(fmt: str | None = None, *, color: bool | None = None) -> Reporter:
    return REPORTERS[fmt or default_format()](color=color)
