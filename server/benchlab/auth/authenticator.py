"""Who is calling: an API key (`Authorization: Bearer blk_…`), a session (access cookie, or its JWT as a
bearer token), the local CLI token of this process (`bll_…`, loopback only, auth/local_cli.py), or nobody.
Resolved once per HTTP request, once per WebSocket connection.

A credential that is present but wrong is an error (UNAUTHENTICATED with what to do), never a silent
fall-back to anonymous: a script with a revoked key should fail loudly, not see an empty project list.
Users and keys are cached for a few seconds so a signed-in request costs no database read in the common
case. A change of access (revoked key, disabled user, changed membership) empties those caches at once in
every process, through an access-changed message on the realtime hub (auth/changes.py), and is handed to the
listeners registered here (the API re-checks that principal's WebSocket connections); the TTLs only bound how
long a message lost without a gap marker could matter.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Callable, Mapping
from typing import Any
from uuid import UUID

from benchlab.auth.api_keys import KEY_PREFIX, ApiKeyVerifier, InvalidApiKey
from benchlab.auth.changes import ACCESS_CHANNEL, AccessChange
from benchlab.auth.cookies import ACCESS_COOKIE
from benchlab.auth.identity import ANONYMOUS, Identity, IdentityKind
from benchlab.auth.local_cli import LOCAL_TOKEN_PREFIX, LocalCliCredential
from benchlab.auth.sessions import InvalidAccessToken, verify_access_token
from benchlab.errors import UnauthenticatedError
from benchlab.runtime import Runtime
from benchlab.stores import users

log = logging.getLogger(__name__)

USER_CACHE_TTL_S = 5.0
BEARER_FORM = "Authorization must be `Bearer <API key or access token>`"
KEY_HINT = "create a new key (createApiKey) and send it as `Bearer blk_…`"


def bearer_credential(authorization: str) -> str:
    """The credential of an `Authorization: Bearer <credential>` value (any case of `Bearer`)."""
    scheme, _, credential = authorization.strip().partition(" ")
    if scheme.lower() != "bearer" or not credential.strip():
        raise UnauthenticatedError(BEARER_FORM)
    return credential.strip()


class Authenticator:
    def __init__(self, runtime: Runtime, local_cli: LocalCliCredential | None = None) -> None:
        self._runtime = runtime
        self._local_cli = local_cli
        self.keys = ApiKeyVerifier()
        self._listeners: list[Callable[[AccessChange], None]] = []
        self._users: dict[UUID, tuple[float, Identity | None]] = {}
        self._tokens: dict[str, tuple[float, UUID]] = {}   # verified access token -> (expires at, user)
        self._origin = uuid.uuid4().hex  # this process, in its own access-changed messages
        self._listening: asyncio.Future[None] | None = None

    async def identify(self, headers: Mapping[str, str], cookies: Mapping[str, str],
                       client_host: str | None = None) -> Identity:
        await self._listen()
        authorization = headers.get("authorization", "")
        if authorization:
            return await self.from_bearer(bearer_credential(authorization), client_host)
        token = cookies.get(ACCESS_COOKIE)
        return await self.from_access_token(token) if token else ANONYMOUS

    async def from_bearer(self, credential: str, client_host: str | None = None) -> Identity:
        """`client_host`: the caller's address, which only the local CLI token depends on (loopback only)."""
        if credential.startswith(LOCAL_TOKEN_PREFIX):
            if self._local_cli is None:
                raise UnauthenticatedError("this server accepts no local token (it was restarted, or it has an "
                                           "identity provider); run the command again, or send an API key")
            return await self._enabled_user(self._local_cli.user_for(credential, client_host))
        if credential.startswith(KEY_PREFIX):
            try:
                key = await self.keys.verify(self._runtime.pg, credential)
            except InvalidApiKey as exc:
                raise UnauthenticatedError(f"{exc}; {KEY_HINT}") from None
            return Identity(IdentityKind.API_KEY, display_name=key.name, key_project_id=key.project_id,
                            key_role=key.role, key_id=key.key_id)
        return await self.from_access_token(credential)

    async def from_access_token(self, token: str) -> Identity:
        cached = self._tokens.get(token)
        if cached is not None and cached[0] > time.time():
            user_id = cached[1]
        else:
            try:
                claims = verify_access_token(self._runtime, token)
            except InvalidAccessToken as exc:
                raise UnauthenticatedError(
                    f"{exc}; refresh the session (POST /auth/refresh) or sign in again") from None
            if len(self._tokens) > 10_000:
                self._tokens.clear()
            # A token is immutable and valid until it expires: checking its signature once is enough.
            self._tokens[token] = (claims.expires_at.timestamp(), claims.user_id)
            user_id = claims.user_id
        return await self._enabled_user(user_id)

    async def recheck(self, identity: Identity) -> Identity:
        """`identity` as the database has it now (after an access change); UnauthenticatedError when it is gone."""
        if identity.kind is IdentityKind.API_KEY and identity.key_id is not None:
            refusal = await self.keys.refusal_of(self._runtime.pg, identity.key_id)
            if refusal is not None:
                raise UnauthenticatedError(f"{refusal}; {KEY_HINT}")
            return identity
        if identity.user_id is not None:
            return await self._enabled_user(identity.user_id)
        return identity

    def on_access_change(self, listener: Callable[[AccessChange], None]) -> None:
        """Call `listener` with every change of access applied in this process (it must not block)."""
        self._listeners.append(listener)

    def forget_user(self, user_id: UUID | None) -> None:
        """Drop a cached user (None: every user)."""
        if user_id is None:
            self._users.clear()
        else:
            self._users.pop(user_id, None)

    async def access_changed(self, change: AccessChange) -> None:
        """Apply a committed change of access here at once, then tell every other process through the hub.

        If the hub cannot take the message (Redis down), the others notice when their pub/sub connection
        comes back (a gap marker re-checks everything) or when their caches expire.
        """
        self._apply(change)
        try:
            await self._runtime.hub.publish(ACCESS_CHANNEL, change.to_message(self._origin))
        except Exception as exc:  # the change is committed; failing the mutation now would only mislead
            log.warning("could not announce an access change to other server processes (%s); they apply it when "
                        "their realtime connection recovers or their caches expire", exc)

    def _on_access_message(self, message: dict[str, Any]) -> None:
        if message.get("origin") != self._origin:  # our own changes were applied when they were made
            self._apply(AccessChange.from_message(message))

    def _apply(self, change: AccessChange) -> None:
        if change.is_everything:
            self.keys.forget(None)
            self.forget_user(None)
        else:
            if change.key_id is not None:
                self.keys.forget(change.key_id)
            if change.user_id is not None:
                self.forget_user(change.user_id)
        for listener in self._listeners:
            listener(change)

    async def _listen(self) -> None:
        """Subscribe to access changes before the first credential is cached (once per process)."""
        if self._listening is None:
            self._listening = asyncio.ensure_future(self._runtime.hub.listen(ACCESS_CHANNEL, self._on_access_message))
        try:
            await asyncio.shield(self._listening)
        except Exception as exc:  # caches still expire; try again with the next request
            self._listening = None
            log.warning("not listening for access changes yet (%s)", exc)

    async def _enabled_user(self, user_id: UUID) -> Identity:
        identity = await self._user(user_id)
        if identity is None:
            raise UnauthenticatedError("this account is disabled or no longer exists")
        return identity

    async def _user(self, user_id: UUID) -> Identity | None:
        now = time.monotonic()
        cached = self._users.get(user_id)
        if cached is not None and now - cached[0] < USER_CACHE_TTL_S:
            return cached[1]
        async with self._runtime.pg.acquire() as conn:
            row = await users.find_enabled(conn, user_id)
        identity = None if row is None else Identity(
            IdentityKind.USER, user_id=row["id"], display_name=row["display_name"], email=row["email"],
            is_instance_admin=row["is_instance_admin"])
        if len(self._users) > 10_000:
            self._users.clear()
        self._users[user_id] = (now, identity)
        return identity
