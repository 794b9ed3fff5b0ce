#!/usr/bin/env python3
"""Mutation probe: how many small faults in a module the tests notice, child processes included.

Each mutant (one small change to the module's code) is written into a scratch copy of the repository that a
scratch virtualenv imports first, and the tests that reach the module run against it with ``-x``. Because the
copy is what the scratch interpreter imports, the CLI started as a subprocess by the tests (``python -m
kars_actions``, whatever environment the test gives it) runs the mutant too — a switch carried in an environment
variable would not survive the tests that start the CLI with a scrubbed environment.

    .venv/bin/python scripts/mutation.py                       # the secret layer (see TARGETS), one worker
    .venv/bin/python scripts/mutation.py -n 2 --json out.json  # two mutants at a time, the full record
    .venv/bin/python scripts/mutation.py --module kars_actions/core/urls.py --tests tests/core/test_bad_input.py

    .venv/bin/python scripts/mutation.py -n 2 --module kars_actions/health/assertions.py --tests tests/health \
        --module kars_actions/railway/wait.py --tests tests/railway/test_wait_edges.py   # each module its tests
    .venv/bin/python scripts/mutation.py --sample 80 --module ...   # a fixed, seeded sample of 80 mutants a module

A mutant is *killed* when a test fails (or the tests run past the time limit), *survived* when every test passes.
Before mutating, the tests run once with a line tracer in every Python process of the scratch virtualenv (the CLI
children included), which files each executed line of the module under the test running then. A mutant runs only
the tests that execute its lines (all of them when the line runs at import); on a line no test executes it cannot
be killed, so it counts as survived ("not reached") without running anything.
Operators: comparison flips, ``and``/``or`` swapped, ``not`` dropped, numbers changed, booleans flipped, strings
emptied, statements removed, returned values replaced by ``None``.
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import itertools
import json
import os
import queue
import random
import shutil
import signal
import subprocess
import sys
import sysconfig
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
# Fastest tests first: with -x a mutant dies at its first failing test, so most never reach the slow ones.
SECRET_TESTS = (
    "tests/core/test_masking.py",
    "tests/core/test_redaction.py",
    "tests/core/test_gha.py",
    "tests/core/test_report.py",
    "tests/core/test_cli.py",
    "tests/core/test_secret_cli.py",
    # Both of its variants run the same commands; debug adds tracebacks, which this layer does not write.
    "tests/core/test_canary.py::test_no_secret_reaches_any_output_of_any_command[plain]",
)
# The redaction code of gha.py: every secret form, the registry, the redacting streams and log filter.
GHA_REDACTION = (
    "SECRET_ENV_VARS",
    "SECRET_NAME_PARTS",
    "_GENERIC_SECRET_NAME",
    "_GENERIC_MIN_LEN",
    "_MIN_REDACT_LEN",
    "_PIECE_LEN",
    "_SHORT_SIZES",
    "REDACTED",
    "_SCHEME_WORD",
    "_HEADER_LINE",
    "_URL_USERINFO",
    "_CUT_AFTER",
    "_CUT_BEFORE",
    "_ESCAPES",
    "_basic",
    "url_credentials",
    "_roots",
    "_cuttable",
    "_url_path",
    "_encodings",
    "SecretRegistry",
    "_Matcher",
    "_ends_in_secret",
    "_looks_random",
    "is_secret_name",
    "RedactingStream",
    "install_redacting_streams",
    "drain_streams",
    "RedactingFilter",
    "install_log_redaction",
)
TARGETS: dict[str, tuple[tuple[str, ...] | None, tuple[str, ...]]] = {
    "kars_actions/core/masking.py": (None, SECRET_TESTS),
    "kars_actions/core/gha.py": (GHA_REDACTION, SECRET_TESTS),
}
# Imported by every Python process of the scratch virtualenv (from its .pth file). It traces only while the
# scratch copy holds a file naming the module, and files each line a process executes under the test running at
# that moment (written by the plugin below, read by the CLI children at start), so a mutant runs only the tests
# that execute its lines. Lines run outside any test (imports at collection) are filed under "" and make a
# mutant run every test.
_REACH_TRACER = """
import atexit, json, os, sys, threading
_ask = os.path.join(__ROOT__, ".kars-reach")
_now = _ask + "-test"
_tracing = os.path.exists(_ask)
if _tracing:
    with open(_ask, encoding="utf-8") as _f:
        _target = os.path.realpath(_f.read().strip())
    try:
        with open(_now, encoding="utf-8") as _f:
            _current = [_f.read()]
    except OSError:
        _current = [""]
    _lines = {}
    _order = []
    _took = {}
    _mine = {}
    def _local(frame, event, arg):
        if event == "line":
            _lines.setdefault(_current[0], set()).add(frame.f_lineno)
        return _local
    def _global(frame, event, arg):
        name = frame.f_code.co_filename
        hit = _mine.get(name)
        if hit is None:
            hit = _mine[name] = os.path.realpath(name) == _target
        if hit:
            _lines.setdefault(_current[0], set()).add(frame.f_lineno)
            return _local
        return None
    def _save():
        with open(_ask + "." + str(os.getpid()), "a", encoding="utf-8") as f:
            if _order:
                f.write(json.dumps({"order": _order}) + "\\n")
            if _took:
                f.write(json.dumps({"took": _took}) + "\\n")
            for test, lines in _lines.items():
                f.write(json.dumps({"test": test, "lines": sorted(lines)}) + "\\n")
    def _forked():
        # A CLI process forked from the suite's warm interpreter: it runs for the test running now, and the lines
        # the interpreter ran while importing are lines this process would have run at its own start.
        try:
            with open(_now, encoding="utf-8") as f:
                _current[0] = f.read()
        except OSError:
            _current[0] = ""
        imported = set().union(*_lines.values())
        _lines.clear()
        if imported:
            _lines[_current[0]] = imported
        del _order[:]
        _took.clear()
    atexit.register(_save)
    os.register_at_fork(after_in_child=_forked)
    sys.settrace(_global)
    threading.settrace(_global)

