"""Session endpoints: POST /auth/refresh, POST /auth/logout, and GET /auth/local (local mode's link).

Refresh rotates the refresh token and re-issues both cookies; a refused refresh clears them, and a reused
or revoked token revokes its whole session and is audited (someone else holds a copy). GET /auth/login
renews a session the same way (`rotate`) when the browser still holds a valid refresh cookie. Logout
revokes the session (found from the refresh cookie, else from the access token, even an expired one) and
clears the cookies. Cross-site callers never get here: OriginCheckMiddleware guards cookie-carrying POSTs.
"""

from __future__ import annotations

import logging

from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response

from benchlab.auth import local_mode, refresh_tokens
from benchlab.auth.audit import record
from benchlab.auth.cookies import ACCESS_COOKIE, REFRESH_COOKIE, clear_session_cookies
from benchlab.auth.redirects import DEFAULT_RETURN_TO
from benchlab.auth.sessions import issue_session, refresh_session, session_of
from benchlab.auth.web import (
    NO_STORE,
    client_address,
    fail,
    json_error,
    log,
    rate_limited,
    request_id,
    runtime_of,
    too_many_json,
    too_many_page,
)
from benchlab.stores import refresh_tokens as token_store

REFUSALS = {
    "unknown": "the refresh token is not known; sign in again",
    "expired": "the session has expired; sign in again",
    "reused": "this refresh token was already used, so the session was ended for safety; sign in again",
    "revoked": "this session was ended; sign in again",
    "user_disabled": "this account is disabled",
}


async def refresh(request: Request) -> Response:
    runtime = runtime_of(request)
    wait = await rate_limited(request, "refresh")
    if wait is not None:
        return too_many_json(wait)
    if not request.cookies.get(REFRESH_COOKIE):
        response = json_error("no refresh token (cookie benchlab_refresh); sign in again", "UNAUTHENTICATED", 401)
        clear_session_cookies(response, runtime.settings)
        return response
    response = JSONResponse({"refreshed": True, "expiresInS": runtime.settings.access_token_ttl_s},
                            headers=NO_STORE)
    rotation = await rotate(request, response)
    if rotation.refused is None:
        return response
    refused = json_error(REFUSALS[rotation.refused], "UNAUTHENTICATED", 401)
    clear_session_cookies(refused, runtime.settings)
    return refused


async def rotate(request: Request, response: Response) -> refresh_tokens.Rotation:
    """Rotate the request's refresh cookie, setting fresh session cookies on `response` when that works.

    Refusals that mean a stolen or ended session are audited, and every refusal is logged (never the token).
    Used by POST /auth/refresh and by GET /auth/login, which renews a session instead of asking to sign in.
    """
    runtime = runtime_of(request)
    async with runtime.pg.acquire() as conn:
        rotation = await refresh_session(runtime, conn, request.cookies.get(REFRESH_COOKIE, ""), response)
        if rotation.refused in ("reused", "revoked", "user_disabled"):
            await record(conn, actor=rotation.email or "unknown", action="auth.refresh_refused",
                         target=f"session:{rotation.family_id}", address=client_address(request),
                         reason=rotation.refused, family_revoked=rotation.family_revoked)
    if rotation.refused is not None:
        log.warning("refresh refused (%s)", rotation.refused,
                    extra={"request_id": request_id(request), "session_id": str(rotation.family_id or "")})
    return rotation


async def logout(request: Request) -> Response:
    runtime = runtime_of(request)
    refresh_token = request.cookies.get(REFRESH_COOKIE)
    access_token = request.cookies.get(ACCESS_COOKIE)
    async with runtime.pg.acquire() as conn:
        family = await refresh_tokens.family_of(conn, refresh_token) if refresh_token else None
        if family is None and access_token:
            claims = session_of(runtime, access_token)
            family = claims.session_id if claims else None
        if family is not None:
            revoked = await token_store.revoke_family(conn, family)
            email = await token_store.family_user_email(conn, family)
            await record(conn, actor=email or "unknown", action="auth.sign_out", target=f"session:{family}",
                         address=client_address(request), revoked_tokens=revoked)
    response = JSONResponse({"signedOut": True}, headers=NO_STORE)
    clear_session_cookies(response, runtime.settings)
    return response


async def local_link(request: Request) -> Response:
    """Local mode's one-time link: signs in the local admin once, then refuses (login?error=link_used)."""
    runtime = runtime_of(request)
    wait = await rate_limited(request, "local")
    if wait is not None:
        return too_many_page(request, wait)
    if not runtime.settings.local_mode:
        return fail(request, "link_invalid", "login links work only in local mode (no identity provider)")
    response = RedirectResponse(DEFAULT_RETURN_TO, status_code=303, headers=NO_STORE)
    async with runtime.pg.acquire() as conn, conn.transaction():
        use = await local_mode.consume_link(conn, request.query_params.get("token", ""))
        if use.refused is None:
            assert use.user_id is not None
            await record(conn, actor=use.email, action="auth.sign_in", target=f"user:{use.user_id}",
                         address=client_address(request), provider="local-link")
            await issue_session(runtime, conn, use.user_id, response)
    if use.refused is not None:
        return fail(request, use.refused, "local sign-in link refused", level=logging.INFO)
    return response
