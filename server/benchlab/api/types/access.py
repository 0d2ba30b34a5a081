"""People, memberships, API keys and the audit log as GraphQL types."""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import Any
from uuid import UUID

import strawberry
from strawberry.scalars import JSON

from benchlab.api.ids import encode_global_id
from benchlab.api.types.node import Node
from benchlab.auth.roles import Role


@strawberry.enum(description=(
    "A role in a project. VIEWER reads; MEMBER also creates datasets, prompts and experiments and runs them; "
    "ADMIN also manages providers, credentials, models, members and API keys; OWNER also manages the project."))
class ProjectRole(Enum):
    VIEWER = "viewer"
    MEMBER = "member"
    ADMIN = "admin"
    OWNER = "owner"

    @property
    def role(self) -> Role:
        return Role(self.value)


@strawberry.type(description="A person who signed in at least once.")
class User(Node):
    email: str
    display_name: str
    is_instance_admin: bool
    disabled_at: datetime | None
    created_at: datetime

    @classmethod
    def from_row(cls, row: Any) -> User:
        return cls(id=strawberry.ID(encode_global_id("User", row["id"])), email=row["email"],
                   display_name=row["display_name"], is_instance_admin=row["is_instance_admin"],
                   disabled_at=row["disabled_at"], created_at=row["created_at"])


@strawberry.type(description="A user's role in a project.")
class ProjectMember:
    user: User
    role: ProjectRole
    since: datetime

    @classmethod
    def from_row(cls, row: Any) -> ProjectMember:
        user = User(id=strawberry.ID(encode_global_id("User", row["id"])), email=row["email"],
                    display_name=row["display_name"], is_instance_admin=row["is_instance_admin"],
                    disabled_at=row["disabled_at"], created_at=row["user_created_at"])
        return cls(user=user, role=ProjectRole(row["role"]), since=row["created_at"])


@strawberry.type(description="An API key of a project: the key itself is shown once, at creation.")
class ApiKey(Node):
    db_id: strawberry.Private[UUID]
    project_id: strawberry.Private[UUID]
    name: str
    role: ProjectRole
    prefix: str = strawberry.field(description="Identifies the key (`blk_<prefix>_…`) without revealing it.")
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    last_used_at: datetime | None = strawberry.field(description="Updated at most once a minute.")

    @classmethod
    def from_row(cls, row: Any) -> ApiKey:
        return cls(id=strawberry.ID(encode_global_id("ApiKey", row["id"])), db_id=row["id"],
                   project_id=row["project_id"], name=row["name"], role=ProjectRole(row["role"]),
                   prefix=row["prefix"], created_at=row["created_at"], expires_at=row["expires_at"],
                   revoked_at=row["revoked_at"], last_used_at=row["last_used_at"])


@strawberry.type(description="Who did what, when, from where; changes carry before/after. Never secrets.")
class AuditEntry:
    at: datetime
    actor: str
    action: str = strawberry.field(description="e.g. auth.sign_in, api_key.create, member.role_change, "
                                               "provider.credentials_set, run.start.")
    target: str
    project_id: strawberry.ID | None
    details: JSON

    @classmethod
    def from_row(cls, row: Any) -> AuditEntry:
        details = row["details"]
        project = row["project_id"]
        return cls(at=row["at"], actor=row["actor"], action=row["action"], target=row["target"],
                   project_id=strawberry.ID(encode_global_id("Project", project)) if project else None,
                   details=details)
