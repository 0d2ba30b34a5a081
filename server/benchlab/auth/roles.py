"""Project roles, ordered: viewer reads, member runs experiments, admin manages providers, credentials,
members and keys, owner manages the project itself. Instance admins may do everything everywhere."""

from __future__ import annotations

from enum import Enum

from benchlab.errors import ForbiddenError


class Role(Enum):
    VIEWER = "viewer"
    MEMBER = "member"
    ADMIN = "admin"
    OWNER = "owner"

    @property
    def rank(self) -> int:
        return _RANKS[self]

    def allows(self, required: Role) -> bool:
        """This role can do what `required` can."""
        return self.rank >= required.rank


_RANKS = {Role.VIEWER: 0, Role.MEMBER: 1, Role.ADMIN: 2, Role.OWNER: 3}


def check_grant(granter: Role, wanted: Role) -> None:
    """Nobody grants more than they hold, and only owners make owners (ForbiddenError otherwise)."""
    if not granter.allows(wanted):
        raise ForbiddenError(f"you cannot grant the {wanted.value} role: it is above your own ({granter.value})")
    if wanted is Role.OWNER and granter is not Role.OWNER:
        raise ForbiddenError("only owners can make owners")
