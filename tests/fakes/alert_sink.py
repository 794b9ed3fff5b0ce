"""An alert webhook receiver on loopback: records every delivery, and answers 500 to each when told to fail."""

from __future__ import annotations

import json
import threading
from http.server import ThreadingHTTPServer
from typing import Any

from tests.fakes.quick_handler import QuickHandler


class AlertSink:
    """A webhook receiver; ``fail`` makes it answer 500 to every delivery."""

    def __init__(self, fail: bool = False) -> None:
        self.fail = fail
        self.received: list[dict[str, Any]] = []
        outer = self

        class Handler(QuickHandler):
            def log_message(self, *args: Any) -> None:
                return None

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                outer.received.append(json.loads(self.rfile.read(length)))
                self.send_response(500 if outer.fail else 204)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
