"""Small shared pieces of the /auth endpoints: failure redirects, rate limiting, error bodies, client address.

Failures a browser meets (sign-in, links) redirect to the login page with a short code; the details go to
the log with the request id, never a token, code or cookie. Failures a script meets (refresh, logout) are
JSON in the same shape as GraphQL errors.
"""

from __future__ import annotations

import logging

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from benchlab.auth.login_page import SECURITY_HEADERS, render_login_page
from benchlab.auth.rate_limit import retry_after_header
from benchlab.auth.services import auth_of
from benchlab.runtime import Runtime

log = logging.getLogger("benchlab.auth")

LOGIN_PATH = "/auth/login"
RATE_WINDOW_S = 60.0
NO_STORE = {"Cache-Control": "no-store"}


def runtime_of(request: Request) -> Runtime:
    return request.app.state.runtime


def request_id(request: Request) -> str:
    return request.scope.get("state", {}).get("request_id", "")


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def fail(request: Request, code: str, detail: str, *, level: int = logging.WARNING) -> RedirectResponse:
    """Log why (with the request id) and send the browser to the login page with a short code."""
    log.log(level, "sign-in failed (%s): %s", code, detail,
            extra={"request_id": request_id(request), "path": request.url.path})
    return RedirectResponse(f"{LOGIN_PATH}?error={code}", status_code=303, headers=NO_STORE)


async def rate_limited(request: Request, bucket: str) -> float | None:
    """Count this request against its client address in `bucket` (BENCHLAB_AUTH_RATE_LIMIT per minute)."""
    return await auth_of(request).limiter.hit(f"auth:{bucket}:{client_address(request)}",
                                              runtime_of(request).settings.auth_rate_limit, RATE_WINDOW_S)


def too_many_page(request: Request, wait_s: float) -> HTMLResponse:
    log.warning("sign-in rate limit hit", extra={"request_id": request_id(request), "path": request.url.path})
    html = render_login_page(runtime_of(request).settings.oidc_providers, "rate_limited", None)
    return HTMLResponse(html, status_code=429, headers={**SECURITY_HEADERS, "Retry-After": retry_after_header(wait_s)})


def json_error(message: str, code: str, status: int, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"errors": [{"message": message, "extensions": {"code": code}}]}, status_code=status,
                        headers={**NO_STORE, **(headers or {})})


def too_many_json(wait_s: float) -> Response:
    return json_error("too many requests from your address; retry later", "RATE_LIMITED", 429,
                      {"Retry-After": retry_after_header(wait_s)})