def begin(nodeid):
    if _tracing:
        with open(_now, "w", encoding="utf-8") as f:
            f.write(nodeid)
        _current[0] = nodeid
        _order.append(nodeid)

def took(nodeid, seconds):
    if _tracing:
        _took[nodeid] = _took.get(nodeid, 0.0) + seconds
"""
# The pytest plugin of the reach run (a module of its own: pytest warns about a plugin imported before it starts).
_REACH_PLUGIN = """
import _kars_reach

def pytest_runtest_logstart(nodeid, location):
    _kars_reach.begin(nodeid)

def pytest_runtest_logreport(report):
    _kars_reach.took(report.nodeid, report.duration)  # setup, call and teardown
"""
_SKIP_COPY = {".git", ".venv", "node_modules", "__pycache__", ".mypy_cache", ".ruff_cache", ".pytest_cache"}
_FLIPS: dict[type[ast.cmpop], type[ast.cmpop]] = {
    ast.Eq: ast.NotEq,
    ast.NotEq: ast.Eq,
    ast.Lt: ast.LtE,
    ast.LtE: ast.Lt,
    ast.Gt: ast.GtE,
    ast.GtE: ast.Gt,
    ast.In: ast.NotIn,
    ast.NotIn: ast.In,
    ast.Is: ast.IsNot,
    ast.IsNot: ast.Is,
}
_REMOVABLE = (ast.Expr, ast.Assign, ast.AugAssign, ast.AnnAssign, ast.If, ast.For, ast.While, ast.With, ast.Raise)


@dataclass(frozen=True)
class Mutant:
    module: str
    number: int
    line: int
    what: str
    source: str
    # The lines of the smallest statement holding the change, in the module as printed back from its syntax tree
    # (the form the reach run traces): the mutant can only be killed if a test executes one of them.
    printed_lines: range = range(0)


@dataclass
class Outcome:
    mutant: Mutant
    killed: bool
    seconds: float
    by: str = ""
    reached: bool = True


@dataclass
class Reach:
    """Which lines of the module each test executed (in any process), the order the tests ran in and how long each
    took (traced)."""

    lines: dict[str, set[int]] = field(default_factory=dict)
    order: list[str] = field(default_factory=list)
    took: dict[str, float] = field(default_factory=dict)

    def tests_for(self, mutant: Mutant, tests: tuple[str, ...]) -> tuple[str, ...]:
        """The tests that execute the mutant's lines (every test if an import does), quickest first: with ``-x`` a
        mutant stops at its first failing test, so a quick test that notices it spares the slow ones."""
        if self.lines.get("", set()).intersection(mutant.printed_lines):
            reaching = self.order
        else:
            reaching = [t for t in self.order if self.lines.get(t, set()).intersection(mutant.printed_lines)]
        if not reaching and not self.order:
            return tests  # nothing traced: the files given, in their order
        # A stable sort: tests of the same duration keep the order they were given in.
        return tuple(sorted(reaching, key=lambda t: self.took.get(t, float("inf"))))


@dataclass
class Score:
    module: str
    outcomes: list[Outcome] = field(default_factory=list)

    @property
    def killed(self) -> int:
        return sum(1 for o in self.outcomes if o.killed)

    @property
    def percent(self) -> float:
        return 100.0 * self.killed / len(self.outcomes) if self.outcomes else 100.0


# --- mutants --------------------------------------------------------------------------------------------------


def _in_scope(tree: ast.Module, names: tuple[str, ...] | None) -> list[ast.stmt]:
    """The module's top-level statements the probe mutates: all of them, or those defining ``names``."""
    chosen = []
    for node in tree.body:
        if names is None:
            chosen.append(node)
            continue
        defined: set[str] = set()
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            defined.add(node.name)
        elif isinstance(node, ast.Assign):
            defined |= {t.id for t in node.targets if isinstance(t, ast.Name)}
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            defined.add(node.target.id)
        if defined & set(names):
            chosen.append(node)
    return chosen


