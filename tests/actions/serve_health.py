"""A loopback health endpoint for the self-test workflow: ``GET /api/health`` answers like the example backend.

python -m tests.actions.serve_health --port 8767 --version 1.2.3
"""

from __future__ import annotations

import argparse
import json
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from tests.fakes.quick_handler import QuickHandler


def make_handler(version: str) -> type[BaseHTTPRequestHandler]:
    class Handler(QuickHandler):
        def do_GET(self) -> None:
            if self.path != "/api/health":
                self.send_error(404)
                return
            body = json.dumps({"status": "ok", "database": "connected", "version": version}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            return

    return Handler


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--version", default="0.0.0")
    args = parser.parse_args(argv)
    server = ThreadingHTTPServer(("127.0.0.1", args.port), make_handler(args.version))
    print(f"http://127.0.0.1:{server.server_address[1]}/api/health", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
