"""The stand-in for the actions' virtualenv interpreter (``tests/fakes/cli_fork.py``'s ``warm_python``): the start it
forks from the warm interpreter is the start it stands for — the same interpreter facts, environment, streams,
output, files, exit codes and signals as the real interpreter started fresh — and every other start is the real
interpreter's."""

from __future__ import annotations

import json
import os
import re
import select
import signal
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest

from tests.fakes import cli_fork
from tests.fakes.actions_files import read_outputs
from tests.fakes.cli_fork import ACTION_START, warm_python, warm_python_log, warm_python_source
from tests.fakes.workflow_runner import action_venv

ROOT = Path(__file__).resolve().parents[2]
PROBE_START = ("-I", "-X", "utf8", "-m", "kars_probe")
BAD = '{\n  "deploy": {"healthcheckPath": 5}\n}\n'

pytestmark = [
    pytest.mark.subprocess,
    pytest.mark.skipif(not cli_fork._ENABLED, reason="no warm interpreter: KARS_TEST_FORK=0, or no memfd and pidfd"),
]

# Says how the interpreter running it was started, into $PROBE_STATE, then does what the arguments after "--" say.
PROBE = """
_FIRST = sorted(globals())
import json, locale, os, resource, signal, site, sys, tempfile, threading, time


def handler(value):
    names = {signal.SIG_DFL: "default", signal.SIG_IGN: "ignore", signal.default_int_handler: "interrupt"}
    return names.get(value, "other")


def stream(s):
    raw = getattr(s.buffer, "raw", s.buffer)
    return [s.encoding, s.errors, s.line_buffering, s.write_through, s.fileno(), s.mode, raw.name, s.isatty(),
            type(s.buffer).__name__, s.newlines]


def state():
    umask = os.umask(0)
    os.umask(umask)
    main = sys.modules["__main__"]
    import yaml
    return {
        "warm": "kars_actions.core.gha" in sys.modules,
        "globals": _FIRST,
        "main": [main.__name__, main.__file__, getattr(main.__spec__, "name", None), main.__package__,
                 type(main.__loader__).__name__, main.__dict__ is globals()],
        "argv": sys.argv, "orig_argv": sys.orig_argv, "executable": sys.executable,
        "base_executable": sys._base_executable,
        "prefixes": [sys.prefix, sys.exec_prefix, sys.base_prefix, sys.base_exec_prefix, site.PREFIXES],
        "path": sys.path, "xoptions": sys._xoptions, "warnoptions": sys.warnoptions,
        "flags": {name: getattr(sys.flags, name) for name in dir(sys.flags) if name[0] != "_" and name[0].islower()
                  and name not in ("count", "index", "n_fields", "n_sequence_fields", "n_unnamed_fields")},
        "bytecode": sys.dont_write_bytecode,
        "meta_path": [getattr(f, "__name__", type(f).__name__) for f in sys.meta_path],
        "path_hooks": [getattr(h, "__qualname__", type(h).__name__) for h in sys.path_hooks],
        "streams": [stream(s) for s in (sys.stdin, sys.stdout, sys.stderr)],
        "encodings": [locale.getpreferredencoding(False), sys.getfilesystemencoding(),
                      sys.getfilesystemencodeerrors(), open(os.devnull).encoding],
        "ctype": locale.setlocale(locale.LC_CTYPE),
        "environ": [[k.decode("latin-1"), v.decode("latin-1")] for k, v in os.environb.items()],
        "cwd": os.getcwdb().decode("latin-1"),
        "umask": umask,
        "rlimits": {n: resource.getrlimit(getattr(resource, n)) for n in dir(resource) if n.startswith("RLIMIT_")},
        "signals": {str(n): handler(signal.getsignal(n)) for n in signal.valid_signals() if n not in (9, 19)},
        "blocked": sorted(signal.pthread_sigmask(signal.SIG_BLOCK, [])),
        "tempdir": tempfile.gettempdir(),
        "tzname": list(time.tzname),
        "yaml": yaml.__file__,
    }


with open(os.environ["PROBE_STATE"], "w", encoding="utf-8") as handle:
    json.dump(state(), handle)
args = sys.argv[sys.argv.index("--") + 1:] if "--" in sys.argv else []
while args:
    what, *args = args
    if what == "exit":
        sys.exit(int(args.pop(0)))
    elif what == "exit-message":
        sys.exit("the run could not go on")
    elif what == "raise":
        raise RuntimeError("boom")
    elif what == "interrupt":
        raise KeyboardInterrupt
    elif what == "kill":
        os.kill(os.getpid(), int(args.pop(0)))
    elif what == "say":
        print("é — ok", sys.argv[-1])
        print("\\udcff surrogate", file=sys.stderr)
        sys.stdout.flush()
        sys.stdout.buffer.write(b"raw \\xff\\xfe\\n")
    elif what == "echo":
        sys.stdout.write(sys.stdin.read().upper())
    elif what == "write":
        with open(args.pop(0), "w") as handle:
            handle.write("é written in the default encoding\\n")
    elif what == "later":
        threading.Thread(target=lambda: print("a thread the exit waits for")).start()
        import atexit
        atexit.register(print, "an atexit handler")
    elif what == "wait":  # until a signal ends it (a blocking read could miss one that comes just before it)
        print("ready", os.getpid(), flush=True)
        while True:
            time.sleep(0.05)
"""


