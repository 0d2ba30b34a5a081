"""A real HTTP server that receives webhooks in tests: it records every request and answers each with the next
status of a script (then 200), like a receiver that is down for a while and comes back, or only after
`delay_s`, like a slow one."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]   # lower-case names
    body: bytes
    at: float                 # time.monotonic() when it arrived
    answered: int             # the status it was answered with

    def json(self) -> Any:
        return json.loads(self.body)


class Receiver:
    def __init__(self, statuses: list[int] | None = None, delay_s: float = 0.0) -> None:
        self.statuses = list(statuses or [])
        self.delay_s = delay_s
        self.requests: list[Received] = []
        self._lock = threading.Lock()
        self.url = ""

    def answer(self, path: str, headers: dict[str, str], body: bytes) -> int:
        with self._lock:
            status = self.statuses.pop(0) if self.statuses else 200
            self.requests.append(Received(path, headers, body, time.monotonic(), status))
            return status

    def received(self) -> list[Received]:
        with self._lock:
            return list(self.requests)


@contextmanager
def webhook_receiver(statuses: list[int] | None = None, path: str = "/hooks/T000/B000/s3cr3t-path-token",
                     delay_s: float = 0.0) -> Iterator[Receiver]:
    """A receiver on a free loopback port; `receiver.url` is its endpoint (the path stands for a URL token).
    Each request is recorded when it arrives and answered `delay_s` later."""
    receiver = Receiver(statuses, delay_s)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's naming
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            status = receiver.answer(self.path, {k.lower(): v for k, v in self.headers.items()}, body)
            time.sleep(receiver.delay_s)
            payload = b"ok" if status < 300 else b"receiver says no"
            self.send_response(status)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    receiver.url = f"http://127.0.0.1:{server.server_address[1]}{path}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
