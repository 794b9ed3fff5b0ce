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


def test_github_reporter_caps_annotations_and_moves_the_rest_to_the_summary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    summary = tmp_path / "summary.md"
    outputs = tmp_path / "outputs"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    monkeypatch.setenv("GITHUB_OUTPUT", str(outputs))
    out = io.StringIO()
    GithubReporter(out=out, err=io.StringIO()).result(SampleResult(annotations=13))
    errors = [line for line in out.getvalue().splitlines() if line.startswith("::error ")]
    assert len(errors) == 10
    assert errors[0] == "::error file=railway.json,line=1,col=2::bad 0"
    text = summary.read_text()
    assert "## summary" in text and "3 more annotation(s)" in text and "bad 12" in text
    assert "valid<<ghadelimiter_" in outputs.read_text()


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