def make_venv(folder: Path) -> Path:
    """The actions' virtualenv as the tests make it (tests/fakes/workflow_runner.py), a folder on its path holding
    the probe module, and ``bin/python-probe``: a stand-in that forks the probe's start."""
    venv = action_venv(folder)
    probe = folder / "probe"
    probe.mkdir()
    (probe / "kars_probe.py").write_text(PROBE)
    (site_packages(venv) / "probe.pth").write_text(f"{probe}\n")
    warm_python(venv / "bin" / "python-probe", str(venv / "bin" / "python3"), form=PROBE_START)
    return venv


def site_packages(venv: Path) -> Path:
    return venv / "lib" / f"python{sys.version_info.major}.{sys.version_info.minor}" / "site-packages"


@pytest.fixture(scope="module")
def venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_venv(tmp_path_factory.mktemp("runner-temp"))


def _base_env(folder: Path, **extra: str | bytes) -> dict[Any, Any]:
    return {"PATH": os.environ["PATH"], "HOME": str(folder), "PROBE_STATE": str(folder / "state.json"), **extra}


def start(
    python: Path,
    args: Sequence[str | bytes],
    *,
    fresh: bool,
    cwd: Path,
    env: dict[Any, Any],
    real: Path | None = None,
    **options: Any,
) -> tuple[subprocess.CompletedProcess[bytes], dict[str, Any]]:
    """Start ``python ARGS``: the stand-in, or (``fresh``) the real interpreter (``real``, or the virtualenv's
    python3) under the stand-in's name."""
    state = Path(env["PROBE_STATE"])
    state.unlink(missing_ok=True)
    executable = str(real or python.with_name("python3")) if fresh else None
    if "stdout" not in options:
        options["capture_output"] = True
    proc = subprocess.run([str(python), *args], executable=executable, cwd=cwd, env=env, timeout=60, **options)
    return proc, json.loads(state.read_text()) if state.exists() else {}


def both(
    python: Path, args: Sequence[str | bytes], cwd: Path, env: dict[Any, Any], **options: Any
) -> tuple[tuple[subprocess.CompletedProcess[bytes], dict[str, Any]], ...]:
    warm = start(python, args, fresh=False, cwd=cwd, env=env, **options)
    fresh = start(python, args, fresh=True, cwd=cwd, env=env, **options)
    return warm, fresh


