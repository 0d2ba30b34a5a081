"""Relay global ids: `Type:uuid`, base64url-encoded, so any object can be refetched with `node(id:)`.

The type name travels inside the id so a client cannot pass a Run's id where a Project's is expected
without a clear error, and so `node` knows which table to read.

Where the type is known (every `ID` argument but `node(id:)`'s), the bare database UUID is accepted too: it is
what the command line prints (`run 0b5c…: completed`, `benchlab run --resume RUN_ID`), so a run id copied from
a terminal or a CI log works in the API as is. A bare UUID carries no type, so it is looked up in the expected
type's table only (another type's UUID is simply not found there); `node(id:)`, which has no expected type,
still needs a global id. A global id of another type is refused as before.
"""

from __future__ import annotations

import base64
import binascii
import re
from uuid import UUID

from benchlab.errors import InvalidInputError

# The canonical text of a UUID (what `str(uuid)` and the CLI print). No global id has this shape: the shortest,
# `A:<uuid>` base64-encoded, is 51 characters.
_BARE_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


def encode_global_id(type_name: str, db_id: UUID) -> str:
    return base64.urlsafe_b64encode(f"{type_name}:{db_id}".encode()).decode().rstrip("=")


def decode_global_id(global_id: str) -> tuple[str, UUID]:
    """The type name and database id inside a global id; BAD_USER_INPUT when it is not one of ours."""
    if _BARE_UUID.fullmatch(global_id):
        raise InvalidInputError(f"{global_id!r} is a bare UUID, which names no type here; use the `id` field of an "
                                "object this API returned", argument="id")
    try:
        padded = global_id + "=" * (-len(global_id) % 4)
        type_name, _, raw = base64.urlsafe_b64decode(padded.encode()).decode().partition(":")
        if not type_name:
            raise ValueError(global_id)
        return type_name, UUID(raw)
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise InvalidInputError(f"{global_id!r} is not a valid id; use the `id` field of an object this API returned",
                           argument="id") from None


def expect_id(global_id: str, type_name: str, argument: str = "id") -> UUID:
    """The database id of a global id that must name a `type_name`, or of a bare UUID (taken as a `type_name`'s)."""
    if _BARE_UUID.fullmatch(global_id):
        return UUID(global_id)
    found, db_id = decode_global_id(global_id)
    if found != type_name:
        raise InvalidInputError(f"{argument}: expected the id of {with_article(type_name)}, got the id of "
                           f"{with_article(found)}", argument=argument)
    return db_id


def with_article(type_name: str) -> str:
    """`a Run`, `an Experiment`: by the first letter, which is right for every type of this API (`a User`)."""
    return f"{'an' if type_name[:1].upper() in {'A', 'E', 'I', 'O'} else 'a'} {type_name}"
