"""Who is asking: every resolver reads the caller's identity from the context, never from the request.

Sign-in decides the identity: a session cookie (OIDC or the local-mode login link) makes a user, an
`Authorization: Bearer` API key makes a project-scoped key identity, and nothing makes an anonymous caller.
"""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from benchlab.auth.roles import Role


@dataclass(frozen=True)
class Identity:
    kind: str                      # local | user | api_key | anonymous
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
        if self.kind == "api_key":
            return f"api-key:{self.key_id}"
        return self.email or self.kind


ANONYMOUS = Identity("anonymous")

