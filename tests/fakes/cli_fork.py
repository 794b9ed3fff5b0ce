"""``python -m kars_actions`` as a real process forked from a warm interpreter: the suite's CLI starts without paying
for Python's start and the package's imports each time.

The suite starts the CLI as a process about five hundred times; each fresh interpreter spends 0.3-0.5 s of CPU
importing the package and its dependencies before it does anything, more than half of the suite's CPU on a
2-core machine. Each pytest worker starts one server that imports every module of the package once and then
forks a child per run, as the ``forkserver`` start method of ``multiprocessing`` does. The child is a process of
its own — its own pid, file descriptors, working directory, environment, argv, signals and exit status — and runs
``kars_actions`` as ``__main__`` the way ``python -m`` does, then exits the way the interpreter does (non-daemon
threads joined, ``atexit`` handlers run, streams flushed).

What a fork cannot reproduce, it does not pretend to: a run whose environment would start the interpreter
differently (any ``PYTHON*`` variable or locale variable other than the server's) is started as a fresh process
instead, and so is every run when ``KARS_TEST_FORK=0`` is set (the whole suite then runs as before).
``tests/core/test_cli_fork.py`` checks that both ways give the same output, outputs and exit codes.

The composite actions' own steps start the CLI another way: scripts/run.sh runs ``"$KARS_PYTHON" -I -X utf8 -m
kars_actions.cli.inputs`` in the virtualenv scripts/setup.sh made. ``warm_python()`` writes a stand-in for such an
interpreter (``tests/fakes/cli_fork_client.py``) that has exactly that start forked from a second warm interpreter,
itself started with ``-I -X utf8``, and execs the real interpreter for any other; ``tests/core/test_warm_python.py``
checks that both ways are the same start.
"""

from __future__ import annotations

import atexit
import json
import os
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Literal

# Variables that change how the interpreter starts (flags, paths, encodings): a run that sets one differently from
# the server is started fresh.
# The parent's own variables of these kinds would leak into the step under test (and into the warm interpreter).
SCRUBBED = ("GITHUB_", "KARS_", "RAILWAY_", "INPUT_", "RUNNER_")
_START_PREFIXES = ("PYTHON",)
_START_NAMES = ("LANG", "LC_ALL", "LC_CTYPE")
_HEADER = struct.Struct("!cI")  # the request's kind (J: this module's JSON) and size
# The one start the actions make (scripts/run.sh), and the options of the warm interpreter that forks it.
ACTION_START = ("-I", "-X", "utf8", "-m", "kars_actions.cli.inputs")
_ISOLATED = ACTION_START[:3]
# Linux's memfd_create and pidfd_open carry the child's streams and its end; elsewhere every run starts fresh.
_ENABLED = (
    os.environ.get("KARS_TEST_FORK", "1") != "0" and hasattr(os, "memfd_create") and hasattr(os, "pidfd_open")
)

# The server, run by path from ``python -c`` so that no folder of the suite lands on its sys.path.
_SERVER = Path(__file__).with_name("cli_fork_server.py")
_CLIENT = Path(__file__).with_name("cli_fork_client.py")
_RUN_SERVER = "import runpy, sys; runpy.run_path(sys.argv[1], run_name='__main__')"


def _start_env(env: Mapping[str, str]) -> dict[str, str]:
    """What the interpreter reads from the environment as it starts, ``PYTHONPATH`` aside (the child applies it)."""
    return {
        k: v
        for k, v in env.items()
        if (k.startswith(_START_PREFIXES) or k in _START_NAMES) and k != "PYTHONPATH"
    }


def _package_from(pythonpath: str) -> str | None:
    """The ``kars_actions`` a fresh interpreter would import ahead of the installed one, if ``PYTHONPATH`` has one."""
    for entry in filter(None, pythonpath.split(os.pathsep)):
        init = Path(entry, "kars_actions", "__init__.py")
        if init.is_file():
            return os.path.realpath(init)
    return None


