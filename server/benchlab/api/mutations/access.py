"""Mutations on who may do what: API keys, project members, users (instance admins).

Guards beyond the field permission: nobody grants more than they hold (an admin cannot create owner keys or
make owners; only owners touch owners), and a project always keeps at least one owner.

Every change that may take access away is announced once committed (`Authenticator.access_changed`): every
server process drops what it cached about that key or user and re-checks their open WebSocket connections.
"""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import UUID

import asyncpg
import strawberry
from strawberry.types import Info

from benchlab.api import lists
from benchlab.api.auditing import audit
from benchlab.api.context import auth_of, identity_of, runtime_of
from benchlab.api.ids import expect_id
from benchlab.api.node_lookup import reload
from benchlab.api.permissions import InstanceAdmin, project_role, role_in
from benchlab.api.types.access import ApiKey, ProjectMember, ProjectRole, User
from benchlab.auth.api_keys import mint
from benchlab.auth.changes import AccessChange
from benchlab.auth.roles import Role
from benchlab.errors import ConflictError, ForbiddenError, InvalidInputError, NotFoundError


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


@strawberry.input
class MemberInput:
    project_id: strawberry.ID
    email: str = strawberry.field(description="The person must have signed in once.")
    role: ProjectRole


@strawberry.input
class RemoveMemberInput:
    project_id: strawberry.ID
    email: str


@strawberry.type
class MemberPayload:
    member: ProjectMember | None = strawberry.field(description="Null after a removal.")


@strawberry.input
class SetUserInput:
    user_id: strawberry.ID
    disabled: bool | None = None
    is_instance_admin: bool | None = None


@strawberry.type
class UserPayload:
    user: User


def _check_grant(mine: Role, wanted: Role) -> None:
    if not mine.allows(wanted):
        raise ForbiddenError(f"you cannot grant the {wanted.value} role: it is above your own ({mine.value})")
    if wanted is Role.OWNER and mine is not Role.OWNER:
        raise ForbiddenError("only owners can make owners")


async def _member(conn: asyncpg.Connection, project_id: UUID, email: str) -> tuple[UUID, str | None]:
    user = await conn.fetchrow("SELECT id FROM users WHERE lower(email) = lower($1)", email)
    if user is None:
        raise NotFoundError(f"email: nobody with {email!r} has signed in yet; ask them to sign in once, then add them",
                       argument="email")
    role = await conn.fetchval("SELECT role FROM project_members WHERE project_id = $1 AND user_id = $2",
                               project_id, user["id"])
    return user["id"], role


async def _member_view(conn: asyncpg.Connection, project_id: UUID, user_id: UUID) -> ProjectMember:
    row = await conn.fetchrow(f"SELECT * FROM {lists.PROJECT_MEMBERS.source} t WHERE project_id = $1 AND id = $2",
                              project_id, user_id)
    return ProjectMember.from_row(row)


async def _keep_an_owner(conn: asyncpg.Connection, project_id: UUID, user_id: UUID) -> None:
    others = await conn.fetchval("SELECT count(*) FROM project_members WHERE project_id = $1 AND role = 'owner' "
                                 "AND user_id <> $2", project_id, user_id)
    if not others:
        raise ConflictError("a project must keep at least one owner; make someone else owner first")


