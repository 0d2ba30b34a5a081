"""Run ids as people copy them: the UUID the CLI prints, or the API's global id (`Run:<uuid>`, base64url).

The API accepts both wherever it expects a run (api/ids.py); the CLI prints the UUID and accepts both.
"""

from __future__ import annotations

import argparse
import base64
import binascii
from uuid import UUID


def object_uuid(value: str, type_name: str) -> UUID:
    """The UUID of a `type_name` given as a bare UUID or as a global id; ValueError otherwise."""
    value = value.strip()
    try:
        return UUID(value)
    except ValueError:
        pass
    try:
        decoded = base64.urlsafe_b64decode((value + "=" * (-len(value) % 4)).encode()).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise ValueError(f"{value!r} is not a {type_name} id") from None
    found, _, raw = decoded.partition(":")
    if found != type_name:
        raise ValueError(f"{value!r} is not a {type_name} id" + (f" (it is a {found}'s)" if found.isalnum() else ""))
    return UUID(raw)


def run_uuid(value: str) -> UUID:
    return object_uuid(value, "Run")


def run_id_argument(value: str) -> UUID:
    """argparse type of RUN_ID: a run's UUID (as printed) or its global id (as the API returns it)."""
    try:
        return run_uuid(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{exc}: give the UUID `benchlab run` printed, or the run's `id`") from None
