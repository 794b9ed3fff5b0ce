"""The warm interpreter behind ``tests/fakes/cli_fork.py``, run by path from ``python -c`` with SOCKET READY_FD.

It imports every module of ``kars_actions`` once, then forks one child per request. A request is a header with the
child's stdin, stdout and stderr as file descriptors, then ``{"args", "cwd", "env"}``; the answer is ``pid N`` when
the child exists and ``exit N`` when it has ended (N as ``subprocess`` gives it: negative for a signal). It stops
when its stdin (a pipe from the pytest worker) reaches end of file.
"""

import atexit
import contextlib
import gc
import importlib
import json
import os
import pkgutil
import selectors
import signal
import socket
import struct
import sys
import threading
import traceback

HEADER = struct.Struct("!I")
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


def preload() -> str:
    # The folder the server was started in is not the child's: nothing is imported from it.
    if sys.path and sys.path[0] in ("", os.getcwd()):
        del sys.path[0]
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


def exit_code(code: object) -> int:
    """What the interpreter makes of ``SystemExit(code)``."""
    if code is None:
        return 0
    if isinstance(code, int):
        return code & 0xFF
    with contextlib.suppress(Exception):  # as the interpreter: the message is best effort
        sys.stderr.write(f"{code}\n")
    return 1


def child(request: dict, fds: list[int], keep_closed: list[int]) -> None:
    """Become ``python -m kars_actions ARGS`` in ``cwd`` with ``env``; never returns."""
    code = 1
    try:
        for fd in keep_closed:
            os.close(fd)
        for target, fd in enumerate(fds):
            os.dup2(fd, target)
            os.close(fd)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(request["env"])
        # As the interpreter sets sys.path: the current folder for ``-m``, then PYTHONPATH's entries.
        extra = [os.path.abspath(p) for p in request["env"].get("PYTHONPATH", "").split(os.pathsep) if p]
        sys.path[0:0] = [os.getcwd(), *extra]
        sys.argv = ["-m", *request["args"]]
        import runpy

        try:
            runpy.run_module("kars_actions", run_name="__main__", alter_sys=True)
            code = 0
        except SystemExit as exc:
            code = exit_code(exc.code)
        except KeyboardInterrupt:
            traceback.print_exc()
            code = -signal.SIGINT
        except BaseException:  # noqa: BLE001 - the interpreter's own last resort
            sys.excepthook(*sys.exc_info())
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
            os.kill(os.getpid(), signal.SIGINT)
        os._exit(code if code >= 0 else 1)


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
                if not os.read(0, 4096):
                    for pid, _conn in running.values():
                        os.kill(pid, signal.SIGKILL)
                    return
            elif key.data == "accept":
                conn, _ = listener.accept()
                header, fds, _flags, _addr = socket.recv_fds(conn, HEADER.size, 3)
                (size,) = HEADER.unpack(header)
                body = b""
                while len(body) < size:
                    body += conn.recv(size - len(body))
                request = json.loads(body)
                sys.stdout.flush()
                sys.stderr.flush()
                closed = [listener.fileno(), selector.fileno(), conn.fileno(), *running.keys()]
                closed += [c.fileno() for _pid, c in running.values()]
                pid = os.fork()
                if pid == 0:
                    child(request, fds, closed)
                for fd in fds:
                    os.close(fd)
                pidfd = os.pidfd_open(pid)
                running[pidfd] = (pid, conn)
                selector.register(pidfd, selectors.EVENT_READ, "exit")
                conn.sendall(f"pid {pid}\n".encode())
            else:
                pid, conn = running.pop(key.fd)
                selector.unregister(key.fd)
                os.close(key.fd)
                _, status = os.waitpid(pid, 0)
                with contextlib.suppress(OSError):  # the test that asked may be gone
                    conn.sendall(f"exit {os.waitstatus_to_exitcode(status)}\n".encode())
                conn.close()


if __name__ == "__main__":
    serve(sys.argv[-2], int(sys.argv[-1]))
