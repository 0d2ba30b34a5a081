"""The evaluator vocabulary (docs/evaluation.md) and the reading of `evaluators:` and of an item's `assert:`.

The one place that knows the evaluator types: `EVALUATOR_TYPES` says, per type, its family, what its `value`
is, which options it takes, whether `not-` may negate it and the threshold it gets when none is written.
`read_evaluators` reads a list of evaluators with the `Section` getters and fills in every default (name,
threshold, options, a similarity type's reference), so a snapshot spells out what was applied. What needs the
rest of the spec is checked once everything is read: `check_item` (an evaluator against one dataset item, its
templates and expectations) and `check_evaluators` (judges, names shared with items, pairwise, labels).

Templates in string values, nested ones included: `{{vars.NAME}}`, `{{expected_output}}`, `{{metadata.KEY}}`
(spaces inside the braces allowed; NAME and KEY may be dotted paths into objects and lists, `{{vars.user.name}}`,
`{{metadata.tags.0}}`, as `evaluation.templates` renders them). `EVALUATOR_PLACEHOLDER` is the pattern;
`template_references` lists what a value uses; a reference must lead to a value that is not null.
"""

from __future__ import annotations

import dataclasses
import difflib
import re
from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from benchlab.spec.fields import Located, Section, check_unique, hint, is_number, json_copy
from benchlab.spec.model import DatasetItem, EvaluatorSpec, SpecError


class Family(StrEnum):
    DETERMINISTIC = "deterministic"  # a fact about the response: passes (1) or not (0)
    TOOL_CALLS = "tool-calls"        # the calls made against the item's expected_tool_calls
    SIMILARITY = "similarity"        # a score in [0, 1] against a reference text
    SLO = "slo"                      # a measured figure against a limit (`threshold`, ms or USD)
    JUDGE = "judge"                  # a verdict of a model of the spec's `judges`


class ValueKind(StrEnum):
    """What an evaluator's `value` is."""

    NONE = "none"                        # the type takes no value
    JSON = "json"                        # required, any JSON value
    TEXT = "text"                        # required non-empty string
    TEXTS = "texts"                      # required non-empty list of non-empty strings
    REGEX = "regex"                      # required string that compiles with `re` (unless it holds a template)
    SCHEMA = "schema"                    # required JSON Schema (a mapping)
    OPTIONAL_SCHEMA = "optional-schema"  # a JSON Schema the JSON must match, optional
    NUMBER = "number"                    # required number, or a template string
    REFERENCE = "reference"              # optional reference text, default DEFAULT_REFERENCE
    INSTRUCTIONS = "instructions"        # required text for the judge: the rubric, the criteria


@dataclass(frozen=True)
class Option:
    """A key only some types take: a word among `choices`, else a number (an integer when `integer`)."""

    default: str | int | float
    choices: tuple[str, ...] = ()
    minimum: float | None = None
    maximum: float | None = None
    integer: bool = False


@dataclass(frozen=True)
class EvaluatorRule:
    family: Family
    value: ValueKind = ValueKind.NONE
    options: Mapping[str, Option] = field(default_factory=dict)
    negatable: bool = False                # `not-<type>` inverts pass/fail (and the score)
    default_threshold: float | None = None
    metrics: tuple[str, ...] = ()          # latency: what `metric` may name (required)
    experiment_only: bool = False          # pairwise compares cells, so it cannot be an item's own

    @property
    def keys(self) -> tuple[str, ...]:
        """The document keys an evaluator of this type may have."""
        keys = ["type", "name"]
        if self.value is not ValueKind.NONE:
            keys.append("value")
        keys += ["threshold", "weight"]
        if self.family is Family.JUDGE:
            keys.append("judge")
        if self.metrics:
            keys.append("metric")
        return (*keys, *self.options)


