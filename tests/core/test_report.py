"""Reporters: the same result rendered for a person, a machine, and GitHub Actions."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest

from kars_actions.core import gha
from kars_actions.core.errors import ConfigError, Location
from kars_actions.core.report import (
    Annotation,
    BaseResult,
    GithubReporter,
    JsonReporter,
    Style,
    TextReporter,
    default_format,
    text_table,
)


class SampleResult(BaseResult):
    def __init__(self, annotations: int = 1) -> None:
        self._n = annotations

    def exit_code(self) -> int:
        return 1

    def to_json(self) -> dict[str, Any]:
        return {"ok": False}

    def text_lines(self, style: Style) -> list[str]:
        return [style.bad("FAILED") + " something"]

    def summary_markdown(self) -> str:
        return "## summary\n"

    def annotations(self) -> list[Annotation]:
        return [Annotation("error", f"bad {i}", file="railway.json", line=i + 1, column=2) for i in range(self._n)]

    def outputs(self) -> dict[str, str]:
        return {"valid": "false"}


def test_text_reporter_colours_only_when_asked() -> None:
    out = io.StringIO()
    TextReporter(out=out, err=io.StringIO(), color=True).result(SampleResult())
    assert "\x1b[31mFAILED\x1b[0m" in out.getvalue()
    plain = io.StringIO()
    TextReporter(out=plain, err=io.StringIO()).result(SampleResult())  # StringIO is not a TTY
    assert plain.getvalue() == "FAILED something\n"


def test_no_color_environment_turns_colour_off(monkeypatch: pytest.MonkeyPatch) -> None:
    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    assert Style.for_stream(Tty()).enabled
    monkeypatch.setenv("NO_COLOR", "1")
    assert not Style.for_stream(Tty()).enabled


def test_json_reporter_prints_one_document_with_the_exit_code() -> None:
    out = io.StringIO()
    JsonReporter(out=out, err=io.StringIO()).result(SampleResult())
    assert json.loads(out.getvalue()) == {"ok": False, "exit_code": 1}


def test_json_reporter_error_is_machine_readable() -> None:
    out = io.StringIO()
    JsonReporter(out=out, err=io.StringIO()).error(ConfigError("bad", hint="fix", location=Location("k.yml", 2, 3)))
    body = json.loads(out.getvalue())["error"]
    assert body == {"type": "ConfigError", "message": "bad", "exit_code": 2, "hint": "fix", "location": "k.yml:2:3"}


class ManyFindings(SampleResult):
    def __init__(self, found: list[Annotation]) -> None:
        self._found = found

    def annotations(self) -> list[Annotation]:
        return self._found


def _commands(text: str, level: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith(f"::{level} ") or line.startswith(f"::{level}::")]


def test_github_reporter_shows_nine_of_each_level_then_says_how_many_more_and_where(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    summary = tmp_path / "summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    found = [Annotation("notice", f"note {i}") for i in range(3)]
    found += [Annotation("warning", f"warn {i}", file="a.json", line=i + 1) for i in range(12)]
    found += [Annotation("error", f"bad {i}", file="railway.json", line=i + 1, column=2) for i in range(40)]
    out = io.StringIO()
    GithubReporter(out=out, err=io.StringIO()).result(ManyFindings(found))
    text = out.getvalue()
    errors, warnings, notices = (_commands(text, level) for level in ("error", "warning", "notice"))
    assert errors[:9] == [f"::error file=railway.json,line={i + 1},col=2::bad {i}" for i in range(9)]
    group = "34 annotation(s) not shown"
    assert errors[9] == (
        "::error title=31 more error(s) not shown::GitHub shows at most 10 errors per step and 50 annotations per "
        f"job: 31 more error(s) are listed in this step's log (group “{group}”) and in the step summary "
        "(Annotations not shown)."
    )
    assert len(errors) == 10 and len(warnings) == 10 and len(notices) == 3
    assert warnings[9].startswith("::warning title=3 more warning(s) not shown::")
    # Errors first, then warnings, then notices, as GitHub lists them.
    assert text.index("::error ") < text.index("::warning ") < text.index("::notice::")
    log = text[text.index(f"::group::{group}") : text.index("::endgroup::")]
    assert "error: railway.json:10:2: bad 9\n" in log and "error: railway.json:40:2: bad 39\n" in log
    assert "warning: a.json:12: warn 11\n" in log and "bad 8" not in log and len(log.splitlines()) == 35
    table = summary.read_text()
    assert "<summary>Annotations not shown (34: GitHub shows 10 of each kind per step)</summary>" in table
    assert "| error | railway.json:40:2 |  | bad 39 |" in table and "| warning | a.json:10 |  | warn 9 |" in table
    assert "bad 8 |" not in table


def test_ten_of_a_level_are_all_shown_without_a_note(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(tmp_path / "summary.md"))
    out = io.StringIO()
    GithubReporter(out=out, err=io.StringIO()).result(SampleResult(annotations=10))
    assert _commands(out.getvalue(), "error")[-1] == "::error file=railway.json,line=10,col=2::bad 9"
    assert "not shown" not in out.getvalue() + (tmp_path / "summary.md").read_text()


def test_what_is_about_the_whole_step_comes_before_findings_in_files() -> None:
    found = [Annotation("error", f"bad {i}", file="railway.json", line=i + 1) for i in range(12)]
    found.append(Annotation("error", "production was rolled back", title="Release failed"))
    out = io.StringIO()
    GithubReporter(out=out, err=io.StringIO()).result(ManyFindings(found))
    errors = _commands(out.getvalue(), "error")
    assert errors[0] == "::error title=Release failed::production was rolled back"
    assert errors[8] == "::error file=railway.json,line=8::bad 7"
    # No summary file: the hidden ones are in the log only, and the note says so.
    assert errors[9].endswith("4 more error(s) are listed in this step's log (group “4 annotation(s) not shown”).")


def test_the_job_budget_is_shared_by_the_steps_of_a_job(tmp_path: Path) -> None:
    (tmp_path / "kars-actions-annotations").write_text("44\n")
    found = [Annotation("warning", f"warn {i}") for i in range(3)]
    found += [Annotation("error", f"bad {i}") for i in range(12)]
    out = io.StringIO()
    reporter = GithubReporter(out=out, err=io.StringIO())
    reporter.budget = gha.AnnotationBudget(str(tmp_path))
    reporter.result(ManyFindings(found))
    errors, warnings = _commands(out.getvalue(), "error"), _commands(out.getvalue(), "warning")
    assert errors[:5] == [f"::error::bad {i}" for i in range(5)]
    assert errors[5].startswith("::error title=7 more error(s) not shown::") and len(errors) == 6
    assert warnings == []  # the job's 50 are used up: the warnings are in the log only
    assert "warning: warn 2" in out.getvalue()
    assert (tmp_path / "kars-actions-annotations").read_text() == "50\n"


def test_live_warnings_and_the_final_error_count_against_the_step(tmp_path: Path) -> None:
    out = io.StringIO()
    reporter = GithubReporter(out=out, err=io.StringIO())
    reporter.budget = gha.AnnotationBudget(str(tmp_path))
    for i in range(11):
        reporter.warning(f"slow {i}", Annotation("warning", f"slow {i}", title="Deploy"))
    assert len(_commands(out.getvalue(), "warning")) == 10
    assert out.getvalue().splitlines()[-1] == "warning: Deploy: slow 10"
    (tmp_path / "kars-actions-annotations").write_text("50\n")
    reporter.error(ConfigError("bad kars.yml", hint="fix it", location=Location("kars.yml", 2, 3)))
    assert out.getvalue().splitlines()[-1] == "error: kars.yml:2:3: Configuration error: bad kars.yml — fix it"


def test_every_reporter_redacts_secrets_in_results_and_errors() -> None:
    gha.SECRETS.register("super-secret-value")
    for cls in (TextReporter, JsonReporter, GithubReporter):
        out, err = io.StringIO(), io.StringIO()
        reporter = cls(out=out, err=err)
        reporter.progress("using super-secret-value")
        reporter.error(ConfigError("token super-secret-value rejected"))
        assert "super-secret-value" not in out.getvalue() + err.getvalue()


def test_default_format_is_github_inside_actions(monkeypatch: pytest.MonkeyPatch) -> None:
    assert default_format() == "text"
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    assert default_format() == "github"


def test_text_table_aligns_columns() -> None:
    assert text_table(["a", "bb"], [["xxx", "y"]]) == ["a    bb", "xxx  y"]
