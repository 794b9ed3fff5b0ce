"""The warm interpreter behind ``tests/fakes/cli_fork.py``, run by path from ``python [OPTIONS] -c``: SOCKET READY_FD.

It imports every module of ``kars_actions`` once, then forks one child per request. A request is a header (its kind
and size) with the child's stdin, stdout and stderr as file descriptors, then its body:

- ``J``, JSON ``{"args", "cwd", "env"}``: ``python -m kars_actions ARGS`` as the suite's ``run_kars`` asks for it.
- ``M``, marshal: a start of an interpreter as ``tests/fakes/cli_fork_client.py`` saw it (argv, environment and
  working folder as bytes, umask, resource limits, ignored and blocked signals, the interpreter's executable,
  prefixes and ``sys.path``). It is forked only when this interpreter was started the same way: the same Python,
  the same options (``sys.argv`` must begin with this server's own, e.g. ``-I -X utf8``, then ``-m MODULE`` or a
  script), the same LC_CTYPE locale, and either the same ``site`` (same virtualenv) or one that ran no code and
  imports every module this server has loaded from the same file. Otherwise the answer is ``fresh REASON`` and the
  client starts the real interpreter.

The answer is ``pid N`` when the child exists and ``exit N`` when it has ended (N as ``subprocess`` gives it:
negative for a signal). When the client's end of the connection closes first (it was killed), the child is killed.
The server stops when its stdin (a pipe from the pytest worker) reaches end of file.
"""

import _locale
import atexit
import builtins
import contextlib
import functools
import gc
import importlib
import importlib.machinery
import io
import json
import marshal
import os
import pkgutil
import resource
import selectors
import signal
import socket
import struct
import sys
import threading
import time
import types
import zipimport
from collections.abc import Callable
from typing import Any

HEADER = struct.Struct("!cI")
# What the commands import only when they need it (the CLI's start stays lean for users), imported here once.
LATER = (
    "httpx",
    "httpcore",
    "h11",
    "encodings.idna",
    "encodings.unicode_escape",
    "encodings.utf_8_sig",
    "websockets.sync.client",
    "yaml",
    "jsonschema",
    "anyio._backends._asyncio",
    "importlib.metadata",
    "email.parser",
    "urllib.request",
    "http.cookiejar",
    "concurrent.futures",
    "pygments.lexers",
    "runpy",
)


class Start:
    """How this interpreter was started, taken before the preload adds to it."""

    def __init__(self) -> None:
        # The folder the server was started in is not the child's: nothing is imported from it.
        if sys.path and sys.path[0] in ("", os.getcwd()):
            del sys.path[0]
        self.options = sys.orig_argv[1 : sys.orig_argv.index("-c")]
        self.path = list(sys.path)
        self.prefix, self.exec_prefix = sys.prefix, sys.exec_prefix
        self.site_prefixes = list(sys.modules["site"].PREFIXES)
        self.locale = _locale.setlocale(_locale.LC_CTYPE)
        self.version = sys.version
        self.base = (os.path.realpath(sys._base_executable), sys.base_prefix, sys.base_exec_prefix)


def preload() -> str:
    import kars_actions

    for module in pkgutil.walk_packages(kars_actions.__path__, "kars_actions."):
        if module.name.endswith("__main__"):
            continue  # run, not imported: the child runs it as __main__
        importlib.import_module(module.name)
    for name in LATER:
        with contextlib.suppress(ImportError):
            importlib.import_module(name)
    # The TLS contexts a child would make for an environment without SSL_CERT_FILE / SSL_CERT_DIR: the product keys
    # its cache by those variables, so a child whose environment names its own bundle still makes its own.
    from kars_actions.core.tls import tls_context

    tls_context(trust_env=False)
    tls_context(trust_env=True)
    gc.collect()
    gc.freeze()  # the imported objects stay shared with every child instead of copied by the collector
    return os.path.realpath(kars_actions.__file__)


# --- what a request asks for, and whether a fork can be it ---------------------------------------------------


def main_of(argv: list[str], start: Start) -> tuple[str, str, list[str]] | None:
    """``("module", NAME, ARGS)`` or ``("path", SCRIPT, ARGS)`` for an argv with exactly this server's options."""
    options = start.options
    if argv[1 : 1 + len(options)] != options:
        return None
    rest = argv[1 + len(options) :]
    if len(rest) >= 2 and rest[0] == "-m":
        return "module", rest[1], rest[2:]
    if rest and not rest[0].startswith("-"):
        return "path", rest[0], rest[1:]
    return None