def same_start(warm: dict[str, Any], fresh: dict[str, Any]) -> None:
    assert warm.pop("warm") is True, "the stand-in started the interpreter fresh"
    assert fresh.pop("warm") is False
    # The base interpreter is named after the executable's file: the real bin/python is a link to it, the stand-in
    # is a script, so a fresh start under the stand-in's name finds it under another of its names.
    fresh["base_executable"] = os.path.realpath(fresh["base_executable"])
    for key in fresh:
        assert warm[key] == fresh[key], key


def _hostile_process() -> None:
    """What the parent process may hand down: an ignored signal, a blocked one, a lower limit."""
    signal.signal(signal.SIGUSR1, signal.SIG_IGN)
    signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGUSR2])
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(soft, 512), hard))


def test_the_forked_start_is_the_fresh_start_of_the_same_interpreter(venv: Path, tmp_path: Path) -> None:
    # Everything -I ignores is set, and a kars_probe on PYTHONPATH and in the working folder that must not be run.
    shadow = tmp_path / "shadow"
    shadow.mkdir()
    for folder in (shadow, tmp_path):
        (folder / "kars_probe.py").write_text("raise SystemExit('the shadowing module ran')\n")
    env = _base_env(
        tmp_path,
        PYTHONPATH=str(shadow),
        PYTHONIOENCODING="ascii:strict",
        PYTHONUNBUFFERED="1",
        PYTHONDONTWRITEBYTECODE="1",
        PYTHONWARNINGS="error",
        PYTHONSAFEPATH="",
        TZ="Asia/Kolkata",
        TMPDIR=str(tmp_path),
        KARS_ODD=b"caf\xe9 \xff\xfe not UTF-8",
    )
    args = [*PROBE_START, b"\xff\xfeargument", "--", "say"]
    (warm, warm_state), (fresh, fresh_state) = both(
        venv / "bin" / "python-probe", args, tmp_path, env, umask=0o027, preexec_fn=_hostile_process
    )
    same_start(warm_state, fresh_state)
    assert (warm.returncode, warm.stdout, warm.stderr) == (fresh.returncode, fresh.stdout, fresh.stderr)
    assert fresh.returncode == 0 and fresh.stdout.endswith(b"raw \xff\xfe\n")
    # What the test set reached the run: the shadowing modules did not, the odd bytes did, exactly.
    assert ["KARS_ODD", "caf\xe9 \xff\xfe not UTF-8"] in fresh_state["environ"]
    assert fresh_state["argv"][1] == "\udcff\udcfeargument" and fresh_state["umask"] == 0o027
    assert fresh_state["signals"][str(int(signal.SIGUSR1))] == "ignore"
    assert int(signal.SIGUSR2) in fresh_state["blocked"]
    flags = fresh_state["flags"]
    assert flags["isolated"] == flags["ignore_environment"] == flags["no_user_site"] == flags["utf8_mode"] == 1
    assert fresh_state["xoptions"] == {"utf8": True} and fresh_state["encodings"][0] == "utf-8"


def test_a_terminal_gets_the_line_buffering_a_fresh_start_gives_it(venv: Path, tmp_path: Path) -> None:
    states = []
    for fresh in (False, True):
        controller, terminal = os.openpty()
        try:
            _, state = start(
                venv / "bin" / "python-probe",
                [*PROBE_START],
                fresh=fresh,
                cwd=tmp_path,
                env=_base_env(tmp_path),
                stdout=terminal,
                stderr=subprocess.PIPE,
            )
        finally:
            os.close(terminal)
            os.close(controller)
        states.append(state)
    assert states[0]["streams"][1][2] is True  # line-buffered, as a fresh start makes a terminal
    same_start(*states)


