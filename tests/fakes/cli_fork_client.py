"""A stand-in for an interpreter: one form of start forked from the suite's warm interpreter, any other the real one.

``tests/fakes/cli_fork.py`` writes this file, behind a ``#!REAL -IS`` line and followed by ``forward(CONFIG)``, where
an interpreter is expected: as a test virtualenv's ``bin/python`` (``REAL`` is the virtualenv's own ``python3``,
``CONFIG["form"]`` the ``-I -X utf8 -m kars_actions.cli.inputs`` that scripts/run.sh starts), or as a recorder that
runs a script of the test's in place of the CLI (``CONFIG["fresh"]`` names it). A start whose arguments begin with
``CONFIG["form"]`` asks the warm server (``CONFIG["socket"]``) to fork a child that is that start: the same argv,
environment, working folder, standard streams (passed as file descriptors), umask, resource limits, ignored and
blocked signals, and the interpreter's own facts (executable, prefixes, ``sys.path`` as ``site`` makes it). The
child's exit status is this process's, a signal included; signals sent here (hang-up, interrupt, quit, terminate,
the user signals, alarm, window size) are passed on to the child, and if this process is killed the server kills
the child. What a fork cannot make the same, it does not pretend to: the child has a pid of its own under the
server (its parent sees this process), the warm interpreter's hash seed, and no descriptors but 0-2.

Whatever the server cannot make exactly as a fresh start would have it, it refuses (saying why in its log), and
then, as for any other start, this process becomes ``REAL`` (``execve``) with the arguments and the environment it
was given, under the name ``fresh_argv`` says. It starts without ``site`` (``-S``) and runs it only for another
virtualenv than the warm interpreter's (whose ``site`` that one ran as it started), and imports nothing else but
a few built-in and extension modules: a forwarded start costs this process about 15 ms of CPU where a fresh one
spends 100-400 ms importing the package.
"""

from __future__ import annotations

import _signal
import marshal
import posix
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs 15 ms of imports (re, enum, collections): a third of this process's start
    from typing import Any, NoReturn

# Signals passed on to the child while it runs; the others cannot be caught or only concern this process.
PASSED_ON = ("SIGHUP", "SIGINT", "SIGQUIT", "SIGTERM", "SIGUSR1", "SIGUSR2", "SIGALRM", "SIGWINCH")
KIND = b"M"  # a request in marshal's format (cli_fork_server.py), where the suite's CLI runs send JSON


def fresh_argv(config: dict[str, Any]) -> list[str]:
    """The real interpreter's argv for this start: ``CONFIG["fresh"]`` (a script to run in the CLI's place) then
    our arguments. argv[0] names the interpreter (``sys.executable``, and the virtualenv it belongs to): this file
    where it takes the real interpreter's place beside it (a virtualenv's ``bin/python``), the real one elsewhere."""
    import posixpath

    here = posixpath.dirname(posixpath.abspath(sys.argv[0]))
    name = sys.argv[0] if here == posixpath.dirname(sys.executable) else sys.executable
    return [name, *config["fresh"], *sys.argv[1:]]


def start_environment() -> dict[bytes, bytes]:
    """The environment this process was given: Python's start may have added LC_CTYPE to its own (PEP 538), and
    a fresh start must see what this one saw to make the same choices (UTF-8 mode among them)."""
    with open("/proc/self/environ", "rb") as handle:
        entries = handle.read().split(b"\0")
    return dict(entry.split(b"=", 1) for entry in entries if b"=" in entry)


def run_fresh(config: dict[str, Any]) -> NoReturn:
    posix.execve(sys.executable, fresh_argv(config), start_environment())


def virtualenv() -> str | None:
    """The virtualenv of the interpreter, as its start finds it: ``pyvenv.cfg`` above its folder or in it."""
    import posixpath

    folder = posixpath.dirname(sys.executable)
    for prefix in (posixpath.dirname(folder), folder):
        if posix.access(posixpath.join(prefix, "pyvenv.cfg"), posix.F_OK):
            return prefix
    return None


def _site(config: dict[str, Any]) -> dict[str, Any]:
    """What ``site`` makes of this interpreter: nothing to say for the warm interpreter's own virtualenv (it ran the
    same ``site`` as it started), else the path, prefixes and site code it leaves (``site.main()`` as the
    interpreter runs it)."""
    if virtualenv() == config["warm_prefix"]:
        return {"path": None, "prefix": config["warm_prefix"]}
    import site

    site.main()
    return {
        "path": list(sys.path),
        "prefix": sys.prefix,
        "exec_prefix": sys.exec_prefix,
        "site_prefixes": list(site.PREFIXES),
        "site_dirs": [d for d in site.getsitepackages() if posix.access(d, posix.F_OK)],
        "customized": sorted(name for name in ("sitecustomize", "usercustomize") if name in sys.modules),
    }


