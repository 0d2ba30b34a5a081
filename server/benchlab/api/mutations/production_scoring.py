"""Production scoring mutations: set (or pause) and remove a project's rule set for scoring a sample of its
production traffic (docs/production.md). Members may, like creating experiments and starting runs: the judges
are models the project already stores (an admin created them). Both are audited.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime

import strawberry
import yaml
from strawberry.scalars import JSON
from strawberry.types import Info

from benchlab.api.auditing import audit
from benchlab.api.context import identity_of, runtime_of
from benchlab.api.ids import expect_id
from benchlab.api.permissions import project_role
from benchlab.api.types.production import ProductionScoring
from benchlab.auth.roles import Role
from benchlab.errors import InvalidInputError
from benchlab.production.rules import scoring_spec, stored_document
from benchlab.stores import production_scoring as rule_store

MAX_MODELS = 100


@strawberry.input(description=(
    "The rule set, as JSON (`rules`) or YAML text (`rulesYaml`): a mapping with `evaluators` (as in an experiment "
    "spec), optionally `judges` (the project's models, by name) and `evaluation`."))
class SetProductionScoringInput:
    project_id: strawberry.ID
    sample_rate: float = strawberry.field(description=(
        "Share of successful production requests to score, in (0, 1], e.g. 0.05; which ones is decided by a hash "
        "of each request's event id."))
    rules: JSON | None = None
    rules_yaml: str | None = None
    models: list[str] | None = strawberry.field(default=None, description="Only these models; null or []: all.")
    enabled: bool = strawberry.field(default=True, description="false pauses scoring (the position is kept).")
    since: datetime | None = strawberry.field(default=None, description=(
        "Score requests sent from this time on (also earlier ones). Default: from when the rule set was first "
        "set; a later change goes on from where scoring stood."))


@strawberry.input
class RemoveProductionScoringInput:
    project_id: strawberry.ID


@strawberry.type
class ProductionScoringPayload:
    production_scoring: ProductionScoring
    new_version: bool = strawberry.field(description="The rules, rate or models changed: scores get a new pass id.")


@strawberry.type
class RemoveProductionScoringPayload:
    removed: ProductionScoring = strawberry.field(description="The rule set as it was; its scores stay.")


def _rules_document(rules: object, rules_yaml: str | None) -> object:
    if (rules is None) == (rules_yaml is None):
        raise InvalidInputError("give exactly one of `rules` (a JSON object) and `rulesYaml` (YAML text)")
    if rules_yaml is None:
        return rules
    try:
        return yaml.safe_load(rules_yaml)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise InvalidInputError(f"rulesYaml: not valid YAML{where}: {getattr(exc, 'problem', exc)}") from None


def _check(sample_rate: float, models: list[str]) -> None:
    if not (math.isfinite(sample_rate) and 0 < sample_rate <= 1):
        raise InvalidInputError(f"sampleRate: {sample_rate!r} is not a share of requests; use a number above 0 and "
                                "at most 1, e.g. 0.05 for 5 %", argument="sampleRate")
    if len(models) > MAX_MODELS or any(not model.strip() for model in models) or len(set(models)) != len(models):
        raise InvalidInputError(f"models: give at most {MAX_MODELS} distinct, non-empty model names (as the "
                                "requests name them), or leave it out for every model", argument="models")


@strawberry.type
class ProductionScoringMutations:
    @strawberry.mutation(permission_classes=[project_role(Role.MEMBER, "input.project_id", "Project")],
                         description=(
        "Set the project's production scoring rule set: score a sample of its production traffic with these "
        "evaluators, in the background, off the application's path. Validated like an experiment's evaluators "
        "(every problem in `extensions.problems`); what needs a dataset item (templates, tool-call evaluators, "
        "pairwise) is refused. A change of rules, rate or models starts a new version (a new pass id)."))
    async def set_production_scoring(self, info: Info, input: SetProductionScoringInput) -> ProductionScoringPayload:
        project_id = expect_id(input.project_id, "Project", "projectId")
        models = list(input.models or [])
        _check(input.sample_rate, models)
        document = _rules_document(input.rules, input.rules_yaml)
        async with runtime_of(info).pg.acquire() as conn:
            spec = await scoring_spec(conn, project_id, document)
            rules, new_version = await rule_store.set_rules(
                conn, project_id, stored_document(spec), float(input.sample_rate), models, input.enabled, input.since,
                datetime.now(UTC), identity_of(info).actor)
        await audit(info, "production_scoring.set", str(project_id), project_id, version=rules.version,
                    pass_id=str(rules.pass_id), sample_rate=rules.sample_rate, models=list(rules.models),
                    enabled=rules.enabled, evaluators=[e.get("name") for e in rules.document["evaluators"]])
        return ProductionScoringPayload(production_scoring=ProductionScoring.of(rules), new_version=new_version)

    @strawberry.mutation(permission_classes=[project_role(Role.MEMBER, "input.project_id", "Project")],
                         description="Stop scoring the project's production traffic and forget the rule set (its "
                                     "scores stay). NOT_FOUND when the project has none.")
    async def remove_production_scoring(self, info: Info,
                                        input: RemoveProductionScoringInput) -> RemoveProductionScoringPayload:
        project_id = expect_id(input.project_id, "Project", "projectId")
        async with runtime_of(info).pg.acquire() as conn:
            removed = await rule_store.remove_rules(conn, project_id)
        await audit(info, "production_scoring.remove", str(project_id), project_id, version=removed.version,
                    pass_id=str(removed.pass_id))
        return RemoveProductionScoringPayload(removed=ProductionScoring.of(removed))