@pytest.mark.parametrize(
    "actions",
    [
        ["exit", "3"],
        ["exit-message"],
        ["raise"],
        ["interrupt"],
        ["kill", str(int(signal.SIGTERM))],
        ["say"],
        ["echo"],
        ["write", "out.txt"],
        ["later"],
    ],
    ids=lambda actions: actions[0],
)
def test_output_exit_status_and_files_are_the_fresh_ones(venv: Path, tmp_path: Path, actions: list[str]) -> None:
    seen = []
    for fresh in (False, True):
        folder = tmp_path / ("fresh" if fresh else "warm")
        folder.mkdir()
        proc, state = start(
            venv / "bin" / "python-probe",
            [*PROBE_START, "--", *actions],
            fresh=fresh,
            cwd=folder,
            env=_base_env(tmp_path),
            input=b"from stdin \xe2\x80\x94 \n",
        )
        files = {p.name: p.read_bytes() for p in folder.iterdir()}
        seen.append((proc.returncode, proc.stdout, proc.stderr, files, state.get("warm")))
    (*warm, was_warm), (*fresh, was_fresh) = seen
    assert (was_warm, was_fresh) == (True, False)
    assert warm == fresh
    assert fresh[0] in (0, 1, 3, -signal.SIGINT, -signal.SIGTERM)


def _run_until_ready(
    python: Path, tmp_path: Path, *, fresh: bool, then: Callable[[subprocess.Popen[bytes], int], None]
) -> tuple[int, bytes, bytes]:
    proc = subprocess.Popen(
        [str(python), *PROBE_START, "--", "wait"],
        executable=str(python.with_name("python3")) if fresh else None,
        cwd=tmp_path,
        env=_base_env(tmp_path),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        preexec_fn=_interruptible,
    )
    try:
        assert proc.stdout is not None
        ready = proc.stdout.readline().split()
        assert ready[0] == b"ready", ready
        then(proc, int(ready[1]))
        out, err = proc.communicate(timeout=60)
    finally:  # a stand-in the test gives up on is not left waiting (the server then ends its run)
        proc.kill()
        proc.wait()
    return proc.returncode, out, err


