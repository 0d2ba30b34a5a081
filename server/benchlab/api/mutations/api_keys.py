"""Mutations on a project's API keys: create one (its secret shown once), revoke one.

Nobody creates a key with more than their own role in the project. A revocation is announced once committed
(`Authenticator.access_changed`), so every server process stops accepting the key at once and closes its
WebSocket connections.
"""

from __future__ import annotations

from datetime import UTC, datetime

import strawberry
from strawberry.types import Info

from benchlab.api.auditing import audit
from benchlab.api.context import auth_of, identity_of, runtime_of
from benchlab.api.ids import expect_id
from benchlab.api.node_lookup import reload
from benchlab.api.permissions import project_role, require_role
from benchlab.api.types.access import ApiKey, ProjectRole
from benchlab.auth.api_keys import create_key
from benchlab.auth.changes import AccessChange
from benchlab.auth.roles import Role, check_grant
from benchlab.errors import InvalidInputError
from benchlab.stores import api_keys as key_store


@strawberry.input
class CreateApiKeyInput:
    project_id: strawberry.ID
    name: str = strawberry.field(description="What uses it, e.g. `nightly CI`.")
    role: ProjectRole = strawberry.field(description="At most your own role in the project.")
    expires_at: datetime | None = strawberry.field(default=None, description="Optional expiry (UTC).")


@strawberry.type
class CreateApiKeyPayload:
    api_key: ApiKey
    secret: str = strawberry.field(description="The key, `blk_…`: shown only now; it is stored hashed. Send it "
                                              "as `Authorization: Bearer <key>`.")


@strawberry.type
class ApiKeyPayload:
    api_key: ApiKey


@strawberry.type
class ApiKeyMutations:
    @strawberry.mutation(permission_classes=[project_role(Role.ADMIN, "input.project_id", "Project")],
                         description="Create an API key for scripts and CI; its secret is returned only here.")
    async def create_api_key(self, info: Info, input: CreateApiKeyInput) -> CreateApiKeyPayload:
        project_id = expect_id(input.project_id, "Project", "projectId")
        check_grant(await require_role(info, project_id, Role.ADMIN, "Project"), input.role.role)
        if not 1 <= len(input.name.strip()) <= 200:
            raise InvalidInputError("name: give 1 to 200 characters", argument="name")
        if input.expires_at is not None and input.expires_at <= datetime.now(UTC):
            raise InvalidInputError("expiresAt: must be in the future", argument="expiresAt")
        async with runtime_of(info).pg.acquire() as conn:
            created = await create_key(conn, project_id=project_id, name=input.name.strip(), role=input.role.role,
                                       created_by=identity_of(info).user_id, expires_at=input.expires_at)
        await audit(info, "api_key.create", str(created.key_id), project_id, name=input.name, role=input.role.value,
                    prefix=created.prefix)
        return CreateApiKeyPayload(api_key=await reload(info, ApiKey, created.key_id), secret=created.secret)

    @strawberry.mutation(permission_classes=[project_role(Role.ADMIN, "id", "ApiKey")],
                         description="Revoke an API key at once. Revoking twice does nothing.")
    async def revoke_api_key(self, info: Info, id: strawberry.ID) -> ApiKeyPayload:
        key_id = expect_id(id, "ApiKey")
        async with runtime_of(info).pg.acquire() as conn:
            project_id = await key_store.revoke(conn, key_id)
        await auth_of(info).authenticator.access_changed(AccessChange(key_id=key_id, project_id=project_id))
        await audit(info, "api_key.revoke", str(key_id), project_id)
        return ApiKeyPayload(api_key=await reload(info, ApiKey, key_id))
