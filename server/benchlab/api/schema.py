"""Assemble the schema: Query and Mutation from one mixin per domain, Subscription, and the guard rails.

Guard rails (DESIGN.md §6): depth, token and alias limits; parser and validation caches (parse+validate
dominate small queries); the error taxonomy with masking.
"""

from __future__ import annotations

from dataclasses import dataclass

import strawberry
from strawberry.extensions import (
    MaxAliasesLimiter,
    MaxTokensLimiter,
    ParserCache,
    QueryDepthLimiter,
    ValidationCache,
)

from benchlab.api.errors import ErrorMasking
from benchlab.api.queries.server import ServerQueries
from benchlab.api.subscriptions import Subscription


@strawberry.type
class Query(ServerQueries):
    """Every query field, one mixin per domain."""


@dataclass(frozen=True)
class QueryLimits:
    max_depth: int = 12
    max_tokens: int = 4000
    max_aliases: int = 30


class BenchlabSchema(strawberry.Schema):
    def process_errors(self, errors, execution_context=None) -> None:  # type: ignore[override]
        """Silence strawberry's per-error traceback logging: ErrorMasking logs unexpected errors once."""


def build_schema(limits: QueryLimits | None = None) -> BenchlabSchema:
    limits = limits or QueryLimits()
    return BenchlabSchema(
        query=Query,
        subscription=Subscription,
        extensions=[
            lambda: MaxTokensLimiter(max_token_count=limits.max_tokens),
            lambda: QueryDepthLimiter(max_depth=limits.max_depth),
            lambda: MaxAliasesLimiter(max_alias_count=limits.max_aliases),
            lambda: ParserCache(maxsize=256),
            lambda: ValidationCache(maxsize=256),
            ErrorMasking,
        ],
    )


def export_sdl() -> str:
    """The schema as SDL, exactly as checked in at schema/schema.graphql."""
    return strawberry.printer.print_schema(build_schema()) + "\n"
