"""Reject queries that could return more objects than a configured budget, before running them.

Each list field multiplies by its `first` argument: `projects(first: 100) { runs(first: 100) { … } }` may
return 100 + 100 × 100 nodes. GraphQL's depth and token limits do not see this; a budget on the worst-case
node count does (GitHub's API works the same way). The estimate uses the variables of the request, so the
error can name the fields and say how to paginate.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
    VariableNode,
    value_from_ast_untyped,
)
from strawberry.extensions import SchemaExtension

from benchlab.api.errors import ErrorCode


def _first_of(field: FieldNode, variables: dict[str, Any]) -> int | None:
    for argument in field.arguments or ():
        if argument.name.value == "first":
            if isinstance(argument.value, VariableNode):
                value = variables.get(argument.value.name.value)
            else:
                value = value_from_ast_untyped(argument.value, variables)
            return value if isinstance(value, int) and value > 0 else 1
    return None


def estimate(selection_set: SelectionSetNode | None, fragments: dict[str, FragmentDefinitionNode],
             variables: dict[str, Any], multiplier: int = 1, path: str = "",
             trail: list[str] | None = None, seen: frozenset[str] = frozenset()) -> int:
    """Worst-case nodes returned under `selection_set`; `trail` collects the list fields on the costliest path."""
    total = 0
    for field, field_path in _fields(selection_set, fragments, path, seen):
        first = _first_of(field, variables)
        if first is None:
            total += estimate(field.selection_set, fragments, variables, multiplier, field_path, trail, seen)
            continue
        nodes = multiplier * first
        if trail is not None:
            trail.append(f"{field_path}(first: {first})")
        total += nodes + estimate(field.selection_set, fragments, variables, nodes, field_path, trail, seen)
    return total


def _fields(selection_set: SelectionSetNode | None, fragments: dict[str, FragmentDefinitionNode], path: str,
            seen: frozenset[str]) -> Iterator[tuple[FieldNode, str]]:
    for selection in selection_set.selections if selection_set else ():
        if isinstance(selection, FieldNode):
            name = selection.alias.value if selection.alias else selection.name.value
            yield selection, f"{path}.{name}" if path else name
        elif isinstance(selection, InlineFragmentNode):
            yield from _fields(selection.selection_set, fragments, path, seen)
        elif isinstance(selection, FragmentSpreadNode):
            name = selection.name.value
            if name in fragments and name not in seen:  # cycles are a validation error anyway
                yield from _fields(fragments[name].selection_set, fragments, path, seen | {name})


class QueryCostLimiter(SchemaExtension):
    def __init__(self, *, max_nodes: int) -> None:
        self.max_nodes = max_nodes

    def on_execute(self) -> Iterator[None]:
        context = self.execution_context
        document = context.graphql_document
        if document is not None:
            fragments = {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}
            variables = context.variables or {}
            for operation in document.definitions:
                if not isinstance(operation, OperationDefinitionNode):
                    continue
                if context.operation_name and operation.name and operation.name.value != context.operation_name:
                    continue
                trail: list[str] = []
                cost = estimate(operation.selection_set, fragments, variables, trail=trail)
                if cost > self.max_nodes:
                    raise GraphQLError(
                        f"this query may return up to {cost} objects ({', '.join(trail)}); the limit is "
                        f"{self.max_nodes}. Ask for fewer items per page with `first` and fetch the rest with "
                        "`after: pageInfo.endCursor`, or split the query.",
                        extensions={"code": ErrorCode.BAD_USER_INPUT.value, "cost": cost,
                                    "maxNodes": self.max_nodes})
        yield
