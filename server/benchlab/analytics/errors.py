"""Input errors of the analytics layer: the message names the argument and says what to change.

The GraphQL layer can show these as they are (they are `BenchlabError`s), and map `argument` onto the
offending input field.
"""

from __future__ import annotations

from benchlab.errors import BenchlabError


class AnalyticsInputError(BenchlabError):
    """An analytics argument is out of range or malformed; nothing was queried."""

    def __init__(self, argument: str, problem: str) -> None:
        super().__init__(f"{argument}: {problem}")
        self.argument = argument
        self.problem = problem


class InvalidCursorError(AnalyticsInputError):
    """A pagination cursor that this layer did not produce (or that was altered)."""