@functools.cache
def realpath(path: str) -> str:
    """``os.path.realpath``, once per path: the files the server compares do not move while it runs."""
    return os.path.realpath(path)


def _where(spec: importlib.machinery.ModuleSpec | None) -> object:
    if spec is None:
        return None
    if spec.has_location and spec.origin:
        return realpath(spec.origin)
    return sorted(realpath(p) for p in spec.submodule_search_locations or ())


def moved_module(path: list[str], start: Start) -> str | None:
    """A module this server has loaded from a file that a fresh start on ``path`` would load from another, or not
    find. Both paths begin with the standard library's folders: what this server found there, a fresh start finds
    there first too, so only the rest is looked up again."""
    shared = set()
    for mine, theirs in zip(start.path, path, strict=False):
        if mine != theirs:
            break
        shared.add(realpath(mine))
    for name, module in list(sys.modules.items()):
        spec = getattr(module, "__spec__", None)
        if "." in name or spec is None or spec.origin in ("built-in", "frozen"):
            continue
        if spec.loader in (importlib.machinery.BuiltinImporter, importlib.machinery.FrozenImporter):
            continue
        where = _where(spec)
        if isinstance(where, str):
            folder = os.path.dirname(where)
            if os.path.basename(where).startswith("__init__."):
                folder = os.path.dirname(folder)  # a package: its folder is in the one the search finds
            if folder in shared:
                continue
        if where != _where(importlib.machinery.PathFinder.find_spec(name, path)):
            return name
    return None


def site_runs_code(site_dirs: list[str]) -> str | None:
    """A ``.pth`` file whose ``import`` line ``site`` runs as the interpreter starts (code a fork would not run)."""
    for folder in site_dirs:
        with contextlib.suppress(OSError):
            for name in sorted(os.listdir(folder)):
                if not name.endswith(".pth"):
                    continue
                with open(os.path.join(folder, name), "rb") as handle:
                    if any(line.startswith((b"import ", b"import\t")) for line in handle):
                        return os.path.join(folder, name)
    return None


def refusal(request: dict[str, Any], start: Start) -> str | None:
    """Why a fork of this server is not what the start ``request`` describes, if it is not."""
    base = (os.path.realpath(request["base_executable"]), request["base_prefix"], request["base_exec_prefix"])
    if request["version"] != start.version or base != start.base:
        return f"another Python ({request['base_executable']}, {request['version'].split()[0]})"
    if request["locale"] != start.locale:
        return f"the LC_CTYPE locale is {request['locale']}, not {start.locale}"
    argv = [os.fsdecode(arg) for arg in request["argv"]]
    if main_of(argv, start) is None:
        return f"started as {argv[1:]!r}, not with {start.options!r} then -m MODULE or a script"
    if request["path"] is None:  # the client's word that it is this server's virtualenv: checked
        return None if request["prefix"] == start.prefix else f"no site for the virtualenv {request['prefix']}"
    if same_site(request, start):
        return None
    if request["customized"]:
        return f"{request['customized'][0]} runs as the interpreter starts"
    code = site_runs_code(request["site_dirs"])
    if code is not None:
        return f"{code} runs code as the interpreter starts"
    moved = moved_module(request["path"], start)
    if moved is not None:
        return f"{moved} would be imported from elsewhere on {request['path']!r}"
    return None


def same_site(request: dict[str, Any], start: Start) -> bool:
    """Whether the start is of this server's own virtualenv, whose site (its code included) this server ran."""
    return request["path"] in (None, start.path) and request["prefix"] == start.prefix


# --- the child ---------------------------------------------------------------------------------------------------


def exit_code(code: object) -> int:
    """What the interpreter makes of ``SystemExit(code)``."""
    if code is None:
        return 0
    if isinstance(code, int):
        return code & 0xFF
    with contextlib.suppress(Exception):  # as the interpreter: the message is best effort
        sys.stderr.write(f"{code}\n")
    return 1


