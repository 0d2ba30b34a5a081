"""Who a verified ID token is: find or create the user behind an (issuer, subject) pair.

Accounts are matched by (issuer, subject), never by email, because an email address can be reassigned or
be claimed, unverified, at a permissive provider. An email is used to link a new identity to an existing
user (e.g. one an admin added, or the same person at a second provider) only when the provider does not
say it is unverified (`email_verified: false` is refused everywhere, since the email also decides the
domain allow-list). The first user ever (not counting local mode's admin) becomes instance admin; two
first sign-ins at once are serialised by an advisory lock so there is exactly one. Email and display name
follow the provider on every sign-in.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from benchlab.stores import users
from benchlab.stores.postgres import PgConnection

log = logging.getLogger(__name__)

LOCAL_ADMIN_EMAIL = "local-admin@localhost"


class SignInRefused(Exception):
    """Sign-in is not allowed; `code` is the short reason shown on the login page, the message is for the log."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(detail)
        self.code = code


@dataclass(frozen=True)
class SignedInUser:
    user_id: UUID
    email: str
    is_instance_admin: bool
    created: bool


@dataclass(frozen=True)
class ProviderIdentity:
    provider: str
    issuer: str
    subject: str
    email: str
    display_name: str

    @classmethod
    def from_claims(cls, provider: str, issuer: str, claims: Mapping[str, Any],
                    allowed_domains: tuple[str, ...]) -> ProviderIdentity:
        """Checks the claims a user record needs (email, domain, verification) and extracts them."""
        email = claims.get("email")
        if not isinstance(email, str) or "@" not in email.strip():
            raise SignInRefused("email_missing", "the provider sent no email claim (ask for the 'email' scope)")
        email = email.strip()
        if claims.get("email_verified") is False:
            raise SignInRefused("email_not_verified", "the provider says the email address is not verified")
        domain = email.rsplit("@", 1)[1].lower()
        if allowed_domains and domain not in allowed_domains:
            raise SignInRefused("email_domain_not_allowed", f"email domain '{domain}' is not in "
                                "BENCHLAB_ALLOWED_EMAIL_DOMAINS")
        name = next((claims[k] for k in ("name", "preferred_username") if isinstance(claims.get(k), str)
                     and claims[k].strip()), email.split("@", 1)[0])
        return cls(provider, issuer, str(claims["sub"]), email, name.strip()[:200])


async def sign_in(conn: PgConnection, identity: ProviderIdentity) -> SignedInUser:
    """Find or create the user (call inside a transaction); raises SignInRefused for disabled users."""
    row = await users.find_by_identity_for_update(conn, identity.issuer, identity.subject)
    created = False
    if row is None:
        await users.lock_sign_ups(conn)
        row = await users.find_by_email(conn, identity.email)
        if row is None:
            first = not await users.any_user_except(conn, LOCAL_ADMIN_EMAIL)
            row = await users.create_user(conn, identity.email, identity.display_name, first)
            created = True
        await users.add_identity(conn, row["id"], identity.provider, identity.issuer, identity.subject,
                                 identity.email)
    if row["disabled_at"] is not None:
        raise SignInRefused("user_disabled", f"user {row['id']} is disabled")
    email = row["email"] if created else await _follow_provider(conn, row["id"], row["email"], identity)
    return SignedInUser(row["id"], email, row["is_instance_admin"], created)


async def _follow_provider(conn: PgConnection, user_id: UUID, email: str, identity: ProviderIdentity) -> str:
    """Bring the stored email and display name up to date; returns the email the user now has."""
    await users.record_identity_sign_in(conn, identity.issuer, identity.subject, identity.provider, identity.email)
    await users.set_display_name(conn, user_id, identity.display_name)
    if email == identity.email:
        return email
    if not await users.change_email_if_free(conn, user_id, identity.email):
        log.warning("user %s changed email at the provider to one another user has; kept the old one", user_id)
        return email
    return identity.email
