"""Opaque keyset cursors for request lists: the (ts, event_id) of the last row seen, base64url-encoded.

Keyset rather than offset pagination: each page is an index range scan from where the last one ended, and
rows written meanwhile never shift or repeat a page.
"""

from __future__ import annotations

import base64
import binascii
from uuid import UUID

from benchlab.analytics.columns import epoch_micros
from benchlab.analytics.errors import InvalidCursorError
from benchlab.analytics.validation import LATEST

_VERSION = "1"
_LATEST_US = epoch_micros(LATEST)  # no row is later; a larger number would wrap around ClickHouse's Int64


def encode_cursor(ts_us: int, event_id: UUID) -> str:
    """`ts_us` is the row's `ts` in microseconds since the epoch."""
    payload = f"{_VERSION}:{ts_us}:{event_id.hex}".encode()
    return base64.urlsafe_b64encode(payload).decode().rstrip("=")


def decode_cursor(cursor: str, argument: str = "after") -> tuple[int, UUID]:
    """The (ts in microseconds, event id) a cursor points at; anything else is an InvalidCursorError."""
    try:
        payload = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        version, ts_us, event_hex = payload.split(":")
        if version != _VERSION or not ts_us.isdigit() or int(ts_us) > _LATEST_US:
            raise ValueError(payload)
        return int(ts_us), UUID(hex=event_hex)
    except (ValueError, TypeError, binascii.Error, UnicodeDecodeError):
        raise InvalidCursorError(argument, "is not a cursor returned by this list; pass a cursor from a "
                                           "previous page unchanged, or leave it out to start from the "
                                           "first page") from None
