"""The Actions runtime: escaping, outputs with random delimiters, masks first, redaction everywhere."""

from __future__ import annotations

import io
import logging
import re
from pathlib import Path

import pytest

from kars_actions.core import gha


def test_annotation_escapes_data_and_properties_like_the_toolkit() -> None:
    line = gha.annotation_command(
        "error", "50% done\r\nnext", title="a: b, c", file="dir,x/railway.json", line=3, col=7
    )
    assert line == "::error file=dir%2Cx/railway.json,line=3,col=7,title=a%3A b%2C c::50%25 done%0D%0Anext"


def test_annotation_without_properties_has_no_trailing_space() -> None:
    assert gha.annotation_command("warning", "plain") == "::warning::plain"


def test_unknown_annotation_level_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown annotation level 'fatal'"):
        gha.annotation_command("fatal", "x")


def test_multiline_output_uses_a_random_delimiter_absent_from_the_value(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "out"
    monkeypatch.setenv("GITHUB_OUTPUT", str(out))
    value = "line one\nEOF\nline three"
    assert gha.set_outputs({"changelog": value, "tag": "v1.2.3"})
    text = out.read_text()
    match = re.match(r"changelog<<(ghadelimiter_[0-9a-f]{32})\n(.*?)\n\1\n", text, re.S)
    assert match and match.group(2) == value
    assert "tag<<ghadelimiter_" in text and "\nv1.2.3\n" in text


def test_outputs_and_summary_are_noops_outside_actions() -> None:
    assert gha.set_outputs({"a": "b"}) is False
    assert gha.append_summary("# hi") is False


def test_secrets_never_reach_outputs_or_summary(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GITHUB_OUTPUT", str(tmp_path / "o"))
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(tmp_path / "s"))
    gha.SECRETS.register("tok-abcdef-123456")
    gha.set_outputs({"url": "https://x/?t=tok-abcdef-123456"})
    gha.append_summary("token tok-abcdef-123456 used")
    assert "tok-abcdef-123456" not in (tmp_path / "o").read_text() + (tmp_path / "s").read_text()


def test_add_mask_is_emitted_once_per_secret_and_per_line_in_actions(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    stream = io.StringIO()
    registry = gha.SecretRegistry()
    registry._stream = stream
    registry.register("first-line\nsecond-line")
    first = stream.getvalue().splitlines()
    registry.register("first-line\nsecond-line")
    assert stream.getvalue().splitlines() == first
    assert {"::add-mask::first-line%0Asecond-line", "::add-mask::second-line", "::add-mask::first-line"} <= set(first)
    assert len(first) == len(set(first))


def test_register_from_environ_covers_known_names_and_secret_looking_inputs() -> None:
    registry = gha.SecretRegistry()
    registry.register_from_environ(
        {
            "RAILWAY_TOKEN": "rw-project-token",
            "KARS_INPUT_SLACK_WEBHOOK": "https://hooks.example/T000/B000/XYZ",
            "KARS_INPUT_ENVIRONMENT": "production",
            "HOME": "/root",
        }
    )
    assert "rw-project-token" in registry
    assert "https://hooks.example/T000/B000/XYZ" in registry
    assert "production" not in registry and "/root" not in registry


def test_logging_filter_redacts_messages_and_arguments() -> None:
    registry = gha.SecretRegistry()
    registry.register("hunter2-secret")
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "token=%s", ("hunter2-secret",), None)
    assert gha.RedactingFilter(registry).filter(record)
    assert record.getMessage() == "token=***"


def test_group_wraps_lines_and_closes_on_error() -> None:
    stream = io.StringIO()
    with pytest.raises(RuntimeError, match="boom"), gha.group("backend tests", stream):
        stream.write("inside\n")
        raise RuntimeError("boom")
    assert stream.getvalue() == "::group::backend tests\ninside\n::endgroup::\n"


def test_markdown_table_escapes_pipes_and_newlines() -> None:
    table = gha.md_table(["a", "b"], [["x|y", "1\n2"]])
    assert table.splitlines()[2] == "| x\\|y | 1<br>2 |"
