"""Who is calling: an API key (`Authorization: Bearer blk_…`), a session (access cookie, or its JWT as a
bearer token), or nobody. Resolved once per HTTP request, once per WebSocket connection.

A credential that is present but wrong is an error (UNAUTHENTICATED with what to do), never a silent
fall-back to anonymous: a script with a revoked key should fail loudly, not see an empty project list.
Users are cached for a few seconds so a signed-in request costs no database read in the common case;
disabling a user takes effect within USER_CACHE_TTL_S.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import TYPE_CHECKING
from uuid import UUID

from benchlab.access.api_keys import KEY_PREFIX, ApiKeyVerifier
from benchlab.api.errors import Unauthenticated
from benchlab.api.identity import ANONYMOUS, Identity

if TYPE_CHECKING:
    from benchlab.runtime import Runtime

USER_CACHE_TTL_S = 5.0


class Authenticator:
    def __init__(self, runtime: Runtime) -> None:
        self._runtime = runtime
        self.keys = ApiKeyVerifier()
        self._users: dict[UUID, tuple[float, Identity | None]] = {}
        self._tokens: dict[str, tuple[float, UUID]] = {}   # verified access token -> (expires at, user)

    async def identify(self, headers: Mapping[str, str], cookies: Mapping[str, str]) -> Identity:
        authorization = headers.get("authorization", "")
        if authorization:
            scheme, _, credential = authorization.partition(" ")
            if scheme.lower() != "bearer" or not credential.strip():
                raise Unauthenticated("Authorization must be `Bearer <API key or access token>`")
            return await self.from_bearer(credential.strip())
        from benchlab.auth.sessions import ACCESS_COOKIE

        token = cookies.get(ACCESS_COOKIE)
        return await self.from_access_token(token) if token else ANONYMOUS

    async def from_bearer(self, credential: str) -> Identity:
        if credential.startswith(KEY_PREFIX):
            key = await self.keys.verify(self._runtime.pg, credential)
            if key is None:
                raise Unauthenticated("this API key is unknown, revoked or expired; create a new one")
            return Identity("api_key", display_name=key.name, key_project_id=key.project_id, key_role=key.role,
                            key_id=key.key_id)
        return await self.from_access_token(credential)

    async def from_access_token(self, token: str) -> Identity:
        from benchlab.auth.sessions import InvalidAccessToken, verify_access_token

        cached = self._tokens.get(token)
        if cached is not None and cached[0] > time.time():
            user_id = cached[1]
        else:
            try:
                claims = verify_access_token(self._runtime, token)
            except InvalidAccessToken as exc:
                raise Unauthenticated(f"{exc}; refresh the session (POST /auth/refresh) or sign in again") from None
            if len(self._tokens) > 10_000:
                self._tokens.clear()
            # A token is immutable and valid until it expires: checking its signature once is enough.
            self._tokens[token] = (claims.expires_at.timestamp(), claims.user_id)
            user_id = claims.user_id
        identity = await self._user(user_id)
        if identity is None:
            raise Unauthenticated("this account is disabled or no longer exists")
        return identity

    def forget_user(self, user_id: UUID) -> None:
        self._users.pop(user_id, None)

    async def _user(self, user_id: UUID) -> Identity | None:
        now = time.monotonic()
        cached = self._users.get(user_id)
        if cached is not None and now - cached[0] < USER_CACHE_TTL_S:
            return cached[1]
        async with self._runtime.pg.acquire() as conn:
            row = await conn.fetchrow("SELECT id, email, display_name, is_instance_admin FROM users "
                                      "WHERE id = $1 AND disabled_at IS NULL", user_id)
        identity = None if row is None else Identity(
            "user", user_id=row["id"], display_name=row["display_name"], email=row["email"],
            is_instance_admin=row["is_instance_admin"])
        if len(self._users) > 10_000:
            self._users.clear()
        self._users[user_id] = (now, identity)
        return identity