_DETERMINISTIC = Family.DETERMINISTIC
EVALUATOR_TYPES: dict[str, EvaluatorRule] = {
    "equals": EvaluatorRule(_DETERMINISTIC, ValueKind.JSON, negatable=True),
    "contains": EvaluatorRule(_DETERMINISTIC, ValueKind.TEXT, negatable=True),
    "icontains": EvaluatorRule(_DETERMINISTIC, ValueKind.TEXT, negatable=True),
    "starts-with": EvaluatorRule(_DETERMINISTIC, ValueKind.TEXT, negatable=True),
    "contains-any": EvaluatorRule(_DETERMINISTIC, ValueKind.TEXTS, negatable=True),
    "contains-all": EvaluatorRule(_DETERMINISTIC, ValueKind.TEXTS, negatable=True),
    "regex": EvaluatorRule(_DETERMINISTIC, ValueKind.REGEX, negatable=True),
    "is-json": EvaluatorRule(_DETERMINISTIC, ValueKind.OPTIONAL_SCHEMA, negatable=True),
    "contains-json": EvaluatorRule(_DETERMINISTIC, ValueKind.OPTIONAL_SCHEMA, negatable=True),
    "json-schema": EvaluatorRule(_DETERMINISTIC, ValueKind.SCHEMA, negatable=True),
    "numeric": EvaluatorRule(_DETERMINISTIC, ValueKind.NUMBER, {"tolerance": Option(0, minimum=0)}, negatable=True),
    "tool-call-name": EvaluatorRule(Family.TOOL_CALLS, default_threshold=1.0),
    "tool-call-args": EvaluatorRule(Family.TOOL_CALLS, options={"match": Option("exact", ("exact", "subset"))},
                                    default_threshold=1.0),
    "tool-call-f1": EvaluatorRule(Family.TOOL_CALLS, default_threshold=1.0),
    "levenshtein": EvaluatorRule(Family.SIMILARITY, ValueKind.REFERENCE, default_threshold=0.5),
    "rouge-l": EvaluatorRule(Family.SIMILARITY, ValueKind.REFERENCE, default_threshold=0.5),
    "rouge-n": EvaluatorRule(Family.SIMILARITY, ValueKind.REFERENCE,
                             {"n": Option(2, minimum=1, maximum=4, integer=True)}, default_threshold=0.5),
    "bleu": EvaluatorRule(Family.SIMILARITY, ValueKind.REFERENCE, default_threshold=0.5),
    "chrf": EvaluatorRule(Family.SIMILARITY, ValueKind.REFERENCE, default_threshold=0.5),
    "latency": EvaluatorRule(Family.SLO, metrics=("ttft", "tpot", "e2e")),
    "cost": EvaluatorRule(Family.SLO),
    "llm-rubric": EvaluatorRule(Family.JUDGE, ValueKind.INSTRUCTIONS, default_threshold=0.5),
    "pairwise": EvaluatorRule(Family.JUDGE, ValueKind.INSTRUCTIONS, {"compare": Option("model", ("model", "prompt"))},
                              default_threshold=0.5, experiment_only=True),
}
ALL_KEYS = tuple(dict.fromkeys(key for rule in EVALUATOR_TYPES.values() for key in rule.keys))
SLO_UNITS = {"latency": "milliseconds", "cost": "USD"}

NEGATION = "not-"
DEFAULT_REFERENCE = "{{expected_output}}"
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,62}")
RESERVED_NAMES = frozenset({"overall"})  # the request's weighted score
LABEL_TYPES = ("llm-rubric",)            # the evaluators `labels` give human reference verdicts of
LONG_TEXT = 1_000_000

EVALUATOR_PLACEHOLDER = re.compile(r"\{\{\s*(?:(?P<kind>vars|metadata)\.(?P<key>[^\s{}.]+(?:\.[^\s{}.]+)*)"
                                   r"|(?P<expected>expected_output))\s*\}\}")
"""An evaluator template: `{{vars.NAME}}`, `{{metadata.KEY}}` (dotted paths allowed) or `{{expected_output}}`."""
ANY_PLACEHOLDER = re.compile(r"\{\{(.*?)\}\}", re.S)
_BROKEN = EvaluatorSpec(type="", name="")  # stands for an entry too broken to read; checks skip it


def read_evaluators(parent: Section, key: str, *, item: bool = False) -> tuple[EvaluatorSpec, ...] | None:
    """The evaluators listed at `key` of `parent` (the experiment's `evaluators`, or an item's `assert` when
    `item`), defaults filled in; None when the key is absent.

    One evaluator per entry, in order, so `<path>[i]` names entry i; an entry too broken to read (not a
    mapping, an unknown type) is reported and stands as an evaluator of type "" that the checks skip.
    """
    if not parent.has(key):
        return None
    located = [(path, _evaluator(parent.problems, path, raw, item)) for path, raw in parent.entries(key)]
    check_names(parent.problems, located)
    return tuple(evaluator for _, evaluator in located)


