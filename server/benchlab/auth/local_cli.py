"""The local CLI credential: how `benchlab run` and `benchlab eval` submit to the `benchlab serve` that holds
their data dir, without a browser and without an API key.

In local mode (no identity provider) `serve` makes a random token at every start (`bll_` + 32 random bytes,
URL-safe) and writes it, with the address it listens on and its pid, to `<data dir>/server.json`, created with
mode 0600 (client/local_server.py). The server keeps only the token's SHA-256 hash, in memory. A request
bearing it (`Authorization: Bearer bll_…`, or in a subscription's `connection_init`) is the local admin
(`local-admin@localhost`, the instance admin a local-mode sign-in link signs in), and is accepted only from a
loopback address (as uvicorn reports the client: behind a proxy on this machine, the forwarded address).

Why this is safe: whoever can read the file can already read the data dir, which holds the embedded PostgreSQL's
socket and the key that encrypts provider credentials (the same trust `benchlab login-link` relies on); the
token is worthless from another machine, dies with the process (a restart makes a new one; the file is
removed on a clean stop), and a disabled local admin is refused like any disabled user. With an identity
provider there is no local admin, so no token is made: the CLI then needs `BENCHLAB_API_KEY`.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import secrets
from dataclasses import dataclass
from uuid import UUID

from benchlab.auth.accounts import LOCAL_ADMIN_EMAIL
from benchlab.auth.local_mode import LOCAL_ADMIN_NAME
from benchlab.errors import UnauthenticatedError
from benchlab.stores import users
from benchlab.stores.postgres import PgConnection

LOCAL_TOKEN_PREFIX = "bll_"


@dataclass(frozen=True)
class LocalCliCredential:
    """The token of this server process (only its hash is kept) and the user it signs in."""

    token_hash: str
    user_id: UUID

    def user_for(self, token: str, client_host: str | None) -> UUID:
        """The local admin's id when `token` is this process's and the request comes from this machine."""
        if not hmac.compare_digest(_hash(token), self.token_hash):
            raise UnauthenticatedError("this local token is not the running server's (it was restarted?); run the "
                                       "command again, or send an API key")
        if not is_loopback_client(client_host):
            raise UnauthenticatedError("local tokens are accepted only from this machine; send an API key")
        return self.user_id


async def new_local_cli_credential(conn: PgConnection) -> tuple[str, LocalCliCredential]:
    """A fresh token for the local admin (created if missing) and the credential that accepts it."""
    user_id = await users.upsert_instance_admin(conn, LOCAL_ADMIN_EMAIL, LOCAL_ADMIN_NAME)
    token = LOCAL_TOKEN_PREFIX + secrets.token_urlsafe(32)
    return token, LocalCliCredential(_hash(token), user_id)


def is_loopback_client(host: str | None) -> bool:
    if not host:
        return False
    try:
        address = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    mapped = getattr(address, "ipv4_mapped", None)  # ::ffff:127.0.0.1 from a dual-stack socket
    return bool((mapped or address).is_loopback)


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()
