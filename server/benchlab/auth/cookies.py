"""The two session cookies, set and cleared in one place so their flags always agree.

Both are HttpOnly (no script can read them), Secure and SameSite per BENCHLAB_COOKIE_SECURE/_SAMESITE.
The access cookie goes to every path; the refresh cookie only to /auth (refresh and logout), so the
long-lived credential is never sent with ordinary API traffic.
"""

from __future__ import annotations

from starlette.responses import Response

from benchlab.config import Settings

ACCESS_COOKIE = "benchlab_access"
REFRESH_COOKIE = "benchlab_refresh"
ACCESS_PATH = "/"
REFRESH_PATH = "/auth"


def set_session_cookies(response: Response, settings: Settings, access_token: str, refresh_token: str) -> None:
    for name, value, max_age, path in ((ACCESS_COOKIE, access_token, settings.access_token_ttl_s, ACCESS_PATH),
                                       (REFRESH_COOKIE, refresh_token, settings.refresh_token_ttl_s, REFRESH_PATH)):
        response.set_cookie(name, value, max_age=max_age, path=path, httponly=True, secure=settings.cookie_secure,
                            samesite=settings.cookie_samesite)


def clear_session_cookies(response: Response, settings: Settings) -> None:
    for name, path in ((ACCESS_COOKIE, ACCESS_PATH), (REFRESH_COOKIE, REFRESH_PATH)):
        response.delete_cookie(name, path=path, httponly=True, secure=settings.cookie_secure,
                               samesite=settings.cookie_samesite)
