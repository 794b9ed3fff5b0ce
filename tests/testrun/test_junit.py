"""JUnit parsing: the shapes jest-junit, pytest and node write, hostile documents, and failure locations."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from kars_actions.testrun.junit import JUnitError, NotJUnit, locate_failure, parse_junit_file, parse_junit_text

JEST_JUNIT = """<?xml version="1.0" encoding="UTF-8"?>
<testsuites name="jest tests" tests="3" failures="1" errors="0" time="1.234">
  <testsuite name="health" errors="0" failures="1" skipped="1" timestamp="2024-05-01T10:00:00" time="1.1" tests="3">
    <testcase classname="health returns ok" name="health returns ok" time="0.01"></testcase>
    <testcase classname="health reports version" name="health reports version" time="0.02">
      <failure>Error: expect(received).toBe(expected) // Object.is equality

Expected: "1.2.0"
Received: "1.1.0"
    at Object.toBe (/repo/backend/src/health.test.js:14:27)
    at Promise.then.completed (/repo/backend/node_modules/jest-circus/build/utils.js:298:28)</failure>
    </testcase>
    <testcase classname="health later" name="health later" time="0"><skipped/></testcase>
  </testsuite>
</testsuites>
"""


def test_jest_junit_shape_gives_counts_duration_and_the_failing_line(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    (repo / "backend" / "src").mkdir(parents=True)
    (repo / "backend" / "src" / "health.test.js").write_text("// test\n", encoding="utf-8")
    text = JEST_JUNIT.replace("/repo/", f"{repo}/")
    report = parse_junit_text(text, base=repo / "backend", root=repo)
    assert (report.tests, report.failures, report.errors, report.skipped) == (3, 1, 0, 1)
    assert report.duration == pytest.approx(1.234)
    [failed] = report.failed
    assert failed.message.startswith("Error: expect(received).toBe(expected)")
    assert (failed.file, failed.line) == ("backend/src/health.test.js", 14)


def test_frames_in_dependencies_are_not_taken_for_the_failure(tmp_path: Path) -> None:
    (tmp_path / "node_modules" / "lib").mkdir(parents=True)
    (tmp_path / "node_modules" / "lib" / "x.js").write_text("", encoding="utf-8")
    (tmp_path / "a.test.js").write_text("", encoding="utf-8")
    trace = f"at boom ({tmp_path}/node_modules/lib/x.js:1:1)\n    at Context.<anonymous> ({tmp_path}/a.test.js:9:3)"
    assert locate_failure(trace, tmp_path, tmp_path) == ("a.test.js", 9)


def test_python_traceback_takes_the_innermost_frame_in_the_repository(tmp_path: Path) -> None:
    (tmp_path / "app.py").write_text("", encoding="utf-8")
    (tmp_path / "test_app.py").write_text("", encoding="utf-8")
    trace = (
        f'File "{tmp_path}/test_app.py", line 3, in test_it\n    app.run()\n'
        f'File "{tmp_path}/app.py", line 12, in run\n    raise ValueError\n'
        'File "/usr/lib/python3.11/json/__init__.py", line 346, in loads'
    )
    assert locate_failure(trace, tmp_path, tmp_path) == ("app.py", 12)


def test_file_and_line_attributes_are_used_when_there_is_no_trace(tmp_path: Path) -> None:
    (tmp_path / "spec.js").write_text("", encoding="utf-8")
    text = '<testsuite><testcase name="t" file="spec.js" line="8"><failure message="nope"/></testcase></testsuite>'
    [failed] = parse_junit_text(text, base=tmp_path, root=tmp_path).failed
    assert (failed.file, failed.line, failed.message) == ("spec.js", 8, "nope")


def test_error_elements_count_as_errors(tmp_path: Path) -> None:
    text = '<testsuite><testcase name="t"><error message="ImportError: no module"/></testcase></testsuite>'
    report = parse_junit_text(text, base=tmp_path, root=tmp_path)
    assert (report.failures, report.errors, report.failed[0].kind) == (0, 1, "error")


def test_suite_with_only_counts_is_still_counted(tmp_path: Path) -> None:
    report = parse_junit_text('<testsuite tests="4" failures="1" errors="1"/>', base=tmp_path, root=tmp_path)
    assert (report.tests, report.failures, report.errors) == (4, 1, 1)


@pytest.mark.parametrize(
    "text",
    [
        '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">]><testsuite>&lol;</testsuite>',
        '<!ENTITY x SYSTEM "file:///etc/passwd"><testsuite/>',
    ],
)
def test_reports_with_dtds_or_entities_are_refused(tmp_path: Path, text: str) -> None:
    with pytest.raises(JUnitError, match="DTD or entity"):
        parse_junit_text(text, base=tmp_path, root=tmp_path)


def test_malformed_xml_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(JUnitError, match="not well-formed"):
        parse_junit_text("<testsuite><testcase>", base=tmp_path, root=tmp_path, source="junit.xml")


def test_other_xml_is_recognised_as_not_a_junit_report(tmp_path: Path) -> None:
    with pytest.raises(NotJUnit, match=r"not a JUnit report \(root element <coverage>\)"):
        parse_junit_text('<coverage line-rate="0.9"/>', base=tmp_path, root=tmp_path)


def test_real_pytest_report_with_xunit1_attributes(tmp_path: Path) -> None:
    (tmp_path / "test_x.py").write_text(
        "import pytest\n\n\ndef test_a():\n    assert [1] == [2]\n\n\n@pytest.mark.skip\ndef test_b():\n    pass\n",
        encoding="utf-8",
    )
    report_path = tmp_path / "out.xml"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "-o",
            "junit_family=xunit1",
            f"--junitxml={report_path}",
            "test_x.py",
        ],
        cwd=tmp_path,
        capture_output=True,
        check=False,
        env={"PATH": "/usr/bin:/bin", "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"},  # plain pytest, as the test needs
    )
    report = parse_junit_file(report_path, base=tmp_path, root=tmp_path)
    assert (report.tests, report.failures, report.skipped) == (2, 1, 1)
    [failed] = report.failed
    assert (failed.file, failed.line) == ("test_x.py", 5)  # the assertion, not the definition
    assert report.sources == ["out.xml"]


# node --test's junit reporter drops the line breaks of the message attribute; the element's text keeps them.
NODE_DIFF = """<?xml version="1.0" encoding="utf-8"?>
<testsuites>
  <testcase name="compares objects" time="0.01" classname="test">
    <failure type="testCodeFailure" message="MESSAGE">
