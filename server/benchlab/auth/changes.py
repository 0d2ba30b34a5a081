"""Access-changed messages: who lost (or may have lost) access, told to every server process at once.

Revoking an API key, disabling a user, or changing a user's memberships is committed in PostgreSQL; every
process then has to forget what it cached about that principal and re-check the WebSocket connections it
holds for them (the GraphQL endpoint registers for that with the authenticator). The message goes over the
realtime hub, so replicas sharing Redis all hear it; it names only ids, never a secret.

Why messages rather than polling: a process may hold thousands of connections, and re-checking each every
second costs database reads all day long for changes that happen a few times a week, and is still up to a
period late. A message costs nothing until access changes and arrives within milliseconds. Messages can be
lost while Redis is down; the hub then delivers a gap marker, which listeners treat as "anything may have
changed" (forget every cached credential, re-check every connection), so nothing outlives an outage unchecked.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from uuid import UUID

ACCESS_CHANNEL = "access:changed"


@dataclass(frozen=True)
class AccessChange:
    """A change of what `key_id` or `user_id` may do (both None: anything may have changed)."""

    key_id: UUID | None = None
    user_id: UUID | None = None
    project_id: UUID | None = None

    def to_message(self, origin: str) -> dict[str, Any]:
        """`origin` names the sending process, which has applied the change already and skips its own echo."""
        fields = {"key_id": self.key_id, "user_id": self.user_id, "project_id": self.project_id}
        return {"type": "access", "origin": origin, **{k: str(v) for k, v in fields.items() if v is not None}}

    @classmethod
    def from_message(cls, message: dict[str, Any]) -> AccessChange:
        """The change a message announces; a gap marker or anything malformed means "anything may have changed"."""
        if message.get("type") != "access":
            return EVERYTHING
        try:
            ids = {k: UUID(str(message[k])) for k in ("key_id", "user_id", "project_id") if message.get(k)}
        except ValueError:
            return EVERYTHING
        return cls(**ids) if ids.keys() & {"key_id", "user_id"} else EVERYTHING

    @property
    def is_everything(self) -> bool:
        return self.key_id is None and self.user_id is None


EVERYTHING = AccessChange()
