"""Evaluators in the experiment spec (docs/evaluation.md): `evaluators`, `judges`, `evaluation`, an item's `assert`
and `labels`, inline and from JSONL and CSV files; defaults filled in, every problem reported with its path."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from benchlab.spec import DatasetItem, DatasetSpec, EvaluationSpec, EvaluatorSpec, ModelSpec, load_spec
from benchlab.spec.evaluators import EVALUATOR_TYPES, Family, evaluators_from_documents, template_references
from benchlab.spec.model import canonical_hash, to_plain
from tests.test_spec import assert_problems, minimal, problems_of

JUDGE = {"name": "grader", "provider": "mock", "model": "mock-judge", "params": {"temperature": 0}}
ITEM = {"id": "q1", "vars": {"question": "2+2?", "user": {"name": "Ann"}}, "expected_output": "4",
        "expected_tool_calls": [], "metadata": {"topic": "math"}}


def spec_with(evaluators: list[Any] | None = None, *, items: list[Any] | None = None, **overrides: Any
              ) -> dict[str, Any]:
    """`minimal()` with one judge, two models (pairwise needs two), the given evaluators and items; an override
    of None leaves the section out."""
    sections = {"judges": [JUDGE], "dataset": {"name": "d", "items": items if items is not None else [dict(ITEM)]},
                "evaluators": evaluators, **overrides}
    spec = minimal(**{key: value for key, value in sections.items() if value is not None})
    spec["models"].append({"name": "m2", "provider": "mock", "model": "mock-big"})
    return spec


def test_every_type_is_accepted_and_its_defaults_filled_in() -> None:
    evaluators = [
        {"type": "equals", "value": {"answer": ["{{expected_output}}"]}},
        {"type": "not-contains", "value": "sorry"},
        {"type": "icontains", "value": "{{ vars.question }}", "weight": 2, "name": "echo"},
        {"type": "starts-with", "value": " "},
        {"type": "contains-any", "value": ["4", "four", "{{metadata.topic}}"]},
        {"type": "contains-all", "value": ["{{vars.user.name}}"]},
        {"type": "regex", "value": r"^\d+$", "threshold": 1},
        {"type": "regex", "name": "templated-regex", "value": "^{{expected_output}}(\\.0)?$"},
        {"type": "is-json"},
        {"type": "contains-json", "value": {"type": "object"}},
        {"type": "not-json-schema", "value": {"type": "object", "required": ["a"]}},
        {"type": "numeric", "value": 4},
        {"type": "numeric", "name": "numeric-templated", "value": "{{expected_output}}", "tolerance": 0.5},
        {"type": "tool-call-name"},
        {"type": "tool-call-args", "match": "subset", "threshold": 0.5},
        {"type": "tool-call-f1"},
        {"type": "levenshtein"},
        {"type": "rouge-l", "value": "four"},
        {"type": "rouge-n", "n": 1},
        {"type": "bleu", "threshold": 0.2},
        {"type": "chrf"},
        {"type": "latency", "metric": "ttft", "threshold": 800},
        {"type": "cost", "threshold": 0.01, "weight": 0},
        {"type": "llm-rubric", "value": "Answers correctly.", "name": "correct"},
        {"type": "pairwise", "value": "Which answer is more helpful?"},
    ]
    spec = load_spec(spec_with(evaluators))
    assert spec.evaluators == (
        EvaluatorSpec("equals", "equals", value={"answer": ["{{expected_output}}"]}),
        EvaluatorSpec("contains", "not-contains", negate=True, value="sorry"),
        EvaluatorSpec("icontains", "echo", value="{{ vars.question }}", weight=2.0),
        EvaluatorSpec("starts-with", "starts-with", value=" "),
        EvaluatorSpec("contains-any", "contains-any", value=["4", "four", "{{metadata.topic}}"]),
        EvaluatorSpec("contains-all", "contains-all", value=["{{vars.user.name}}"]),
        EvaluatorSpec("regex", "regex", value=r"^\d+$", threshold=1.0),
        EvaluatorSpec("regex", "templated-regex", value="^{{expected_output}}(\\.0)?$"),
        EvaluatorSpec("is-json", "is-json"),
        EvaluatorSpec("contains-json", "contains-json", value={"type": "object"}),
        EvaluatorSpec("json-schema", "not-json-schema", negate=True, value={"type": "object", "required": ["a"]}),
        EvaluatorSpec("numeric", "numeric", value=4, options={"tolerance": 0}),
        EvaluatorSpec("numeric", "numeric-templated", value="{{expected_output}}", options={"tolerance": 0.5}),
        EvaluatorSpec("tool-call-name", "tool-call-name", threshold=1.0),
        EvaluatorSpec("tool-call-args", "tool-call-args", threshold=0.5, options={"match": "subset"}),
        EvaluatorSpec("tool-call-f1", "tool-call-f1", threshold=1.0),
        EvaluatorSpec("levenshtein", "levenshtein", value="{{expected_output}}", threshold=0.5),
        EvaluatorSpec("rouge-l", "rouge-l", value="four", threshold=0.5),
        EvaluatorSpec("rouge-n", "rouge-n", value="{{expected_output}}", threshold=0.5, options={"n": 1}),
        EvaluatorSpec("bleu", "bleu", value="{{expected_output}}", threshold=0.2),
        EvaluatorSpec("chrf", "chrf", value="{{expected_output}}", threshold=0.5),
        EvaluatorSpec("latency", "latency", threshold=800.0, metric="ttft"),
        EvaluatorSpec("cost", "cost", threshold=0.01, weight=0.0),
        EvaluatorSpec("llm-rubric", "correct", value="Answers correctly.", threshold=0.5, judge="grader"),
        EvaluatorSpec("pairwise", "pairwise", value="Which answer is more helpful?", threshold=0.5, judge="grader",
                      options={"compare": "model"}),
    )
    assert {evaluator.type for evaluator in spec.evaluators} == set(EVALUATOR_TYPES)
    assert spec.judges == (ModelSpec("grader", "mock", "mock-judge", params={"temperature": 0}),)
    assert spec.evaluation is None


def test_the_vocabulary_table() -> None:
    negatable = {name for name, rule in EVALUATOR_TYPES.items() if rule.negatable}
    assert negatable == {name for name, rule in EVALUATOR_TYPES.items() if rule.family is Family.DETERMINISTIC}
    assert {name: rule.default_threshold for name, rule in EVALUATOR_TYPES.items()
            if rule.default_threshold is not None} == {
        "tool-call-name": 1.0, "tool-call-args": 1.0, "tool-call-f1": 1.0, "levenshtein": 0.5, "rouge-l": 0.5,
        "rouge-n": 0.5, "bleu": 0.5, "chrf": 0.5, "llm-rubric": 0.5, "pairwise": 0.5}
    assert EVALUATOR_TYPES["rouge-n"].keys == ("type", "name", "value", "threshold", "weight", "n")
    assert EVALUATOR_TYPES["latency"].keys == ("type", "name", "threshold", "weight", "metric")
    assert EVALUATOR_TYPES["pairwise"].keys == ("type", "name", "value", "threshold", "weight", "judge", "compare")
    assert template_references(["{{ vars.a.b }}", {"k": "{{expected_output}} {{metadata.t}}"}, 3]) == {
        ("vars", "a.b"), ("expected_output", ""), ("metadata", "t")}


def test_a_spec_round_trips_through_its_snapshot_with_evaluators_judges_and_labels() -> None:
    items = [{**ITEM, "assert": [{"type": "equals", "value": "4"},
                                 {"type": "llm-rubric", "name": "polite", "value": "Is polite."}],
              "labels": {"correct": True, "polite": 0.5}},
             {"id": "q2", "vars": {"question": "3+3?"}, "expected_output": 6, "labels": {"correct": "wrong"}},
             {"id": "q3", "vars": {"question": "?"}, "expected_output": "x", "assert": [], "labels": {}}]
    evaluators = [{"type": "not-icontains", "value": "{{expected_output}}!", "weight": 0.5},
                  {"type": "llm-rubric", "name": "correct", "value": "Correct?", "threshold": 0.7},
                  {"type": "rouge-n"}, {"type": "numeric", "value": "{{ expected_output }}"}]
    spec = load_spec(spec_with(evaluators, items=items, evaluation={"threshold": 0.75, "cache": False}))
    snapshot = json.loads(json.dumps(to_plain(spec)))
    assert load_spec(snapshot) == spec
    assert snapshot["dataset"]["items"][0]["assert"] == [
        {"type": "equals", "name": "equals", "value": "4"},
        {"type": "llm-rubric", "name": "polite", "value": "Is polite.", "threshold": 0.5, "judge": "grader"}]
    assert snapshot["evaluators"][0] == {"type": "not-icontains", "name": "not-icontains",
                                         "value": "{{expected_output}}!", "weight": 0.5}
    assert snapshot["evaluators"][2] == {"type": "rouge-n", "name": "rouge-n", "value": "{{expected_output}}",
                                         "threshold": 0.5, "n": 2}
    assert snapshot["evaluation"] == {"threshold": 0.75, "judge_concurrency": 4, "judge_max_attempts": 3,
                                      "cache": False}
    first, second, third = spec.dataset.items
    assert first.labels == {"correct": True, "polite": 0.5} and second.asserts is None
    assert (third.asserts, third.labels) == ((), {})
    assert spec.evaluation == EvaluationSpec(threshold=0.75, cache=False)
    assert evaluators_from_documents(snapshot["dataset"]["items"][0]["assert"]) == first.asserts


def test_items_without_assert_or_labels_are_unchanged() -> None:
    spec = load_spec(minimal(dataset={"name": "d", "items": [{"id": "a", "vars": {"question": "x"},
                                                              "expected_output": "y"}]}))
    item = spec.dataset.items[0]
    assert item == DatasetItem(id="a", vars={"question": "x"}, expected_output="y")
    assert (item.asserts, item.labels, spec.evaluators, spec.judges, spec.evaluation) == (None,) * 5
    assert to_plain(item) == {"id": "a", "vars": {"question": "x"}, "messages": [], "expected_output": "y",
                              "metadata": {}}
    # The dataset's version hash is the one it had before items could hold evaluators.
    assert DatasetSpec("d", (item,)).content_hash == canonical_hash(
        [{"id": "a", "vars": {"question": "x"}, "messages": [], "expected_output": "y", "metadata": {}}])


def test_bad_evaluators_are_all_reported_with_their_paths() -> None:
    evaluators = [
        {"type": "icontians", "value": "x"},                       # 0
        {"type": "not-contians", "value": "x"},                    # 1
        {"type": "not-bleu"},                                      # 2
        {"type": "contains", "tolerance": 1, "valeu": "x"},        # 3
        {"type": "contains-all", "value": []},                     # 4
        {"type": "contains-any", "value": ["", 3], "name": "a"},   # 5
        {"type": "regex", "value": "(", "name": "overall"},        # 6
        {"type": "json-schema", "value": {"properties": {"a": {"type": "strin"}}}},  # 7
        {"type": "numeric", "value": "4", "tolerance": -1},        # 8
        {"type": "tool-call-args", "match": "fuzzy", "threshold": 2, "value": "x"},  # 9
        {"type": "rouge-n", "n": 5, "name": "bad name!"},         # 10
        {"type": "latency", "metric": "ttfb"},                     # 11
        {"type": "cost", "threshold": 0, "weight": -1},            # 12
        {"type": "llm-rubric", "judge": "nobody"},                 # 13
        {"value": "x"},                                            # 14
        "contains",                                                # 15
        {"type": "is-json", "value": "not a schema"},              # 16
        {"type": "equals"},                                        # 17
        {"type": "contains", "value": 5, "metric": "ttft", "name": "c"},  # 18
    ]
    assert_problems(problems_of(spec_with(evaluators)), [
        "evaluators[0].type: unknown evaluator type 'icontians' (did you mean 'icontains'?)",
        "evaluators[1].type: unknown evaluator type 'not-contians' (did you mean 'not-contains'?)",
        "evaluators[2].type: bleu cannot be negated with not-; only these can: equals, contains, icontains, "
        "starts-with, contains-any, contains-all, regex, is-json, contains-json, json-schema, numeric",
        "evaluators[3].tolerance: not taken by type contains (it takes: type, name, value, threshold, weight)",
        "evaluators[3].valeu: unknown key (did you mean 'value'?)",
        "evaluators[3].value: required (the text to look for)",
        "evaluators[4].value: must have at least one entry",
        "evaluators[5].value[0]: must be a non-empty string",
        "evaluators[5].value[1]: must be a non-empty string",
        "evaluators[6].name: 'overall' is reserved (the request's weighted score); choose another name",
        "evaluators[6].value: not a valid regular expression: missing ), unterminated subpattern at position 0",
        "evaluators[7].value.properties.a.type: not a valid JSON Schema: 'strin' is not valid under any of the "
        "given schemas",
        "evaluators[8].value: must be a number, or a template such as {{expected_output}} or {{vars.x}}",
        "evaluators[8].tolerance: must be at least 0",
        "evaluators[9].value: not taken by type tool-call-args (it takes: type, name, threshold, weight, match)",
        "evaluators[9].threshold: must be at most 1",
        "evaluators[9].match: 'fuzzy' is not one of exact, subset",
        "evaluators[10].name: must be letters, digits, '_', '.' and '-', starting with a letter or digit",
        "evaluators[10].n: must be at most 4",
        "evaluators[11].threshold: required for type latency: the limit, in milliseconds",
        "evaluators[11].metric: 'ttfb' is not one of ttft, tpot, e2e (did you mean 'ttft'?)",
        "evaluators[12].threshold: must be greater than 0",
        "evaluators[12].weight: must be at least 0",
        "evaluators[13].value: required (what the judge is to look for)",
        "evaluators[14].type: required (e.g. contains, llm-rubric, latency; see docs/evaluation.md)",
        "evaluators[15]: must be a mapping (an evaluator with a type",
        "evaluators[16].value: must be a JSON Schema (a mapping, such as {type: object})",
        "evaluators[17].value: required (the value the output must equal)",
        "evaluators[18].metric: not taken by type contains",
        "evaluators[18].value: must be a non-empty string",
        "evaluators[13].judge: unknown judge 'nobody' (expected one of: grader)",
    ])


def test_a_value_that_fails_a_type_check_is_not_echoed() -> None:
    secret = "sk-live-NOT-ECHOED-123"
    problems = problems_of(spec_with([{"type": "contains-any", "value": {"key": secret}},
                                      {"type": "numeric", "value": secret},
                                      {"type": "contains", "value": [secret]},
                                      {"type": "llm-rubric", "value": "x", "judge": [secret]}]))
    assert len(problems) == 4 and not any(secret in problem for problem in problems), problems


def test_names_default_to_the_type_and_are_unique_per_experiment_and_per_item() -> None:
    items = [{**ITEM, "assert": [{"type": "contains", "value": "4"}, {"type": "equals", "value": "4"},
                                 {"type": "equals", "value": "four"}, {"type": "icontains", "value": "x",
                                                                       "name": "mine"}]},
             {"id": "q2", "vars": {"question": "?"}, "assert": [{"type": "contains", "value": "x", "name": "mine"}]}]
    evaluators = [{"type": "contains", "value": "a"}, {"type": "not-contains", "value": "b"},
                  {"type": "contains", "value": "c"}, {"type": "contains", "value": "d", "name": "contains-2"}]
    assert_problems(problems_of(spec_with(evaluators, items=items)), [
        "evaluators[2].name: duplicate evaluator name 'contains' (first at evaluators[0].name): give each "
        "evaluator its own name",
        "dataset.items[0].assert[2].name: duplicate evaluator name 'equals' (first at dataset.items[0].assert[1].name)",
        "dataset.items[0].assert[0].name: duplicate evaluator name 'contains' (first at evaluators[0].name): give "
        "each evaluator its own name",
    ])


def test_judges_are_models_that_grade_and_are_filled_in_when_there_is_one() -> None:
    rubric = {"type": "llm-rubric", "value": "Correct?"}
    two_judges = [JUDGE, {**JUDGE, "name": "strict", "model": "mock-strict"}]
    spec = load_spec(spec_with([{**rubric, "judge": "grader"}, {**rubric, "name": "strict-check", "judge": "strict"}],
                               judges=two_judges))
    assert [evaluator.judge for evaluator in spec.evaluators or ()] == ["grader", "strict"]
    assert_problems(problems_of(spec_with([rubric], judges=two_judges)), [
        "evaluators[0].judge: required: name one of the judges (grader, strict)"])
    assert_problems(problems_of(spec_with([rubric], judges=None)), [
        "evaluators[0].judge: required: llm-rubric needs a judge; define a model that grades under judges: "
        "(same keys as models)"])
    bad_judges = [{**JUDGE, "provider": "mok", "temprature": 0}, JUDGE, {"name": "x", "provider": "mock"},
                  {**JUDGE, "name": "p", "params": {"temprature": 0}}]
    assert_problems(problems_of(spec_with([rubric], judges=bad_judges)), [
        "judges[0].temprature: unknown key",
        "judges[0].provider: unknown provider 'mok' (did you mean 'mock'?)",
        "judges[2].model: required",
        "judges[3].params.temprature: unknown parameter (did you mean 'temperature'?)",
        "judges[1].name: duplicate judge name 'grader' (first at judges[0].name)",
        "evaluators[0].judge: required: name one of the judges (grader, x, p)",
    ])
    one = load_spec(spec_with([rubric, {**rubric, "name": "other", "judge": "grader"}]))
    assert [evaluator.judge for evaluator in one.evaluators or ()] == ["grader", "grader"]


def test_pairwise_needs_cells_to_compare_and_belongs_to_the_experiment() -> None:
    pairwise = {"type": "pairwise", "value": "More helpful?"}
    single_model = spec_with([pairwise, {**pairwise, "name": "prompts", "compare": "prompt"}])
    single_model["models"].pop()
    assert_problems(problems_of(single_model), [
        "evaluators[0]: pairwise with compare: model needs at least two models (the spec has 1); add one, or "
        "compare: prompt",
        "evaluators[1]: pairwise with compare: prompt needs at least two prompts (the spec has 1); add one, or "
        "compare: model",
    ])
    items = [{**ITEM, "assert": [pairwise]}]
    assert_problems(problems_of(spec_with(None, items=items)), [
        "dataset.items[0].assert[0].type: pairwise compares the responses of several cells, so it belongs in the "
        "experiment's evaluators, not in an item's assert"])
    prompts = [{"name": "a", "text": "{{question}}"}, {"name": "b", "text": "Q: {{question}}"}]
    spec = load_spec(spec_with([{**pairwise, "compare": "prompt"}], prompts=prompts))
    assert spec.evaluators and spec.evaluators[0].options == {"compare": "prompt"}


def test_templates_must_resolve_for_every_item_they_apply_to() -> None:
    items = [dict(ITEM),
             {"id": "q2", "vars": {"question": "?"}},
             {"id": "q3", "vars": {"question": "?", "user": {}}, "expected_output": "x", "metadata": {"topic": None},
              "expected_tool_calls": [{"name": "add"}],
              "assert": [{"type": "contains", "value": "{{vars.own}} {{metadata.own}}"}, {"type": "bleu"},
                         {"type": "tool-call-name"}]}]
    evaluators = [{"type": "icontains", "value": "{{vars.user.name}}"},
                  {"type": "equals", "value": {"k": ["{{metadata.topic}}", "{{ expected_output }}"]}},
                  {"type": "rouge-l"},
                  {"type": "tool-call-f1"},
                  {"type": "contains-any", "value": ["{{vars}}", "{{ item.x }}", "{{expected_output}}"]}]
    assert_problems(problems_of(spec_with(evaluators, items=items)), [
        "evaluators[4].value[0]: invalid placeholder '{{vars}}': use {{vars.NAME}}, {{expected_output}} or "
        "{{metadata.KEY}}",
        "evaluators[4].value[1]: invalid placeholder '{{ item.x }}'",
        "dataset.items[2].vars: missing 'own' used by dataset.items[2].assert[0] (contains)",
        "dataset.items[2].metadata: missing 'own' used by dataset.items[2].assert[0] (contains)",
        "dataset.items[1].vars: missing 'user.name' used by evaluators[0] (icontains)",
        "dataset.items[1].metadata: missing 'topic' used by evaluators[1] (equals)",
        "dataset.items[1].expected_output: required, used by evaluators[1] (equals)",
        "dataset.items[1].expected_output: required, used by evaluators[2] (rouge-l): its reference (value) "
        "defaults to {{expected_output}}; give the item an expected_output or the evaluator a value",
        "dataset.items[1].expected_tool_calls: required by evaluators[3] (tool-call-f1): the calls expected, or [] "
        "when no call is expected",
        "dataset.items[1].expected_output: required, used by evaluators[4] (contains-any)",
        "dataset.items[2].vars: missing 'user.name' used by evaluators[0] (icontains)",
        "dataset.items[2].metadata: missing 'topic' used by evaluators[1] (equals)",  # null counts as missing
    ])


def test_labels_name_llm_rubric_evaluators_and_hold_verdicts() -> None:
    items = [{**ITEM, "assert": [{"type": "llm-rubric", "name": "own", "value": "Own rubric."}],
              "labels": {"correct": 0.3, "own": "partly", "contains": True, "nope": False}},
             {"id": "q2", "vars": {"question": "?"}, "labels": {"correct": 1.5, "own": "", "x": None, "y": [1]}},
             {"id": "q3", "vars": {"question": "?"}, "labels": ["correct"]}]
    evaluators = [{"type": "llm-rubric", "name": "correct", "value": "Correct?"}, {"type": "contains", "value": "4"}]
    assert_problems(problems_of(spec_with(evaluators, items=items)), [
        "dataset.items[1].labels.correct: must be true or false, a number from 0 to 1, or a label",
        "dataset.items[1].labels.own: must be true or false",
        "dataset.items[1].labels.x: must be true or false",
        "dataset.items[1].labels.y: must be true or false",
        "dataset.items[2].labels: must be a mapping",
        "dataset.items[0].labels.contains: labels are human verdicts of llm-rubric evaluators; 'contains' is a "
        "contains evaluator",
        "dataset.items[0].labels.nope: no evaluator named 'nope' (expected one of: correct, own)",
        "dataset.items[1].labels.own: no evaluator named 'own' (expected one of: correct)",
        "dataset.items[1].labels.x: no evaluator named 'x' (expected one of: correct)",
        "dataset.items[1].labels.y: no evaluator named 'y' (expected one of: correct)",
    ])


def test_evaluation_settings() -> None:
    contains = [{"type": "contains", "value": "4"}]
    assert load_spec(spec_with(contains, evaluation={})).evaluation == EvaluationSpec()
    spec = load_spec(spec_with(contains, evaluation={"threshold": 1, "judge_concurrency": 8,
                                                     "judge_max_attempts": 1, "cache": False}))
    assert spec.evaluation == EvaluationSpec(threshold=1.0, judge_concurrency=8, judge_max_attempts=1, cache=False)
    assert_problems(problems_of(spec_with(contains, evaluation={"threshold": 1.5, "judge_concurrency": 0,
                                                                "judge_max_attempts": 1.5, "cache": "yes",
                                                                "cach": True})), [
        "evaluation.cach: unknown key (did you mean 'cache'?)",
        "evaluation.threshold: must be at most 1",
        "evaluation.judge_concurrency: must be at least 1",
        "evaluation.judge_max_attempts: must be an integer",
        "evaluation.cache: must be true or false",
    ])
    assert_problems(problems_of(spec_with(None, evaluation={"cache": True})), [
        "evaluation: there is nothing to evaluate: add evaluators (or an item's assert), or leave evaluation out"])
    assert_problems(problems_of(spec_with(None, evaluation={"threshold": 1, "judge_concurrency": 2}, judges=None)), [
        "evaluation: there is nothing to evaluate"])
    item_only = load_spec(spec_with(None, items=[{**ITEM, "assert": contains}], evaluation={}))
    assert item_only.evaluation == EvaluationSpec() and item_only.evaluators is None


def test_inline_items_with_bad_asserts_are_reported_with_their_paths() -> None:
    items = [{**ITEM, "assert": [{"type": "contains"}, {"type": "regex", "value": "["}]},
             {"id": "q2", "vars": {"question": "?"}, "assert": {"type": "contains"}},
             {"id": "q3", "vars": {"question": "?"}, "asserts": []}]
    assert_problems(problems_of(spec_with([{"type": "equals", "value": 1}], items=items)), [
        "dataset.items[0].assert[0].value: required (the text to look for)",
        "dataset.items[0].assert[1].value: not a valid regular expression: unterminated character set at position 0",
        "dataset.items[1].assert: must be a list",
        "dataset.items[2].asserts: unknown key (did you mean 'assert'?)",
    ])


def test_jsonl_items_carry_assert_and_labels(tmp_path: Path) -> None:
    lines = [
        {"id": "a", "vars": {"question": "1?"}, "expected_output": "1",
         "assert": [{"type": "equals", "value": "1"}], "labels": {"correct": True}},
        {"id": "b", "vars": {"question": "2?"}, "expected_output": "2"},
        {"id": "c", "vars": {"question": "3?"}, "assert": [{"type": "contains", "value": ""},
                                                           {"type": "rouge-l"}], "labels": {"correct": 2}},
    ]
    (tmp_path / "items.jsonl").write_text("\n".join(json.dumps(line) for line in lines) + "\n", encoding="utf-8")
    spec_dict = spec_with([{"type": "llm-rubric", "name": "correct", "value": "Correct?"}],
                          dataset={"name": "d", "file": "items.jsonl"})
    assert_problems(problems_of(spec_dict, base_dir=tmp_path), [
        "dataset.file:3.assert[0].value: must be a non-empty string",
        "dataset.file:3.labels.correct: must be true or false, a number from 0 to 1, or a label",
        "dataset.file:3.expected_output: required, used by dataset.file:3.assert[1] (rouge-l)",
    ])
    lines[2] = {"id": "c", "vars": {"question": "3?"}}
    (tmp_path / "items.jsonl").write_text("\n".join(json.dumps(line) for line in lines) + "\n", encoding="utf-8")
    spec = load_spec(spec_dict, base_dir=tmp_path)
    first, second, _ = spec.dataset.items
    assert first.asserts == (EvaluatorSpec("equals", "equals", value="1"),) and first.labels == {"correct": True}
    assert (second.asserts, second.labels) == (None, None)
    assert load_spec(json.loads(json.dumps(spec.to_dict()))) == spec


def test_csv_columns_assert_and_labels_hold_json(tmp_path: Path) -> None:
    (tmp_path / "items.csv").write_text(
        'id,question,expected_output,assert,labels\n'
        'q1,2+2?,4,"[{""type"": ""equals"", ""value"": ""4""}]","{""correct"": 1}"\n'
        'q2,3+3?,,,\n', encoding="utf-8")
    spec_dict = spec_with([{"type": "llm-rubric", "name": "correct", "value": "Correct?"}],
                          dataset={"name": "d", "file": "items.csv"})
    first, second = load_spec(spec_dict, base_dir=tmp_path).dataset.items
    assert first == DatasetItem(id="q1", vars={"question": "2+2?"}, expected_output="4",
                                asserts=(EvaluatorSpec("equals", "equals", value="4"),), labels={"correct": 1})
    assert second == DatasetItem(id="q2", vars={"question": "3+3?"})

    (tmp_path / "items.csv").write_text(
        'id,question,assert,labels\n'
        'q1,x,"[{""type"": ""contains""}]",{bad\n'
        'q2,y,"{""type"": ""contains"", ""value"": ""a""}","{""correct"": ""yes""}"\n', encoding="utf-8")
    assert_problems(problems_of(spec_dict, base_dir=tmp_path), [
        "dataset.file:2.labels: invalid JSON: Expecting property name enclosed in double quotes (column 2)",
        "dataset.file:2.assert[0].value: required (the text to look for)",
        "dataset.file:3.assert: must be a list",
    ])