def _docstrings(tree: ast.Module) -> set[int]:
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                found.add(id(first.value))
                found.add(id(first))
    return found


def _sites(tree: ast.Module, scope: list[ast.stmt]) -> Iterator[tuple[ast.AST, str, int]]:
    """(node, operator, index) for every mutation the probe makes inside ``scope``."""
    skip = _docstrings(tree)
    in_fstring: set[int] = set()
    for top in scope:
        for node in ast.walk(top):
            if isinstance(node, ast.JoinedStr):
                in_fstring |= {id(v) for v in node.values}
    for top in scope:
        for node in ast.walk(top):
            if id(node) in skip:
                continue
            if isinstance(node, ast.Compare):
                for index, op in enumerate(node.ops):
                    if type(op) in _FLIPS:
                        yield node, "compare", index
            elif isinstance(node, ast.BoolOp):
                yield node, "boolop", 0
            elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
                yield node, "not", 0
            elif isinstance(node, ast.Constant) and id(node) not in in_fstring:
                value = node.value
                if isinstance(value, bool) or (isinstance(value, (int, float)) and not isinstance(value, bool)):
                    yield node, "constant", 0
                elif isinstance(value, str) and value:
                    yield node, "string", 0
            elif isinstance(node, ast.Return) and node.value is not None and not _is_none(node.value):
                yield node, "return", 0
            for name in ("body", "orelse", "finalbody"):
                body = getattr(node, name, None)
                if isinstance(body, list):
                    for index, stmt in enumerate(body):
                        if isinstance(stmt, _REMOVABLE) and id(stmt) not in skip:
                            yield node, f"remove:{name}", index


def _is_none(node: ast.expr) -> bool:
    return isinstance(node, ast.Constant) and node.value is None


