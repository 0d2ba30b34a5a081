"""Input errors of the analytics layer: the message names the argument and says what to change.

They are `InvalidInputError`s (the API's BAD_USER_INPUT) carrying the offending argument in `extensions`.
"""

from __future__ import annotations

from benchlab.errors import InvalidInputError


class AnalyticsInputError(InvalidInputError):
    """An analytics argument is out of range or malformed; nothing was queried."""

    def __init__(self, argument: str, problem: str) -> None:
        super().__init__(f"{argument}: {problem}", argument=argument)
        self.argument = argument
        self.problem = problem


class InvalidCursorError(AnalyticsInputError):
    """A pagination cursor that this layer did not produce (or that was altered)."""
