"""The cookie that carries a sign-in in flight (state, nonce, PKCE verifier, return_to) from /auth/login/x
to /auth/callback/x: Starlette's SessionMiddleware, signed with a key derived from the server secret.

Built on the first request, because the key comes from the runtime (which the app's lifespan may open).
It is scoped to /auth, lives 15 minutes, and is always SameSite=Lax whatever BENCHLAB_COOKIE_SAMESITE
says: the callback is a top-level navigation from the provider's site, which a Strict cookie would miss.
The state it holds is bound to this browser, which is what defeats login CSRF and callback replay.
"""

from __future__ import annotations

from starlette.middleware.sessions import SessionMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send

SIGNIN_COOKIE = "benchlab_signin"
SIGNIN_MAX_AGE_S = 15 * 60


class SignInCookieMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._session: SessionMiddleware | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self._session is None:
            auth = scope["app"].state.auth
            self._session = SessionMiddleware(
                self.app, secret_key=auth.signin_session_secret, session_cookie=SIGNIN_COOKIE,
                max_age=SIGNIN_MAX_AGE_S, path="/auth", same_site="lax", https_only=auth.runtime.settings.cookie_secure)
        await self._session(scope, receive, send)