def _describe(node: ast.AST, operator: str, index: int) -> tuple[int, str]:
    if operator == "compare":
        assert isinstance(node, ast.Compare)
        op = node.ops[index]
        return node.lineno, f"{_op_text(op)} → {_op_text(_FLIPS[type(op)]())}"
    if operator == "boolop":
        assert isinstance(node, ast.BoolOp)
        return node.lineno, "and → or" if isinstance(node.op, ast.And) else "or → and"
    if operator == "not":
        return getattr(node, "lineno", 0), f"`{_short(node)}` → without not"
    if operator == "constant":
        assert isinstance(node, ast.Constant)
        return node.lineno, f"{node.value!r} → {_mutated_constant(node.value)!r}"
    if operator == "string":
        assert isinstance(node, ast.Constant)
        return node.lineno, f"{_clip(repr(node.value))} → ''"
    if operator == "return":
        return getattr(node, "lineno", 0), f"`{_short(node)}` → return None"
    body = getattr(node, operator.partition(":")[2])
    stmt = body[index]
    return stmt.lineno, f"`{_short(stmt)}` removed"


def _op_text(op: ast.cmpop) -> str:
    return {
        ast.Eq: "==",
        ast.NotEq: "!=",
        ast.Lt: "<",
        ast.LtE: "<=",
        ast.Gt: ">",
        ast.GtE: ">=",
        ast.In: "in",
        ast.NotIn: "not in",
        ast.Is: "is",
        ast.IsNot: "is not",
    }[type(op)]


def _short(node: ast.AST) -> str:
    return _clip(ast.unparse(node).splitlines()[0])


def _clip(text: str) -> str:
    return text if len(text) <= 60 else text[:57] + "..."


def _mutated_constant(value: Any) -> Any:
    if isinstance(value, bool):
        return not value
    if isinstance(value, (int, float)):
        return value + 1
    return value


def _apply(node: ast.AST, operator: str, index: int) -> None:
    if operator == "compare":
        assert isinstance(node, ast.Compare)
        node.ops[index] = _FLIPS[type(node.ops[index])]()
    elif operator == "boolop":
        assert isinstance(node, ast.BoolOp)
        node.op = ast.Or() if isinstance(node.op, ast.And) else ast.And()
    elif operator == "constant":
        assert isinstance(node, ast.Constant)
        node.value = _mutated_constant(node.value)
    elif operator == "string":
        assert isinstance(node, ast.Constant)
        node.value = ""
    elif operator == "return":
        assert isinstance(node, ast.Return)
        node.value = ast.Constant(None)
    elif operator.startswith("remove:"):
        body = getattr(node, operator.partition(":")[2])
        body[index] = ast.copy_location(ast.Pass(), body[index])


class _DropNot(ast.NodeTransformer):
    def __init__(self, target: ast.AST) -> None:
        self.target = target

    def visit_UnaryOp(self, node: ast.UnaryOp) -> ast.AST:
        self.generic_visit(node)
        return node.operand if node is self.target else node


def _statement_lines(parents: dict[int, ast.AST], node: ast.AST, operator: str, index: int) -> range:
    """The lines of the smallest statement that holds the change (the removed statement itself for a removal)."""
    if operator.startswith("remove:"):
        node = getattr(node, operator.partition(":")[2])[index]
    while not isinstance(node, ast.stmt) and id(node) in parents:
        node = parents[id(node)]
    start = getattr(node, "lineno", 1)
    return range(start, (getattr(node, "end_lineno", None) or start) + 1)


