"""Refuse text no store can hold, once, before any resolver runs: the NUL character (U+0000).

PostgreSQL's text and jsonb cannot hold U+0000; asyncpg raises CharacterNotInRepertoireError from deep inside a
resolver, which the client would only see as INTERNAL. Checking here covers every string an operation carries,
whichever argument or store it is meant for: literals in the document (inside input objects, lists and JSON
literals too, and variable defaults) and variable values (JSON object keys too). The error names where the NUL
is, e.g. `createDataset(input.name)` or `$input.name`.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from graphql import (
    BREAK,
    SKIP,
    ArgumentNode,
    DocumentNode,
    FieldNode,
    GraphQLError,
    ListValueNode,
    ObjectValueNode,
    StringValueNode,
    ValueNode,
    VariableDefinitionNode,
    Visitor,
    visit,
)
from graphql.language.visitor import VisitorAction
from strawberry.extensions import SchemaExtension

from benchlab.api.errors import ErrorCode

NUL = "\x00"


class RejectNulCharacters(SchemaExtension):
    """BAD_USER_INPUT for an operation with a NUL character in any string it passes."""

    def on_execute(self) -> Iterator[None]:
        context = self.execution_context
        variables = context.variables if isinstance(context.variables, dict) else {}
        where = nul_in_variables(variables) or nul_in_document(context.graphql_document)
        if where is not None:
            raise GraphQLError(f"{where}: contains a NUL character (U+0000), which cannot be stored; remove it",
                               extensions={"code": ErrorCode.BAD_USER_INPUT.value, "argument": where})
        yield


def nul_in_variables(variables: dict[str, Any]) -> str | None:
    """Where the first NUL in the variables' values is, as `$name.path[0]`; None when there is none."""
    for name, value in variables.items():
        where = _nul_in_value(value, f"${name}")
        if where is not None:
            return where
    return None


def _nul_in_value(value: object, where: str) -> str | None:
    if isinstance(value, str):
        return where if NUL in value else None
    if isinstance(value, dict):
        for key, item in value.items():
            if NUL in str(key):
                return f"{where} (a key)"
            found = _nul_in_value(item, f"{where}.{key}")
            if found is not None:
                return found
    if isinstance(value, list):
        for index, item in enumerate(value):
            found = _nul_in_value(item, f"{where}[{index}]")
            if found is not None:
                return found
    return None


def nul_in_document(document: DocumentNode | None) -> str | None:
    """Where the first NUL in the document's literals is, as `field.path(argument.path)`, or `$name` for the
    default of a variable; None when there is none."""
    if document is None:
        return None
    finder = _NulFinder()
    visit(document, finder)
    return finder.found


class _NulFinder(Visitor):
    def __init__(self) -> None:
        super().__init__()
        self.fields: list[str] = []
        self.found: str | None = None

    def enter_field(self, node: FieldNode, *_: object) -> None:
        self.fields.append((node.alias or node.name).value)

    def leave_field(self, node: FieldNode, *_: object) -> None:
        self.fields.pop()

    def enter_argument(self, node: ArgumentNode, *_: object) -> VisitorAction:
        return self._check(node.value, f"{'.'.join(self.fields)}({node.name.value}", ")")

    def enter_variable_definition(self, node: VariableDefinitionNode, *_: object) -> VisitorAction:
        return self._check(node.default_value, f"${node.variable.name.value}", "")

    def _check(self, value: ValueNode | None, prefix: str, suffix: str) -> VisitorAction:
        where = _nul_in_literal(value, "")
        if where is None:
            return SKIP  # a value holds no fields or arguments: nothing more to visit in it
        self.found = prefix + where + suffix
        return BREAK


def _nul_in_literal(node: ValueNode | None, where: str) -> str | None:
    if isinstance(node, StringValueNode):
        return where if NUL in node.value else None
    if isinstance(node, ObjectValueNode):
        for field in node.fields:
            found = _nul_in_literal(field.value, f"{where}.{field.name.value}")
            if found is not None:
                return found
    if isinstance(node, ListValueNode):
        for index, item in enumerate(node.values):
            found = _nul_in_literal(item, f"{where}[{index}]")
            if found is not None:
                return found
    return None