def read_labels(parent: Section, key: str) -> dict[str, Any] | None:
    """An item's `labels`: llm-rubric evaluator name -> true/false, a number in [0, 1] or a label (a string).

    Which names exist is checked against the whole spec (`check_evaluators`); None when absent.
    """
    if not parent.has(key):
        return None
    labels = parent.json_mapping(key)
    for name, value in labels.items():
        if isinstance(value, bool) or (is_number(value) and 0 <= value <= 1):
            continue
        if isinstance(value, str) and value.strip() and len(value) <= 200:
            continue
        parent.problems.append(f"{parent.at(key)}.{name}: must be true or false, a number from 0 to 1, or a label "
                               "(a string of 1 to 200 characters)")
    return labels


def evaluators_from_documents(documents: object) -> tuple[EvaluatorSpec, ...]:
    """Evaluators as `EvaluatorSpec.as_document` wrote them (e.g. a stored item's `assert`), read back by the same
    rules; SpecError when they no longer pass."""
    problems: list[str] = []
    evaluators = read_evaluators(Section(problems, "", {"assert": documents}, ("assert",)), "assert", item=True)
    if problems:
        raise SpecError(problems)
    return evaluators or ()


def template_references(value: Any) -> set[tuple[str, str]]:
    """What the templates in `value`'s strings use: ("vars", name), ("metadata", key), ("expected_output", "")."""
    found = set()
    for _, text in _strings("", value):
        for match in EVALUATOR_PLACEHOLDER.finditer(text):
            found.add(("expected_output", "") if match["expected"] else (match["kind"], match["key"]))
    return found


def check_names(problems: list[str], located: Sequence[Located[EvaluatorSpec]],
                taken: Sequence[Located[EvaluatorSpec]] = ()) -> None:
    """Evaluator names are unique among `located` and none is among `taken` (the experiment's evaluators, for an
    item's own), so a score name means one evaluator. Entries come with their paths."""
    found: list[str] = []
    if taken:
        first: dict[str, str] = {}
        for path, evaluator in taken:
            first.setdefault(evaluator.name, f"{path}.name")
        found += [f"{path}.name: duplicate evaluator name '{evaluator.name}' (first at {first[evaluator.name]})"
                  for path, evaluator in located if evaluator.name in first]
    else:
        check_unique(found, [(f"{path}.name", evaluator.name) for path, evaluator in located], "evaluator name")
    problems.extend(f"{problem}: give each evaluator its own name" for problem in found)


def check_item(problems: list[str], location: str, item: DatasetItem,
               evaluators: Sequence[Located[EvaluatorSpec]]) -> None:
    """Each of `evaluators` (with their paths) can be applied to `item`, found at `location`: its templates
    resolve and a tool-call type has the item's `expected_tool_calls` to compare with."""
    for path, evaluator in evaluators:
        rule = EVALUATOR_TYPES.get(evaluator.type)
        if rule is None:
            continue
        used_by = f"used by {path} ({evaluator.name})"
        references = template_references(evaluator.value)
        for kind in ("vars", "metadata"):
            given = item.vars if kind == "vars" else item.metadata
            missing = sorted(key for used, key in references if used == kind and not _resolves(given, key))
            if missing:
                names = ", ".join(f"'{key}'" for key in missing)
                problems.append(f"{location}.{kind}: missing {names} {used_by}")
        if ("expected_output", "") in references and item.expected_output is None:
            tip = (f": its reference (value) defaults to {DEFAULT_REFERENCE}; give the item an expected_output or "
                   "the evaluator a value" if rule.value is ValueKind.REFERENCE and
                   evaluator.value == DEFAULT_REFERENCE else "")
            problems.append(f"{location}.expected_output: required, {used_by}{tip}")
        if rule.family is Family.TOOL_CALLS and item.expected_tool_calls is None:
            problems.append(f"{location}.expected_tool_calls: required by {path} ({evaluator.name}): the calls "
                            "expected, or [] when no call is expected")


def _resolves(root: Any, key: str) -> bool:
    """Whether the dotted path `key` leads from `root` to a value that is not null (keys of objects, indices of
    lists), as rendering will look it up."""
    value = root
    for part in key.split("."):
        if isinstance(value, Mapping) and part in value:
            value = value[part]
        elif isinstance(value, list | tuple) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            return False
    return value is not None


