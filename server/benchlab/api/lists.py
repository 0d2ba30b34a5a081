"""Every list the API serves, as the table (or join) it reads and the parent it hangs from."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar
from uuid import UUID

from strawberry.types import Info

from benchlab.api.context import loaders_of
from benchlab.api.loaders import Filter, ListArgs, ListSpec
from benchlab.api.pagination import Connection, check_first, to_connection

T = TypeVar("T")

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
ITEM_REVISIONS = ("(SELECT r.*, i.external_id, i.dataset_id FROM dataset_item_revisions r "
                  "JOIN dataset_items i ON i.id = r.item_id)")

NOT_ARCHIVED: Filter = ("archived_at IS NULL", None)


async def connection(info: Info, spec: ListSpec, parent_id: UUID | None, first: int, after: str | None,
                     convert: Callable[[Any], T], filters: tuple[Filter, ...] = (), sort_column: str | None = None,
                     descending: bool | None = None) -> Connection[T]:
    """A page of `spec` under `parent_id` as a connection, batched with every sibling list of the request."""
    args = ListArgs(check_first(first), after, filters, sort_column, descending)
    loaders = loaders_of(info)
    page = await loaders.page(spec, parent_id, args)
    return to_connection(page, convert, lambda: loaders.count(spec, parent_id, filters))


def archived_filter(include_archived: bool) -> tuple[Filter, ...]:
    return () if include_archived else (NOT_ARCHIVED,)
