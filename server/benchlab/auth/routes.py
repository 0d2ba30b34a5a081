"""Everything under /auth, mounted by `benchlab.app.create_app` (see README "Signing in").

The sign-in cookie middleware wraps only these routes: no other endpoint reads or writes that cookie.
"""

from __future__ import annotations

from starlette.middleware import Middleware
from starlette.routing import BaseRoute, Mount, Route

from benchlab.auth.oidc_routes import callback, login_page, login_start
from benchlab.auth.session_routes import local_link, logout, refresh
from benchlab.auth.signin_cookie import SignInCookieMiddleware


def auth_routes() -> list[BaseRoute]:
    return [Mount("/auth", routes=[
        Route("/login", login_page, methods=["GET"]),
        Route("/login/{provider}", login_start, methods=["GET"]),
        Route("/callback/{provider}", callback, methods=["GET"]),
        Route("/refresh", refresh, methods=["POST"]),
        Route("/logout", logout, methods=["POST"]),
        Route("/local", local_link, methods=["GET"]),
    ], middleware=[Middleware(SignInCookieMiddleware)])]