def mutants(module: str, names: tuple[str, ...] | None, source: str, sample: int | None = None) -> list[Mutant]:
    """Every mutant of ``module`` (its ``source``) inside the chosen top-level names, or a fixed sample of them."""
    tree = ast.parse(source)
    count = sum(1 for _ in _sites(tree, _in_scope(tree, names)))
    numbers = list(range(count))
    if sample is not None and sample < count:
        # Seeded by the module's path: the same module gives the same sample, so before and after compare.
        numbers = sorted(random.Random(module).sample(numbers, sample))
    # Printing back keeps the tree, so the n-th site of the printed module is the n-th site of the original.
    printed = ast.parse(ast.unparse(tree))
    printed_sites = list(_sites(printed, _in_scope(printed, names)))
    assert len(printed_sites) == count, f"{module}: printing the module back changed its mutation sites"
    parents = {id(child): parent for parent in ast.walk(printed) for child in ast.iter_child_nodes(parent)}
    found: list[Mutant] = []
    for number in numbers:
        fresh = ast.parse(source)
        node, operator, index = next(itertools.islice(_sites(fresh, _in_scope(fresh, names)), number, None))
        line, what = _describe(node, operator, index)
        lines = _statement_lines(parents, *printed_sites[number])
        if operator == "not":
            mutated: ast.AST = _DropNot(node).visit(fresh)
        else:
            _apply(node, operator, index)
            mutated = fresh
        source_text = ast.unparse(ast.fix_missing_locations(mutated))
        found.append(Mutant(module, number + 1, line, what, source_text, lines))
    return found


# --- the scratch copy -------------------------------------------------------------------------------------------


