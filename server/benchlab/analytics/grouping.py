"""Group keys: the dimensions a run's numbers are split by, as names a client uses and SQL that computes them."""

from __future__ import annotations

from collections.abc import Sequence

from benchlab.analytics.errors import AnalyticsInputError
from benchlab.analytics.validation import reject_duplicates

# Values come back as strings in every case, so a key column has one type whatever the key.
GROUP_KEYS: dict[str, str] = {
    "run": "toString(run_id)",
    "model": "model",
    "prompt_version": "prompt_version",
    "params": "params_hash",
    "load_phase": "load_phase",
}


def group_expressions(group_by: Sequence[str], *, allowed: Sequence[str] = tuple(GROUP_KEYS),
                      argument: str = "group_by") -> list[str]:
    """SQL expressions for the requested keys, in the requested order."""
    if isinstance(group_by, str):
        raise AnalyticsInputError(argument, "pass a list of group keys, not a single string")
    reject_duplicates(group_by, argument)
    for key in group_by:
        if key not in allowed:
            raise AnalyticsInputError(argument, f"unknown group key {key!r}; use any of {', '.join(allowed)}")
    return [GROUP_KEYS[key] for key in group_by]