class _Server:
    """One warm interpreter per pytest worker and kind, started on first use and stopped when the worker exits.

    ``flags`` are its interpreter options. With ``-I`` the environment does not change how it starts but the
    locale does: it starts without locale variables, as the actions' steps under test do (Python then picks a
    UTF-8 LC_CTYPE itself, PEP 538), and a start in another locale is made fresh."""

    def __init__(self, flags: tuple[str, ...] = ()) -> None:
        self._lock = threading.Lock()
        self._proc: subprocess.Popen[bytes] | None = None
        self._folder: tempfile.TemporaryDirectory[str] | None = None
        self._flags = flags
        self._socket = ""
        self._env: dict[str, str] = {}
        self.package = ""
        atexit.register(self.stop)

    @property
    def folder(self) -> str | None:
        return self._folder.name if self._folder is not None else None

    def address(self) -> tuple[str, dict[str, str]]:
        with self._lock:
            if self._proc is None or self._proc.poll() is not None:
                self._start()
            return self._socket, self._env

    def _start(self) -> None:
        # One folder for the server's life: a server started again after dying listens where the first one did,
        # so the stand-ins written for it (warm_python) still find it.
        if self._folder is None:
            self._folder = tempfile.TemporaryDirectory(prefix="kars-fork-")
        self._socket = os.path.join(self._folder.name, "s")
        Path(self._socket).unlink(missing_ok=True)
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(SCRUBBED) and k != "PYTHONPATH"
            and not ("-I" in self._flags and k in _START_NAMES)
        }
        self._env = _start_env(env)
        ready_r, ready_w = os.pipe()
        # stdin is a pipe the server reads to learn that this worker is gone (EOF), so it never outlives the suite.
        with open(os.path.join(self._folder.name, "log"), "ab") as log:
            self._proc = subprocess.Popen(
                [sys.executable, *self._flags, "-c", _RUN_SERVER, str(_SERVER), self._socket, str(ready_w)],
                stdin=subprocess.PIPE,
                stdout=subprocess.DEVNULL,
                stderr=log,
                cwd=self._folder.name,
                env=env,
                pass_fds=(ready_w,),
            )
        os.close(ready_w)
        with os.fdopen(ready_r, "rb") as ready:
            said = ready.read().decode()
        if not said.startswith("ready "):
            log = Path(self._folder.name, "log").read_text(encoding="utf-8", errors="replace")
            raise RuntimeError(f"the CLI fork server did not start:\n{log}")
        self.package = said.removeprefix("ready ")

    def stop(self) -> None:
        with self._lock:
            if self._proc is not None:
                if self._proc.stdin is not None:
                    self._proc.stdin.close()
                try:
                    self._proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    self._proc.kill()
                    self._proc.wait()
                self._proc = None
            if self._folder is not None:
                self._folder.cleanup()
                self._folder = None


_SERVER_INSTANCE = _Server()
_ISOLATED_INSTANCE = _Server(_ISOLATED)


def warm_python_log() -> str:
    """What the warm interpreter behind ``warm_python`` said of each start: ``forked: ARGS`` or ``fresh start: WHY``."""
    folder = _ISOLATED_INSTANCE.folder
    return Path(folder, "log").read_text(encoding="utf-8", errors="replace") if folder else ""


def warm_python_source(*, fresh: Sequence[str] = (), form: Sequence[str] = ACTION_START) -> str:
    """A stand-in interpreter's text after its ``#!REAL -IS`` line (tests/fakes/cli_fork_client.py): ``REAL form
    ARGS`` forked warm, any other start ``REAL [fresh...] ARGS`` (``fresh``: a script of the test's that runs in the
    CLI's place, as a recorder does). Without fork support on this machine, or with ``KARS_TEST_FORK=0``, every start
    is ``REAL [fresh...] ARGS``. The warm interpreter forks only starts with its own options (``-I -X utf8``)."""
    socket_path = _ISOLATED_INSTANCE.address()[0] if _ENABLED else None
    config = {"form": list(form), "fresh": list(fresh), "socket": socket_path, "warm_prefix": sys.prefix}
    return f"{_CLIENT.read_text(encoding='utf-8')}\nforward({config!r})\n"


def warm_python(path: Path, real: str, *, fresh: Sequence[str] = (), form: Sequence[str] = ACTION_START) -> Path:
    """Write at ``path`` an interpreter that is ``real`` but for the ``form`` start (``warm_python_source``)."""
    shebang = f"#!{real} -IS\n"
    if len(shebang) > 255 or any(c.isspace() for c in real):  # Linux reads the first 256 bytes, split at spaces
        raise ValueError(f"{real} cannot be named on a #! line")
    path.write_text(shebang + warm_python_source(fresh=fresh, form=form), encoding="utf-8")
    path.chmod(0o755)
    return path


