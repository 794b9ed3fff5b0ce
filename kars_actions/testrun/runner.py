"""The test gate: find and run each service's tests in parallel, bounded in time, before anything is tagged."""

from __future__ import annotations

import contextlib
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kars_actions.core.errors import UsageError
from kars_actions.core.report import Progress, no_progress
from kars_actions.core.timing import human_duration
from kars_actions.testrun.junit import JUnitError, JUnitReport, NotJUnit, parse_junit_file
from kars_actions.testrun.report import ServiceTestResult, TestGateResult

if TYPE_CHECKING:
    from kars_actions.core.config import Config

DEFAULT_TIMEOUT = 900.0
KILL_GRACE = 1.0  # seconds between SIGTERM and SIGKILL for a process group that ran out of time
STOP_GRACE = 0.3  # the same after Ctrl-C or SIGTERM: the whole run must end within a second
POLL = 0.05  # how often a waiting worker looks for a stop request
MAX_OUTPUT_BYTES = 4 * 1024 * 1024  # per service; the head is dropped past this, the end is what matters
REPORT_DIR_PLACEHOLDER = "{report_dir}"
NPM_DEFAULT_TEST = 'echo "Error: no test specified" && exit 1'
PYTEST_NO_TESTS = 5

# Folders never taken for a project when scanning a repository.
_NOT_PROJECTS = {"node_modules", "venv", "env", "dist", "build", "vendor", "site-packages", "__pycache__", "coverage"}
# Where runners and reporters (jest-junit, mocha-junit-reporter, vitest, playwright) leave JUnit files by default.
_REPORT_GLOBS = (
    "junit.xml",
    "junit/**/*.xml",
    "reports/**/*.xml",
    "test-results/**/*.xml",
    "test-reports/**/*.xml",
)
# ``node --test`` followed by options only: the reporter options can be appended without changing the script.
_PLAIN_NODE_TEST = re.compile(r"^node(?:\s+--?[\w-]+(?:=\S+)?)*\s+--test(?:\s+--?[\w-]+(?:=\S+)?)*\s*$")
_MAKE_TEST_TARGET = re.compile(r"^test\s*:(?!=)", re.MULTILINE)


# The plan ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TestCommand:
    """One command of a service's test run. ``argv`` runs directly; ``shell`` (from kars.yml) runs through bash.

    ``report_args`` ask the runner for a JUnit report in the run's report folder; they are kept apart so that
    messages show the command as the user would type it."""

    label: str  # "install" | "test"
    argv: tuple[str, ...] = ()
    shell: str | None = None
    report_args: tuple[str, ...] = ()
    no_tests_exit: int | None = None  # an exit status meaning "nothing was collected" (pytest: 5)

    def resolve(self, report_dir: str) -> list[str]:
        if self.shell is not None:
            return [_shell(), "-c", self.shell]
        return [*self.argv, *(a.replace(REPORT_DIR_PLACEHOLDER, report_dir) for a in self.report_args)]

    def display(self) -> str:
        return self.shell if self.shell is not None else shlex.join(self.argv)


@dataclass(frozen=True)
class TestRun:
    """What the gate will do for one service: its folder, its commands, its time limit."""

    __test__ = False  # not a pytest class, despite the name

    service: str
    directory: Path
    root: Path
    commands: tuple[TestCommand, ...]
    timeout: float = DEFAULT_TIMEOUT
    source: str = "detected"
    warnings: tuple[str, ...] = ()
    skip_reason: str | None = None

    @property
    def relative_directory(self) -> str:
        try:
            rel = self.directory.resolve().relative_to(self.root.resolve()).as_posix()
        except ValueError:
            return str(self.directory)
        return rel or "."


@lru_cache(maxsize=1)
def _shell() -> str:
    return shutil.which("bash") or "/bin/sh"


@lru_cache(maxsize=1)
def _node_has_junit_reporter() -> bool:
    """node's built-in junit reporter arrived in 20.10 / 21.3; older nodes reject the option."""
    node = shutil.which("node")
    if not node:
        return False
    try:
        out = subprocess.run([node, "--version"], capture_output=True, text=True, timeout=10, check=False).stdout
    except (OSError, subprocess.SubprocessError):
        return False
    match = re.match(r"v(\d+)\.(\d+)", out.strip())
    if not match:
        return False
    major, minor = int(match[1]), int(match[2])
    return major > 21 or (major == 21 and minor >= 3) or (major == 20 and minor >= 10)


