"""The error taxonomy clients can rely on, and the masking of everything else.

Every error a client sees carries `extensions.code`: one of BAD_USER_INPUT, UNAUTHENTICATED, FORBIDDEN,
NOT_FOUND, CONFLICT, RATE_LIMITED for errors meant for them (the classes of benchlab.errors, mapped here), or
INTERNAL for anything unexpected. An INTERNAL
error's message is replaced by "internal error" and the request id; the real exception is logged
server-side under the same id, so a user's report can be matched to the log without leaking details.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from enum import StrEnum
from typing import Any, Protocol, runtime_checkable

from graphql import GraphQLError
from strawberry.extensions import SchemaExtension
from strawberry.types import StreamExecutionResult

from benchlab.errors import (
    BenchlabError,
    ConflictError,
    ForbiddenError,
    NotFoundError,
    RateLimitedError,
    UnauthenticatedError,
)

log = logging.getLogger("benchlab.api")


class ErrorCode(StrEnum):
    BAD_USER_INPUT = "BAD_USER_INPUT"
    UNAUTHENTICATED = "UNAUTHENTICATED"
    FORBIDDEN = "FORBIDDEN"
    NOT_FOUND = "NOT_FOUND"
    CONFLICT = "CONFLICT"
    RATE_LIMITED = "RATE_LIMITED"
    INTERNAL = "INTERNAL"


_CODES: tuple[tuple[type[BenchlabError], ErrorCode], ...] = (
    (UnauthenticatedError, ErrorCode.UNAUTHENTICATED),
    (ForbiddenError, ErrorCode.FORBIDDEN),
    (NotFoundError, ErrorCode.NOT_FOUND),
    (ConflictError, ErrorCode.CONFLICT),
    (RateLimitedError, ErrorCode.RATE_LIMITED),
    (BenchlabError, ErrorCode.BAD_USER_INPUT),  # InvalidInputError, and any other error written for the user
)


def code_of(error: BenchlabError) -> ErrorCode:
    return next(code for cls, code in _CODES if isinstance(error, cls))


def classify(error: GraphQLError) -> tuple[ErrorCode, dict[str, Any]] | None:
    """The code and extensions for an error the client may see, or None when it must be masked."""
    original = error.original_error
    existing = _known_code((error.extensions or {}).get("code"))
    if original is None:
        # Syntax, validation and limit errors from graphql-core or an extension, or an error presented already.
        return existing or ErrorCode.BAD_USER_INPUT, {}
    if isinstance(original, BenchlabError):
        problems = getattr(original, "problems", None)  # every problem of an input, with its path
        return code_of(original), {**original.extensions, **({"problems": list(problems)} if problems else {})}
    if isinstance(original, GraphQLError):
        return classify(original)
    if existing is not None:
        return existing, {}
    return None


def _known_code(code: object) -> ErrorCode | None:
    return ErrorCode(code) if isinstance(code, str) and code in ErrorCode.__members__ else None


def request_id_of(context: object) -> str:
    if isinstance(context, dict):
        return str(context.get("request_id", "-"))
    return "-"


class ErrorMasking(SchemaExtension):
    """Put the taxonomy code on every error; mask and log the unexpected ones."""

    def on_operation(self) -> Iterator[None]:
        yield
        self._present_errors_of(self.execution_context.result)

    def on_stream_result(self, result: StreamExecutionResult) -> Iterator[None]:
        """Subscription events reach the client through this hook, not through on_operation."""
        self._present_errors_of(result)
        yield

    def _present_errors_of(self, result: object) -> None:
        if isinstance(result, _WithErrors) and result.errors:
            request_id = request_id_of(self.execution_context.context)
            result.errors = [present(error, request_id) for error in result.errors]


@runtime_checkable
class _WithErrors(Protocol):
    """Any of strawberry's and graphql-core's execution results: the errors are what ErrorMasking rewrites."""

    errors: list[GraphQLError] | None


def present(error: GraphQLError, request_id: str) -> GraphQLError:
    """The error as the client sees it."""
    verdict = classify(error)
    if verdict is None:
        original = error.original_error
        log.error("internal error in GraphQL resolver (request id %s, path %s)", request_id,
                  ".".join(str(p) for p in error.path or []),
                  exc_info=(type(original), original, original.__traceback__) if original else None)
        return GraphQLError(f"internal error (request id {request_id})", nodes=error.nodes, path=error.path,
                            extensions={"code": ErrorCode.INTERNAL.value, "requestId": request_id})
    code, extensions = verdict
    return GraphQLError(error.message, nodes=error.nodes, source=error.source, positions=error.positions,
                        path=error.path, original_error=None,
                        extensions={**(error.extensions or {}), **extensions, "code": code.value})