@strawberry.type
class AccessMutations:
    @strawberry.mutation(permission_classes=[project_role(Role.ADMIN, "input.project_id", "Project")],
                         description="Create an API key for scripts and CI; its secret is returned only here.")
    async def create_api_key(self, info: Info, input: CreateApiKeyInput) -> CreateApiKeyPayload:
        project_id = expect_id(input.project_id, "Project", "projectId")
        _check_grant(await role_in(info, project_id), input.role.role)
        if not 1 <= len(input.name.strip()) <= 200:
            raise InvalidInputError("name: give 1 to 200 characters", argument="name")
        if input.expires_at is not None and input.expires_at <= datetime.now(UTC):
            raise InvalidInputError("expiresAt: must be in the future", argument="expiresAt")
        secret, prefix, key_hash = mint()
        async with runtime_of(info).pg.acquire() as conn:
            key_id = await conn.fetchval(
                "INSERT INTO api_keys (project_id, name, role, prefix, key_hash, created_by, expires_at) "
                "VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id", project_id, input.name.strip(),
                input.role.value, prefix, key_hash, identity_of(info).user_id, input.expires_at)
        await audit(info, "api_key.create", str(key_id), project_id, name=input.name, role=input.role.value,
                    prefix=prefix)
        return CreateApiKeyPayload(api_key=await reload(info, "ApiKey", key_id), secret=secret)

    @strawberry.mutation(permission_classes=[project_role(Role.ADMIN, "id", "ApiKey")],
                         description="Revoke an API key at once. Revoking twice does nothing.")
    async def revoke_api_key(self, info: Info, id: strawberry.ID) -> ApiKeyPayload:
        key_id = expect_id(id, "ApiKey")
        async with runtime_of(info).pg.acquire() as conn:
            project_id = await conn.fetchval(
                "UPDATE api_keys SET revoked_at = coalesce(revoked_at, now()) WHERE id = $1 RETURNING project_id",
                key_id)
        await auth_of(info).authenticator.access_changed(AccessChange(key_id=key_id, project_id=project_id))
        await audit(info, "api_key.revoke", str(key_id), project_id)
        return ApiKeyPayload(api_key=await reload(info, "ApiKey", key_id))

    @strawberry.mutation(permission_classes=[project_role(Role.ADMIN, "input.project_id", "Project")],
                         description="Give someone a role in the project (or change it).")
    async def set_project_member(self, info: Info, input: MemberInput) -> MemberPayload:
        project_id = expect_id(input.project_id, "Project", "projectId")
        mine = await role_in(info, project_id)
        async with runtime_of(info).pg.acquire() as conn, conn.transaction():
            user_id, before = await _member(conn, project_id, input.email)
            _check_grant(mine, input.role.role)
            if before == "owner" and mine is not Role.OWNER:
                raise ForbiddenError("only owners can change an owner's role")
            if before == "owner" and input.role is not ProjectRole.OWNER:
                await _keep_an_owner(conn, project_id, user_id)
            await conn.execute(
                "INSERT INTO project_members (project_id, user_id, role) VALUES ($1, $2, $3) "
                "ON CONFLICT (project_id, user_id) DO UPDATE SET role = EXCLUDED.role",
                project_id, user_id, input.role.value)
            member = await _member_view(conn, project_id, user_id)
        await auth_of(info).authenticator.access_changed(AccessChange(user_id=user_id, project_id=project_id))
        await audit(info, "member.role_change", input.email, project_id, before=before, after=input.role.value)
        return MemberPayload(member=member)

    @strawberry.mutation(permission_classes=[project_role(Role.ADMIN, "input.project_id", "Project")],
                         description="Take someone's access to the project away.")
    async def remove_project_member(self, info: Info, input: RemoveMemberInput) -> MemberPayload:
        project_id = expect_id(input.project_id, "Project", "projectId")
        mine = await role_in(info, project_id)
        async with runtime_of(info).pg.acquire() as conn, conn.transaction():
            user_id, before = await _member(conn, project_id, input.email)
            if before == "owner":
                if mine is not Role.OWNER:
                    raise ForbiddenError("only owners can remove an owner")
                await _keep_an_owner(conn, project_id, user_id)
            await conn.execute("DELETE FROM project_members WHERE project_id = $1 AND user_id = $2",
                               project_id, user_id)
        await auth_of(info).authenticator.access_changed(AccessChange(user_id=user_id, project_id=project_id))
        if before is not None:
            await audit(info, "member.remove", input.email, project_id, before=before)
        return MemberPayload(member=None)

    @strawberry.mutation(permission_classes=[InstanceAdmin],
                         description="Disable or enable a user, or make them an instance administrator.")
    async def set_user(self, info: Info, input: SetUserInput) -> UserPayload:
        user_id = expect_id(input.user_id, "User", "userId")
        if user_id == identity_of(info).user_id and (input.disabled or input.is_instance_admin is False):
            raise ConflictError("you cannot disable yourself or drop your own instance admin rights")
        async with runtime_of(info).pg.acquire() as conn:
            before = await conn.fetchrow("SELECT email, disabled_at, is_instance_admin FROM users WHERE id = $1",
                                         user_id)
            if before is None:
                raise NotFoundError("userId: no such user", argument="userId")
            if input.disabled is not None:
                await conn.execute("UPDATE users SET disabled_at = CASE WHEN $2 THEN coalesce(disabled_at, now()) "
                                   "END WHERE id = $1", user_id, input.disabled)
            if input.is_instance_admin is not None:
                await conn.execute("UPDATE users SET is_instance_admin = $2 WHERE id = $1", user_id,
                                   input.is_instance_admin)
        await auth_of(info).authenticator.access_changed(AccessChange(user_id=user_id))
        await audit(info, "user.update", before["email"],
                    before={"disabled": before["disabled_at"] is not None, "admin": before["is_instance_admin"]},
                    after={"disabled": input.disabled, "admin": input.is_instance_admin})
        return UserPayload(user=await reload(info, "User", user_id))
