"""A hostile local server: echoes whatever it receives (URL, headers, body) back into error messages, JSON
fields, redirects and HTML, or answers what a confused service answers. Loopback only."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import ThreadingHTTPServer

from tests.fakes.quick_handler import QuickHandler


class _EchoHandler(QuickHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:
        return

    def _received(self) -> dict[str, object]:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode("utf-8", "replace") if length else ""
        return {"path": self.path, "headers": dict(self.headers.items()), "body": body}

    def _send(self, status: int, body: str, content_type: str, extra: dict[str, str] | None = None) -> None:
        data = body.encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        for name, value in (extra or {}).items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def _answer(self) -> None:
        seen = self._received()
        echo = json.dumps(seen)
        path = self.path
        if path.startswith("/ratelimited"):
            # A rate limit that says "retry now", forever: the client must back off and end at its deadline.
            self._send(429, json.dumps({"message": f"rate limited {echo}"}), "application/json", {"Retry-After": "0"})
        elif path.startswith("/graphql-null"):
            # Railway answering without an error and without the token's project.
            self._send(200, '{"data":{"projectToken":null}}', "application/json")
        elif path.startswith("/graphql"):
            # A GraphQL error that quotes the request, as a careless proxy might.
            self._send(
                200, json.dumps({"errors": [{"message": f"Not Authorized: {echo}"}], "data": None}), "application/json"
            )
        elif path.startswith("/html"):
            self._send(200, f"<html><body>Sign in {echo}</body></html>", "text/html")
        elif path.startswith("/redirect"):
            self._send(302, "", "text/plain", {"Location": f"http://127.0.0.2:9/?{echo[:900]}"})
        elif path.startswith("/unauthorized"):
            self._send(401, json.dumps({"message": f"Bad credentials {echo}"}), "application/json")
        elif path.startswith("/health"):
            # Unhealthy, and repeating the request in a JSON field and in a long message.
            self._send(503, json.dumps({"status": "down", "version": echo, "error": echo * 2}), "application/json")
        else:
            self._send(
                500, json.dumps({"message": f"Server error {echo}", "documentation_url": echo}), "application/json"
            )

    do_GET = _answer
    do_POST = _answer
    do_PATCH = _answer
    do_PUT = _answer
    do_DELETE = _answer
    do_HEAD = _answer


@contextmanager
def echo_server() -> Iterator[str]:
    """Start the server on 127.0.0.1; yields its base URL (no trailing slash)."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _EchoHandler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
