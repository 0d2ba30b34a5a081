"""Walk the whole schema: every field that reads or writes project data declares a permission check.

Rules, checked on the real schema (and shown to catch a violation on a schema built to break them):
- every root field (Query, Mutation, Subscription) has a permission class; only `PUBLIC_FIELDS` may use
  `Public`;
- every field anywhere that takes an object id (an `ID` argument) checks a project role for it, or is a
  root field that narrows what it returns to the caller (SignedIn with a resolver-level filter, listed);
- the fields of `Project` that expose people and credentials (members, apiKeys, auditLog) check a role.
"""

from __future__ import annotations

import strawberry
from strawberry.types.base import StrawberryObjectDefinition

from benchlab.api.mutations.runs import StartRunInput
from benchlab.api.permissions import InstanceAdmin, ProjectRole, Public, SignedIn
from benchlab.api.schema import Mutation, Query, Subscription, build_schema

PUBLIC_FIELDS = {"Query.serverInfo", "Query.viewer"}
ID_FIELDS_FILTERED_IN_RESOLVER = {"Query.node"}   # returns null for objects of other projects
SENSITIVE = {"Project.members", "Project.apiKeys", "Project.auditLog", "Project.alertWebhooks"}


def _fields(schema: strawberry.Schema) -> list[tuple[str, object]]:
    """Every field of every object type, named `Type.field` (root types by their role: Query, Mutation, …)."""
    graphql = schema._schema
    roots = {t.name: role for t, role in ((graphql.query_type, "Query"), (graphql.mutation_type, "Mutation"),
                                          (graphql.subscription_type, "Subscription")) if t is not None}
    out = []
    for name, graphql_type in graphql.type_map.items():
        definition = getattr(graphql_type, "extensions", {}).get("strawberry-definition")
        if isinstance(definition, StrawberryObjectDefinition) and not name.startswith("__"):
            out += [(f"{roots.get(name, name)}.{schema.config.name_converter.get_graphql_name(f)}", f)
                    for f in definition.fields]
    return out


def violations(schema: strawberry.Schema) -> list[str]:
    problems = []
    for path, field in _fields(schema):
        type_name = path.split(".")[0]
        permissions = list(field.permission_classes)
        root = type_name in ("Query", "Mutation", "Subscription")
        if root and not permissions:
            problems.append(f"{path}: root field without a permission class")
        if Public in permissions and path not in PUBLIC_FIELDS:
            problems.append(f"{path}: public, but not in PUBLIC_FIELDS")
        takes_id = any(_mentions_id(argument.type) for argument in field.arguments)
        checks_project = any(isinstance(p, type) and issubclass(p, ProjectRole) for p in permissions)
        checked = checks_project or InstanceAdmin in permissions or path in ID_FIELDS_FILTERED_IN_RESOLVER
        if takes_id and not checked:
            problems.append(f"{path}: takes an id but checks no project role")
        if path in SENSITIVE and not checks_project:
            problems.append(f"{path}: exposes people or credentials without a role check")
    return problems


def _mentions_id(argument_type: object) -> bool:
    """An ID argument, directly or inside an input object (e.g. `input: {experimentId}`)."""
    definition = getattr(argument_type, "__strawberry_definition__", None)
    if definition is not None and definition.is_input:
        return any(_mentions_id(f.type) for f in definition.fields)
    return "ID" in str(argument_type)


def test_every_project_field_has_a_permission_check() -> None:
    assert violations(build_schema()) == []


def test_the_walk_catches_an_unchecked_field() -> None:
    @strawberry.type
    class LeakyQuery(Query):
        @strawberry.field
        def leaky_run(self, id: strawberry.ID) -> str:
            return id

        @strawberry.field(permission_classes=[SignedIn])
        def leaky_by_id(self, id: strawberry.ID) -> str:
            return id

        @strawberry.field(permission_classes=[SignedIn])
        def leaky_input(self, input: StartRunInput) -> str:
            return input.experiment_id

    leaky = strawberry.Schema(query=LeakyQuery, mutation=Mutation, subscription=Subscription)
    found = violations(leaky)
    assert "Query.leakyRun: root field without a permission class" in found
    assert "Query.leakyById: takes an id but checks no project role" in found
    assert "Query.leakyInput: takes an id but checks no project role" in found
