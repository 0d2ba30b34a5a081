"""The one error hierarchy: errors meant for a person, at the command line or through the API.

Every `BenchlabError` has a message written for the user, safe to print or send as is (never a secret). The
command line prints it as one line (`benchlab: error: ...`, exit status 2); the API maps each class to an
`extensions.code` (api/errors.py). Anything that is not a `BenchlabError` is a bug: masked by the API,
logged with a traceback.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


class BenchlabError(Exception):
    """An error whose message is safe to show; `extensions` are details an API client can act on."""

    def __init__(self, message: str, **extensions: Any) -> None:
        super().__init__(message)
        self.extensions = extensions


class InvalidInputError(BenchlabError):
    """The input is invalid (API: BAD_USER_INPUT). Given a list, `problems` holds each problem as
    `path: what is wrong and how to fix it`, and the API sends them all in `extensions.problems`."""

    def __init__(self, problems: str | Sequence[str], **extensions: Any) -> None:
        self.problems = [] if isinstance(problems, str) else list(problems)
        super().__init__(problems if isinstance(problems, str) else "\n".join(self.problems), **extensions)


class UnauthenticatedError(BenchlabError):
    """No valid credential, or a credential that is present but wrong (API: UNAUTHENTICATED)."""


class ForbiddenError(BenchlabError):
    """The caller is known but may not do this; the message names the role needed (API: FORBIDDEN)."""


class NotFoundError(BenchlabError):
    """The entity does not exist in the caller's project (other projects' entities are reported alike)."""


class ConflictError(BenchlabError):
    """The request clashes with stored state (a taken name, an archived entity, a finished run); the message
    says what exists and what to do instead (API: CONFLICT)."""


class RateLimitedError(BenchlabError):
    """Too many requests; `extensions` say when to try again (API: RATE_LIMITED)."""


class ConfigError(BenchlabError):
    """A `BENCHLAB_*` setting is malformed; the message names the variable and how to fix it."""

    def __init__(self, variable: str, problem: str) -> None:
        super().__init__(f"{variable}: {problem}")
        self.variable = variable


class StoreUnavailableError(BenchlabError):
    """A store could not be reached or started; the message names the setting that points at it."""

    def __init__(self, variable: str, target: str, problem: str) -> None:
        super().__init__(f"{variable}: cannot use {target}: {problem}")
        self.variable = variable


class DataDirBusyError(BenchlabError):
    """Another benchlab process owns the data directory (chDB allows one engine per directory)."""
