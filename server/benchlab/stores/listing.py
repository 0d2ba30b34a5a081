"""The API's reads, batched: rows by id, pages of children per parent, counts per parent and memberships, each
in one statement however many parents ask (the API's DataLoaders gather the keys of a request).

A page of many parents' children comes from one windowed query (`row_number() OVER (PARTITION BY parent
ORDER BY sort, id)`); a keyset, the sort value and id of the last row seen, continues a list after that row,
so pages stay stable while rows are added (offsets would skip or repeat rows). Every list the API serves is a
`ListSpec` below: the table (or join) it reads, the parent column it hangs from, its default order.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol
from uuid import UUID

import asyncpg

Filter = tuple[str, Any]   # an SQL condition with `$?` for its one bound value, and the value
Keyset = tuple[Any, Any]   # the sort value and id of the last row seen


class Reader(Protocol):
    """Whatever runs a statement and returns its rows: a pool, a connection, the API's per-request counter."""

    async def fetch(self, sql: str, /, *args: Any) -> list[asyncpg.Record]: ...


@dataclass(frozen=True)
class ListSpec:
    """A list of rows of `source`, optionally children of a parent row through `parent_column`."""

    name: str
    source: str
    parent_column: str | None
    sort_column: str = "created_at"
    descending: bool = True
    integer_ids: bool = False   # bigint identity ids (the audit log) instead of UUIDs


PROJECTS = ListSpec("projects", "projects", None)
PROJECT_PROVIDERS = ListSpec("project_providers", "providers", "project_id")
PROJECT_MODELS = ListSpec("project_models", "models", "project_id")
PROJECT_DATASETS = ListSpec("project_datasets", "datasets", "project_id")
PROJECT_PROMPTS = ListSpec("project_prompts", "prompts", "project_id")
PROJECT_EXPERIMENTS = ListSpec("project_experiments", "experiments", "project_id")
PROJECT_RUNS = ListSpec("project_runs", "runs", "project_id")
EXPERIMENT_RUNS = ListSpec("experiment_runs", "runs", "experiment_id")
DATASET_VERSIONS = ListSpec("dataset_versions", "dataset_versions", "dataset_id", sort_column="version")
PROMPT_VERSIONS = ListSpec("prompt_versions", "prompt_versions", "prompt_id")
VERSION_ITEMS = ListSpec(
    "version_items",
    "(SELECT dvi.version_id, dvi.position, r.*, i.external_id, i.dataset_id FROM dataset_version_items dvi "
    "JOIN dataset_item_revisions r ON r.id = dvi.revision_id JOIN dataset_items i ON i.id = r.item_id)",
    "version_id", sort_column="position", descending=False)

PROJECT_MEMBERS = ListSpec(
    "project_members",
    "(SELECT pm.project_id, pm.user_id AS id, pm.role, pm.created_at, u.email, u.display_name, "
    "u.is_instance_admin, u.disabled_at, u.created_at AS user_created_at "
    "FROM project_members pm JOIN users u ON u.id = pm.user_id)", "project_id")
PROJECT_API_KEYS = ListSpec("project_api_keys", "api_keys", "project_id")
PROJECT_AUDIT = ListSpec("project_audit", "audit_log", "project_id", sort_column="at", integer_ids=True)
AUDIT = ListSpec("audit", "audit_log", None, sort_column="at", integer_ids=True)
USERS = ListSpec("users", "users", None)
# A dataset item as the API shows it: one revision, with its item's id in the dataset.
ITEM_REVISIONS = ("(SELECT r.*, i.external_id, i.dataset_id FROM dataset_item_revisions r "
                  "JOIN dataset_items i ON i.id = r.item_id)")

NOT_ARCHIVED: Filter = ("archived_at IS NULL", None)
NOT_REVOKED: Filter = ("revoked_at IS NULL", None)


def project_is(project_id: UUID) -> Filter:
    """Only this project (in the list of projects)."""
    return ("id = $?", project_id)


def projects_of_member(user_id: UUID) -> Filter:
    """Only the projects the user is a member of (in the list of projects)."""
    return ("id IN (SELECT project_id FROM project_members WHERE user_id = $?)", user_id)


def audit_action_is(action: str) -> Filter:
    """Only audit entries of this action (e.g. `api_key.create`)."""
    return ("action = $?", action)


