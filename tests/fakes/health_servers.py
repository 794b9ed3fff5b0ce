"""Loopback HTTP servers whose answers follow a script, for the health checker's integration tests.

A script is a function of the request (its number, path and headers) that returns a ``Reply``. Servers run in
a thread, bind 127.0.0.1 (or another loopback name) on port 0, and record every request they saw.
"""

from __future__ import annotations

import json
import socket
import struct
import sys
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from http.server import ThreadingHTTPServer
from typing import Any

from tests.fakes.quick_handler import QuickHandler


@dataclass
class Seen:
    """One request as the server received it."""

    number: int  # 1-based, across the server's life
    method: str
    path: str
    headers: dict[str, str]  # lower-case names


@dataclass
class Reply:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes | Iterable[bytes] = b""
    content_length: int | None = None  # for streamed bodies
    delay: float = 0.0  # answer this late (the behaviour under test, not test timing)
    hang: threading.Event | None = None  # accept, then say nothing until this is set
    drop: bool = False  # close the connection without a word (a reset while the app restarts)

    @classmethod
    def json(cls, payload: Any, status: int = 200, **headers: str) -> Reply:
        return cls(status, {"Content-Type": "application/json", **headers}, json.dumps(payload).encode())

    @classmethod
    def redirect(cls, location: str, status: int = 302) -> Reply:
        return cls(status, {"Location": location})


Script = Callable[[Seen], Reply]


class _Handler(QuickHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        return None

    def do_GET(self) -> None:
        self._answer()

    def do_HEAD(self) -> None:
        self._answer()

    def _answer(self) -> None:
        with self.server.lock:
            self.server.count += 1
            seen = Seen(
                self.server.count,
                self.command,
                self.path,
                {k.lower(): v for k, v in self.headers.items()},
            )
            self.server.seen.append(seen)
        reply = self.server.script(seen)
        if reply.drop:
            self.close_connection = True
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            return
        if reply.hang is not None:
            reply.hang.wait(30)
            self.close_connection = True
            return
        if reply.delay:
            self.server.stopping.wait(reply.delay)
        body = reply.body
        self.send_response(reply.status)
        for name, value in reply.headers.items():
            self.send_header(name, value)
        if isinstance(body, bytes):
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)
            return
        if reply.content_length is not None:
            self.send_header("Content-Length", str(reply.content_length))
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True
        try:
            for chunk in body:
                self.wfile.write(chunk)
                with self.server.lock:
                    self.server.streamed += len(chunk)
        except (BrokenPipeError, ConnectionResetError):
            return


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, host: str, script: Script) -> None:
        super().__init__((host, 0), _Handler, bind_and_activate=False)
        self.script = script
        self.lock = threading.Lock()
        self.count = 0
        self.streamed = 0
        self.seen: list[Seen] = []
        self.stopping = threading.Event()

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client hanging up mid-answer (a capped body, a timeout) is expected here, not worth a traceback.
        error = sys.exc_info()[1]
        if isinstance(error, (ConnectionError, TimeoutError)):
            return
        super().handle_error(request, client_address)


class ScriptedServer:
    """``with ScriptedServer(script) as server: server.url("/health")``.

    With ``listening=False`` the port is bound but refuses connections until ``open()`` is called — a
    deployment that is not up yet.
    """

    def __init__(self, script: Script, host: str = "127.0.0.1", *, listening: bool = True) -> None:
        self._server = _Server(host, script)
        self._server.server_bind()
        self.host = host
        self.port: int = self._server.server_address[1]
        self._thread: threading.Thread | None = None
        self.releases: list[threading.Event] = []
        if listening:
            self.open()

    def open(self) -> None:
        if self._thread is not None:
            return
        self._server.server_activate()
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05})
        self._thread.daemon = True
        self._thread.start()

    def url(self, path: str = "/", host: str | None = None) -> str:
        return f"http://{host or self.host}:{self.port}{path}"

    @property
    def seen(self) -> list[Seen]:
        with self._server.lock:
            return list(self._server.seen)

    @property
    def count(self) -> int:
        return self._server.count

    @property
    def streamed(self) -> int:
        """Body bytes the server managed to write for streamed replies."""
        return self._server.streamed

    def hang_event(self) -> threading.Event:
        """An event for ``Reply(hang=...)``, set at close so hung handlers end."""
        event = threading.Event()
        self.releases.append(event)
        return event

    def close(self) -> None:
        self._server.stopping.set()
        for event in self.releases:
            event.set()
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join(5)
        self._server.server_close()

    def __enter__(self) -> ScriptedServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def sequence(*replies: Reply) -> Script:
    """Answer with each reply in turn, repeating the last one forever."""

    def script(seen: Seen) -> Reply:
        return replies[min(seen.number, len(replies)) - 1]

    return script


def big_body(total: int, chunk: int = 64 * 1024) -> Iterator[bytes]:
    """``total`` bytes of JSON-ish filler, produced as they are sent (the server never holds them all)."""
    block = b"x" * chunk
    sent = 0
    while sent < total:
        piece = block[: min(chunk, total - sent)]
        sent += len(piece)
        yield piece


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class TcpListener:
    """A bare TCP listener (a stand-in database port): accepts and closes connections."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port: int = self.sock.getsockname()[1]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        self.sock.settimeout(0.1)
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except (TimeoutError, OSError):
                continue
            conn.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2)
        self.sock.close()

    def __enter__(self) -> TcpListener:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class ManyEndpointsServer:
    """An asyncio server in its own thread answering ``/h/<n>`` with a tiny JSON health body, for scale runs."""

    def __init__(self, version: str = "1.0.0") -> None:
        import asyncio

        self.version = version
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self.port = 0
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        self._ready.wait(5)

    def _run(self) -> None:
        import asyncio

        asyncio.set_event_loop(self._loop)
        body = json.dumps({"status": "ok", "version": self.version}).encode()
        head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(body)

        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            try:
                while True:
                    request = await reader.readuntil(b"\r\n\r\n")
                    if not request:
                        break
                    writer.write(head + body)
                    await writer.drain()
            except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
                pass
            finally:
                writer.close()

        async def main() -> None:
            server = await asyncio.start_server(handle, "127.0.0.1", 0, backlog=2048)
            self.port = server.sockets[0].getsockname()[1]
            self._server = server
            self._ready.set()

        self._loop.run_until_complete(main())
        self._loop.run_forever()

    def url(self, n: int) -> str:
        return f"http://127.0.0.1:{self.port}/h/{n}"

    def close(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
