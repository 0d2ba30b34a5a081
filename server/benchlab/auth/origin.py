"""Cross-site request protection for requests that a browser authenticates with our cookies.

A cookie is sent by the browser whoever made the page, so a state-changing request (POST /graphql, POST
/auth/*) that carries a benchlab cookie must come from our own origin: its `Origin` header (or, when a
browser omitted it, the origin of its `Referer`) must equal BENCHLAB_PUBLIC_URL's origin. For local
development, a loopback `Host` (localhost:8000 vs 127.0.0.1:8000) also counts as our origin: a page on
another site cannot make a browser send a loopback Host with its own Origin. Requests with no benchlab
cookie (API keys in `Authorization: Bearer`, scripts) are not subject to this: a browser never adds that
header on its own. SameSite cookies are the first line of defence; this check is the second.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from urllib.parse import urlsplit

from starlette.requests import HTTPConnection, cookie_parser
from starlette.types import ASGIApp, Receive, Scope, Send

from benchlab.config import Settings, is_loopback_host

COOKIE_PREFIX = "benchlab_"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_DEFAULT_PORTS = {"http": 80, "https": 443}


def _origin_of(url: str) -> str | None:
    """`scheme://host[:port]` normalised (lower case, default port dropped), or None if not a web URL."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in _DEFAULT_PORTS or not parts.hostname:
        return None
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    if port is not None and port != _DEFAULT_PORTS[parts.scheme]:
        host = f"{host}:{port}"
    return f"{parts.scheme}://{host.lower()}"


def _headers(scope: Scope) -> dict[str, str]:
    """Lower-cased header names; the first value wins, except Cookie whose values are joined."""
    found: dict[str, str] = {}
    for raw_name, raw_value in scope.get("headers", []):
        name, value = raw_name.decode("latin-1").lower(), raw_value.decode("latin-1")
        if name == "cookie" and name in found:
            found[name] = f"{found[name]}; {value}"
        else:
            found.setdefault(name, value)
    return found


def _has_our_cookie(cookie_header: str) -> bool:
    """Parsed with Starlette's own (lenient) parser, so we see exactly the cookies the endpoints will see."""
    return COOKIE_PREFIX in cookie_header and any(
        name.startswith(COOKIE_PREFIX) for name in cookie_parser(cookie_header))


def is_protected(method: str, path: str) -> bool:
    """The requests this check guards: state-changing methods on the GraphQL endpoint and under /auth/."""
    return method.upper() not in SAFE_METHODS and (path == "/graphql" or path.startswith("/auth/"))


def check_origin(request_or_scope: HTTPConnection | Scope, settings: Settings) -> str | None:
    """None if the request may proceed, else why it is refused (safe to show; names no secret).

    Only judges the request in front of it: callers decide which requests to check (see `is_protected`).
    """
    scope = request_or_scope.scope if isinstance(request_or_scope, HTTPConnection) else request_or_scope
    headers = _headers(scope)
    if not _has_our_cookie(headers.get("cookie", "")):
        return None
    claimed = headers.get("origin")
    source = "Origin"
    if claimed is None or claimed == "null":
        if claimed == "null":
            return "the request's Origin is 'null' (a sandboxed or privacy-restricted page)"
        claimed, source = headers.get("referer"), "Referer"
        if claimed is None:
            return ("a request authenticated by a session cookie must carry an Origin or Referer header "
                    f"naming {settings.public_url}")
    if is_our_origin(claimed, settings, headers.get("host")):
        return None
    return f"its {source} is not {settings.public_url}"


def is_our_origin(origin: str, settings: Settings, host_header: str | None) -> bool:
    """`origin` (an Origin header) is this server's: BENCHLAB_PUBLIC_URL's, or a loopback Host's own."""
    normalised = _origin_of(origin)
    return normalised is not None and normalised in _allowed_origins(settings, host_header)


def _allowed_origins(settings: Settings, host_header: str | None) -> Iterable[str]:
    candidates = [_origin_of(settings.public_url)]
    if host_header:
        hostname = host_header.rsplit(":", 1)[0] if not host_header.endswith("]") else host_header
        if is_loopback_host(hostname.strip("[]")):
            scheme = urlsplit(settings.public_url).scheme
            candidates.append(_origin_of(f"{scheme}://{host_header}"))
    return {origin for origin in candidates if origin is not None}


class OriginCheckMiddleware:
    """Refuses cross-site cookie-authenticated POSTs to /graphql and /auth/* with a GraphQL-shaped 403."""

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.settings = settings

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and is_protected(scope.get("method", "GET"), scope.get("path", "")):
            reason = check_origin(scope, self.settings)
            if reason is not None:
                await _forbidden(send, f"cross-site request refused: {reason}")
                return
        await self.app(scope, receive, send)


async def _forbidden(send: Send, message: str) -> None:
    body = json.dumps({"errors": [{"message": message, "extensions": {"code": "FORBIDDEN"}}]}).encode()
    await send({"type": "http.response.start", "status": 403,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            (b"cache-control", b"no-store")]})
    await send({"type": "http.response.body", "body": body})
