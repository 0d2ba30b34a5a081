"""Assemble the schema: Query and Mutation from one mixin per domain, Subscription, and the guard rails.

Guard rails: depth, token and alias limits; parser and validation caches (parse+validate
dominate small queries); the error taxonomy with masking; input the stores cannot hold refused up front (NUL
characters, times outside 1900..2299).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass

import strawberry
from graphql import GraphQLError
from strawberry.extensions import (
    AddValidationRules,
    MaxAliasesLimiter,
    MaxTokensLimiter,
    ParserCache,
    QueryDepthLimiter,
    ValidationCache,
)
from strawberry.types import ExecutionContext

from benchlab.api.errors import ErrorMasking
from benchlab.api.input_text import RejectNulCharacters
from benchlab.api.mutations.alerts import AlertMutations
from benchlab.api.mutations.api_keys import ApiKeyMutations
from benchlab.api.mutations.baselines import BaselineMutations
from benchlab.api.mutations.datasets import DatasetMutations
from benchlab.api.mutations.experiments import ExperimentMutations
from benchlab.api.mutations.exports import ExportMutations
from benchlab.api.mutations.gates import GateMutations
from benchlab.api.mutations.members import MemberMutations
from benchlab.api.mutations.models import ModelMutations
from benchlab.api.mutations.production_scoring import ProductionScoringMutations
from benchlab.api.mutations.projects import ProjectMutations
from benchlab.api.mutations.prompts import PromptMutations
from benchlab.api.mutations.providers import ProviderMutations
from benchlab.api.mutations.runs import RunMutations
from benchlab.api.mutations.schedules import ScheduleMutations
from benchlab.api.mutations.scoring import ScoringMutations
from benchlab.api.mutations.users import UserMutations
from benchlab.api.prometheus_extension import OperationMetrics
from benchlab.api.queries.admin import AdminQueries
from benchlab.api.queries.analytics import AnalyticsQueries
from benchlab.api.queries.production import ProductionQueries
from benchlab.api.queries.projects import ProjectQueries
from benchlab.api.queries.server import ServerQueries
from benchlab.api.query_cost import QueryCostLimiter
from benchlab.api.rate_limits import GraphQLRateLimit
from benchlab.api.scalars import SCALAR_OVERRIDES
from benchlab.api.subscriptions import Subscription


@strawberry.type
class Query(ProjectQueries, AnalyticsQueries, AdminQueries, ServerQueries, ProductionQueries):
    """Every query field, one mixin per domain."""


@strawberry.type
class Mutation(ProjectMutations, ProviderMutations, ModelMutations, DatasetMutations, PromptMutations,
               ExperimentMutations, RunMutations, ScoringMutations, GateMutations, ApiKeyMutations, MemberMutations,
               UserMutations, BaselineMutations, ScheduleMutations, ProductionScoringMutations, AlertMutations,
               ExportMutations):
    """Every mutation, one mixin per domain. Each runs in one transaction: a failed one changes nothing."""


class ParserCacheKeepingErrors(ParserCache):
    """ParserCache that lets strawberry report syntax errors itself.

    The stock extension raises the syntax error from its hook, outside the operation, so other extensions
    (our error taxonomy) never see the result. On a syntax error we leave the document unset and strawberry
    parses again inside its own error handling; valid documents are cached as usual.
    """

    def on_parse(self) -> Iterator[None]:
        context = self.execution_context
        with contextlib.suppress(GraphQLError):
            context.graphql_document = self.cached_parse_document(context.query, **context.parse_options)
        yield


@dataclass(frozen=True)
class QueryLimits:
    max_depth: int = 12
    max_tokens: int = 4000
    max_aliases: int = 30
    max_nodes: int = 50_000


class BenchlabSchema(strawberry.Schema):
    def process_errors(self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None) -> None:
        """Silence strawberry's per-error traceback logging: ErrorMasking logs unexpected errors once."""


def build_schema(limits: QueryLimits | None = None) -> BenchlabSchema:
    limits = limits or QueryLimits()
    # The depth and alias limiters make new rule classes each time they are built, and ValidationCache keys
    # on the rule classes: built per request, the cache never hit (every document validated again, ~3 ms).
    # Build the rules once; each request gets a fresh extension carrying the same rules.
    limit_rules = [*QueryDepthLimiter(max_depth=limits.max_depth).validation_rules,
                   *MaxAliasesLimiter(max_alias_count=limits.max_aliases).validation_rules]
    return BenchlabSchema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        extensions=[
            OperationMetrics,  # first: its timing wraps every other extension (api/prometheus_extension.py)
            GraphQLRateLimit,
            lambda: MaxTokensLimiter(max_token_count=limits.max_tokens),
            lambda: AddValidationRules(limit_rules),
            lambda: ParserCacheKeepingErrors(maxsize=256),
            lambda: ValidationCache(maxsize=256),
            lambda: QueryCostLimiter(max_nodes=limits.max_nodes),
            RejectNulCharacters,
            ErrorMasking,
        ],
        scalar_overrides=SCALAR_OVERRIDES,
    )


def export_sdl() -> str:
    """The schema as SDL, exactly as checked in at schema/schema.graphql."""
    return strawberry.printer.print_schema(build_schema()) + "\n"
