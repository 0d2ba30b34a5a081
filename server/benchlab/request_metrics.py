"""ASGI middleware: every HTTP request into `benchlab_http_request_duration_seconds`, WebSockets into a gauge.

Outermost in the app, so the time covers every other middleware and the whole response (the last body chunk
included), as the access log's does (request_log.py). The route label is the template of the route that
served the request (`/ingest/v{version:int}/events`, never the path with its values): Starlette's router
records the matched route in the scope, which this middleware reads once the app returned. Mounts in the app
have fixed prefixes (`/auth`), which are put in front of the inner route's template. A path no route serves
is `unmatched`, so probes of random URLs add no series.
"""

from __future__ import annotations

import time

from starlette.routing import Mount
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from benchlab.telemetry import HTTP_REQUEST_DURATION, WEBSOCKET_CONNECTIONS, method_label, status_class

UNMATCHED = "unmatched"


class RequestMetricsMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            await self._websocket(scope, receive, send)
            return
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        root_path = scope.get("root_path", "")
        status = 0

        async def send_noting_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_noting_status)
        finally:
            HTTP_REQUEST_DURATION.labels(method_label(scope.get("method", "")), route_template(scope, root_path),
                                         status_class(status)).observe(time.perf_counter() - started)

    async def _websocket(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Count the connection from its acceptance until the app is done with it."""
        accepted = False

        async def send_noting_accept(message: Message) -> None:
            nonlocal accepted
            if message["type"] == "websocket.accept" and not accepted:
                accepted = True
                WEBSOCKET_CONNECTIONS.inc()
            await send(message)

        try:
            await self.app(scope, receive, send_noting_accept)
        finally:
            if accepted:
                WEBSOCKET_CONNECTIONS.dec()


def route_template(scope: Scope, root_path: str) -> str:
    """The served route's path template, behind the prefixes of the mounts passed on the way."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    if not isinstance(path, str) or isinstance(route, Mount):  # a mount none of whose routes matched
        return UNMATCHED
    mounted = str(scope.get("root_path", ""))[len(root_path):]
    return mounted + path