def check_evaluators(problems: list[str], evaluators: tuple[EvaluatorSpec, ...] | None,
                     items: Sequence[Located[DatasetItem]], *, judges: Collection[str], models: int, prompts: int
                     ) -> tuple[tuple[EvaluatorSpec, ...] | None, list[Located[DatasetItem]]]:
    """The checks that need the whole spec, once everything is read: each judge evaluator's judge (filled in
    when the spec has exactly one), pairwise's cells to compare, every experiment-level evaluator against every
    item, item evaluator names against the experiment's, `labels` against the evaluators they label.

    Returns the evaluators and items with the judges filled in.
    """
    located = [(f"evaluators[{index}]", evaluator) for index, evaluator in enumerate(evaluators or ())]
    located = _with_judges(problems, located, judges)
    _check_comparisons(problems, located, models, prompts)
    taken = [(path, evaluator) for path, evaluator in located if evaluator.name]
    checked = []
    for location, item in items:
        own = [(f"{location}.assert[{index}]", evaluator) for index, evaluator in enumerate(item.asserts or ())]
        own = _with_judges(problems, own, judges)
        check_names(problems, [(path, evaluator) for path, evaluator in own if evaluator.name], taken)
        check_item(problems, location, item, located)
        if item.labels is not None:
            _check_labels(problems, f"{location}.labels", item.labels, [*located, *own])
        if item.asserts is not None:
            item = dataclasses.replace(item, asserts=tuple(evaluator for _, evaluator in own))
        checked.append((location, item))
    return (None if evaluators is None else tuple(evaluator for _, evaluator in located)), checked


def _evaluator(problems: list[str], path: str, raw: object, item: bool) -> EvaluatorSpec:
    if not isinstance(raw, Mapping):
        problems.append(f"{path}: must be a mapping (an evaluator with a type, e.g. {{type: contains, value: ...}})")
        return _BROKEN
    written, rule = _type(problems, path, raw.get("type"))
    if rule is None:
        Section(problems, path, raw, ALL_KEYS)  # still names the unknown keys
        return _BROKEN
    keys = rule.keys
    for key, value in raw.items():
        if key in ALL_KEYS and key not in keys and value is not None:
            problems.append(f"{path}.{key}: not taken by type {written} (it takes: {', '.join(keys)})")
    section = Section(problems, path, {key: value for key, value in raw.items() if key in keys or key not in ALL_KEYS},
                      keys)
    negate = written.startswith(NEGATION)
    name = written  # a name that fails its checks becomes "": reported, and not taken for a duplicate
    if section.has("name"):
        name = section.text("name", max_len=63, pattern=NAME,
                            expected="letters, digits, '_', '.' and '-', starting with a letter or digit") or ""
    if name in RESERVED_NAMES:
        section.report("name", f"'{name}' is reserved (the request's weighted score); choose another name")
    evaluator = EvaluatorSpec(
        type=written.removeprefix(NEGATION) if negate else written,
        name=name,
        negate=negate,
        value=_value(section, rule),
        threshold=_threshold(section, rule, written),
        weight=float(section.number("weight", default=1.0, minimum=0)),
        judge=(section.label("judge") or None) if rule.family is Family.JUDGE else None,
        metric=section.choice("metric", rule.metrics) if rule.metrics else None,
        options={key: _option(section, key, option) for key, option in rule.options.items()},
    )
    if item and rule.experiment_only:
        section.report("type", f"{written} compares the responses of several cells, so it belongs in the "
                               "experiment's evaluators, not in an item's assert")
        return _BROKEN  # its judge and name are beside the point
    return evaluator


def _type(problems: list[str], path: str, written: object) -> tuple[str, EvaluatorRule | None]:
    """The type as written and its rule; None (reported) when missing, unknown or wrongly negated."""
    if written is None:
        problems.append(f"{path}.type: required (e.g. contains, llm-rubric, latency; see docs/evaluation.md)")
        return "", None
    if not isinstance(written, str):
        problems.append(f"{path}.type: must be a string")
        return "", None
    negated = written.startswith(NEGATION)
    base = written.removeprefix(NEGATION) if negated else written
    rule = EVALUATOR_TYPES.get(base)
    if rule is None:
        problems.append(f"{path}.type: unknown evaluator type '{written}'" + _type_hint(base, negated))
        return written, None
    if negated and not rule.negatable:
        negatable = ", ".join(name for name, other in EVALUATOR_TYPES.items() if other.negatable)
        problems.append(f"{path}.type: {base} cannot be negated with {NEGATION}; only these can: {negatable}")
        return written, None
    return written, rule