def standard_streams() -> None:
    """``sys.stdin``, ``sys.stdout`` and ``sys.stderr`` over fds 0-2 as the interpreter makes them as it starts:
    this server's encodings and buffering, line-buffered where the stream is a terminal (and for stderr)."""
    unbuffered = bool(sys.__stdout__ and sys.__stdout__.write_through)
    for fd, name in enumerate(("stdin", "stdout", "stderr")):
        old = getattr(sys, f"__{name}__")
        write = fd > 0
        buffering = 0 if unbuffered and write else -1
        buffer = open(fd, "wb" if write else "rb", buffering, closefd=False)  # noqa: SIM115 - the process's own
        raw = buffer.raw if buffering else buffer
        raw.name = f"<{name}>"
        line_buffering = not unbuffered and (raw.isatty() or fd == 2)
        stream = io.TextIOWrapper(buffer, old.encoding, old.errors, "\n", line_buffering, unbuffered and write)
        stream.mode = "w" if write else "r"
        setattr(sys, name, stream)
        setattr(sys, f"__{name}__", stream)


def forget_server_environment() -> None:
    """What modules worked out from this server's environment and would work out again from the child's."""
    time.tzset()
    tempfile = sys.modules.get("tempfile")
    if tempfile is not None:
        tempfile.tempdir = None


def become_interpreter(request: dict[str, Any]) -> None:
    """The process state and interpreter facts of the start ``request`` describes (raises OSError if one cannot be
    had)."""
    os.chdir(request["cwd"])
    os.umask(request["umask"])
    for limit, wanted in request["rlimits"].items():
        if resource.getrlimit(limit) != wanted:
            resource.setrlimit(limit, wanted)
    os.environ.clear()
    for name, value in request["env"].items():
        os.environb[name] = value
    forget_server_environment()
    if request["path"] is None:  # this server's own virtualenv: its site is the one this server ran
        request |= {"path": START.path, "exec_prefix": START.exec_prefix, "site_prefixes": START.site_prefixes}
    sys.executable = request["executable"]
    sys._base_executable = request["base_executable"]
    sys.prefix, sys.exec_prefix = request["prefix"], request["exec_prefix"]
    sys.orig_argv = [os.fsdecode(arg) for arg in request["argv"]]
    sys.path[:] = request["path"]
    site = sys.modules["site"]
    site.PREFIXES[:] = request["site_prefixes"]
    sysconfig = sys.modules.get("sysconfig")
    if sysconfig is not None:  # its paths follow sys.prefix once worked out again
        sysconfig._CONFIG_VARS = None
    if not same_site(request, START):
        # The finders and hooks this server's own site code added (an editable install's, say) are not the
        # child's: its site ran no code (refusal() checked), so it has the interpreter's own.
        defaults = (importlib.machinery.BuiltinImporter, importlib.machinery.FrozenImporter)
        sys.meta_path[:] = [f for f in sys.meta_path if f in (*defaults, importlib.machinery.PathFinder)]
        sys.path_hooks[:] = [
            hook
            for hook in sys.path_hooks
            if hook is zipimport.zipimporter or getattr(hook, "__qualname__", "").startswith("FileFinder.path_hook")
        ]
        sys.path_importer_cache.clear()
    standard_streams()
    for signum in signal.valid_signals():
        if signum in (signal.SIGKILL, signal.SIGSTOP):
            continue
        if signum in request["ignored"]:
            handler: object = signal.SIG_IGN
        elif signum == signal.SIGINT:
            handler = signal.default_int_handler
        else:
            handler = signal.SIG_DFL
        with contextlib.suppress(OSError, ValueError):  # the C library's own signals cannot be set
            signal.signal(signum, handler)


def run_main(kind: str, target: str, args: list[str]) -> None:
    """Run ``-m MODULE`` or a script in a ``__main__`` module as the interpreter makes it."""
    main = types.ModuleType("__main__")
    main.__loader__ = importlib.machinery.BuiltinImporter
    main.__annotations__ = {}
    main.__builtins__ = builtins  # type: ignore[attr-defined]
    sys.modules["__main__"] = main
    if kind == "module":
        import runpy

        # A fresh start has imported only the module's packages when it runs it, and those do not import the
        # actions' entry module (tests/core/test_warm_python.py compares what both say): the preloaded copy goes,
        # or runpy would warn that the module was imported before it ran. (A package runs its __main__, never
        # preloaded.)
        loaded = sys.modules.get(target)
        if loaded is not None and not hasattr(loaded, "__path__"):
            del sys.modules[target]
            package, _, leaf = target.rpartition(".")
            if package in sys.modules:
                with contextlib.suppress(AttributeError):
                    delattr(sys.modules[package], leaf)
        sys.argv = ["-m", *args]
        # What `python -m` calls.
        runpy._run_module_as_main(target)  # type: ignore[attr-defined]
        return
    sys.argv = [target, *args]
    path = os.path.abspath(target)
    main.__file__ = path
    main.__cached__ = None  # type: ignore[attr-defined]
    main.__loader__ = importlib.machinery.SourceFileLoader("__main__", path)
    with open(path, "rb") as handle:
        code = compile(handle.read(), path, "exec", dont_inherit=True)
    exec(code, main.__dict__)


