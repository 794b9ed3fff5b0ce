"""The request handler every local server of the suite starts from."""

from __future__ import annotations

import re
from http.server import BaseHTTPRequestHandler

_MAX_LINE = 65536  # http.client's limits on a header line and on the number of headers
_MAX_HEADERS = 100
_HEADER_START = re.compile(r"[\x21-\x39\x3b-\x7e]*:")  # the email parser's: a name without spaces, then a colon


class RequestHeaders:
    """A request's headers as the handlers read them: ``get`` by any case (the first of a repeated name, as
    ``email.message.Message`` answers) and ``items`` in the order they came."""

    __slots__ = ("_first", "_items")

    def __init__(self, items: list[tuple[str, str]]) -> None:
        self._items = items
        self._first: dict[str, str] = {}
        for name, value in items:
            self._first.setdefault(name.lower(), value)

    def get(self, name: str, default: str | None = None) -> str | None:
        return self._first.get(name.lower(), default)

    def items(self) -> list[tuple[str, str]]:
        return list(self._items)


class QuickHandler(BaseHTTPRequestHandler):
    """``BaseHTTPRequestHandler`` whose answers leave at once and whose requests are read without the email parser.

    http.server writes the headers and the body in separate writes; with Nagle's algorithm on, the body waits for
    the client's delayed ACK of the headers, about 40 ms a request on loopback — most of a release test's time.

    http.server reads the headers through ``email.parser``: about 40% of a fake server's CPU a request, and the
    suite's fakes answer some 18,000. A request line of ``METHOD TARGET HTTP/1.x`` has its headers read here, by
    the same rules (line and count limits, folded lines, ``Connection``, ``Expect: 100-continue``); anything else
    goes to http.server's own reading.
    """

    disable_nagle_algorithm = True

    def parse_request(self) -> bool:
        requestline = str(self.raw_requestline, "iso-8859-1").rstrip("\r\n")
        words = requestline.split()
        if len(words) != 3 or words[2] not in ("HTTP/1.0", "HTTP/1.1") or words[1].startswith("//"):
            return super().parse_request()
        self.requestline = requestline
        self.command, self.path, self.request_version = words
        items: list[tuple[str, str]] = []
        lines = 0
        ended = False  # a line that is no header ends them, as in the email parser (the rest is read, unused)
        while True:
            raw = self.rfile.readline(_MAX_LINE + 1)
            if len(raw) > _MAX_LINE:
                self.send_error(431, "Line too long", f"got more than {_MAX_LINE} bytes when reading header line")
                return False
            lines += 1  # the blank line that ends them counts too, as http.client counts
            if lines > _MAX_HEADERS:
                self.send_error(431, "Too many headers", f"got more than {_MAX_HEADERS} headers")
                return False
            if raw in (b"\r\n", b"\n", b""):
                break
            text = raw.decode("iso-8859-1")
            if ended:
                continue
            if text[0] in " \t":  # a folded line continues the header before it, line break kept
                if items:
                    name, value = items[-1]
                    items[-1] = (name, value + text)
                continue
            if not _HEADER_START.match(text):
                ended = True
                continue
            name, _, value = text.partition(":")
            items.append((name, value.lstrip(" \t")))
        items = [(name, value.rstrip("\r\n")) for name, value in items]
        self.headers = RequestHeaders(items)  # type: ignore[assignment]
        connection = (self.headers.get("Connection") or "").lower()
        keep_alive = self.request_version == "HTTP/1.1" and self.protocol_version >= "HTTP/1.1"
        if connection == "close":
            keep_alive = False
        elif connection == "keep-alive" and self.protocol_version >= "HTTP/1.1":
            keep_alive = True
        self.close_connection = not keep_alive
        expect = (self.headers.get("Expect") or "").lower()
        if expect == "100-continue" and self.protocol_version >= "HTTP/1.1" and self.request_version == "HTTP/1.1":
            return self.handle_expect_100()
        return True
