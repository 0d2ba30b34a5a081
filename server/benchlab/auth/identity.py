"""Who is asking: every resolver reads the caller's identity from the context, never from the request.

Sign-in decides the identity: a session cookie (OIDC or the local-mode login link) makes a user, an
`Authorization: Bearer` API key makes a project-scoped key identity, and nothing makes an anonymous caller.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from uuid import UUID

from benchlab.auth.roles import Role


class IdentityKind(StrEnum):
    """What made the identity; the value is what the API shows (`Viewer.kind`) and the audit log names."""

    ANONYMOUS = "anonymous"  # no credential
    USER = "user"            # a session (OIDC or local mode's login link)
    API_KEY = "api_key"      # `Authorization: Bearer blk_…`, scoped to one project


@dataclass(frozen=True)
class Identity:
    kind: IdentityKind
    user_id: UUID | None = None
    display_name: str = ""
    email: str = ""
    is_instance_admin: bool = False
    key_project_id: UUID | None = None   # API keys: the one project they open, with this role
    key_role: Role | None = None
    key_id: UUID | None = None

    @property
    def actor(self) -> str:
        """How the audit log names this caller."""
        if self.kind is IdentityKind.API_KEY:
            return f"api-key:{self.key_id}"
        return self.email or self.kind.value


ANONYMOUS = Identity(IdentityKind.ANONYMOUS)

