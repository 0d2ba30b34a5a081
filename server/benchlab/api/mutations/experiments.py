"""Mutations for experiments: a spec, as JSON or YAML, that may refer to the project's stored entities.

An experiment spec may define providers and models the project does not store yet; that creates them, so it
needs the role createProvider and createModel need (admin), and is audited like them.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from uuid import UUID

import strawberry
import yaml
from strawberry.scalars import JSON
from strawberry.types import Info

from benchlab import catalog
from benchlab.api.catalog_audit import audit_created
from benchlab.api.context import runtime_of
from benchlab.api.ids import expect_id
from benchlab.api.mutations.common import owned, run_command
from benchlab.api.node_lookup import reload
from benchlab.api.permissions import project_role, role_in
from benchlab.api.types.runs import Experiment
from benchlab.auth.roles import Role
from benchlab.catalog import Created, CreatesCatalogEntries
from benchlab.errors import ForbiddenError, InvalidInputError
from benchlab.stores.experiments import ExperimentRecord


@strawberry.input(description=(
    "The experiment spec, as a JSON object (`spec`) or YAML text (`specYaml`), in the same shape as a spec "
    "file. Models, prompts and the dataset may refer to ones stored in the project by name."))
class CreateExperimentInput:
    project_id: strawberry.ID
    spec: JSON | None = None
    spec_yaml: str | None = None


@strawberry.input
class UpdateExperimentInput:
    id: strawberry.ID
    spec: JSON | None = None
    spec_yaml: str | None = None


@strawberry.type
class ExperimentPayload:
    experiment: Experiment


def spec_document(spec: object, spec_yaml: str | None) -> dict:
    """The spec as a mapping, from exactly one of the two inputs."""
    if (spec is None) == (spec_yaml is None):
        raise InvalidInputError("give exactly one of `spec` (a JSON object) and `specYaml` (YAML text)")
    if spec_yaml is not None:
        try:
            spec = yaml.safe_load(spec_yaml)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
            raise InvalidInputError(f"specYaml: not valid YAML{where}: {getattr(exc, 'problem', exc)}") from None
    if not isinstance(spec, dict):
        raise InvalidInputError("the spec must be a mapping (an object) at the top level")
    return spec


async def _store_experiment(info: Info, command: Callable[..., Awaitable[ExperimentRecord]], project_id: UUID,
                            *args: UUID, spec: JSON | None, spec_yaml: str | None) -> ExperimentRecord:
    """Run the create or update command, letting only admins create providers and models through the spec,
    and audit what it created."""
    role = await role_in(info, project_id)
    created: list[Created] = []
    try:
        record = await run_command(info, command, project_id, *args, spec_document(spec, spec_yaml),
                                   runtime_of(info).secrets, may_create=role is not None and role.allows(Role.ADMIN),
                                   created=created)
    except CreatesCatalogEntries as exc:
        raise ForbiddenError(
            f"this spec would create {exc}: creating providers and models needs the admin role in the project; you "
            f"have {role.value if role else 'none'}. Ask an admin to create them (createProvider, createModel), "
            "then refer to them by name alone, e.g. models: [{name: <model>}]", requiredRole="ADMIN") from None
    await audit_created(info, project_id, created, experiment=record.name)
    return record


@strawberry.type
class ExperimentMutations:
    @strawberry.mutation(permission_classes=[project_role(Role.MEMBER, "input.project_id", "Project")],
                         description=(
        "Store an experiment. The spec is validated completely before anything is stored: every problem is "
        "listed in `extensions.problems` with its path, e.g. `models[2].params.temperature: must be between 0 "
        "and 2`."))
    async def create_experiment(self, info: Info, input: CreateExperimentInput) -> ExperimentPayload:
        project_id = expect_id(input.project_id, "Project", "projectId")
        record = await _store_experiment(info, catalog.create_experiment, project_id, spec=input.spec,
                                         spec_yaml=input.spec_yaml)
        return ExperimentPayload(experiment=await reload(info, Experiment, record.id))

    @strawberry.mutation(permission_classes=[project_role(Role.MEMBER, "input.id", "Experiment")],
                         description="Replace an experiment's spec (runs keep the spec they ran).")
    async def update_experiment(self, info: Info, input: UpdateExperimentInput) -> ExperimentPayload:
        experiment_id, project_id = await owned(info, input.id, "Experiment")
        await _store_experiment(info, catalog.update_experiment, project_id, experiment_id, spec=input.spec,
                                spec_yaml=input.spec_yaml)
        return ExperimentPayload(experiment=await reload(info, Experiment, experiment_id))

    @strawberry.mutation(permission_classes=[project_role(Role.MEMBER, "id", "Experiment")],
                         description="Hide an experiment; its runs stay.")
    async def archive_experiment(self, info: Info, id: strawberry.ID) -> ExperimentPayload:
        experiment_id, project_id = await owned(info, id, "Experiment")
        await run_command(info, catalog.archive_experiment, project_id, experiment_id)
        return ExperimentPayload(experiment=await reload(info, Experiment, experiment_id))
