"""Project roles, ordered: viewer reads, member runs experiments, admin manages providers, credentials,
members and keys, owner manages the project itself. Instance admins may do everything everywhere."""

from __future__ import annotations

from enum import Enum


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