def _interruptible() -> None:
    """An interrupt at its default, as a start from a terminal has it. A suite run in the background by a shell
    without job control inherits SIGINT ignored, and so would every run it starts, warm or fresh."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT, signal.SIGHUP], ids=lambda s: s.name)
def test_a_signal_sent_to_the_stand_in_reaches_the_run(venv: Path, tmp_path: Path, signum: signal.Signals) -> None:
    python = venv / "bin" / "python-probe"
    results = [
        _run_until_ready(python, tmp_path, fresh=fresh, then=lambda proc, _pid: proc.send_signal(signum))
        for fresh in (False, True)
    ]
    # An interrupt lands where the run is when it comes, in the wait or still in the print before it, warm or fresh.
    landed = re.compile(
        rb"line \d+, in <module>\n    (print\(.ready., os.getpid\(\), flush=True\)|time.sleep\(0.05\))\n"
    )
    assert [landed.sub(b"<the wait>\n", err) for _, _, err in results] == [
        landed.sub(b"<the wait>\n", results[1][2])
    ] * 2
    assert results[0][:2] == results[1][:2] == (-signum, b"")
    if signum == signal.SIGINT:
        assert results[0][2].startswith(b'Traceback (most recent call last):\n  File "<frozen runpy>"')
        assert landed.sub(b"<the wait>\n", results[0][2]).endswith(b"<the wait>\nKeyboardInterrupt\n")


def test_a_killed_stand_in_takes_its_run_with_it(venv: Path, tmp_path: Path) -> None:
    children = []

    def kill(proc: subprocess.Popen[bytes], pid: int) -> None:
        assert pid != proc.pid  # the run is the forked child, not the stand-in
        children.append(os.pidfd_open(pid))
        proc.kill()

    code, _, _ = _run_until_ready(venv / "bin" / "python-probe", tmp_path, fresh=False, then=kill)
    assert code == -signal.SIGKILL
    try:
        ended, _, _ = select.select([children[0]], [], [], 60)  # readable once the process has ended
        assert ended, "the run went on after its stand-in was killed"
    finally:
        os.close(children[0])


def test_a_stand_in_gone_before_it_learns_the_pid_takes_its_run_with_it(venv: Path, tmp_path: Path) -> None:
    # The stand-in dies right after asking, before it reads "pid N": where a kill of a just-started stand-in lands.
    source = warm_python_source(form=PROBE_START)
    assert "\nforward(" in source
    gone = source.replace("\nforward(", "\n_line = lambda conn, buffer: posix._exit(9)\nforward(", 1)
    python = tmp_path / "python-gone"
    python.write_text(f"#!{venv / 'bin' / 'python3'} -IS\n{gone}")
    python.chmod(0o755)
    proc = subprocess.Popen(
        [str(python), *PROBE_START, "--", "wait"],
        cwd=tmp_path,
        env=_base_env(tmp_path),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    with proc:
        try:  # the run holds the stand-in's stdout and stderr: they end when it has ended
            _, err = proc.communicate(timeout=60)
        except subprocess.TimeoutExpired as timeout:
            for pid in re.findall(rb"ready (\d+)", timeout.output or b""):
                os.kill(int(pid), signal.SIGKILL)
            raise AssertionError("the run went on after its stand-in was gone") from None
    assert proc.returncode == 9, err
    # The warm interpreter serves on.
    _, state = start(venv / "bin" / "python-probe", [*PROBE_START], fresh=False, cwd=tmp_path, env=_base_env(tmp_path))
    assert state["warm"] is True


@pytest.mark.parametrize(
    ("options", "form"),
    [
        (("-X", "utf8"), PROBE_START),  # run.sh without -I: the stand-in does not forward it
        (("-I",), PROBE_START),
        (("-X", "utf8"), ("-X", "utf8", "-m", "kars_probe")),  # a stand-in told to forward it: the server refuses
    ],
    ids=["no -I", "no -X utf8", "no -I, forwarded"],
)
def test_any_other_start_is_the_real_interpreter(
    venv: Path, tmp_path: Path, options: tuple[str, ...], form: tuple[str, ...]
) -> None:
    python = warm_python(venv / "bin" / "python-other", str(venv / "bin" / "python3"), form=form)
    (tmp_path / "kars_probe.py").write_text("print('the working folder holds the module that ran')\n")
    env = _base_env(tmp_path)
    args = [*options, "-m", "kars_probe"]
    (warm, warm_state), (fresh, fresh_state) = both(python, args, tmp_path, env)
    assert (warm.returncode, warm.stdout, warm.stderr) == (fresh.returncode, fresh.stdout, fresh.stderr)
    if "-I" in options:
        assert warm_state == fresh_state and warm_state["warm"] is False
        assert "utf8" not in warm_state["xoptions"]
    else:
        # Without -I the working folder comes first on sys.path and its module runs, warm or fresh alike: the
        # guard a missing -I drops is dropped for real.
        assert fresh.stdout == b"the working folder holds the module that ran\n" and not fresh_state


def test_another_locale_is_started_fresh(venv: Path, tmp_path: Path) -> None:
    env = _base_env(tmp_path, LC_ALL="C")
    (_, warm_state), (_, fresh_state) = both(venv / "bin" / "python-probe", [*PROBE_START], tmp_path, env)
    assert warm_state["warm"] is False and warm_state == fresh_state
    assert "the LC_CTYPE locale is C, not C.UTF-8" in warm_python_log()


def test_a_virtualenv_that_imports_other_code_is_started_fresh(tmp_path: Path) -> None:
    venv = make_venv(tmp_path / "temp")
    site = site_packages(venv)
    (site / "yaml.py").write_text("# the virtualenv's own yaml\n")
    env = _base_env(tmp_path)
    (_, warm_state), (_, fresh_state) = both(venv / "bin" / "python-probe", [*PROBE_START], tmp_path, env)
    assert warm_state["warm"] is False and warm_state == fresh_state
    assert warm_state["yaml"] == str(site / "yaml.py")
    (site / "yaml.py").unlink()
    (site / "code.pth").write_text("import os; os.environ['SET_BY_SITE'] = '1'\n")
    (_, warm_state), (_, fresh_state) = both(venv / "bin" / "python-probe", [*PROBE_START], tmp_path, env)
    assert warm_state["warm"] is False and warm_state == fresh_state
    assert ["SET_BY_SITE", "1"] in warm_state["environ"]
    assert f"{site / 'code.pth'} runs code as the interpreter starts" in warm_python_log()


def test_a_script_in_the_cli_s_place_runs_as_the_real_interpreter_runs_it(venv: Path, tmp_path: Path) -> None:
    """A recorder's stand-in (tests/actions/test_run_script.py): the actions' start runs the script instead, warm
    as the real interpreter ``-I -X utf8 SCRIPT`` runs it."""
    probe = venv.parent / "probe" / "kars_probe.py"
    python = warm_python(tmp_path / "python", sys.executable, fresh=["-I", "-X", "utf8", str(probe)])
    args = [*ACTION_START, "validate", "--", "say"]
    env = _base_env(tmp_path)
    warm, warm_state = start(python, args, fresh=False, cwd=tmp_path, env=env)
    real = Path(sys.executable)
    fresh, fresh_state = start(
        real, ["-I", "-X", "utf8", str(probe), *args], fresh=True, cwd=tmp_path, env=env, real=real
    )
    same_start(warm_state, fresh_state)
    assert warm_state["argv"][:7] == [str(probe), *ACTION_START, "validate"]
    assert (warm.returncode, warm.stdout, warm.stderr) == (fresh.returncode, fresh.stdout, fresh.stderr)


def test_without_fork_support_every_start_is_fresh(venv: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cli_fork, "_ENABLED", False)
    python = warm_python(venv / "bin" / "python-nofork", str(venv / "bin" / "python3"), form=PROBE_START)
    _, state = start(python, [*PROBE_START], fresh=False, cwd=tmp_path, env=_base_env(tmp_path))
    assert state["warm"] is False


def _step(folder: Path, **extra: str | bytes) -> dict[Any, Any]:
    folder.mkdir()
    for name in ("output", "summary"):
        (folder / name).write_text("")
    return _base_env(
        folder.parent,
        GITHUB_ACTIONS="true",
        GITHUB_OUTPUT=str(folder / "output"),
        GITHUB_STEP_SUMMARY=str(folder / "summary"),
        **extra,
    )


@pytest.mark.parametrize(
    ("command", "inputs"),
    [
        ("validate", {"KARS_INPUT_PATHS": "railway.json"}),
        ("validate", {"KARS_INPUT_PATHS": b"railway.json\nmissing-\xff.json", "KARS_INPUT_STRICT": "false"}),
        ("deploy", {"KARS_INPUT_DRY_RUN": "perhaps"}),
        ("release", {"KARS_INPUT_DRY_RUN": "true", "KARS_INPUT_VERSION": "not-a-version"}),
    ],
    ids=["invalid file", "odd bytes in a path", "bad input", "bad release input"],
)
def test_the_actions_start_says_and_writes_what_a_fresh_one_does(
    venv: Path, tmp_path: Path, command: str, inputs: dict[str, str | bytes]
) -> None:
    (tmp_path / "railway.json").write_text(BAD)
    python = venv / "bin" / "python"
    forked_before = warm_python_log().count("forked: ")
    seen = []
    for name, fresh in (("warm", False), ("fresh", True)):
        env = _step(tmp_path / name, **inputs)
        proc, _ = start(python, [*ACTION_START, command], fresh=fresh, cwd=tmp_path, env=env)
        outputs = json.dumps(read_outputs(tmp_path / name / "output"), sort_keys=True)
        summary = (tmp_path / name / "summary").read_text()
        step = str(tmp_path / name)
        said = [proc.stdout.replace(step.encode(), b"<step>"), proc.stderr.replace(step.encode(), b"<step>")]
        seen.append((*said, outputs.replace(step, "<step>"), summary.replace(step, "<step>"), proc.returncode))
    assert warm_python_log().count("forked: ") == forked_before + 1
    assert seen[0] == seen[1]
    assert seen[1][-1] in (1, 2)
