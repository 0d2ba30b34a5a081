"""`GET /metrics` on the main port, who may read it, and the separate metrics listener.

Who may scrape (docs/operations.md):
- `BENCHLAB_METRICS_PORT` set: metrics are served by a listener of their own on `BENCHLAB_METRICS_HOST`
  (default 127.0.0.1), and `/metrics` on the main port answers 404;
- else `BENCHLAB_METRICS_TOKEN` set: `/metrics` needs `Authorization: Bearer <token>` (compared in constant
  time), 401 without it or with another;
- else only a server listening on loopback serves it (as local mode: only this machine reaches it); one
  listening further answers 404 naming the two settings, since its figures are no one else's business.

The separate listener is prometheus-client's own `start_http_server` (a small threaded HTTP server), chosen
over a second uvicorn server on the event loop because: `benchlab worker` has no web server, and one
listener for both is simpler; a scrape is answered from its thread even while the event loop is busy (a
run measuring latency, or a stall one wants to see); it brings no second set of signal handlers into
`serve`'s careful shutdown; and the library handles OpenMetrics negotiation and gzip. It checks no token
(hence the token and the port are exclusive settings): bind it where only the scraper reaches it.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import threading
from wsgiref.simple_server import WSGIServer

from prometheus_client import start_http_server
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from benchlab.config import Settings, is_loopback_host
from benchlab.errors import BenchlabError
from benchlab.telemetry import REGISTRY, exposition

log = logging.getLogger(__name__)

METRICS_PATH = "/metrics"


def metrics_route(settings: Settings) -> Route:
    async def metrics(request: Request) -> Response:
        refusal = refusal_for(settings, request.headers.get("authorization"))
        if refusal is not None:
            return refusal
        # In a worker thread: the collectors read snapshots only, and rendering leaves the event loop alone.
        body, headers = await asyncio.to_thread(exposition, request.headers.get("accept"),
                                                request.headers.get("accept-encoding"))
        return Response(body, headers={**headers, "Cache-Control": "no-store"})

    return Route(METRICS_PATH, metrics, methods=["GET"])


def refusal_for(settings: Settings, authorization: str | None) -> Response | None:
    """The answer refusing this scrape, or None when it may have the metrics."""
    if settings.metrics_port is not None:
        return JSONResponse({"error": "metrics are served on the separate metrics listener "
                                      "(BENCHLAB_METRICS_PORT), not on this port"}, status_code=404)
    if settings.metrics_token is not None:
        scheme, _, credential = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(credential.strip().encode(),
                                                                 settings.metrics_token.encode()):
            problem = "a wrong metrics token" if authorization else "no metrics token"
            return JSONResponse({"error": f"/metrics: {problem}; send `Authorization: Bearer "
                                          "<BENCHLAB_METRICS_TOKEN>`"}, status_code=401,
                                headers={"WWW-Authenticate": 'Bearer realm="metrics"'})
        return None
    if not is_loopback_host(settings.host):
        return JSONResponse({"error": f"/metrics is off: this server listens on {settings.host}, beyond this "
                                      "machine; set BENCHLAB_METRICS_TOKEN (scrapers send it as a bearer token) or "
                                      "BENCHLAB_METRICS_PORT (a separate listener) to serve it"}, status_code=404)
    return None


class MetricsListener:
    """prometheus-client's threaded HTTP server on BENCHLAB_METRICS_HOST:BENCHLAB_METRICS_PORT."""

    def __init__(self, server: WSGIServer, thread: threading.Thread) -> None:
        self._server = server
        self._thread = thread

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @classmethod
    def start(cls, settings: Settings) -> MetricsListener | None:
        """Bind and serve, or None without BENCHLAB_METRICS_PORT; a port in use is one clear line."""
        if settings.metrics_port is None:
            return None
        host = settings.metrics_host.strip("[]")
        try:
            server, thread = start_http_server(settings.metrics_port, addr=host, registry=REGISTRY)
        except OSError as exc:
            raise BenchlabError(f"cannot serve metrics on {settings.metrics_host} port {settings.metrics_port}: "
                                f"{exc.strerror or exc}; choose another BENCHLAB_METRICS_PORT (each process needs "
                                "its own) or BENCHLAB_METRICS_HOST") from None
        log.info("metrics: http://%s:%d%s (Prometheus)", settings.metrics_host, settings.metrics_port, METRICS_PATH)
        return cls(server, thread)

    def stop(self) -> None:
        """Stop serving and close the socket (waits for the serving loop's poll, at most half a second)."""
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