def _type_hint(base: str, negated: bool) -> str:
    candidates = [name for name, rule in EVALUATOR_TYPES.items() if rule.negatable or not negated]
    close = difflib.get_close_matches(base, candidates, n=1)
    if close:
        return f" (did you mean '{NEGATION if negated else ''}{close[0]}'?)"
    return hint(base, candidates)


def _value(section: Section, rule: EvaluatorRule) -> Any:
    """The type's `value`, checked as its ValueKind says; templates in its strings checked too."""
    kind, path = rule.value, section.at("value")
    if kind is ValueKind.NONE or (kind is ValueKind.OPTIONAL_SCHEMA and not section.has("value")):
        return None
    if kind is ValueKind.REFERENCE:
        value: Any = section.text("value", default=DEFAULT_REFERENCE, max_len=LONG_TEXT)
    elif kind is ValueKind.INSTRUCTIONS:
        value = section.text("value", required=_REQUIRED_VALUE[kind], max_len=LONG_TEXT) or None
    elif not section.has("value"):
        section.report("value", f"required {_REQUIRED_VALUE[kind]}")
        return None
    else:
        value = _given_value(section, kind, path, section.raw("value"))
    _check_placeholders(section.problems, path, value)
    return value


_REQUIRED_VALUE = {
    ValueKind.JSON: "(the value the output must equal)",
    ValueKind.TEXT: "(the text to look for)",
    ValueKind.TEXTS: "(a list of texts)",
    ValueKind.REGEX: "(a regular expression)",
    ValueKind.SCHEMA: "(a JSON Schema)",
    ValueKind.NUMBER: "(the expected number, or a template such as {{expected_output}})",
    ValueKind.INSTRUCTIONS: "(what the judge is to look for)",
}


def _given_value(section: Section, kind: ValueKind, path: str, raw: Any) -> Any:
    problems = section.problems
    if kind is ValueKind.JSON:
        return json_copy(raw, path, problems)
    if kind in (ValueKind.TEXT, ValueKind.REGEX):
        if not _non_empty_text(raw):
            problems.append(f"{path}: must be a non-empty string")
            return None
        if kind is ValueKind.REGEX and not ANY_PLACEHOLDER.search(raw):
            try:
                re.compile(raw)
            except re.error as error:
                problems.append(f"{path}: not a valid regular expression: {error.msg} at position {error.pos}")
        return raw
    if kind is ValueKind.TEXTS:
        texts = section.entries("value", required=True)
        for entry_path, text in texts:
            if not _non_empty_text(text):
                problems.append(f"{entry_path}: must be a non-empty string")
        return [text for _, text in texts]
    if kind in (ValueKind.SCHEMA, ValueKind.OPTIONAL_SCHEMA):
        if not isinstance(raw, Mapping):
            problems.append(f"{path}: must be a JSON Schema (a mapping, such as {{type: object}})")
            return None
        schema = json_copy(raw, path, problems)
        _check_schema(problems, path, schema)
        return schema
    # ValueKind.NUMBER
    if is_number(raw) or (isinstance(raw, str) and ANY_PLACEHOLDER.search(raw)):
        return raw
    problems.append(f"{path}: must be a number, or a template such as {{{{expected_output}}}} or {{{{vars.x}}}}")
    return None


def _non_empty_text(value: object) -> bool:
    return isinstance(value, str) and 0 < len(value) <= LONG_TEXT


def _check_schema(problems: list[str], path: str, schema: dict[str, Any]) -> None:
    # Imported here: jsonschema costs about as much to import as the whole spec package, and most specs have
    # no schema to check.
    from jsonschema.exceptions import SchemaError
    from jsonschema.validators import validator_for

    try:
        validator_for(schema).check_schema(schema)
    except SchemaError as error:
        where = path + "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in error.path)
        message = error.message.splitlines()[0] if error.message else "invalid"
        problems.append(f"{where}: not a valid JSON Schema: {message[:200]}")


