"""A run's requests are paged by (ts, event_id), ClickHouse's order: the shared cursor codec
(stores/cursors.py) carries the timestamp in microseconds since the epoch and the event id."""

from __future__ import annotations

from uuid import UUID

from benchlab.analytics.columns import epoch_micros
from benchlab.analytics.errors import InvalidCursorError
from benchlab.analytics.validation import LATEST
from benchlab.errors import InvalidInputError
from benchlab.stores import cursors

_LATEST_US = epoch_micros(LATEST)  # no row is later; a larger number would wrap around ClickHouse's Int64


def encode_cursor(ts_us: int, event_id: UUID) -> str:
    """`ts_us` is the row's `ts` in microseconds since the epoch."""
    return cursors.encode_cursor(ts_us, event_id)


def decode_cursor(cursor: str, argument: str = "after") -> tuple[int, UUID]:
    """The (ts in microseconds, event id) a cursor points at; anything else is an InvalidCursorError."""
    try:
        ts_us, event_id = cursors.decode_cursor(cursor, argument)
        if isinstance(ts_us, bool) or not isinstance(ts_us, int) or not 0 <= ts_us <= _LATEST_US:
            raise ValueError(ts_us)
        return ts_us, UUID(event_id)
    except (InvalidInputError, ValueError):
        raise InvalidCursorError(argument, "is not a cursor returned by this list; pass a cursor from a "
                                           "previous page unchanged, or leave it out to start from the "
                                           "first page") from None
