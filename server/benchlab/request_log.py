"""ASGI middleware: a request id on every request and one access-log line per request.

The id comes from a well-formed incoming `X-Request-ID` or is generated; it is returned in the response
header, stored in `scope["state"]["request_id"]` for error messages, and logged. Only the path is logged,
never the query string or headers, which may carry tokens.
"""

from __future__ import annotations

import logging
import re
import time
import uuid

from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger("benchlab.http")
_VALID_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


class RequestLogMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        request_id = _incoming_id(scope) or uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id
        started = time.perf_counter()
        status = 0

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] in ("http.response.start", "websocket.accept"):
                status = message.get("status", 101)
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-request-id", request_id.encode())]
            elif message["type"] == "websocket.close" and not status:
                status = 403
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception:
            status = 500
            raise
        finally:
            method = scope.get("method", "WS")
            duration_ms = round((time.perf_counter() - started) * 1000, 2)
            path = _logged_path(scope["path"])
            log.info("%s %s %s %.2fms", method, path, status, duration_ms,
                     extra={"request_id": request_id, "method": method, "path": path,
                            "status": status, "duration_ms": duration_ms})


def _logged_path(path: str) -> str:
    """The path as logged: a download link's token (`/exports/<token>`, api/downloads.py) is a credential."""
    return "/exports/***" if path.startswith("/exports/") else path


def _incoming_id(scope: Scope) -> str | None:
    for name, value in scope.get("headers", []):
        if name == b"x-request-id":
            text = value.decode("latin-1")
            return text if _VALID_ID.match(text) else None
    return None