def _memfd(name: str, data: bytes = b"") -> int:
    fd = os.memfd_create(name)
    if data:
        with open(fd, "wb", closefd=False) as stream:
            stream.write(data)
        os.lseek(fd, 0, os.SEEK_SET)
    return fd


def _read_all(fd: int) -> bytes:
    os.lseek(fd, 0, os.SEEK_SET)
    chunks = []
    while chunk := os.read(fd, 1 << 20):
        chunks.append(chunk)
    return b"".join(chunks)


def run_kars(
    args: Sequence[str],
    *,
    cwd: str | os.PathLike[str] | None = None,
    env: Mapping[str, str] | None = None,
    input: str | bytes | None = None,
    timeout: float | None = None,
    text: Literal[True] = True,
    errors: str = "strict",
    capture_output: bool = True,
    check: bool = False,
) -> subprocess.CompletedProcess[str]:
    """``subprocess.run([sys.executable, "-m", "kars_actions", *args], capture_output=True, text=True, ...)``, forked
    warm."""
    if not capture_output:
        raise ValueError("run_kars captures the output")
    argv = [sys.executable, "-m", "kars_actions", *args]
    environ = dict(os.environ if env is None else env)
    socket_path, server_env = _SERVER_INSTANCE.address() if _ENABLED else ("", {})
    own_package = _package_from(environ.get("PYTHONPATH", ""))
    if (
        not _ENABLED
        or _start_env(environ) != server_env
        or (own_package is not None and own_package != _SERVER_INSTANCE.package)
    ):
        return subprocess.run(
            argv,
            cwd=cwd,
            env=environ,
            input=input,
            timeout=timeout,
            text=True,
            errors=errors,
            capture_output=True,
            check=check,
        )
    folder = os.fspath(cwd or os.getcwd())
    if not os.path.isdir(folder):  # as subprocess says it, before any process exists
        raise FileNotFoundError(2, "No such file or directory", folder)
    stdin_data = input.encode() if isinstance(input, str) else (input or b"")
    fds = [_memfd("stdin", stdin_data), _memfd("stdout"), _memfd("stderr")]
    try:
        returncode = _fork(socket_path, list(args), folder, environ, fds, argv, timeout)
        out, err = _read_all(fds[1]), _read_all(fds[2])
    finally:
        for fd in fds:
            os.close(fd)
    done = subprocess.CompletedProcess(argv, returncode, out.decode(errors=errors), err.decode(errors=errors))
    if check:
        done.check_returncode()
    return done


def _fork(
    socket_path: str,
    args: list[str],
    cwd: str,
    env: dict[str, str],
    fds: list[int],
    argv: list[str],
    timeout: float | None,
) -> int:
    request = json.dumps({"args": args, "cwd": cwd, "env": env}).encode()
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
        conn.connect(socket_path)
        socket.send_fds(conn, [_HEADER.pack(b"J", len(request))], fds)
        conn.sendall(request)
        lines = _Lines(conn)
        first = lines.next(None)
        if not first.startswith("pid "):
            raise RuntimeError(f"the CLI fork server refused the run: {first!r}")
        pid = int(first.split()[1])
        try:
            line = lines.next(timeout)
        except TimeoutError:
            # As subprocess.run does: kill the child, wait for it to end, then say that the time ran out.
            os.kill(pid, signal.SIGKILL)
            lines.next(None)
            raise subprocess.TimeoutExpired(argv, timeout or 0.0, _read_all(fds[1]), _read_all(fds[2])) from None
        if not line.startswith("exit "):
            raise RuntimeError(f"the CLI fork server lost the run: {line!r}")
        return int(line.split()[1])


class _Lines:
    """Lines from the server's socket, each within its own time limit."""

    def __init__(self, conn: socket.socket) -> None:
        self._conn = conn
        self._buffer = b""

    def next(self, timeout: float | None) -> str:
        self._conn.settimeout(timeout)
        while b"\n" not in self._buffer:
            chunk = self._conn.recv(4096)
            if not chunk:
                return ""
            self._buffer += chunk
        line, _, self._buffer = self._buffer.partition(b"\n")
        return line.decode()