def _python() -> str:
    return shutil.which("python") or shutil.which("python3") or "python3"


def _read_package_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise UsageError(
            f"{path}: cannot read package.json ({error})", hint="fix the file, or set `test:` for it in kars.yml"
        ) from None
    return data if isinstance(data, dict) else {}


def _node_commands(directory: Path) -> tuple[list[TestCommand], list[str]] | None:
    manifest = directory / "package.json"
    if not manifest.is_file():
        return None
    data = _read_package_json(manifest)
    scripts = data.get("scripts") if isinstance(data.get("scripts"), dict) else {}
    script = scripts.get("test") if scripts else None
    if not isinstance(script, str) or not script.strip() or script.strip() == NPM_DEFAULT_TEST:
        return None
    warnings: list[str] = []
    has_deps = any(data.get(key) for key in ("dependencies", "devDependencies", "optionalDependencies"))
    install: tuple[str, ...]
    if (directory / "package-lock.json").is_file() or (directory / "npm-shrinkwrap.json").is_file():
        manager, install = "npm", ("npm", "ci")
    elif (directory / "pnpm-lock.yaml").is_file():
        manager, install = "pnpm", ("pnpm", "install", "--frozen-lockfile")
    elif (directory / "yarn.lock").is_file():
        manager = "yarn"
        classic = "# yarn lockfile v1" in (directory / "yarn.lock").read_text(encoding="utf-8", errors="replace")[:200]
        install = ("yarn", "install", "--frozen-lockfile") if classic else ("yarn", "install", "--immutable")
    else:
        manager, install = "npm", ("npm", "install")
        if has_deps:
            warnings.append(
                f"{manifest.name} in {directory.name or '.'} has dependencies but no lockfile: installing with "
                "`npm install`, so the versions tested may not be the ones deployed (commit a lockfile)"
            )
    commands: list[TestCommand] = []
    if has_deps:
        commands.append(TestCommand("install", install))
    test: list[str] = [manager, "test"]
    report_args: list[str] = []
    if _PLAIN_NODE_TEST.match(script.strip()) and "--test-reporter" not in script and _node_has_junit_reporter():
        reporter = [
            "--test-reporter=spec",
            "--test-reporter-destination=stdout",
            "--test-reporter=junit",
            f"--test-reporter-destination={REPORT_DIR_PLACEHOLDER}/node-test.xml",
        ]
        # npm forwards what follows ``--`` to the script; pnpm and yarn forward options after the script name.
        report_args = ["--", *reporter] if manager == "npm" else reporter
    commands.append(TestCommand("test", tuple(test), report_args=tuple(report_args)))
    return commands, warnings


def _has_pytest(directory: Path) -> bool:
    if (directory / "pyproject.toml").is_file() or (directory / "pytest.ini").is_file():
        return True
    setup_cfg = directory / "setup.cfg"
    if setup_cfg.is_file():
        return "[tool:pytest]" in setup_cfg.read_text(encoding="utf-8", errors="replace")
    return False


def _has_make_test(directory: Path) -> bool:
    for name in ("GNUmakefile", "makefile", "Makefile"):
        path = directory / name
        if path.is_file():
            return bool(_MAKE_TEST_TARGET.search(path.read_text(encoding="utf-8", errors="replace")))
    return False


def detect_commands(directory: Path) -> tuple[list[TestCommand], list[str], str] | None:
    """The test commands a folder's own files declare, or None. A Makefile ``test`` target is the project's
    stated entry point and usually wraps the others, so it wins; otherwise node and pytest suites both run."""
    if _has_make_test(directory):
        return [TestCommand("test", ("make", "test"))], [], "Makefile"
    commands: list[TestCommand] = []
    warnings: list[str] = []
    sources: list[str] = []
    node = _node_commands(directory)
    if node:
        commands += node[0]
        warnings += node[1]
        sources.append("package.json")
    if _has_pytest(directory):
        commands.append(
            TestCommand(
                "test",
                (_python(), "-m", "pytest"),
                report_args=(f"--junitxml={REPORT_DIR_PLACEHOLDER}/pytest.xml",),
                no_tests_exit=PYTEST_NO_TESTS,
            )
        )
        sources.append("pytest")
    if not commands:
        return None
    return commands, warnings, " + ".join(sources)


