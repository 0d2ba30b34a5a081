"""Who is asking: every resolver reads the caller's identity from the context, never from the request.

Sign-in (OIDC sessions, API keys) decides the identity; until a request carries one it is anonymous.
In local mode (no identity provider, loopback only) the caller is the local administrator.
"""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

import strawberry


@dataclass(frozen=True)
class Identity:
    kind: str                      # local | user | api_key | anonymous
    user_id: UUID | None = None
    display_name: str = ""
    email: str = ""
    is_instance_admin: bool = False

    @classmethod
    def local_admin(cls) -> Identity:
        return cls("local", display_name="local administrator", is_instance_admin=True)


@strawberry.type(description="The caller of this request.")
class Viewer:
    kind: str = strawberry.field(description="`local` (local mode), `user` (signed in), `api_key`, `anonymous`.")
    display_name: str
    email: str
    is_instance_admin: bool = strawberry.field(description="May manage users and every project.")

    @classmethod
    def of(cls, identity: Identity) -> Viewer:
        return cls(kind=identity.kind, display_name=identity.display_name, email=identity.email,
                   is_instance_admin=identity.is_instance_admin)