class Scratch:
    """A copy of the repository and a virtualenv that imports it first (and the project's dependencies after)."""

    def __init__(self, base: Path) -> None:
        self.running: subprocess.Popen[str] | None = None
        self.root = base / "repo"
        shutil.copytree(ROOT, self.root, ignore=lambda _dir, names: [n for n in names if n in _SKIP_COPY])
        venv = base / "venv"
        subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
        self.python = venv / "bin" / "python"
        purelib = subprocess.run(
            [str(self.python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
        # Plain path lines (no import lines): the project's own editable install is not activated here.
        deps = sysconfig.get_paths()["purelib"]
        tracer = _REACH_TRACER.replace("__ROOT__", repr(str(self.root)))
        Path(purelib, "_kars_reach.py").write_text(tracer, encoding="utf-8")
        Path(purelib, "_kars_reach_plugin.py").write_text(_REACH_PLUGIN, encoding="utf-8")
        pth = f"{self.root}\n{deps}\nimport _kars_reach\n"
        Path(purelib, "00-kars-mutation.pth").write_text(pth, encoding="utf-8")

    def write(self, module: str, source: str) -> None:
        path = self.root / module
        path.write_text(source, encoding="utf-8")
        # A pyc compiled from an earlier mutant of the same size and second would be used instead.
        for cached in (path.parent / "__pycache__").glob(f"{path.stem}.*.pyc"):
            cached.unlink(missing_ok=True)

    def reach(self, module: str, tests: tuple[str, ...]) -> tuple[bool, float, str, Reach]:
        """Run the tests on the module as it stands, tracing which of its lines each test executes."""
        ask = self.root / ".kars-reach"
        ask.write_text(str(self.root / module), encoding="utf-8")
        try:
            passed, seconds, failed = self.run_tests(tests, timeout=3600, plugin="_kars_reach_plugin")
        finally:
            ask.unlink()
            (self.root / ".kars-reach-test").unlink(missing_ok=True)
        reach = Reach()
        for record in self.root.glob(".kars-reach.*"):
            for row in record.read_text(encoding="utf-8").splitlines():
                entry = json.loads(row)
                if "order" in entry:
                    reach.order = entry["order"]
                elif "took" in entry:
                    reach.took.update(entry["took"])
                else:
                    reach.lines.setdefault(entry["test"], set()).update(entry["lines"])
            record.unlink()
        return passed, seconds, failed, reach

    def run_tests(self, tests: tuple[str, ...], timeout: float, plugin: str = "") -> tuple[bool, float, str]:
        """(passed, seconds, first failing test or 'timeout')."""
        present = [t for t in tests if (self.root / t.partition("::")[0]).exists()]
        # One process, no xdist, no hypothesis plugin (2 s of imports per run that these tests do not use).
        argv = [str(self.python), "-m", "pytest", "-x", "-q", "-o", "addopts=--import-mode=importlib"]
        argv += ["-p", "no:xdist", "-p", "no:hypothesispytest", "-p", "no:cacheprovider", *present]
        if plugin:
            argv += ["-p", plugin]
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
        env["PYTHONDONTWRITEBYTECODE"] = "1"
        started = time.monotonic()
        # A session of its own: on a timeout (or ^C) the CLI processes the tests started go too.
        proc = subprocess.Popen(
            argv, cwd=self.root, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            start_new_session=True,
        )
        self.running = proc
        try:
            stdout, _ = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            _kill(proc)
            return False, time.monotonic() - started, "timeout"
        except BaseException:
            _kill(proc)
            raise
        seconds = time.monotonic() - started
        lines = stdout.splitlines()
        failed = next((line.split()[1] for line in lines if line.startswith(("FAILED", "ERROR"))), "")
        return proc.returncode == 0, seconds, failed or ("" if proc.returncode == 0 else f"exit {proc.returncode}")


def _kill(proc: subprocess.Popen[str]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.communicate()


# --- the run ----------------------------------------------------------------------------------------------------


def probe(
    targets: dict[str, tuple[tuple[str, ...] | None, tuple[str, ...]]],
    workers: int,
    only: set[int] | None = None,
    timeout: float | None = None,
    sample: int | None = None,
) -> list[Score]:
    scores = {module: Score(module) for module in targets}
    # Read once: the working tree may change while the probe runs; the copy keeps what was measured.
    originals = {module: (ROOT / module).read_text(encoding="utf-8") for module in targets}
    work: queue.Queue[tuple[Mutant, tuple[str, ...], float]] = queue.Queue()
    with tempfile.TemporaryDirectory(prefix="kars-mutation-") as tmp:
        scratches = [Scratch(Path(tmp) / f"w{i}") for i in range(workers)]
        for module, (names, tests) in targets.items():
            original = originals[module]
            # The unmutated module, printed back from its syntax tree, must pass: else every mutant "dies".
            scratches[0].write(module, ast.unparse(ast.parse(original)))
            passed, seconds, failed, reached = scratches[0].reach(module, tests)
            scratches[0].write(module, original)
            if not passed:
                sys.exit(f"{module}: the tests fail without any mutant ({failed}); fix that first")
            found = mutants(module, names, original, sample)
            chosen = {m.number: reached.tests_for(m, tests) for m in found}
            unreached = [m for m in found if not chosen[m.number]]
            print(
                f"{module}: {len(found)} mutants{' (a fixed sample)' if sample else ''},"
                f" {len(unreached)} on lines no test executes;"
                f" the tests take {seconds:.0f}s unmutated (traced)",
                flush=True,
            )
            for mutant in found:
                if only and mutant.number not in only:
                    continue
                if mutant in unreached:
                    scores[module].outcomes.append(Outcome(mutant, False, 0.0, "", reached=False))
                    continue
                work.put((mutant, chosen[mutant.number], timeout or max(60.0, seconds * 3)))
        total = work.qsize()
        lock = threading.Lock()
        done = [0]

        def worker(scratch: Scratch) -> None:
            while True:
                try:
                    mutant, tests, timeout = work.get_nowait()
                except queue.Empty:
                    return
                original = originals[mutant.module]
                scratch.write(mutant.module, mutant.source)
                try:
                    passed, seconds, failed = scratch.run_tests(tests, timeout)
                finally:
                    scratch.write(mutant.module, original)
                outcome = Outcome(mutant, not passed, seconds, failed)
                with lock:
                    scores[mutant.module].outcomes.append(outcome)
                    done[0] += 1
                    mark = "killed  " if outcome.killed else "SURVIVED"
                    print(
                        f"[{done[0]}/{total}] {mark} {mutant.module}:{mutant.line} {mutant.what} ({seconds:.1f}s)",
                        flush=True,
                    )

        threads = [threading.Thread(target=worker, args=(s,), daemon=True) for s in scratches]
        for thread in threads:
            thread.start()
        try:
            for thread in threads:
                while thread.is_alive():
                    thread.join(timeout=1)
        except KeyboardInterrupt:
            while not work.empty():  # no new mutant starts; the running ones and their processes end now
                work.get_nowait()
            for scratch in scratches:
                if scratch.running is not None and scratch.running.poll() is None:
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(scratch.running.pid, signal.SIGKILL)
            raise
    return list(scores.values())


def report(scores: list[Score]) -> str:
    lines = ["", "| module | mutants | killed | survived (not reached) | score |", "|---|---:|---:|---:|---:|"]
    for score in scores:
        survived = len(score.outcomes) - score.killed
        unreached = sum(1 for o in score.outcomes if not o.reached)
        lines.append(
            f"| {score.module} | {len(score.outcomes)} | {score.killed} | {survived} ({unreached})"
            f" | {score.percent:.1f} % |"
        )
    for score in scores:
        left = sorted((o for o in score.outcomes if not o.killed), key=lambda o: (o.mutant.line, o.mutant.number))
        if left:
            lines.append(f"\nSurvivors in {score.module}:")
            for o in left:
                where = "" if o.reached else "  (not reached: no test executes this line)"
                lines.append(f"  #{o.mutant.number} line {o.mutant.line}: {o.mutant.what}{where}")
    return "\n".join(lines)


def _interrupted(_signum: int, _frame: object) -> None:
    raise KeyboardInterrupt


def main() -> None:
    signal.signal(signal.SIGTERM, _interrupted)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("-n", "--workers", type=int, default=1, choices=(1, 2), help="mutants run at once")
    parser.add_argument(
        "--module",
        action="append",
        metavar="PATH[:NAME,...]",
        help="module to mutate (repeatable), optionally only the named top-level definitions; default: TARGETS",
    )
    parser.add_argument(
        "--tests",
        nargs="+",
        action="append",
        help="tests to run for the --module before it, fastest first (one --tests alone: for every --module;"
        " default: the secret layer's)",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        help="seconds a mutant's tests may run before it counts as killed (default: 3 times unmutated, at least 60)",
    )
    parser.add_argument("--json", type=Path, help="write every outcome here")
    parser.add_argument("--only", help="run only these mutant numbers (comma-separated), to look at one again")
    parser.add_argument(
        "--sample",
        type=int,
        metavar="N",
        help="run a fixed sample of N mutants of each module (the same N each run while the module is unchanged)",
    )
    args = parser.parse_args()
    targets = TARGETS
    if args.module:
        tests = args.tests or [list(SECRET_TESTS)]
        if len(tests) not in (1, len(args.module)):
            parser.error("give one --tests for all modules, or one after each --module")
        targets = {}
        for number, spec in enumerate(args.module):
            path, _, names = spec.partition(":")
            chosen = tests[number] if len(tests) > 1 else tests[0]
            targets[path] = (tuple(names.split(",")) if names else None, tuple(chosen))
    started = time.monotonic()
    only = {int(n) for n in args.only.split(",")} if args.only else None
    scores = probe(targets, args.workers, only, args.timeout, args.sample)
    print(report(scores))
    print(f"\n{time.monotonic() - started:.0f}s with {args.workers} worker(s)")
    if args.json:
        record = [
            {
                "module": s.module,
                "mutants": len(s.outcomes),
                "killed": s.killed,
                "score": round(s.percent, 1),
                "outcomes": [
                    {
                        "number": o.mutant.number,
                        "line": o.mutant.line,
                        "what": o.mutant.what,
                        "killed": o.killed,
                        "reached": o.reached,
                        "by": o.by,
                        "seconds": o.seconds,
                    }
                    for o in sorted(s.outcomes, key=lambda o: o.mutant.number)
                ],
            }
            for s in scores
        ]
        args.json.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