def _looks_like_project(path: Path) -> bool:
    return path.is_dir() and not path.name.startswith((".", "_")) and path.name not in _NOT_PROJECTS


def _no_tests_error(looked: Iterable[str], configured: bool) -> UsageError:
    where = ", ".join(looked) or "."
    hint = (
        "add a `test` script to package.json, a pytest configuration (pyproject.toml / pytest.ini), or a Makefile "
        '`test` target; or say how to run them in kars.yml: services: {name: {test: "npm test"}}'
    )
    if not configured:
        hint += " (or point at the right folders with --dir)"
    return UsageError(f"no tests found to run; looked in: {where}", hint=hint)


def plan_test_runs(config: Config, root: Path | None = None, dirs: Sequence[str] = ()) -> list[TestRun]:
    """Decide what to run for each service: kars.yml commands, else what each folder declares.

    ``dirs`` (``--dir``) replaces the services with those folders. Raises UsageError when nothing at all is found.
    """
    base = (root or config.root).resolve()
    runs: list[TestRun] = []
    looked: list[str] = []
    if dirs:
        for entry in dirs:
            directory = (base / entry).resolve()
            if not directory.is_dir():
                raise UsageError(f"--dir {entry}: no such folder under {base}", hint="pass a folder of the repository")
            rel = directory.relative_to(base).as_posix() if directory.is_relative_to(base) else str(directory)
            looked.append(rel or ".")
            found = detect_commands(directory)
            if found:
                name = directory.name if rel in ("", ".") else rel
                runs.append(TestRun(name, directory, base, tuple(found[0]), source=found[2], warnings=tuple(found[1])))
        if not runs:
            raise _no_tests_error(looked, configured=False)
        return runs

    if config.services:
        for service in config.services.values():
            directory = (base / service.directory).resolve()
            timeout = float(service.test_timeout or DEFAULT_TIMEOUT)
            looked.append(f"{service.name} ({service.directory})")
            if service.test and service.test.strip():
                runs.append(
                    TestRun(
                        service.name, directory, base, (TestCommand("test", shell=service.test),), timeout, "kars.yml"
                    )
                )
                continue
            found = detect_commands(directory) if directory.is_dir() else None
            if found:
                runs.append(
                    TestRun(service.name, directory, base, tuple(found[0]), timeout, found[2], warnings=tuple(found[1]))
                )
            else:
                reason = (
                    f"no tests found in {service.directory} (set services.{service.name}.test in kars.yml)"
                    if directory.is_dir()
                    else f"folder {service.directory} does not exist"
                )
                runs.append(TestRun(service.name, directory, base, (), timeout, "none", skip_reason=reason))
        if all(run.skip_reason for run in runs):
            raise _no_tests_error(looked, configured=True)
        return runs

    candidates = [base, *sorted((p for p in base.iterdir() if _looks_like_project(p)), key=lambda p: p.name)]
    for directory in candidates:
        rel = "." if directory == base else directory.name
        looked.append(rel)
        found = detect_commands(directory)
        if found:
            name = (base.name or "root") if directory == base else directory.name
            runs.append(TestRun(name, directory, base, tuple(found[0]), source=found[2], warnings=tuple(found[1])))
    if not runs:
        raise _no_tests_error(looked, configured=False)
    return runs


# Running ----------------------------------------------------------------------------------------------------


