"""What a production scoring rule set may say, and the spec the scorer scores with.

The vocabulary is the experiment spec's (docs/evaluation.md): `evaluators:` (deterministic checks, similarity
against a text you give, latency and cost SLOs, `llm-rubric` judges), optionally `judges:` and `evaluation:`.
A judge is a model stored in the project, named alone (`judges: [{name: grader}]`; without `judges:`, the
`judge:` names of the rubrics), so its provider and encrypted key are the project's, as for runs.

Production requests have no dataset item, so what needs one is refused with the reason: templates
(`{{vars.x}}`, `{{expected_output}}`, `{{metadata.k}}`; a similarity evaluator needs its `value`), tool-call
evaluators (no expected calls) and `pairwise` (it compares cells of an experiment). The rest is validated by
the spec's own parser, on a spec holding the evaluators and judges and nothing of its own that can be wrong,
so every problem is reported as for an experiment, with its path.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from uuid import UUID

from benchlab.spec import ExperimentSpec, SpecError, load_spec
from benchlab.spec.evaluators import EVALUATOR_TYPES, Family, ValueKind, template_references
from benchlab.stores import models as model_store
from benchlab.stores import providers as provider_store
from benchlab.stores.postgres import PgConnection

KEYS = ("evaluators", "judges", "evaluation")
_PLACEHOLDER = "production-scoring"  # the spec's own parts: valid, never named in a problem
_REFUSED = {
    Family.TOOL_CALLS: "tool-call evaluators compare with a dataset item's expected_tool_calls, which production "
                       "requests do not have",
}


def normalized(document: object) -> dict[str, Any]:
    """The rule set as it is stored: `evaluators` (required), `judges` (by name), `evaluation`; SpecError lists what
    is wrong with the document itself (the rest is checked by `scoring_spec`)."""
    if not isinstance(document, Mapping):
        raise SpecError(["rules: must be a mapping with `evaluators` (and optionally `judges`, `evaluation`)"])
    problems = [f"{key}: unknown key; a production rule set takes {', '.join(KEYS)}" for key in document
                if key not in KEYS]
    evaluators = document.get("evaluators")
    if not isinstance(evaluators, list) or not evaluators:
        problems.append("evaluators: required: a list of at least one evaluator, as in an experiment spec")
        evaluators = []
    for index, evaluator in enumerate(evaluators):
        if isinstance(evaluator, Mapping):
            problems += _item_free(f"evaluators[{index}]", evaluator)
    judges = document.get("judges")
    if judges is None:
        named = [e.get("judge") for e in evaluators if isinstance(e, Mapping) and isinstance(e.get("judge"), str)]
        judges = [{"name": name} for name in dict.fromkeys(named)]
    elif not isinstance(judges, list):
        problems.append("judges: must be a list of the project's models, by name: [{name: grader}]")
        judges = []
    for index, judge in enumerate(judges):
        if not (isinstance(judge, Mapping) and set(judge) == {"name"} and isinstance(judge["name"], str)):
            problems.append(f"judges[{index}]: give a model stored in the project by its name alone, "
                            "e.g. {name: grader} (create it with createModel first)")
    if problems:
        raise SpecError(problems)
    stored: dict[str, Any] = {"evaluators": [dict(e) if isinstance(e, Mapping) else e for e in evaluators]}
    if judges:
        stored["judges"] = [dict(judge) for judge in judges]
    if document.get("evaluation") is not None:
        stored["evaluation"] = document["evaluation"]
    return stored


def _item_free(path: str, evaluator: Mapping[str, Any]) -> list[str]:
    """Problems of an evaluator that would need a dataset item."""
    written = str(evaluator.get("type", ""))
    rule = EVALUATOR_TYPES.get(written.removeprefix("not-"))
    if rule is None:
        return []  # the spec's parser names unknown types, with a suggestion
    if rule.experiment_only:
        return [f"{path}.type: {written} compares the cells of an experiment; production requests are scored one "
                "by one"]
    if rule.family in _REFUSED:
        return [f"{path}.type: {_REFUSED[rule.family]}"]
    value = evaluator.get("value")
    if value is None and rule.value is ValueKind.REFERENCE:
        return [f"{path}.value: required here: the reference text to compare with (production requests have no "
                "expected_output to default to)"]
    used = sorted({f"{{{{{kind}.{key}}}}}" if key else "{{expected_output}}"
                   for kind, key in template_references(value)})
    if used:
        return [f"{path}.value: {', '.join(used)} cannot be filled: production requests have no dataset item; write "
                "the text itself"]
    return []


async def scoring_spec(conn: PgConnection, project_id: UUID, document: object) -> ExperimentSpec:
    """The stored rule set as a spec the scoring machinery takes (evaluators, judges resolved from the project's
    models and providers); SpecError says what is wrong, e.g. an unknown or archived model."""
    stored = normalized(document)
    problems: list[str] = []
    judges: list[dict[str, Any]] = []
    providers: dict[str, dict[str, Any]] = {}
    for index, judge in enumerate(stored.get("judges", [])):
        row = await model_store.find_by_name_with_provider(conn, project_id, judge["name"])
        if row is None or row["archived_at"] is not None:
            state = "no" if row is None else "an archived"
            problems.append(f'judges[{index}].name: {state} model "{judge["name"]}" in this project; a judge is a '
                            "model stored in the project (createModel)")
            continue
        prices = {key: row[key] for key in ("input_price_per_mtok", "output_price_per_mtok") if row[key] is not None}
        judges.append({"name": judge["name"], "provider": row["provider"], "model": row["model_id"], **prices,
                       "params": row["params"]})
        provider = await provider_store.find_by_name(conn, project_id, row["provider"])
        if provider is None or provider.archived_at is not None:
            problems.append(f'judges[{index}].name: the provider "{row["provider"]}" of model "{judge["name"]}" is '
                            "archived or gone")
            continue
        entry: dict[str, Any] = {"name": provider.name, "type": provider.type, "transport": provider.transport}
        if provider.api_base is not None:
            entry["api_base"] = provider.api_base
        if provider.max_concurrency is not None:
            entry["max_concurrency"] = provider.max_concurrency
        providers[provider.name] = entry
    if problems:
        raise SpecError(problems)
    placeholder_provider = {"name": _PLACEHOLDER, "type": "openai"}
    spec_document: dict[str, Any] = {
        "name": _PLACEHOLDER, "providers": [placeholder_provider, *providers.values()],
        "models": [{"name": _PLACEHOLDER, "provider": _PLACEHOLDER, "model": _PLACEHOLDER,
                    "params": {"max_tokens": 1}}],
        "prompts": [{"name": _PLACEHOLDER, "text": "production request"}],
        "dataset": {"name": _PLACEHOLDER, "items": [{"id": _PLACEHOLDER}]},
        "evaluators": stored["evaluators"]}
    if judges:
        spec_document["judges"] = judges
    if "evaluation" in stored:
        spec_document["evaluation"] = stored["evaluation"]
    return load_spec(spec_document)


def stored_document(spec: ExperimentSpec) -> dict[str, Any]:
    """What is kept: the evaluators as the parser read them (defaults spelled out, like a run's snapshot), the
    judges by name, the evaluation settings."""
    plain = spec.to_dict()
    kept: dict[str, Any] = {"evaluators": plain["evaluators"]}
    if spec.judges:
        kept["judges"] = [{"name": judge.name} for judge in spec.judges]
    if "evaluation" in plain:
        kept["evaluation"] = plain["evaluation"]
    return kept
