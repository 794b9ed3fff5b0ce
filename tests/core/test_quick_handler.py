"""The fakes' request reading answers as http.server's own: the same headers, connection handling and limits."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.fakes.quick_handler import QuickHandler


def _echo(handler: BaseHTTPRequestHandler) -> None:
    length = int(handler.headers.get("Content-Length") or 0)
    seen = {
        "method": handler.command,
        "path": handler.path,
        "version": handler.request_version,
        "items": [list(item) for item in handler.headers.items()],
        "host": handler.headers.get("host"),
        "missing": handler.headers.get("X-Missing", "default"),
        "body": handler.rfile.read(length).decode() if length else "",
    }
    data = json.dumps(seen).encode()
    handler.send_response(200)
    handler.send_header("Content-Length", str(len(data)))
    handler.end_headers()
    handler.wfile.write(data)


class _Quick(QuickHandler):
    protocol_version = "HTTP/1.1"
    do_GET = do_POST = _echo

    def log_message(self, format: str, *args: object) -> None:
        return


class _Standard(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    do_GET = do_POST = _echo

    def log_message(self, format: str, *args: object) -> None:
        return


@contextmanager
def _serving(handler: type[BaseHTTPRequestHandler]) -> Iterator[int]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


def _exchange(port: int, raw: bytes) -> bytes:
    """Send ``raw`` and read until the server closes the connection: each case ends with a request that asks it
    to, so a connection kept open shows as the answer to that one."""
    with socket.create_connection(("127.0.0.1", port), timeout=10.0) as conn:
        conn.sendall(raw)
        chunks = []
        while chunk := conn.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def _without_date(answer: bytes) -> bytes:
    return b"\r\n".join(line for line in answer.split(b"\r\n") if not line.startswith(b"Date: "))


CLOSE = b"GET /then-close HTTP/1.1\r\nConnection: close\r\n\r\n"
REQUESTS = {
    "headers in any case, a repeated one, a folded one": (
        b"GET /a?b=1 HTTP/1.1\r\nHost: x\r\nX-Twice: first\r\nx-twice: second\r\nX-Folded: one\r\n\ttwo\r\n"
        b"X-Spaces:   padded  \r\nConnection: close\r\n\r\n"
    ),
    "two requests on one kept-alive connection": (
        b"POST /one HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nhi"
        b"GET /two HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    ),
    "HTTP/1.0 closes after one answer": b"GET / HTTP/1.0\r\nHost: x\r\n\r\nGET /never HTTP/1.0\r\n\r\n",
    "HTTP/1.0 asking to be kept alive": (
        b"GET /a HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET /b HTTP/1.1\r\nConnection: close\r\n\r\n"
    ),
    # The email parser ends the headers at a line that is none: the Connection header after it is not read.
    "a line that is no header ends them": (
        b"GET / HTTP/1.1\r\nHost: x\r\nnot a header\r\nConnection: close\r\n\r\n" + CLOSE
    ),
    "a name with a space ends them": b"GET / HTTP/1.1\r\nHost: x\r\nBad Name: v\r\nConnection: close\r\n\r\n" + CLOSE,
    "a folded first line": b"GET / HTTP/1.1\r\n folded\r\nHost: x\r\nConnection: close\r\n\r\n",
    "a header line past 65,536 bytes": b"GET / HTTP/1.1\r\nX-Long: " + b"a" * 70_000 + b"\r\n\r\n",
    "more than 100 headers": b"GET / HTTP/1.1\r\n" + b"".join(b"X-%d: v\r\n" % i for i in range(101)) + b"\r\n",
    "100 headers": (
        b"GET / HTTP/1.1\r\n" + b"".join(b"X-%d: v\r\n" % i for i in range(99)) + b"Connection: close\r\n\r\n"
    ),
    "a request line http.server reads itself": b"GET //double HTTP/1.1\r\nConnection: close\r\n\r\n",
    "Expect: 100-continue": (
        b"POST /e HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 3\r\nConnection: close\r\n\r\nabc"
    ),
}


@pytest.mark.parametrize("raw", REQUESTS.values(), ids=REQUESTS.keys())
def test_the_quick_reading_answers_as_http_server_does(raw: bytes) -> None:
    with _serving(_Quick) as quick, _serving(_Standard) as standard:
        answers = [_without_date(_exchange(port, raw)) for port in (quick, standard)]
    assert answers[0] == answers[1]
    assert answers[0].startswith(b"HTTP/1.")  # every request was answered, if only with an error


def test_the_headers_read_are_the_ones_sent() -> None:
    with _serving(_Quick) as port:
        answer = _exchange(port, REQUESTS["headers in any case, a repeated one, a folded one"])
    seen = json.loads(answer.split(b"\r\n\r\n", 1)[1])
    assert seen["host"] == "x" and seen["missing"] == "default"
    assert seen["items"] == [
        ["Host", "x"],
        ["X-Twice", "first"],
        ["x-twice", "second"],
        ["X-Folded", "one\r\n\ttwo"],
        ["X-Spaces", "padded  "],
        ["Connection", "close"],
    ]
