"""The test gate against real temporary projects: node's runner, pytest, a hang, nothing to run."""

from __future__ import annotations

import json
import os
import select
import shutil
import sys
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner

from kars_actions.cli import cli
from kars_actions.core import gha
from kars_actions.core.config import Config, ServiceConfig
from kars_actions.core.errors import UsageError
from kars_actions.core.report import Style
from kars_actions.testrun.runner import TestGateResult, plan_test_runs, run_tests
from tests.fakes.cli_fork import run_kars

needs_node = pytest.mark.skipif(shutil.which("node") is None or shutil.which("npm") is None, reason="needs node")
PLAIN = Style(False)


@pytest.fixture(autouse=True)
def _python_with_pytest_first_on_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """Detected pytest runs `python` from PATH, as it would in the user's job; make that one with pytest."""
    monkeypatch.setenv("PATH", f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")
    # The projects' tests are plain pytest: the plugins installed beside it for this suite (xdist, hypothesis,
    # pytest-httpx) would only cost each run 0.3 s of CPU to load.
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")
    monkeypatch.delenv("PYTEST_ADDOPTS", raising=False)
    monkeypatch.delenv("PYTEST_CURRENT_TEST", raising=False)


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return path


def node_project(folder: Path, *, failing: bool) -> None:
    write(folder / "package.json", json.dumps({"name": "web", "scripts": {"test": "node --test"}}))
    body = """
        const test = require('node:test');
        const assert = require('node:assert');
        test('adds numbers', () => { assert.strictEqual(1 + 1, 2); });
        test.skip('later', () => {});
    """
    if failing:
        body += "test('subtracts numbers', () => {\n  assert.strictEqual(3 - 1, 1);\n});\n"
    write(folder / "test" / "math.test.js", body)


def python_project(folder: Path, *, failing: bool) -> None:
    write(folder / "pyproject.toml", "[tool.pytest.ini_options]\naddopts = '-p no:cacheprovider'\n")
    body = "def test_ok():\n    assert 1 + 1 == 2\n"
    if failing:
        body += "\n\ndef test_broken():\n    total = 1 + 1\n    assert total == 3, 'total is wrong'\n"
    write(folder / "tests" / "test_math.py", body)


def config_with(root: Path, **services: ServiceConfig) -> Config:
    return Config(root=root, path=root / "kars.yml", services=dict(services))


@needs_node
def test_node_project_runs_for_real_and_its_junit_report_places_the_failure(tmp_path: Path) -> None:
    node_project(tmp_path / "web", failing=True)
    runs = plan_test_runs(Config(root=tmp_path), tmp_path)
    assert [r.service for r in runs] == ["web"]
    result = run_tests(runs, jobs=1)

    assert result.exit_code() == 1
    web = result.services[0]
    assert web.status == "failed" and web.exit_code == 1
    assert web.report is not None
    assert (web.report.tests, web.report.failures, web.report.skipped) == (3, 1, 1)
    [failed] = web.report.failed
    assert failed.name == "subtracts numbers"
    assert (failed.file, failed.line) == ("web/test/math.test.js", 6)
    [note] = [a for a in result.annotations() if a.level == "error"]
    assert (note.file, note.line) == ("web/test/math.test.js", 6)
    assert "subtracts numbers" in (note.title or "")


@needs_node
def test_passing_node_project_passes_the_gate(tmp_path: Path) -> None:
    node_project(tmp_path, failing=False)
    result = run_tests(plan_test_runs(Config(root=tmp_path), tmp_path))
    assert result.exit_code() == 0
    assert result.services[0].report is not None and result.services[0].report.tests == 2
    assert result.outputs()["passed"] == "true"


def test_python_project_runs_pytest_and_places_the_failing_assertion(tmp_path: Path) -> None:
    python_project(tmp_path / "api", failing=True)
    result = run_tests(plan_test_runs(Config(root=tmp_path), tmp_path))

    api = result.services[0]
    assert api.status == "failed"
    assert api.report is not None and (api.report.tests, api.report.failures) == (2, 1)
    [failed] = api.report.failed
    assert failed.name == "test_broken"
    assert (failed.file, failed.line) == ("api/tests/test_math.py", 7)
    assert "total is wrong" in failed.message
    assert "test_broken" in "\n".join(result.text_lines(PLAIN))
    assert "api/tests/test_math.py:7" in result.summary_markdown()


def test_passing_python_project_exits_zero_with_counts_in_the_table(tmp_path: Path) -> None:
    python_project(tmp_path, failing=False)
    result = run_tests(plan_test_runs(Config(root=tmp_path), tmp_path))
    assert result.exit_code() == 0
    table = [line for line in result.text_lines(PLAIN) if line.startswith(tmp_path.name)]
    assert table and "passed" in table[0] and " 1 " in table[0]


def test_pytest_collecting_nothing_fails_the_gate(tmp_path: Path) -> None:
    write(tmp_path / "pytest.ini", "[pytest]\naddopts = -p no:cacheprovider\n")
    result = run_tests(plan_test_runs(Config(root=tmp_path), tmp_path))
    assert result.exit_code() == 1
    assert "collected no tests" in result.services[0].message


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state != "Z"


def _ends(pid: int, within: float = 10.0) -> bool:
    """Whether the process ends within ``within`` seconds. A SIGKILL sent to it lands a moment later on a busy
    machine, so its end is waited for on its pidfd (readable once it has ended), not looked at once."""
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return True
    try:
        return not _alive(pid) or bool(select.select([fd], [], [], within)[0])
    finally:
        os.close(fd)


def test_hanging_service_is_stopped_at_its_time_limit_with_its_whole_process_group(tmp_path: Path) -> None:
    # The command starts a background child too: a time limit that killed only the shell would leave it running.
    service = ServiceConfig(
        name="worker",
        railway_service="worker",
        test="sleep 300 & echo $! > child.pid; echo started; sleep 300",
        test_timeout=1.0,
    )
    result = run_tests(plan_test_runs(config_with(tmp_path, worker=service)))

    worker = result.services[0]
    assert worker.status == "timed out"
    assert worker.duration < 15
    assert "started" in worker.output
    assert "process group was killed" in worker.message
    child = int((tmp_path / "child.pid").read_text())
    assert _ends(child)
    assert result.exit_code() == 1


def test_leftover_background_process_is_reaped_when_the_tests_finish(tmp_path: Path) -> None:
    service = ServiceConfig(
        name="api", railway_service="api", test="sleep 300 & echo $! > child.pid; echo done", test_timeout=30
    )
    result = run_tests(plan_test_runs(config_with(tmp_path, api=service)))
    assert result.services[0].status == "passed"
    assert _ends(int((tmp_path / "child.pid").read_text()))


def test_kars_yml_command_runs_through_the_shell_in_the_service_folder(tmp_path: Path) -> None:
    (tmp_path / "backend").mkdir()
    service = ServiceConfig(
        name="backend",
        railway_service="backend",
        directory="backend",
        test='test "$(basename "$PWD")" = backend && echo "shell ok" | tr a-z A-Z',
    )
    result = run_tests(plan_test_runs(config_with(tmp_path, backend=service)))
    assert result.services[0].status == "passed"
    assert "SHELL OK" in result.services[0].output


def test_services_run_in_parallel(tmp_path: Path) -> None:
    # Each service waits for the other's flag: this passes only if both run at the same time.
    one = ServiceConfig(
        name="one",
        railway_service="one",
        test="touch one.flag; for i in $(seq 100); do [ -f two.flag ] && exit 0; sleep 0.05; done; exit 1",
    )
    two = ServiceConfig(
        name="two",
        railway_service="two",
        test="touch two.flag; for i in $(seq 100); do [ -f one.flag ] && exit 0; sleep 0.05; done; exit 1",
    )
    lines: list[str] = []
    result = run_tests(plan_test_runs(config_with(tmp_path, one=one, two=two)), jobs=2, progress=lines.append)
    assert [s.status for s in result.services] == ["passed", "passed"]
    assert any(line.startswith("one: passed in ") for line in lines)
    assert any(line.startswith("two: passed in ") for line in lines)


def test_each_services_output_stays_together_and_prefixed(tmp_path: Path) -> None:
    services = {
        name: ServiceConfig(name=name, railway_service=name, test=f"for i in 1 2 3; do echo {name}-$i; done")
        for name in ("alpha", "beta")
    }
    result = run_tests(plan_test_runs(config_with(tmp_path, **services)), jobs=2)
    lines = [line for line in result.text_lines(PLAIN) if line.startswith("[")]
    alpha = [i for i, line in enumerate(lines) if line.startswith("[alpha]")]
    assert alpha == list(range(alpha[0], alpha[0] + len(alpha)))
    assert "[beta] beta-2" in lines


def test_grouped_output_cannot_issue_workflow_commands(tmp_path: Path) -> None:
    service = ServiceConfig(name="api", railway_service="api", test="echo '::set-output name=healthy::true'")
    result = run_tests(plan_test_runs(config_with(tmp_path, api=service)))
    result.grouped = True
    lines = result.text_lines(PLAIN)
    start = lines.index("::group::api — passed")
    token = lines[start + 1].removeprefix("::stop-commands::")
    assert len(token) == 32
    injected = lines.index("::set-output name=healthy::true")
    assert start + 1 < injected < lines.index(f"::{token}::") < lines.index("::endgroup::")


def test_missing_program_is_reported_as_an_error_not_a_crash(tmp_path: Path) -> None:
    write(tmp_path / "Makefile", "test:\n\techo hi\n")
    runs = plan_test_runs(Config(root=tmp_path), tmp_path)
    monkey_path = tmp_path / "empty-bin"
    monkey_path.mkdir()
    old = os.environ["PATH"]
    os.environ["PATH"] = str(monkey_path)
    try:
        result = run_tests(runs)
    finally:
        os.environ["PATH"] = old
    assert result.services[0].status == "error"
    assert "`make` is not installed" in result.services[0].message
    assert result.exit_code() == 1


def test_nothing_to_run_is_a_usage_error_naming_the_folders(tmp_path: Path) -> None:
    (tmp_path / "docs").mkdir()
    write(
        tmp_path / "web" / "package.json",
        json.dumps({"scripts": {"test": 'echo "Error: no test specified" && exit 1'}}),
    )
    with pytest.raises(UsageError) as caught:
        plan_test_runs(Config(root=tmp_path), tmp_path)
    assert "looked in: ., docs, web" in caught.value.message
    assert "kars.yml" in (caught.value.hint or "")


def test_cli_exits_2_when_there_is_nothing_to_run(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["test", "--root", str(tmp_path), "--format", "text"])
    assert result.exit_code == 2
    assert "no tests found to run" in result.output
    assert "Traceback" not in result.output


def test_cli_dir_option_tests_only_that_folder_and_exits_1_on_failure(tmp_path: Path) -> None:
    python_project(tmp_path / "api", failing=True)
    python_project(tmp_path / "other", failing=False)
    result = CliRunner().invoke(cli, ["test", "--root", str(tmp_path), "--dir", "api", "--format", "json"])
    assert result.exit_code == 1
    payload = json.loads(result.stdout)
    assert [s["service"] for s in payload["services"]] == ["api"]
    assert payload["services"][0]["report"]["failed"][0]["line"] == 7


def test_cli_redacts_secrets_printed_by_tests(tmp_path: Path) -> None:
    write(tmp_path / "kars.yml", "services:\n  api:\n    test: echo token=$RAILWAY_TOKEN\n")
    env = {"RAILWAY_TOKEN": "rw-very-secret-value"}
    result = CliRunner().invoke(cli, ["test", "--root", str(tmp_path), "--format", "text"], env=env)
    assert result.exit_code == 0, result.output
    assert "token=***" in result.output
    assert "rw-very-secret-value" not in result.output
    gha.SECRETS.clear()


def test_result_json_carries_each_services_output(tmp_path: Path) -> None:
    service = ServiceConfig(name="api", railway_service="api", test="echo hello; exit 4")
    result: TestGateResult = run_tests(plan_test_runs(config_with(tmp_path, api=service)))
    data = result.to_json()
    assert data["passed"] is False
    assert data["services"][0]["exit_code"] == 4
    assert "hello" in data["services"][0]["output"]
    assert result.outputs()["failed-services"] == "api"


@pytest.mark.subprocess
def test_real_process_exits_2_with_one_clear_line_when_nothing_can_run(tmp_path: Path) -> None:

    done = run_kars(
        ["test", "--format", "text"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[2])},
    )
    assert done.returncode == 2
    assert "error: no tests found to run; looked in: ." in done.stderr
    assert "Traceback" not in done.stderr