def uncaught(exc: BaseException) -> None:
    """Print ``exc`` as the interpreter does when nothing caught it: its traceback starts where a fresh start's
    would, without this server's own frames."""
    tb = exc.__traceback__
    while tb is not None and tb.tb_frame.f_code.co_filename == __file__:
        tb = tb.tb_next
    sys.excepthook(type(exc), exc.with_traceback(tb), tb)


def finish(run: Callable[[], object]) -> None:
    """Run ``run()`` and end the process as the interpreter ends; never returns."""
    code = 1
    try:
        try:
            run()
            code = 0
        except SystemExit as exc:
            code = exit_code(exc.code)
        except KeyboardInterrupt as exc:
            uncaught(exc)
            code = -signal.SIGINT
        except BaseException as exc:  # noqa: BLE001 - the interpreter's own last resort
            uncaught(exc)
            code = 1
        # The interpreter's exit: wait for non-daemon threads, run atexit handlers, flush the streams.
        threading._shutdown()  # type: ignore[attr-defined]
        atexit._run_exitfuncs()
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except Exception:  # noqa: BLE001 - the interpreter exits 120 when its streams cannot be flushed
                code = 120 if code == 0 else code
    finally:
        if code == -signal.SIGINT:
            signal.signal(signal.SIGINT, signal.SIG_DFL)
            signal.pthread_sigmask(signal.SIG_UNBLOCK, [signal.SIGINT])
            os.kill(os.getpid(), signal.SIGINT)
        os._exit(code if code >= 0 else 1)


def cli_child(request: dict[str, Any], fds: list[int]) -> None:
    """Become ``python -m kars_actions ARGS`` in ``cwd`` with ``env``; never returns."""
    for target, fd in enumerate(fds):
        os.dup2(fd, target)
        os.close(fd)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    forget_server_environment()
    standard_streams()
    # As the interpreter sets sys.path: the current folder for ``-m``, then PYTHONPATH's entries.
    extra = [os.path.abspath(p) for p in request["env"].get("PYTHONPATH", "").split(os.pathsep) if p]
    sys.path[0:0] = [os.getcwd(), *extra]
    finish(lambda: run_main("module", "kars_actions", request["args"]))


def python_child(request: dict[str, Any], fds: list[int], verdict: int) -> None:
    """Become the interpreter start ``request`` describes, saying on ``verdict`` whether it could; never returns."""
    for number, fd in enumerate(fds):
        os.dup2(fd, number)
        os.close(fd)
    try:
        become_interpreter(request)
    except (OSError, ValueError) as error:  # a folder that is gone, a limit above this server's, ...
        os.write(verdict, f"fresh {error}".encode(errors="replace"))
        os._exit(0)
    os.write(verdict, b"ok")
    os.close(verdict)
    main = main_of(sys.orig_argv, START)
    assert main is not None  # refusal() checked it
    kind, target, args = main
    signal.pthread_sigmask(signal.SIG_SETMASK, request["blocked"])
    finish(lambda: run_main(kind, target, args))


# --- the server ----------------------------------------------------------------------------------------------


