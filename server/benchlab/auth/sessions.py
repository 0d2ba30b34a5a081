"""Sessions: a short-lived access JWT plus a rotating opaque refresh token, both in HttpOnly cookies.

The access token is HS256 with a key derived from the server secret (so replicas sharing
BENCHLAB_SECRET_KEY accept each other's tokens); the algorithm list is pinned on decode, so `alg: none` or
a token signed with any other algorithm is refused. sub, sid, iat, exp, iss (BENCHLAB_PUBLIC_URL) and aud
("benchlab") are required and checked. Verifying it needs no database read, which is why it is short-lived;
`sid` is the refresh-token family, i.e. the session that logout revokes.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from uuid import UUID

import jwt
from starlette.responses import Response

from benchlab.auth import refresh_tokens
from benchlab.auth.cookies import ACCESS_COOKIE, REFRESH_COOKIE, set_session_cookies
from benchlab.errors import UnauthenticatedError
from benchlab.runtime import Runtime
from benchlab.stores.postgres import PgConnection

__all__ = ["ACCESS_COOKIE", "REFRESH_COOKIE", "AccessClaims", "InvalidAccessToken", "issue_access_token",
           "issue_session", "refresh_session", "session_of", "verify_access_token"]

ALGORITHM = "HS256"
AUDIENCE = "benchlab"
KEY_LABEL = "benchlab session access token v1"
REQUIRED_CLAIMS = ["sub", "sid", "iat", "exp", "iss", "aud"]


class InvalidAccessToken(UnauthenticatedError):
    """The token is missing, malformed, tampered with, expired or not ours; the message is safe to show."""


@dataclass(frozen=True)
class AccessClaims:
    user_id: UUID
    session_id: UUID
    expires_at: datetime


def _issuer(runtime: Runtime) -> str:
    return runtime.settings.public_url


def issue_access_token(runtime: Runtime, user_id: UUID, session_id: UUID | None = None,
                       ttl_s: int | None = None) -> str:
    now = datetime.now(UTC)
    ttl = ttl_s if ttl_s is not None else runtime.settings.access_token_ttl_s
    claims = {"sub": str(user_id), "sid": str(session_id or uuid.uuid4()), "iat": now,
              "exp": now + timedelta(seconds=ttl), "iss": _issuer(runtime), "aud": AUDIENCE,
              "jti": uuid.uuid4().hex}  # unique per token, so a refresh never re-issues an identical token
    return jwt.encode(claims, runtime.secrets.derive(KEY_LABEL), algorithm=ALGORITHM)


def verify_access_token(runtime: Runtime, token: str) -> AccessClaims:
    try:
        claims = jwt.decode(token, runtime.secrets.derive(KEY_LABEL), algorithms=[ALGORITHM], audience=AUDIENCE,
                            issuer=_issuer(runtime), options={"require": REQUIRED_CLAIMS})
        return AccessClaims(UUID(claims["sub"]), UUID(claims["sid"]), datetime.fromtimestamp(claims["exp"], UTC))
    except jwt.ExpiredSignatureError:
        raise InvalidAccessToken("the session has expired") from None
    except (jwt.InvalidTokenError, ValueError, KeyError, TypeError):
        raise InvalidAccessToken("the session token is not valid") from None


def session_of(runtime: Runtime, token: str) -> AccessClaims | None:
    """The claims of one of our access tokens even if it has expired (to sign out an idle session), or None
    if the token is not ours (bad signature, issuer, audience...)."""
    try:
        claims = jwt.decode(token, runtime.secrets.derive(KEY_LABEL), algorithms=[ALGORITHM], audience=AUDIENCE,
                            issuer=_issuer(runtime), options={"require": REQUIRED_CLAIMS, "verify_exp": False})
        return AccessClaims(UUID(claims["sub"]), UUID(claims["sid"]), datetime.fromtimestamp(claims["exp"], UTC))
    except (jwt.InvalidTokenError, ValueError, KeyError, TypeError):
        return None


async def issue_session(runtime: Runtime, conn: PgConnection, user_id: UUID, response: Response) -> None:
    """Start a new session for `user_id` (a new refresh-token family) and set both cookies on `response`."""
    settings = runtime.settings
    session_id = uuid.uuid4()
    refresh = await refresh_tokens.create(conn, family_id=session_id, user_id=user_id,
                                          ttl_s=settings.refresh_token_ttl_s)
    _set(runtime, response, user_id, session_id, refresh)


async def refresh_session(runtime: Runtime, conn: PgConnection, refresh_token: str,
                          response: Response) -> refresh_tokens.Rotation:
    """Rotate `refresh_token`; on success set fresh cookies (same session id). The caller audits refusals."""
    rotation = await refresh_tokens.rotate(conn, refresh_token, runtime.settings.refresh_token_ttl_s)
    if rotation.refused is None:
        assert rotation.user_id is not None and rotation.family_id is not None
        _set(runtime, response, rotation.user_id, rotation.family_id, rotation.token)
    return rotation


def _set(runtime: Runtime, response: Response, user_id: UUID, session_id: UUID, refresh: str) -> None:
    set_session_cookies(response, runtime.settings, issue_access_token(runtime, user_id, session_id), refresh)
