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
    flags = {"httponly": True, "secure": settings.cookie_secure, "samesite": settings.cookie_samesite}
    response.set_cookie(ACCESS_COOKIE, access_token, max_age=settings.access_token_ttl_s, path=ACCESS_PATH,
                        **flags)
    response.set_cookie(REFRESH_COOKIE, refresh_token, max_age=settings.refresh_token_ttl_s, path=REFRESH_PATH,
                        **flags)


def clear_session_cookies(response: Response, settings: Settings) -> None:
    flags = {"httponly": True, "secure": settings.cookie_secure, "samesite": settings.cookie_samesite}
    response.delete_cookie(ACCESS_COOKIE, path=ACCESS_PATH, **flags)
    response.delete_cookie(REFRESH_COOKIE, path=REFRESH_PATH, **flags)
