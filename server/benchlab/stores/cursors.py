"""The one cursor codec: a keyset position (the sort value and the id of the last row seen) as an opaque,
URL-safe string. Every paginated list uses it, in PostgreSQL (`stores.listing`) and ClickHouse (a run's
requests) alike.

Keyset rather than offset pagination: each page is an index range scan from where the last one ended, and
rows written meanwhile never shift or repeat a page. A cursor is JSON in base64url: `[kind, value, id]`, kind
`t` for a timestamp (ISO 8601), `v` for a plain JSON value.
"""

from __future__ import annotations

import base64
import binascii
import json
from datetime import datetime
from typing import Any

from benchlab.errors import InvalidInputError

SortValue = datetime | int | float | str


def encode_cursor(sort_value: SortValue, row_id: object) -> str:
    kind, value = ("t", sort_value.isoformat()) if isinstance(sort_value, datetime) else ("v", sort_value)
    raw = json.dumps([kind, value, str(row_id)], separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str, argument: str = "after") -> tuple[Any, str]:
    """The sort value and row id inside a cursor; InvalidInputError when it is not one a list gave out."""
    try:
        kind, value, row_id = json.loads(base64.urlsafe_b64decode((cursor + "=" * (-len(cursor) % 4)).encode()))
        if kind == "t":
            value = datetime.fromisoformat(value)
        elif kind != "v":
            raise ValueError(kind)
        return value, str(row_id)
    except (binascii.Error, ValueError, TypeError, UnicodeDecodeError):
        raise InvalidInputError(f"{argument}: {cursor!r} is not a cursor of this list; pass a pageInfo.endCursor "
                                "or an edge cursor from a previous page unchanged, or leave it out to start from "
                                "the first page", argument=argument) from None