def serve(path: str, ready_fd: int) -> None:
    package = preload()
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen(64)
    selector = selectors.DefaultSelector()
    selector.register(listener, selectors.EVENT_READ, "accept")
    selector.register(0, selectors.EVENT_READ, "stdin")
    running: dict[int, tuple[int, socket.socket]] = {}  # pidfd -> (pid, connection)
    os.write(ready_fd, f"ready {package}".encode())
    os.close(ready_fd)
    while True:
        for key, _ in selector.select():
            if key.data == "stdin":
                if not os.read(0, 4096):  # the worker is gone: so are the runs, none left unreaped
                    for pid, _conn in running.values():
                        os.kill(pid, signal.SIGKILL)
                        os.waitpid(pid, 0)
                    return
            elif key.data == "accept":
                conn, _ = listener.accept()
                started = start(conn, listener, selector, running)
                if started is None:
                    conn.close()
                    continue
                pid, pidfd = started
                running[pidfd] = (pid, conn)
                selector.register(pidfd, selectors.EVENT_READ, "exit")
                selector.register(conn, selectors.EVENT_READ, ("client", pid))
            elif key.data == "exit":
                pid, conn = running.pop(key.fd)
                selector.unregister(key.fd)
                os.close(key.fd)
                with contextlib.suppress(KeyError, ValueError):
                    selector.unregister(conn)
                _, status = os.waitpid(pid, 0)
                with contextlib.suppress(OSError):  # the one who asked may be gone
                    conn.sendall(f"exit {os.waitstatus_to_exitcode(status)}\n".encode())
                conn.close()
            else:  # the client's end: anything but its closing is ignored; closed, the run dies with it
                client = key.fileobj
                assert isinstance(client, socket.socket)
                with contextlib.suppress(OSError):
                    if client.recv(1):
                        continue
                selector.unregister(client)
                with contextlib.suppress(ProcessLookupError):
                    os.kill(key.data[1], signal.SIGKILL)


def start(
    conn: socket.socket,
    listener: socket.socket,
    selector: selectors.BaseSelector,
    running: dict[int, tuple[int, socket.socket]],
) -> tuple[int, int] | None:
    """Fork the child ``conn`` asks for and say ``pid N``; None when it is not forked (said ``fresh REASON``)."""
    try:
        header, fds, _flags, _addr = socket.recv_fds(conn, HEADER.size, 3)
    except OSError:
        return None
    header += _received(conn, HEADER.size - len(header))
    kind, size = HEADER.unpack(header) if len(header) == HEADER.size else (b"", 0)
    body = _received(conn, size)
    if not kind or len(body) < size:  # the client is gone before it finished asking
        for fd in fds:
            os.close(fd)
        return None
    closed = [listener.fileno(), selector.fileno(), conn.fileno(), *running.keys()]
    closed += [c.fileno() for _pid, c in running.values()]
    sys.stdout.flush()
    sys.stderr.flush()
    if kind == b"J":
        request = json.loads(body)
        pid = os.fork()
        if pid == 0:
            try:
                for fd in closed:
                    os.close(fd)
                cli_child(request, fds)
            finally:
                os._exit(1)  # never back into the server's loop
    else:
        request = marshal.loads(body)
        why = refusal(request, START)
        if why is None:
            verdict_r, verdict_w = os.pipe()
            pid = os.fork()
            if pid == 0:
                try:
                    for fd in [*closed, verdict_r]:
                        os.close(fd)
                    python_child(request, fds, verdict_w)
                finally:
                    os._exit(1)  # never back into the server's loop (unsaid verdict: a fresh start)
            os.close(verdict_w)
            with os.fdopen(verdict_r, "rb") as verdict:
                said = verdict.read().decode(errors="replace")
            if said != "ok":
                os.waitpid(pid, 0)
                why = said.removeprefix("fresh ") or "the child could not be set up"
            else:
                print(f"forked: {' '.join(os.fsdecode(a) for a in request['argv'][1:])}", file=sys.stderr, flush=True)
        if why is not None:
            for fd in fds:
                os.close(fd)
            print(f"fresh start: {why}", file=sys.stderr, flush=True)
            with contextlib.suppress(OSError):
                conn.sendall(f"fresh {why}\n".encode(errors="replace"))
            return None
    for fd in fds:
        os.close(fd)
    pidfd = os.pidfd_open(pid)
    try:
        if kind == b"J":
            conn.sendall(f"pid {pid}\n".encode())
        else:  # the client passes signals on through the child's pidfd, which it could not open itself safely
            socket.send_fds(conn, [f"pid {pid}\n".encode()], [pidfd])
    except OSError:  # the client was killed as its run started: the run dies with it, as if they were one process
        signal.pidfd_send_signal(pidfd, signal.SIGKILL)
        os.waitpid(pid, 0)
        os.close(pidfd)
        print(f"killed {pid}: its client was gone before it learned the pid", file=sys.stderr, flush=True)
        return None
    return pid, pidfd


def _received(conn: socket.socket, size: int) -> bytes:
    """``size`` bytes from ``conn``, or fewer if the client closes its end first."""
    data = b""
    with contextlib.suppress(OSError):
        while len(data) < size:
            chunk = conn.recv(size - len(data))
            if not chunk:
                break
            data += chunk
    return data


START = Start()

if __name__ == "__main__":
    serve(sys.argv[-2], int(sys.argv[-1]))