class _OutputBuffer:
    """Collects a process's combined output on a thread, keeping the last MAX_OUTPUT_BYTES."""

    def __init__(self, stream: Any) -> None:
        self.data = bytearray()
        self.dropped = 0
        self._thread = threading.Thread(target=self._pump, args=(stream,), daemon=True)
        self._thread.start()

    def _pump(self, stream: Any) -> None:
        try:
            while chunk := stream.read1(65536):
                self.data += chunk
                if len(self.data) > MAX_OUTPUT_BYTES:
                    extra = len(self.data) - MAX_OUTPUT_BYTES
                    del self.data[:extra]
                    self.dropped += extra
        except (OSError, ValueError):
            return

    def text(self, wait: float) -> str:
        self._thread.join(wait)
        text = self.data.decode("utf-8", errors="replace")
        if self.dropped:
            text = f"[{self.dropped} bytes of earlier output dropped]\n{text}"
        return text


def _kill_group(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        return


class _StopRequest:
    """Set from a SIGINT/SIGTERM handler: every worker stops its process group and no new command starts.

    Test commands run in their own sessions (so a runaway suite can be killed as a group), which also means the
    terminal's Ctrl-C never reaches them: the gate has to pass it on itself."""

    def __init__(self) -> None:
        self.event = threading.Event()
        self.signal_name = ""

    def set(self, signum: int) -> None:
        self.signal_name = signal.Signals(signum).name
        self.event.set()

    @property
    def requested(self) -> bool:
        return self.event.is_set()


def _wait(process: subprocess.Popen[bytes], timeout: float, stop: _StopRequest | None) -> str | None:
    """Wait for ``process``; "timeout" or "stopped" when it had to be ended early, else None."""
    deadline = time.monotonic() + max(timeout, 0.001)
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return "timeout"
        if stop is not None and stop.requested:
            return "stopped"
        try:
            process.wait(timeout=min(remaining, POLL) if stop is not None else remaining)
            return None
        except subprocess.TimeoutExpired:
            continue


def _run_command(
    argv: list[str], cwd: Path, env: dict[str, str], timeout: float, stop: _StopRequest | None = None
) -> tuple[int | None, str, bool]:
    """Run one command in its own process group. Returns (exit status, output, ended early).

    Ended early: out of time, or stopped by a signal (``stop``); the exit status is then None."""
    process = subprocess.Popen(
        argv,
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    buffer = _OutputBuffer(process.stdout)
    ended = _wait(process, timeout, stop)
    timed_out = ended is not None
    if ended is not None:
        _kill_group(process.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=STOP_GRACE if ended == "stopped" else KILL_GRACE)
    # Whatever the outcome, nothing the command started may outlive it (servers, watchers, stuck workers).
    _kill_group(process.pid, signal.SIGKILL)
    code = process.wait()
    output = buffer.text(wait=0.2 if stop is not None and stop.requested else 5.0)
    if process.stdout is not None:
        process.stdout.close()
    return (None if timed_out else code), output, timed_out


def _collect_reports(run: TestRun, report_dir: Path, started_at: float) -> tuple[JUnitReport | None, list[str]]:
    """Reports we asked for, plus those the run left in the usual places (only files written by this run)."""
    paths: list[Path] = sorted(report_dir.glob("*.xml"))
    patterns = list(_REPORT_GLOBS)
    for name in ("JEST_JUNIT_OUTPUT_DIR", "JEST_JUNIT_OUTPUT_FILE"):
        value = os.environ.get(name)
        if value:
            patterns.append(f"{value.rstrip('/')}/*.xml" if name.endswith("DIR") else value)
    for pattern in patterns:
        if Path(pattern).is_absolute():
            matches: Iterable[Path] = [Path(p) for p in sorted(Path("/").glob(pattern.lstrip("/")))]
        else:
            matches = sorted(run.directory.glob(pattern))
        for path in matches:
            try:
                fresh = path.is_file() and path.stat().st_mtime >= started_at - 1
            except OSError:
                fresh = False
            if fresh and "node_modules" not in path.parts and path not in paths:
                paths.append(path)
    warnings: list[str] = []
    combined: JUnitReport | None = None
    for path in paths:
        try:
            report = parse_junit_file(path, base=run.directory, root=run.root)
        except NotJUnit:
            continue
        except JUnitError as error:
            warnings.append(f"{run.service}: skipped a test report: {error}")
            continue
        if combined is None:
            combined = report
        else:
            combined.merge(report)
    return combined, warnings


def _execute(run: TestRun, progress: Progress, stop: _StopRequest | None = None) -> ServiceTestResult:
    result = ServiceTestResult(
        service=run.service,
        directory=run.relative_directory,
        status="passed",
        commands=[c.display() for c in run.commands],
        warnings=list(run.warnings),
    )
    if run.skip_reason:
        result.status, result.message = "skipped", run.skip_reason
        return result
    if stop is not None and stop.requested:
        result.status, result.message = "interrupted", f"not started: {stop.signal_name} received"
        return result
    started = time.monotonic()
    started_wall = time.time()
    report_dir = Path(tempfile.mkdtemp(prefix="kars-junit-"))
    env = dict(os.environ)
    env["KARS_JUNIT_DIR"] = str(report_dir)
    env.setdefault("CI", "true")  # runners such as jest and vitest would otherwise start in watch mode
    chunks: list[str] = []
    progress(f"{run.service}: running {' && '.join(result.commands)}")
    try:
        for command in run.commands:
            remaining = run.timeout - (time.monotonic() - started)
            chunks.append(f"$ {command.display()}\n")
            try:
                code, output, timed_out = _run_command(
                    command.resolve(str(report_dir)), run.directory, env, remaining, stop
                )
            except FileNotFoundError:
                program = command.resolve(str(report_dir))[0]
                result.status = "error"
                result.message = f"`{program}` is not installed or not on PATH (needed for `{command.display()}`)"
                break
            except OSError as error:
                result.status = "error"
                result.message = f"could not start `{command.display()}`: {error.strerror}"
                break
            chunks.append(output if output.endswith("\n") or not output else output + "\n")
            if timed_out and stop is not None and stop.requested:
                result.status = "interrupted"
                result.message = (
                    f"stopped by {stop.signal_name} during `{command.display()}`; its process group was killed"
                )
                break
            if timed_out:
                result.status = "timed out"
                result.message = (
                    f"no result after {human_duration(run.timeout)} (`{command.display()}`); "
                    "its process group was killed — raise test_timeout in kars.yml if the suite needs longer"
                )
                break
            result.exit_code = code
            if code != 0:
                result.status = "failed"
                if command.no_tests_exit is not None and code == command.no_tests_exit:
                    result.message = f"`{command.display()}` collected no tests"
                elif command.label == "install":
                    result.message = f"installing dependencies failed (`{command.display()}` exited {code})"
                else:
                    result.message = f"`{command.display()}` exited {code}"
                break
        result.duration = time.monotonic() - started
        result.output = "".join(chunks)
        report, warnings = _collect_reports(run, report_dir, started_wall)
        result.report = report
        result.warnings += warnings
    finally:
        shutil.rmtree(report_dir, ignore_errors=True)
    tests = f" ({result.report.tests} tests)" if result.report else ""
    progress(f"{run.service}: {result.status} in {human_duration(result.duration)}{tests}")
    return result


def run_tests(runs: Sequence[TestRun], jobs: int | None = None, progress: Progress = no_progress) -> TestGateResult:
    """Run every service's tests, at most ``jobs`` at once (default: CPU count), each output kept whole.

    SIGINT and SIGTERM stop every running test process group, remove the report folders and return the result
    so far (services marked "interrupted"), well within a second."""
    workers = max(1, jobs or os.cpu_count() or 1)
    stop = _StopRequest()
    with _stop_on_signals(stop), ThreadPoolExecutor(max_workers=min(workers, max(1, len(runs)))) as pool:
        futures = [pool.submit(_execute, run, progress, stop) for run in runs]
        # Wait in short slices: the kernel may hand SIGINT to a worker thread, and Python runs the handler only once
        # the main thread is back in the interpreter; a main thread blocked on a lock would never see it.
        pending = set(futures)
        while pending:
            _, pending = wait(pending, timeout=POLL)
        results = [future.result() for future in futures]
    return TestGateResult(results, interrupted=stop.signal_name or None)


@contextlib.contextmanager
def _stop_on_signals(stop: _StopRequest) -> Iterator[None]:
    """Turn SIGINT/SIGTERM into a stop request for the duration of the run (main thread only: Python's rule)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}

    def handler(signum: int, _frame: object) -> None:
        stop.set(signum)

    for sig in previous:
        signal.signal(sig, handler)
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