def _threshold(section: Section, rule: EvaluatorRule, written: str) -> float | None:
    if rule.family is Family.SLO:
        limit = section.number("threshold", required=f"for type {written}: the limit, in {SLO_UNITS[written]}",
                               above=0)
        return None if limit is None else float(limit)
    threshold = section.number("threshold", minimum=0, maximum=1, default=rule.default_threshold)
    return None if threshold is None else float(threshold)


def _option(section: Section, key: str, option: Option) -> Any:
    if option.choices:
        return section.choice(key, option.choices, default=str(option.default)) or option.default
    if option.integer:
        value: float | None = section.integer(key, default=int(option.default),
                                              minimum=None if option.minimum is None else int(option.minimum))
    else:
        value = section.number(key, default=float(option.default), minimum=option.minimum)
    if option.maximum is not None and value is not None and value > option.maximum:
        section.report(key, f"must be at most {option.maximum:g}")
    if value is None:
        return option.default
    return value if option.integer else float(value)


def _check_placeholders(problems: list[str], path: str, value: Any) -> None:
    for string_path, text in _strings(path, value):
        for match in ANY_PLACEHOLDER.finditer(text):
            if not EVALUATOR_PLACEHOLDER.fullmatch(match.group(0)):
                problems.append(f"{string_path}: invalid placeholder '{match.group(0)}': use {{{{vars.NAME}}}}, "
                                "{{expected_output}} or {{metadata.KEY}}")


def _strings(path: str, value: Any) -> Iterator[Located[str]]:
    """Every string in a JSON value (not its mapping keys), with its path."""
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            yield from _strings(f"{path}[{index}]", item)
    elif isinstance(value, Mapping):
        for key, item in value.items():
            yield from _strings(f"{path}.{key}", item)


def _with_judges(problems: list[str], located: list[Located[EvaluatorSpec]],
                 judges: Collection[str]) -> list[Located[EvaluatorSpec]]:
    """`located` with each judge evaluator's judge checked, and filled in when the spec has exactly one."""
    resolved = []
    for path, evaluator in located:
        rule = EVALUATOR_TYPES.get(evaluator.type)
        if rule is not None and rule.family is Family.JUDGE:
            if evaluator.judge is not None and evaluator.judge not in judges:
                problems.append(f"{path}.judge: unknown judge '{evaluator.judge}'"
                                + (hint(evaluator.judge, judges) if judges else ": define it under judges:"))
            elif evaluator.judge is None and len(judges) == 1:
                evaluator = dataclasses.replace(evaluator, judge=next(iter(judges)))
            elif evaluator.judge is None and judges:
                problems.append(f"{path}.judge: required: name one of the judges ({', '.join(judges)})")
            elif evaluator.judge is None:
                problems.append(f"{path}.judge: required: {evaluator.type} needs a judge; define a model that "
                                "grades under judges: (same keys as models)")
        resolved.append((path, evaluator))
    return resolved


def _check_comparisons(problems: list[str], located: Sequence[Located[EvaluatorSpec]], models: int,
                       prompts: int) -> None:
    for path, evaluator in located:
        if evaluator.type != "pairwise":
            continue
        compare = evaluator.options.get("compare")
        count, what, other = (models, "models", "prompt") if compare == "model" else (prompts, "prompts", "model")
        if count < 2:
            problems.append(f"{path}: pairwise with compare: {compare} needs at least two {what} (the spec has "
                            f"{count}); add one, or compare: {other}")


def _check_labels(problems: list[str], path: str, labels: Mapping[str, Any],
                  evaluators: Sequence[Located[EvaluatorSpec]]) -> None:
    by_name = {evaluator.name: evaluator for _, evaluator in evaluators if evaluator.type in EVALUATOR_TYPES}
    labelled = [name for name, evaluator in by_name.items() if evaluator.type in LABEL_TYPES]
    for name in labels:
        evaluator = by_name.get(name)
        if evaluator is None:
            tip = hint(name, labelled) if labelled else " (there is no llm-rubric evaluator to label)"
            problems.append(f"{path}.{name}: no evaluator named '{name}'{tip}")
        elif evaluator.type not in LABEL_TYPES:
            problems.append(f"{path}.{name}: labels are human verdicts of llm-rubric evaluators; '{name}' is a "
                            f"{evaluator.type} evaluator")
