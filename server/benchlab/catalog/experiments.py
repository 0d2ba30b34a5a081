"""Experiment commands: a spec document (the YAML spec's structure, see `benchlab.spec`) that may refer to
stored entities by name (`spec_references`), validated by the spec loader and registered by
`register_experiment` in the command's transaction, so a rejected spec stores nothing.

Experiment names are unique per project: creating one with a taken name is a conflict, while updating
replaces the spec (and renames the experiment when the spec's name changed).

A spec may define providers and models the project does not store yet; registering it creates them, which is
an admin's right (createProvider, createModel). So the caller says whether this one may (`may_create`):
if not, such a spec is refused with CreatesCatalogEntries and nothing is stored. Entries that refer to, or
restate exactly, stored ones create nothing (a changed restatement is refused by `store_conflicts`). What
was created is added to `created`, for the caller's audit.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from uuid import UUID

from benchlab.catalog.common import active_project, ensure_active, fetch_owned, set_archived, write_unique
from benchlab.catalog.registration import Created, RegisteredExperiment, register_experiment
from benchlab.catalog.spec_references import resolve_references
from benchlab.catalog.spec_store_checks import store_conflicts
from benchlab.errors import BenchlabError
from benchlab.secrets import SecretBox
from benchlab.spec import ExperimentSpec, SpecError, load_spec
from benchlab.stores import experiments as experiment_store
from benchlab.stores.experiments import EXPERIMENT, ExperimentRecord
from benchlab.stores.postgres import PgConnection
from benchlab.stores.projects import ProjectRecord


class CreatesCatalogEntries(BenchlabError):
    """The spec would create providers or models, and the caller may not (the API answers FORBIDDEN)."""

    def __init__(self, entries: tuple[Created, ...]) -> None:
        self.entries = entries
        super().__init__(", ".join(f'{entry.kind} "{entry.name}"' for entry in entries))


async def _validated_spec(conn: PgConnection, project: ProjectRecord, document: object) -> ExperimentSpec:
    """References filled, then the spec loader's full validation, then the checks against stored entities."""
    spec = load_spec(await resolve_references(conn, project, document))  # dict input: no file is ever read
    problems = await store_conflicts(conn, project.id, spec)
    if problems:
        raise SpecError(problems)
    return spec


async def _register(conn: PgConnection, spec: ExperimentSpec, box: SecretBox,
                    may_create: bool) -> RegisteredExperiment:
    """Register in the caller's transaction: raising here undoes whatever the registration stored."""
    registered = await register_experiment(conn, spec, box)
    if registered.created and not may_create:
        raise CreatesCatalogEntries(registered.created)
    return registered


async def create_experiment(conn: PgConnection, project_id: UUID, spec: Mapping[str, Any],
                            box: SecretBox, *, may_create: bool = True,
                            created: list[Created] | None = None) -> ExperimentRecord:
    async with conn.transaction():
        project = await active_project(conn, project_id)
        parsed = await _validated_spec(conn, project, spec)
        # Claim the name first: register_experiment upserts by name and would overwrite an existing experiment.
        await write_unique(conn, EXPERIMENT, project_id, parsed.name,
                           lambda: experiment_store.claim_name(conn, project_id, parsed.name))
        registered = await _register(conn, parsed, box, may_create)
        record = await fetch_owned(conn, EXPERIMENT, project_id, registered.experiment_id)
    if created is not None:
        created.extend(registered.created)
    return record


async def update_experiment(conn: PgConnection, project_id: UUID, experiment_id: UUID, spec: Mapping[str, Any],
                            box: SecretBox, *, may_create: bool = True,
                            created: list[Created] | None = None) -> ExperimentRecord:
    """Replace the experiment's spec; runs already made keep the spec they ran (their snapshot)."""
    async with conn.transaction():
        project = await active_project(conn, project_id)
        current = await fetch_owned(conn, EXPERIMENT, project_id, experiment_id, for_update=True)
        ensure_active(current, EXPERIMENT)
        parsed = await _validated_spec(conn, project, spec)
        if parsed.name != current.name:  # rename first, so the upsert by name finds this experiment
            await write_unique(conn, EXPERIMENT, project_id, parsed.name,
                               lambda: experiment_store.rename(conn, experiment_id, project_id, parsed.name))
        registered = await _register(conn, parsed, box, may_create)
        record = await fetch_owned(conn, EXPERIMENT, project_id, experiment_id)
    if created is not None:
        created.extend(registered.created)
    return record


async def archive_experiment(conn: PgConnection, project_id: UUID, experiment_id: UUID) -> ExperimentRecord:
    return await set_archived(conn, EXPERIMENT, project_id, experiment_id, True)
