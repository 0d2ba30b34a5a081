"""Download links: a short-lived signed token naming who asked, the export's scope and its format.

A JWT (pyjwt, HS256, the algorithm pinned on decode) signed with a key derived from the server secret, so every
replica sharing BENCHLAB_SECRET_KEY accepts the links of the others. The token is the link's only credential (a
plain `curl URL` downloads it), so it is short-lived and bound to one principal: the server re-checks that
principal's access when the download starts (a revoked key or membership is refused though the token is valid).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import jwt

from benchlab.errors import UnauthenticatedError
from benchlab.exports.scope import ExportScope
from benchlab.secrets import SecretBox

ALGORITHM = "HS256"
AUDIENCE = "benchlab-export"
KEY_LABEL = "benchlab export download link v1"
TTL_S = 600
PATH = "/exports"


class InvalidDownloadToken(UnauthenticatedError):
    """Expired, tampered with, or not a download link of this server; the message is safe to show."""


@dataclass(frozen=True)
class Principal:
    """Who asked for the link: a user, or an API key (with the project and role it opens)."""

    user_id: UUID | None = None
    key_id: UUID | None = None
    key_project_id: UUID | None = None
    key_role: str | None = None


@dataclass(frozen=True)
class DownloadGrant:
    principal: Principal
    scope: ExportScope
    expires_at: datetime


def issue(secrets: SecretBox, principal: Principal, scope: ExportScope, *, ttl_s: int = TTL_S,
          now: datetime | None = None) -> tuple[str, datetime]:
    """A token for `scope` on behalf of `principal`, and when it expires."""
    issued = now or datetime.now(UTC)
    expires = issued + timedelta(seconds=ttl_s)
    claims: dict[str, Any] = {
        "aud": AUDIENCE, "iat": issued, "exp": expires, "jti": uuid.uuid4().hex, "scope": scope.claims(),
        "who": {"u": principal.user_id and str(principal.user_id), "k": principal.key_id and str(principal.key_id),
                "kp": principal.key_project_id and str(principal.key_project_id), "kr": principal.key_role}}
    return jwt.encode(claims, secrets.derive(KEY_LABEL), algorithm=ALGORITHM), expires


def verify(secrets: SecretBox, token: str) -> DownloadGrant:
    try:
        claims = jwt.decode(token, secrets.derive(KEY_LABEL), algorithms=[ALGORITHM], audience=AUDIENCE,
                            options={"require": ["exp", "iat", "aud", "who", "scope"]})
    except jwt.ExpiredSignatureError:
        raise InvalidDownloadToken("the download link has expired; ask for a new one (createExport, or run "
                                   "`benchlab export` again)") from None
    except jwt.InvalidTokenError:
        raise InvalidDownloadToken("the download link is not valid (altered, cut short, or from another "
                                   "server); ask for a new one with createExport") from None
    try:
        sub = claims["who"]

        def as_uuid(text: str | None) -> UUID | None:
            return None if text is None else UUID(text)

        principal = Principal(as_uuid(sub["u"]), as_uuid(sub["k"]), as_uuid(sub["kp"]), sub["kr"])
        return DownloadGrant(principal, ExportScope.from_claims(claims["scope"]),
                             datetime.fromtimestamp(claims["exp"], UTC))
    except (KeyError, TypeError, ValueError):
        raise InvalidDownloadToken("the download link is not valid; ask for a new one with createExport") from None
