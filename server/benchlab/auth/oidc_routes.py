"""Sign-in with OpenID Connect: the login page, the redirect to the provider, and the callback.

GET /auth/login lists the providers (or renews a session whose refresh cookie is still valid, see
`login_page`). GET /auth/login/{provider}?return_to=/path stores state, nonce, PKCE verifier and the
(sanitised) return path in the sign-in cookie and redirects to the provider. GET /auth/callback/{provider}
checks the state against that cookie (then forgets it: a callback works once), exchanges the code with the
verifier, verifies the ID token, finds or creates the user, audits the sign-in, starts a session and
redirects to return_to.
"""

from __future__ import annotations

import logging
from typing import Any

from authlib.integrations.base_client import OAuthError
from authlib.integrations.starlette_client import StarletteOAuth2App
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from benchlab.auth import accounts
from benchlab.auth.audit import record
from benchlab.auth.cookies import REFRESH_COOKIE, clear_session_cookies
from benchlab.auth.id_tokens import IdTokenInvalid
from benchlab.auth.login_page import SECURITY_HEADERS, render_login_page
from benchlab.auth.providers import ProviderUnavailable
from benchlab.auth.redirects import safe_return_to
from benchlab.auth.services import auth_of
from benchlab.auth.session_routes import rotate
from benchlab.auth.sessions import issue_session
from benchlab.auth.web import NO_STORE, client_address, fail, rate_limited, request_id, runtime_of, too_many_page

log = logging.getLogger("benchlab.auth")


async def login_page(request: Request) -> Response:
    """The provider list; or, for a browser whose refresh cookie is still good, a renewed session and a
    redirect to `return_to` (so a page whose access cookie expired gets back in without a sign-in)."""
    settings = runtime_of(request).settings
    return_to = request.query_params.get("return_to")
    error = request.query_params.get("error")
    refused = False
    if request.cookies.get(REFRESH_COOKIE) and not error and await rate_limited(request, "refresh") is None:
        renewed = RedirectResponse(safe_return_to(return_to), status_code=303, headers=NO_STORE)
        if (await rotate(request, renewed)).refused is None:
            return renewed
        refused = True
    html = render_login_page(settings.oidc_providers, error, safe_return_to(return_to) if return_to else None)
    response = HTMLResponse(html, headers=SECURITY_HEADERS)
    if refused:
        clear_session_cookies(response, settings)  # so the next visit does not present it again
    return response


async def login_start(request: Request) -> Response:
    runtime = runtime_of(request)
    name = request.path_params["provider"]
    providers = auth_of(request).providers
    if providers.config(name) is None:
        return fail(request, "unknown_provider", "no provider by that name is configured", level=logging.INFO)
    wait = await rate_limited(request, "login")
    if wait is not None:
        return too_many_page(request, wait)
    client = providers.client(name)
    redirect_uri = f"{runtime.settings.public_url}/auth/callback/{name}"
    try:
        await providers.metadata(name)
        authorization = await client.create_authorization_url(redirect_uri)
    except ProviderUnavailable as exc:
        return fail(request, "provider_unavailable", f"{name}: {exc}", level=logging.ERROR)
    url = authorization.pop("url")
    await client.save_authorize_data(request, redirect_uri=redirect_uri,
                                     return_to=safe_return_to(request.query_params.get("return_to")),
                                     **authorization)
    return RedirectResponse(url, status_code=302, headers=NO_STORE)


async def callback(request: Request) -> Response:
    name = request.path_params["provider"]
    providers = auth_of(request).providers
    config = providers.config(name)
    if config is None:
        return fail(request, "unknown_provider", "callback for a provider that is not configured")
    wait = await rate_limited(request, "callback")
    if wait is not None:
        return too_many_page(request, wait)
    client = providers.client(name)
    state = request.query_params.get("state")
    stored = await client.framework.get_state_data(request.session, state) if state else None
    if state:
        await client.framework.clear_state_data(request.session, state)  # one use, whatever happens next
    if error := request.query_params.get("error"):
        code = "access_denied" if error == "access_denied" else "provider_error"
        return fail(request, code, f"{name} returned error={error[:100]!r}")
    if not stored:
        return fail(request, "state_mismatch", f"{name}: no sign-in in flight for this state in this browser")
    if not request.query_params.get("code"):
        return fail(request, "provider_error", f"{name}: the callback carries no code")
    try:
        token = await client.fetch_access_token(redirect_uri=stored["redirect_uri"],
                                                code=request.query_params["code"],
                                                code_verifier=stored.get("code_verifier"))
    except OAuthError as exc:
        return fail(request, "provider_error", f"{name}: code exchange refused: {exc.error}")
    except Exception as exc:  # network errors, bad JSON: the provider is not usable right now
        return fail(request, "provider_unavailable", f"{name}: code exchange failed: {type(exc).__name__}",
                    level=logging.ERROR)
    id_token = token.get("id_token")
    if not isinstance(id_token, str):
        return fail(request, "id_token_invalid", f"{name}: the token response has no ID token")
    try:
        claims = await providers.verify(name, id_token, nonce=stored.get("nonce", ""),
                                        access_token=token.get("access_token"))
    except IdTokenInvalid as exc:
        return fail(request, "id_token_invalid", f"{name}: {exc}")
    except ProviderUnavailable as exc:
        return fail(request, "provider_unavailable", f"{name}: {exc}", level=logging.ERROR)
    claims = await _with_userinfo(client, token, claims)
    return await _sign_in(request, name, config.issuer, claims, safe_return_to(stored.get("return_to")))


async def _with_userinfo(client: StarletteOAuth2App, token: dict[str, Any], claims: dict[str, Any]) -> dict[str, Any]:
    """Providers that keep the email out of the ID token serve it at the userinfo endpoint."""
    if "email" in claims:
        return claims
    try:
        info = await client.userinfo(token=token)
    except Exception:  # no userinfo endpoint, or it failed: sign-in reports the missing email
        return claims
    if info.get("sub") != claims.get("sub"):  # OIDC Core 5.3.2: must match, else ignore the response
        return claims
    extra = {k: info[k] for k in ("email", "email_verified", "name", "preferred_username") if k in info}
    return {**extra, **claims}


async def _sign_in(request: Request, provider: str, issuer: str, claims: dict[str, Any], return_to: str) -> Response:
    runtime = runtime_of(request)
    address = client_address(request)
    response = RedirectResponse(return_to, status_code=303, headers=NO_STORE)
    try:
        identity = accounts.ProviderIdentity.from_claims(provider, issuer, claims,
                                                         runtime.settings.allowed_email_domains)
        async with runtime.pg.acquire() as conn, conn.transaction():
            user = await accounts.sign_in(conn, identity)
            await record(conn, actor=user.email, action="auth.sign_in", target=f"user:{user.user_id}",
                         address=address, provider=provider, new_user=user.created or None)
            await issue_session(runtime, conn, user.user_id, response)
    except accounts.SignInRefused as exc:
        email = claims.get("email") if isinstance(claims.get("email"), str) else ""
        async with runtime.pg.acquire() as conn:
            await record(conn, actor=email or f"{provider}:{claims.get('sub')}", action="auth.sign_in_refused",
                         address=address, provider=provider, reason=exc.code)
        return fail(request, exc.code, f"{provider}: {exc}")
    log.info("signed in via %s", provider, extra={"request_id": request_id(request), "user_id": str(user.user_id)})
    return response
