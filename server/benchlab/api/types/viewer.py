"""The caller of a request as GraphQL shows it (the `viewer` query field)."""

from __future__ import annotations

import strawberry

from benchlab.auth.identity import Identity


@strawberry.type(description="The caller of this request.")
class Viewer:
    kind: str = strawberry.field(description="`user` (signed in), `api_key` or `anonymous`.")
    display_name: str
    email: str
    is_instance_admin: bool = strawberry.field(description="May manage users and every project.")

    @classmethod
    def of(cls, identity: Identity) -> Viewer:
        return cls(kind=identity.kind.value, display_name=identity.display_name, email=identity.email,
                   is_instance_admin=identity.is_instance_admin)
