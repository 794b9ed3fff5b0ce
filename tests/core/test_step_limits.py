"""GitHub's limits on what a step shows: 10 annotations of each level per step (50 per job) and a 1 MiB step
summary. What a step writes is checked as GitHub reads it: the annotation commands on stdout, the bytes of
GITHUB_STEP_SUMMARY, and the log."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from kars_actions.core import gha
from kars_actions.core.summary import SUMMARY_LIMIT, Section, fit, sections
from tests.fakes.cli_process import run_cli

LIMIT = 1024 * 1024  # GitHub's, written out: the code's own constant could be wrong


def _size(text: str) -> int:
    return len(text.encode("utf-8"))


# --- the section model ------------------------------------------------------------------------------------------

SUMMARY = """## ❌ Release failed

**Why:** the watch saw 5xx at 8%.

### Deployments

| service | status |
|---|---|
| api | SUCCESS |
| web | SUCCESS |

```mermaid
xychart-beta
```

<details><summary>Log tail (api)</summary>

```
FATAL: out of memory
```
<details><summary>inner</summary>x</details>
</details>

The end.
"""


def test_a_summary_is_read_as_sections_of_four_kinds() -> None:
    found = sections(SUMMARY)
    assert [(s.kind, s.title) for s in found] == [
        ("text", "❌ Release failed"),
        ("text", "Deployments"),
        ("table", "Deployments"),
        ("text", "Deployments"),
        ("code", "Mermaid chart (Deployments)"),
        ("text", "Deployments"),
        ("details", "Log tail (api)"),
        ("text", "Deployments"),
    ]
    assert "".join(s.markdown for s in found) == SUMMARY
    assert found[6].markdown.endswith("</details>\n") and "inner" in found[6].markdown


def test_an_unclosed_block_runs_to_the_end_and_nothing_is_lost() -> None:
    text = "# T\n<details><summary>x</summary>\nopen\n```\ncode"
    found = sections(text)
    assert [s.kind for s in found] == ["text", "details"]
    assert "".join(s.markdown for s in found) == text


def test_section_names_are_plain_words() -> None:
    text = (
        "## ✅ `api`  **healthy**  <b>now</b>\n\n| a |\n|---|\n| 1 |\n\n```\nx\n```\n"
        + "### "
        + "w" * 200
        + "\n```\n```\nafter\n"
    )
    found = sections(text)
    assert [(s.kind, s.title) for s in found] == [
        ("text", "✅ api healthy now"),
        ("table", "✅ api healthy now"),
        ("text", "✅ api healthy now"),
        ("code", "code block (✅ api healthy now)"),
        ("text", "w" * 120),
        ("code", "code block (" + "w" * 120 + ")"),
        ("text", "w" * 120),
    ]
    assert found[5].markdown == "```\n```\n"  # closed on the very next line
    assert [(s.kind, s.title) for s in sections("| a |\n|---|\n| 1 |")] == [("table", "table")]
    assert sections("# T\n```\nnever closed")[1].markdown == "```\nnever closed"


def test_what_fits_is_written_whole() -> None:
    fitted = fit(sections(SUMMARY), _size(SUMMARY), _size)
    assert fitted.markdown == SUMMARY and fitted.whole and fitted.cut_text == ""


def test_details_go_first_then_charts_then_table_rows_and_sentences_stay() -> None:
    table = "| n | value |\n|---|---|\n" + "".join(f"| {i} | {'v' * 40} |\n" for i in range(400))
    parts = [
        Section("## Verdict\n\nunhealthy: status 503\n", "text", "Verdict"),
        Section(table, "table", "Checks"),
        Section("```mermaid\n" + "x\n" * 2000 + "```\n", "code", "chart"),
        Section("<details><summary>early</summary>\n\n" + "e" * 20_000 + "\n</details>\n", "details", "early"),
        Section("<details><summary>late</summary>\n\n" + "l" * 20_000 + "\n</details>\n", "details", "late"),
    ]
    whole = sum(_size(p.markdown) for p in parts)
    # Room for all but the late details block (and the notes): only that goes.
    fitted = fit(parts, whole - 10_000, _size, where="See the log.")
    assert fitted.cut == ("late",)
    assert "*✂️ late: cut, step summaries are limited to 1 MiB.*" in fitted.markdown
    assert "early" in fitted.markdown and fitted.cut_text.startswith("<details><summary>late")
    assert fitted.markdown.endswith("Cut to stay within GitHub's 1 MiB step summary limit: late. See the log.\n")
    # Much less room: both details, the chart, then rows from the end of the table; the verdict stays.
    fitted = fit(parts, 4096 + 8000, _size)
    assert fitted.cut[:2] == ("early", "chart") or fitted.cut[-3:] == ("chart", "early", "late")
    assert "unhealthy: status 503" in fitted.markdown and "| 0 | " in fitted.markdown
    rows = next(c for c in fitted.cut if "row(s) of Checks" in c)
    kept = fitted.markdown.count("\n| ") - 1  # the rows left, without the header
    assert int(rows.split()[0]) + kept == 400
    assert f"*…and {rows.split()[0]} more row(s) cut" in fitted.markdown
    assert _size(fitted.markdown) <= 4096 + 8000


def test_a_table_loses_just_enough_rows_from_its_end() -> None:
    table = "| n |\n|---|\n" + "".join(f"| {i:04d} {'x' * 90} |\n" for i in range(100))  # rows of 100 bytes
    parts = [Section("## Checks\n\n", "text", "Checks"), Section(table, "table", "Checks")]
    whole = sum(_size(p.markdown) for p in parts)
    note = "\n*…and 50 more row(s) cut: step summaries are limited to 1 MiB.*\n\n"
    closing = "\n---\n✂️ Cut to stay within GitHub's 1 MiB step summary limit: 50 row(s) of Checks.\n"
    # Over by 50 rows less 50 bytes, the room for the note included (counted as if it said 102 rows), beside the
    # 4 KiB kept for the closing note: 50 rows go, not 49, not 51.
    over = 50 * 100 - 50 - _size("\n*…and 102 more row(s) cut: step summaries are limited to 1 MiB.*\n\n")
    fitted = fit(parts, whole - over + 4096, _size)
    assert fitted.cut == ("50 row(s) of Checks",)
    assert fitted.markdown == "## Checks\n\n" + table[: -50 * 100] + note + closing
    assert fitted.cut_text == table[-50 * 100 :]


def test_a_table_too_big_to_keep_any_row_goes_whole() -> None:
    table = "| n |\n|---|\n| " + "x" * 50_000 + " |\n"
    parts = [Section("## Checks\n\nall bad\n", "text", "Checks"), Section(table, "table", "Checks | a\\b")]
    fitted = fit(parts, 10_000, _size)
    assert fitted.cut == ("Checks | a\\b",) and fitted.cut_text == table
    assert "*✂️ Checks \\| a\\\\b: cut, step summaries are limited to 1 MiB.*" in fitted.markdown
    assert fitted.markdown.startswith("## Checks\n\nall bad\n")


def test_the_closing_note_names_twenty_cuts_and_counts_the_rest() -> None:
    parts = [Section("# Run\n", "text", "Run")]
    parts += [Section("<details>" + "d" * 1000 + "</details>\n", "details", f"log {i}") for i in range(25)]
    fitted = fit(parts, 4096 + 2000, _size)
    assert len(fitted.cut) == 25
    names = "; ".join(f"log {i}" for i in range(20))
    assert fitted.markdown.endswith(f"limit: {names}; and 5 more.\n")


def test_when_sentences_alone_are_too_long_the_beginning_is_kept() -> None:
    text = "## Verdict first\n\n" + "".join(f"line {i} of the story\n" for i in range(5000))
    fitted = fit(sections(text), 20_000, _size)
    assert fitted.markdown.startswith("## Verdict first\n\nline 0 of the story\n")
    assert fitted.cut == ("the end of the summary",)
    assert "*…the rest of this summary was cut" in fitted.markdown and _size(fitted.markdown) <= 20_000
    assert fitted.cut_text.endswith("line 4999 of the story\n")
    one_line = fit(sections("# T\n" + "é" * 30_000), 10_000, _size)
    assert _size(one_line.markdown) <= 10_000 and one_line.markdown.startswith("# T\néé")


def test_sizes_are_counted_after_redaction(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    summary = tmp_path / "summary"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    secret = "tok-" + "S" * 200
    gha.SECRETS.register(secret)
    # 6,000 lines of 205 bytes before redaction (1.2 MB), of 8 bytes after it: nothing needs cutting.
    assert gha.append_summary("# Tokens\n\n" + f"- {secret}\n" * 6000)
    text = summary.read_text()
    assert text.count("- ***\n") == 6000 and "Cut" not in text


def test_a_summary_of_1_mib_less_8_kib_is_written_whole_and_one_byte_more_is_cut(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    summary = tmp_path / "summary"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    head = "# Result\n\n"
    body = "<details><summary>Log</summary>\n" + "l" * (LIMIT - 8 * 1024 - len(head) - 44) + "\n</details>\n"
    assert _size(head + body) == LIMIT - 8 * 1024
    gha.append_summary(head + body)
    assert summary.read_text() == head + body
    summary.unlink()
    gha.append_summary(head + body + "!")
    assert "✂️ Log: cut" in summary.read_text()
    assert "l" * 1000 in capsys.readouterr().err


def test_a_summary_appended_after_others_fits_in_what_is_left(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    summary = tmp_path / "summary"
    summary.write_text("x" * (LIMIT - 30_000))  # an earlier part of the same step
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    block = "<details><summary>Log tail</summary>\n\n```\n" + "log line\n" * 10_000 + "```\n</details>\n"
    assert gha.append_summary("## Watch failed\n\n**5xx at 8%**\n\n" + block)
    assert summary.stat().st_size < LIMIT
    text = summary.read_text()
    assert "**5xx at 8%**" in text and "*✂️ Log tail: cut, step summaries are limited to 1 MiB.*" in text
    err = capsys.readouterr().err
    assert "::group::Step summary: the parts cut to fit GitHub's 1 MiB limit\n<details>" in err
    assert err.count("log line") == 10_000 and err.endswith("::endgroup::\n")


def test_the_limit_is_githubs() -> None:
    assert SUMMARY_LIMIT == LIMIT


# --- through the CLI ----------------------------------------------------------------------------------------------


def _run(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return run_cli(args, cwd, timeout=300)


def _annotations(stdout: str, level: str) -> list[str]:
    return [line for line in stdout.splitlines() if line.startswith((f"::{level} ", f"::{level}::"))]


def test_validate_with_40_findings_shows_9_errors_then_where_the_other_31_are(tmp_path: Path) -> None:
    (tmp_path / "railway.json").write_text(json.dumps({f"key{i}": i for i in range(40)}, indent=1))
    proc = _run(["validate", "railway.json", "--no-deprecation-notice"], tmp_path)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    errors = _annotations(proc.stdout, "error")
    assert len(errors) == 10
    assert errors[0].startswith("::error file=railway.json,line=2,col=2,title=railway config%3A unknown-key::")
    assert "unknown key 'key8'" in errors[8]
    assert errors[9] == (
        "::error title=31 more error(s) not shown::GitHub shows at most 10 errors per step and 50 annotations "
        "per job: 31 more error(s) are listed in this step's log (group “31 annotation(s) not shown”) and in the "
        "step summary (Annotations not shown)."
    )
    log = proc.stdout.split("::group::31 annotation(s) not shown\n")[1].split("::endgroup::")[0]
    assert len(log.splitlines()) == 31 and "unknown key 'key9'" in log and "unknown key 'key39'" in log
    summary = (tmp_path / "summary").read_text()
    assert "<summary>Annotations not shown (31: GitHub shows 10 of each kind per step)</summary>" in summary
    assert summary.count("| error | railway.json:") == 31
    assert (tmp_path / "runner-temp" / "kars-actions-annotations").read_text() == "10\n"


def test_a_second_step_of_the_job_shows_only_what_is_left_of_the_jobs_50(tmp_path: Path) -> None:
    (tmp_path / "railway.json").write_text(json.dumps({f"key{i}": i for i in range(40)}, indent=1))
    (tmp_path / "runner-temp").mkdir()
    (tmp_path / "runner-temp" / "kars-actions-annotations").write_text("47\n")
    proc = _run(["validate", "railway.json", "--no-deprecation-notice"], tmp_path)
    assert proc.returncode == 1
    errors = _annotations(proc.stdout, "error")
    assert len(errors) == 3 and errors[2].startswith("::error title=38 more error(s) not shown::")


def test_a_test_step_with_many_failing_tests_annotates_9_and_says_where_the_rest_are(tmp_path: Path) -> None:
    cases = "".join(
        f'<testcase classname="tests.test_api" name="test_{i}" file="tests/test_api.py" line="{10 + i}">'
        f'<failure message="assert {i} == 0">AssertionError</failure></testcase>'
        for i in range(25)
    )
    report = f'<testsuites><testsuite name="api" tests="25" failures="25">{cases}</testsuite></testsuites>'
    (tmp_path / "report.xml").write_text(report)
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "test_api.py").write_text("".join(f"def test_{i}(): ...\n" for i in range(40)))
    (tmp_path / "kars.yml").write_text(
        "services:\n  api:\n    directory: .\n"
        "    test: cp report.xml \"$KARS_JUNIT_DIR/r.xml\" && echo 25 tests failed && exit 1\n"
    )
    proc = _run(["test"], tmp_path)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    errors = _annotations(proc.stdout, "error")
    assert len(errors) == 10
    assert all("file=tests/test_api.py" in line for line in errors[:9])
    assert errors[9].startswith("::error title=16 more error(s) not shown::")
    assert "16 more error(s) are listed in this step's log (group “16 annotation(s) not shown”)" in errors[9]
    summary = (tmp_path / "summary").read_text()
    assert summary.count("| error | tests/test_api.py:") == 16


def test_a_validate_summary_past_1_mib_is_cut_to_fit_and_says_what_was_cut(tmp_path: Path) -> None:
    # 6,000 unknown keys of 150 characters: the findings table alone is about 2.4 MB.
    (tmp_path / "railway.json").write_text(json.dumps({f"k{i:05d}" + "x" * 144: i for i in range(6000)}, indent=1))
    proc = _run(["validate", "railway.json", "--no-deprecation-notice"], tmp_path)
    assert proc.returncode == 1, proc.stderr[-2000:]
    summary = (tmp_path / "summary").read_bytes()
    assert len(summary) < LIMIT
    text = summary.decode()
    assert text.startswith("### Railway config: ❌ invalid\n")
    assert "6000 errors" in text and "k00000" in text  # the verdict and the first findings stay
    assert "✂️ Annotations not shown: cut, step summaries are limited to 1 MiB." in text
    assert "more row(s) cut: step summaries are limited to 1 MiB." in text
    assert "Cut to stay within GitHub's 1 MiB step summary limit: " in text
    assert "printed whole in this step's log (group “Step summary: the parts cut to fit GitHub's 1 MiB limit”)" in text
    # The hidden annotations' list did not fit in the summary: the note names the log only.
    note = _annotations(proc.stdout, "error")[-1]
    assert note.endswith("are listed in this step's log (group “5991 annotation(s) not shown”).")
    # Nothing is lost: every finding is in the log.
    assert "k05999" in proc.stdout and proc.stderr.count("::group::Step summary: the parts cut") == 1
    assert "k05999" in proc.stderr.split("::group::Step summary")[1]