Error [ERR_TEST_FAILURE]: Expected values to be strictly deep-equal:
+ actual - expected

  {
+   a: 1,
-   a: 2
  }
    at TestContext.&lt;anonymous&gt; (/nowhere/a.test.js:2:41)
    </failure>
  </testcase>
</testsuites>
""".replace("MESSAGE", "Expected values to be strictly deep-equal:+ actual - expected  {+   a: 1,-   a: 2  }")


@pytest.mark.parametrize("attribute_joiner", ["", " "])
def test_a_failing_diff_keeps_its_line_breaks(tmp_path: Path, attribute_joiner: str) -> None:
    text = NODE_DIFF
    if attribute_joiner:  # a reporter that writes raw line breaks, which XML turns into spaces
        text = text.replace(
            "deep-equal:+ actual - expected  {+   a: 1,-   a: 2  }", "deep-equal: + actual - expected    {"
        )
    [failed] = parse_junit_text(text, base=tmp_path, root=tmp_path).failed
    lines = failed.message.splitlines()
    assert lines[0] == "Expected values to be strictly deep-equal:"
    assert lines[1] == "+ actual - expected"
    if not attribute_joiner:
        assert "+   a: 1," in lines and "-   a: 2" in lines


def test_a_message_found_nowhere_in_the_text_is_kept_as_it_came(tmp_path: Path) -> None:
    text = NODE_DIFF.replace('message="Expected', 'message="Something else. Expected')
    [failed] = parse_junit_text(text, base=tmp_path, root=tmp_path).failed
    assert failed.message.startswith("Something else.") and "\n" not in failed.message
