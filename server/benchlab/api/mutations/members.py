"""Mutations on who belongs to a project: give someone a role (or change it), take it away.

Guards beyond the field permission: nobody grants more than they hold (an admin cannot make owners; only
owners touch owners), and a project always keeps at least one owner. Every change is announced once
committed (`Authenticator.access_changed`): every server process drops what it cached about that user and
re-checks their open WebSocket connections.
"""

from __future__ import annotations

from uuid import UUID

import strawberry
from strawberry.types import Info

from benchlab.api.auditing import audit
from benchlab.api.context import auth_of, runtime_of
from benchlab.api.ids import expect_id
from benchlab.api.permissions import project_role, require_role, role_in
from benchlab.api.types.access import ProjectMember, ProjectRole
from benchlab.auth.changes import AccessChange
from benchlab.auth.roles import Role, check_grant
from benchlab.errors import ConflictError, ForbiddenError, NotFoundError
from benchlab.stores import memberships, users
from benchlab.stores.postgres import PgConnection


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


async def _member(conn: PgConnection, project_id: UUID, email: str) -> tuple[UUID, str | None]:
    """The user with `email` and their role in the project (None: not a member)."""
    user = await users.find_by_email(conn, email)
    if user is None:
        raise NotFoundError(f"email: nobody with {email!r} has signed in yet; ask them to sign in once, then add them",
                            argument="email")
    return user["id"], await memberships.role_of(conn, project_id, user["id"])


async def _keep_an_owner(conn: PgConnection, project_id: UUID, user_id: UUID) -> None:
    if not await memberships.has_other_owner(conn, project_id, user_id):
        raise ConflictError("a project must keep at least one owner; make someone else owner first")


@strawberry.type
class MemberMutations:
    @strawberry.mutation(permission_classes=[project_role(Role.ADMIN, "input.project_id", "Project")],
                         description="Give someone a role in the project (or change it).")
    async def set_project_member(self, info: Info, input: MemberInput) -> MemberPayload:
        project_id = expect_id(input.project_id, "Project", "projectId")
        mine = await require_role(info, project_id, Role.ADMIN, "Project")  # as the permission class checked
        async with runtime_of(info).pg.acquire() as conn, conn.transaction():
            user_id, before = await _member(conn, project_id, input.email)
            check_grant(mine, input.role.role)
            if before == "owner" and mine is not Role.OWNER:
                raise ForbiddenError("only owners can change an owner's role")
            if before == "owner" and input.role is not ProjectRole.OWNER:
                await _keep_an_owner(conn, project_id, user_id)
            await memberships.set_role(conn, project_id, user_id, input.role.value)
            member = ProjectMember.from_row(await memberships.find_member_with_user(conn, project_id, user_id))
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
            await memberships.remove_member(conn, project_id, user_id)
        await auth_of(info).authenticator.access_changed(AccessChange(user_id=user_id, project_id=project_id))
        if before is not None:
            await audit(info, "member.remove", input.email, project_id, before=before)
        return MemberPayload(member=None)
