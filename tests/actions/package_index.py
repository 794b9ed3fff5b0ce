"""A loopback package index for the set-up tests: PEP 503 HTML or PEP 691 JSON pages for the files it is given,
over HTTP, or over HTTPS with a self-signed certificate no client trusts (made with the openssl command)."""

from __future__ import annotations

import hashlib
import json
import shutil
import ssl
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import ThreadingHTTPServer
from pathlib import Path

from tests.fakes.quick_handler import QuickHandler


def self_signed_certificate(folder: Path) -> tuple[Path, Path] | None:
    """(certificate, key) for 127.0.0.1, or None when no openssl command is installed."""
    openssl = shutil.which("openssl")
    if openssl is None:
        return None
    cert, key = folder / "index.pem", folder / "index.key"
    subprocess.run(
        # A P-256 key: made in a millisecond, where an RSA key takes up to a second of CPU.
        [openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
         "-days", "2", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        check=True,
        capture_output=True,
        timeout=60,
    )  # fmt: skip
    return cert, key


@contextmanager
def package_index(
    files: dict[str, bytes],
    *,
    json_pages: bool = False,
    listed_hashes: dict[str, str] | None = None,
    tls: tuple[Path, Path] | None = None,
) -> Iterator[str]:
    """Serve ``files`` (wheel filename -> bytes) under /simple/<project>/; yields the index URL.

    ``listed_hashes`` overrides the sha256 a page states for a file (a listing that lies); every other path is
    a 404, as an index answers for a project it does not have."""
    hashes = {name: hashlib.sha256(data).hexdigest() for name, data in files.items()}
    hashes.update(listed_hashes or {})

    class Handler(QuickHandler):
        def log_message(self, format: str, *args: object) -> None:
            return

        def _send(self, status: int, body: bytes, content_type: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            parts = [p for p in self.path.split("?")[0].split("/") if p]
            if len(parts) == 2 and parts[0] == "files" and parts[1] in files:
                self._send(200, files[parts[1]], "application/octet-stream")
                return
            if len(parts) == 2 and parts[0] == "simple":
                listed = {n: h for n, h in hashes.items() if n.split("-", 1)[0].lower() == parts[1].lower()}
                if listed:
                    if json_pages:
                        page = {
                            "meta": {"api-version": "1.0"},
                            "name": parts[1],
                            "files": [{"filename": n, "url": f"../../files/{n}", "hashes": {"sha256": h}}
                                      for n, h in listed.items()],
                        }  # fmt: skip
                        self._send(200, json.dumps(page).encode(), "application/vnd.pypi.simple.v1+json")
                    else:
                        links = "".join(f'<a href="/files/{n}#sha256={h}">{n}</a><br>\n' for n, h in listed.items())
                        self._send(200, f"<html><body>\n{links}</body></html>".encode(), "text/html")
                    return
            self._send(404, b"not found", "text/plain")

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    scheme = "http"
    if tls is not None:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(str(tls[0]), str(tls[1]))
        server.socket = context.wrap_socket(server.socket, server_side=True)
        scheme = "https"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"{scheme}://127.0.0.1:{server.server_address[1]}/simple/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
