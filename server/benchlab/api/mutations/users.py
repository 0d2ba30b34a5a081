"""Mutations for instance administrators on users: disable or enable one, grant or drop instance admin rights.

Nobody disables themselves or drops their own admin rights (the instance would lose its last way in). The
change is announced once committed (`Authenticator.access_changed`): every server process forgets the cached
user and re-checks their open WebSocket connections.
"""

from __future__ import annotations

import strawberry
from strawberry.types import Info

from benchlab.api.auditing import audit
from benchlab.api.context import auth_of, identity_of, runtime_of
from benchlab.api.ids import expect_id
from benchlab.api.node_lookup import reload
from benchlab.api.permissions import InstanceAdmin
from benchlab.api.types.access import User
from benchlab.auth.changes import AccessChange
from benchlab.errors import ConflictError, NotFoundError
from benchlab.stores import users


@strawberry.input
class SetUserInput:
    user_id: strawberry.ID
    disabled: bool | None = None
    is_instance_admin: bool | None = None


@strawberry.type
class UserPayload:
    user: User


@strawberry.type
class UserMutations:
    @strawberry.mutation(permission_classes=[InstanceAdmin],
                         description="Disable or enable a user, or make them an instance administrator.")
    async def set_user(self, info: Info, input: SetUserInput) -> UserPayload:
        user_id = expect_id(input.user_id, "User", "userId")
        if user_id == identity_of(info).user_id and (input.disabled or input.is_instance_admin is False):
            raise ConflictError("you cannot disable yourself or drop your own instance admin rights")
        async with runtime_of(info).pg.acquire() as conn:
            before = await users.find_by_id(conn, user_id)
            if before is None:
                raise NotFoundError("userId: no such user", argument="userId")
            if input.disabled is not None:
                await users.set_disabled(conn, user_id, input.disabled)
            if input.is_instance_admin is not None:
                await users.set_instance_admin(conn, user_id, input.is_instance_admin)
        await auth_of(info).authenticator.access_changed(AccessChange(user_id=user_id))
        await audit(info, "user.update", before["email"],
                    before={"disabled": before["disabled_at"] is not None, "admin": before["is_instance_admin"]},
                    after={"disabled": input.disabled, "admin": input.is_instance_admin})
        return UserPayload(user=await reload(info, User, user_id))
