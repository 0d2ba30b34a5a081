"""Permission classes: every root field declares who may use it (a test walks the schema to prove it).

- `Public`: anyone, signed in or not (server info, the caller's own identity).
- `SignedIn`: any identity; lists are then narrowed to what the caller may see.
- `InstanceAdmin`: instance administrators (user management).
- `project_role(role, argument, of)`: the caller needs `role` in the project of the object whose global id
  is in `argument` (a dotted path into the arguments, e.g. `input.experimentId`) and whose type is `of`.

A caller with no role in the project gets NOT_FOUND, exactly as if the object did not exist (no probing of
other projects); a caller with too small a role gets FORBIDDEN naming the role needed.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from strawberry.permission import BasePermission
from strawberry.types import Info

from benchlab.api.context import identity_of, loaders_of
from benchlab.api.ids import expect_id
from benchlab.api.loaders import Loaders
from benchlab.api.node_tables import NODE_TABLES
from benchlab.auth.identity import Identity, IdentityKind
from benchlab.auth.roles import Role
from benchlab.errors import ForbiddenError, NotFoundError, UnauthenticatedError

SIGN_IN_HINT = ("sign in (GET /auth/login) or send an API key as `Authorization: Bearer blk_…` "
                "(in connection_init's payload for subscriptions)")


async def role_in(info: Info, project_id: UUID) -> Role | None:
    """The caller's effective role in a project (instance admins: owner everywhere), or None."""
    return await role_of(identity_of(info), loaders_of(info), project_id)


async def role_of(identity: Identity, loaders: Loaders, project_id: UUID) -> Role | None:
    """The one rule for roles: `identity`'s effective role in a project, or None."""
    if identity.is_instance_admin:
        return Role.OWNER
    if identity.kind is IdentityKind.API_KEY:
        return identity.key_role if identity.key_project_id == project_id else None
    if identity.user_id is None:
        return None
    role = await loaders.membership(identity.user_id, project_id)
    return Role(role) if role else None


async def require_role(info: Info, project_id: UUID, required: Role, what: str = "object") -> Role:
    role = await role_in(info, project_id)
    if role is None:
        raise NotFoundError(f"no such {what}, or it belongs to a project you are not a member of")
    if not role.allows(required):
        raise ForbiddenError(f"this needs the {required.value} role in the project; you have {role.value}",
                        requiredRole=required.value.upper())
    return role


def require_signed_in(info: Info) -> None:
    if identity_of(info).kind is IdentityKind.ANONYMOUS:
        raise UnauthenticatedError(info.context.get("auth_error") or f"not signed in: {SIGN_IN_HINT}")


class Public(BasePermission):
    message = "public"

    def has_permission(self, source: Any, info: Info, **kwargs: Any) -> bool:
        return True


class SignedIn(BasePermission):
    message = "not signed in"

    def has_permission(self, source: Any, info: Info, **kwargs: Any) -> bool:
        require_signed_in(info)
        return True


class InstanceAdmin(BasePermission):
    message = "instance administrators only"

    def has_permission(self, source: Any, info: Info, **kwargs: Any) -> bool:
        require_signed_in(info)
        if not identity_of(info).is_instance_admin:
            raise ForbiddenError("only instance administrators may do this")
        return True


class ProjectRole(BasePermission):
    """Base of the classes `project_role` makes; the schema walk recognises project checks by it."""

    required: Role = Role.VIEWER
    argument: str = "id"
    of: str = "Project"
    message = "forbidden"

    async def has_permission(self, source: Any, info: Info, **kwargs: Any) -> bool:
        require_signed_in(info)
        if self.argument == "":  # a field of a Project: its own project
            await require_role(info, source.db_id, self.required, "Project")
            return True
        global_id = _dig(kwargs, self.argument)
        if global_id is None:  # an optional argument left out: the resolver decides
            return True
        argument = _camel(self.argument)
        row = await loaders_of(info).row(NODE_TABLES[self.of], expect_id(global_id, self.of, argument))
        if row is None:
            raise NotFoundError(f"{argument}: no {self.of} with id {global_id!r}; it may have been deleted",
                                argument=argument)
        await require_role(info, row["id"] if self.of == "Project" else row["project_id"], self.required, self.of)
        return True


def project_role(role: Role, argument: str = "id", of: str = "Project") -> type[ProjectRole]:
    """A permission class: `role` needed in the project of the `of` named by `argument`."""
    return type(f"Requires{role.name.title()}On{of}", (ProjectRole,),
                {"required": role, "argument": argument, "of": of})


def on_this_project(role: Role) -> type[ProjectRole]:
    """For fields of `Project` itself (members, API keys, audit log): `role` needed in that project."""
    return project_role(role, "", "Project")


def _dig(kwargs: dict[str, Any], path: str) -> Any:
    value: Any = kwargs
    for part in path.split("."):
        value = value.get(part) if isinstance(value, dict) else getattr(value, part, None)
        if value is None:
            return None
    return value


def _camel(path: str) -> str:
    head, *rest = path.split(".")[-1].split("_")
    return head + "".join(word.title() for word in rest)
