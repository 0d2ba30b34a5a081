"""Local mode: no identity provider, loopback only, signed in through a one-time link (like Jupyter's token).

Without an IdP there is nobody to vouch for a caller, so the only safe audience is the person at this
machine: `benchlab serve` refuses any other listening address, and prints a link carrying a fresh random
token (stored hashed, valid 24 hours, usable once) that signs in the local admin user
`local-admin@localhost`. `benchlab login-link` makes another at any time (commands/login_link.py). Using a
link retires every other unused one, so of the links printed so far only one can ever be used; a new link
does not retire the older ones, so a link made while no server runs still works after the next start.
"""

from __future__ import annotations

import ipaddress
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from uuid import UUID

from benchlab.auth.accounts import LOCAL_ADMIN_EMAIL
from benchlab.auth.refresh_tokens import hash_token
from benchlab.config import Settings, is_loopback_host
from benchlab.errors import BenchlabError, ConfigError
from benchlab.stores import login_links, users
from benchlab.stores.postgres import PgConnection

LINK_TTL_S = 24 * 3600
LOCAL_ADMIN_NAME = "Local admin"
LOCAL_PATH = "/auth/local"


def check_listen_address(settings: Settings) -> None:
    """Refuse to serve without an identity provider on an address other machines can reach, and refuse an
    identity provider on a wildcard address without BENCHLAB_PUBLIC_URL (its redirect URI would name 0.0.0.0)."""
    if settings.local_mode and not is_loopback_host(settings.host):
        raise BenchlabError(f"refusing to listen on {settings.host} without an identity provider: configure "
                            "BENCHLAB_OIDC_PROVIDERS or listen on 127.0.0.1")
    if not settings.local_mode and settings.public_url_override is None and _is_wildcard(settings.host):
        raise ConfigError("BENCHLAB_PUBLIC_URL", f"required when listening on {settings.host} with an identity "
                          "provider: set it to the URL browsers use (redirect URIs are <url>/auth/callback/<name>)")


def _is_wildcard(host: str) -> bool:
    try:
        return ipaddress.ip_address(host.strip("[]")).is_unspecified
    except ValueError:
        return False


async def create_login_link(conn: PgConnection, settings: Settings, base_url: str | None = None) -> str:
    """Ensure the local admin exists and return a new one-time sign-in URL (`base_url`: the server's)."""
    async with conn.transaction():
        user_id = await users.upsert_instance_admin(conn, LOCAL_ADMIN_EMAIL, LOCAL_ADMIN_NAME)
        token = secrets.token_urlsafe(32)
        expires_at = datetime.now(UTC) + timedelta(seconds=LINK_TTL_S)
        await login_links.insert_link(conn, user_id, hash_token(token), expires_at)
    return f"{base_url or settings.public_url}{LOCAL_PATH}?token={token}"


@dataclass(frozen=True)
class LinkUse:
    """`refused` is None (then `user_id`/`email` are set), or link_used, link_expired, link_invalid, user_disabled."""

    refused: str | None
    user_id: UUID | None = None
    email: str = ""


async def consume_link(conn: PgConnection, token: str) -> LinkUse:
    """Use the link once (atomically: two simultaneous clicks cannot both succeed) and retire the others."""
    if not token:
        return LinkUse("link_invalid")
    token_hash = hash_token(token)
    row = await login_links.use_link(conn, token_hash)
    if row is not None:
        await login_links.expire_unused_links(conn)
        if row["disabled_at"] is not None:
            return LinkUse("user_disabled")
        return LinkUse(None, row["user_id"], row["email"])
    state = await login_links.find_link(conn, token_hash)
    if state is None:
        return LinkUse("link_invalid")
    return LinkUse("link_used" if state["used_at"] is not None else "link_expired")