def run_filters(statuses: Sequence[str] = (), experiment_id: UUID | None = None,
                created_after: datetime | None = None, created_before: datetime | None = None,
                finished_only: bool = False) -> tuple[Filter, ...]:
    """Conditions on a list of runs; each one given narrows it."""
    filters: list[Filter] = []
    if statuses:
        filters.append(("status = ANY($?::text[])", tuple(statuses)))
    if experiment_id is not None:
        filters.append(("experiment_id = $?", experiment_id))
    if created_after is not None:
        filters.append(("created_at >= $?", created_after))
    if created_before is not None:
        filters.append(("created_at < $?", created_before))
    if finished_only:
        filters.append(("finished_at IS NOT NULL", None))
    return tuple(filters)


async def rows_by_id(db: Reader, source: str, ids: Sequence[UUID]) -> dict[UUID, asyncpg.Record]:
    """The whole rows of `source` with these ids, by id (missing ids are left out)."""
    rows = await db.fetch(f"SELECT * FROM {source} t WHERE id = ANY($1::uuid[])", ids)
    return {row["id"]: row for row in rows}


async def row_by_id(db: Reader, source: str, row_id: UUID) -> asyncpg.Record | None:
    rows = await db.fetch(f"SELECT * FROM {source} t WHERE id = $1", row_id)
    return rows[0] if rows else None


async def member_roles(db: Reader, keys: Sequence[tuple[UUID, UUID]]) -> dict[tuple[UUID, UUID], str]:
    """The role of each (user id, project id) pair that is a membership."""
    rows = await db.fetch(
        "SELECT user_id, project_id, role FROM project_members "
        "WHERE (user_id, project_id) IN (SELECT * FROM unnest($1::uuid[], $2::uuid[]))",
        [u for u, _ in keys], [p for _, p in keys])
    return {(row["user_id"], row["project_id"]): row["role"] for row in rows}


async def fetch_pages(db: Reader, spec: ListSpec, parent_ids: Sequence[UUID], *, first: int,
                      after: Keyset | None = None, filters: tuple[Filter, ...] = (), sort_column: str | None = None,
                      descending: bool | None = None) -> dict[UUID | None, list[asyncpg.Record]]:
    """Up to `first + 1` rows per parent (one more than a page, to tell whether more follow), in list order.

    `sort_column` and `descending` default to the spec's; a list without parent is keyed by None.
    """
    params: list[Any] = []
    conditions = _conditions(spec, filters, params, parent_ids)
    sort = sort_column or spec.sort_column
    descending = spec.descending if descending is None else descending
    direction = "DESC" if descending else "ASC"
    if after is not None:
        params += list(after)
        conditions.append(f"({sort}, id) {'<' if descending else '>'} (${len(params) - 1}, ${len(params)})")
    partition = f"PARTITION BY {spec.parent_column} " if spec.parent_column else ""
    where = " AND ".join(conditions) or "true"
    rows = await db.fetch(
        f"SELECT * FROM (SELECT t.*, row_number() OVER ({partition}ORDER BY {sort} {direction}, id "
        f"{direction}) AS _rn FROM {spec.source} t WHERE {where}) s WHERE _rn <= {first + 1} ORDER BY _rn", *params)
    grouped: dict[UUID | None, list[asyncpg.Record]] = defaultdict(list)
    for row in rows:
        grouped[row[spec.parent_column] if spec.parent_column else None].append(row)
    return dict(grouped)


async def count_rows(db: Reader, spec: ListSpec, parent_ids: Sequence[UUID],
                     filters: tuple[Filter, ...] = ()) -> dict[UUID | None, int]:
    """The number of rows per parent (parents without rows are left out; None for a list without parent)."""
    params: list[Any] = []
    where = " AND ".join(_conditions(spec, filters, params, parent_ids)) or "true"
    if spec.parent_column is None:
        sql = f"SELECT NULL AS parent, count(*) AS n FROM {spec.source} t WHERE {where}"
    else:
        sql = (f"SELECT {spec.parent_column} AS parent, count(*) AS n FROM {spec.source} t WHERE {where} "
               f"GROUP BY {spec.parent_column}")
    return {row["parent"]: row["n"] for row in await db.fetch(sql, *params)}


def _conditions(spec: ListSpec, filters: tuple[Filter, ...], params: list[Any],
                parent_ids: Sequence[UUID]) -> list[str]:
    conditions = []
    if spec.parent_column is not None:
        params.append(list(parent_ids))
        conditions.append(f"{spec.parent_column} = ANY(${len(params)}::uuid[])")
    for template, value in filters:
        if "$?" in template:
            params.append(value)
            template = template.replace("$?", f"${len(params)}")
        conditions.append(template)
    return conditions
