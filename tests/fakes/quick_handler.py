"""The request handler every local server of the suite starts from."""

from __future__ import annotations

from http.server import BaseHTTPRequestHandler


class QuickHandler(BaseHTTPRequestHandler):
    """``BaseHTTPRequestHandler`` whose answers leave at once.

    http.server writes the headers and the body in separate writes; with Nagle's algorithm on, the body waits for
    the client's delayed ACK of the headers, about 40 ms a request on loopback — most of a release test's time.
    """

    disable_nagle_algorithm = True