def _request(config: dict[str, Any]) -> bytes:
    import resource  # an extension module: loaded here, only when the start is forwarded

    encoding, errors = sys.getfilesystemencoding(), sys.getfilesystemencodeerrors()
    cwd = posix.getcwdb()
    start = fresh_argv(config)
    argv = [arg.encode(encoding, errors) for arg in start]
    umask = posix.umask(0)
    posix.umask(umask)
    limits = {
        getattr(resource, name): resource.getrlimit(getattr(resource, name))
        for name in dir(resource)
        if name.startswith("RLIMIT_")
    }
    uncatchable = (_signal.SIGKILL, _signal.SIGSTOP)
    handlers = {signum: _signal.getsignal(signum) for signum in _signal.valid_signals() if signum not in uncatchable}
    import _locale

    return marshal.dumps(
        {
            "argv": argv,
            "cwd": cwd,
            "env": dict(posix.environ),
            "umask": umask,
            "rlimits": limits,
            "ignored": sorted(signum for signum, handler in handlers.items() if handler == _signal.SIG_IGN),
            "blocked": sorted(_signal.pthread_sigmask(_signal.SIG_BLOCK, [])),
            "locale": _locale.setlocale(_locale.LC_CTYPE),
            "executable": _absolute(start[0], cwd.decode(encoding, errors)),
            "base_executable": sys._base_executable,  # type: ignore[attr-defined]
            "base_prefix": sys.base_prefix,
            "base_exec_prefix": sys.base_exec_prefix,
            "version": sys.version,
            **_site(config),
        }
    )


def _absolute(path: str, cwd: str) -> str:
    import posixpath

    return posixpath.normpath(posixpath.join(cwd, path))


def _line(conn: Any, buffer: bytes) -> tuple[str, bytes, int | None]:
    """The next line from the server, what came after it, and the file descriptor that came with it, if one did."""
    import _socket

    received = None
    while b"\n" not in buffer:
        chunk, ancillary, _flags, _address = conn.recvmsg(4096, _socket.CMSG_SPACE(4))
        if not chunk:
            break
        buffer += chunk
        for level, kind, data in ancillary:
            if level == _socket.SOL_SOCKET and kind == _socket.SCM_RIGHTS:
                received = int.from_bytes(data[:4], sys.byteorder, signed=True)
    line, _, rest = buffer.partition(b"\n")
    return line.decode(), rest, received


def forward(config: dict[str, Any]) -> NoReturn:
    """Be the start ``sys.argv`` asks for: forked warm if it is ``CONFIG["form"]`` and the server agrees, else real."""
    form = config["form"]
    if config["socket"] is None or sys.argv[1 : 1 + len(form)] != form:
        run_fresh(config)
    import _socket

    passed_on = [getattr(_signal, name) for name in PASSED_ON]
    passed_on = [signum for signum in passed_on if _signal.getsignal(signum) != _signal.SIG_IGN]
    try:
        request = _request(config)
        conn = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
        conn.connect(config["socket"])
    except OSError:
        run_fresh(config)  # no server (it has stopped, or this is not the suite's machine): a fresh start
    # Until the child's pid is known, a signal waits here; then it is passed on as if the child had received it.
    _signal.pthread_sigmask(_signal.SIG_BLOCK, passed_on)
    header = KIND + len(request).to_bytes(4, "big")
    fds = b"".join(fd.to_bytes(4, sys.byteorder, signed=True) for fd in (0, 1, 2))
    try:
        conn.sendmsg([header], [(_socket.SOL_SOCKET, _socket.SCM_RIGHTS, fds)])
        conn.sendall(request)
    except OSError:  # a standard stream that is closed cannot be passed: the real interpreter deals with it
        conn.close()
        _signal.pthread_sigmask(_signal.SIG_UNBLOCK, passed_on)
        run_fresh(config)
    # "pid N" comes with a pidfd of the child, opened before anyone could reap it: a signal passed on through it
    # reaches that process or none, never another that has taken its number since.
    first, buffer, child = _line(conn, b"")
    if first.startswith("fresh ") or not first:
        conn.close()
        _signal.pthread_sigmask(_signal.SIG_UNBLOCK, passed_on)
        run_fresh(config)  # the server said why in its log: this start differs from the warm one
    if not first.startswith("pid ") or child is None:
        posix.write(2, f"the warm interpreter answered {first!r}\n".encode())
        posix._exit(1)

    def pass_on(signum: int, _frame: object) -> None:
        try:  # noqa: SIM105 - contextlib is not loaded here, and need not be
            _signal.pidfd_send_signal(child, signum)
        except ProcessLookupError:
            pass  # it has just ended

    for signum in passed_on:
        _signal.signal(signum, pass_on)
    _signal.pthread_sigmask(_signal.SIG_UNBLOCK, passed_on)
    try:
        last, _, _ = _line(conn, buffer)
    except OSError:
        last = ""
    if not last.startswith("exit "):
        posix.write(2, b"the warm interpreter stopped before this run ended\n")
        posix._exit(1)
    code = int(last.split()[1])
    if code < 0:  # ended by a signal: so does this process, as the parent would have seen the child end
        for signum in passed_on:
            _signal.signal(signum, _signal.SIG_DFL)
        if -code not in (_signal.SIGKILL, _signal.SIGSTOP):
            _signal.signal(-code, _signal.SIG_DFL)
        _signal.pthread_sigmask(_signal.SIG_UNBLOCK, [-code])
        posix.kill(posix.getpid(), -code)
        code = 128 - code
    posix._exit(code)
