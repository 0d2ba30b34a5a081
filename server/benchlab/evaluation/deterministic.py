"""Deterministic evaluators: checks of the output text that pass or fail (score 1 or 0), each negatable with `not-`.

| type | passes when |
|---|---|
| `equals` | a string value: `output.strip() == value.strip()`; another JSON value: the output is JSON equal to it |
| `contains` | the value occurs in the output (case-sensitive) |
| `icontains` | the same after Unicode case folding of both (`"Straße"` holds `"STRASSE"`) |
| `starts-with` | the output, leading whitespace removed, starts with the value |
| `contains-any` / `contains-all` | some / every text of the value (a list; one string counts as a list of one) occurs |
| `regex` | Python's `re.search` finds the pattern (no flags; write `(?i)` in the pattern for them) |
| `is-json` | the stripped output is one JSON document; with a schema as value, it also validates |
| `contains-json` | some JSON object or array embedded in the text decodes (and validates, with a schema value) |
| `json-schema` | the output parses and validates against the value (a JSON Schema; its `$schema`, else 2020-12) |
| `numeric` | the stripped output is a number (`-1.5`, `2e3`; no text around it) within `tolerance` of the value |

A value that is not text where text is needed (e.g. `contains: 4`) is compared as its compact JSON text.
`not-X` inverts the verdict and the score; the reason states the fact either way ("contains 'x'"), so it reads
right for both. Reasons are at most 200 characters and quote at most about 60 characters of the output.
"""

from __future__ import annotations

import functools
import json
import math
import re
from collections.abc import Callable, Mapping
from typing import Any

from jsonschema import SchemaError, ValidationError, validators
from jsonschema.protocols import Validator

from benchlab.evaluation.base import QUOTE_CHARS, ScoreFn, ValueProblem, number, problem_scores, quote, shorten
from benchlab.evaluation.jsonvalues import NotJSON, as_text, compact_json, find_json, json_equal, parse_json
from benchlab.evaluation.model import ItemContext, Response, Score
from benchlab.evaluation.templates import compile_value
from benchlab.spec.model import EvaluatorSpec

Check = Callable[[str], tuple[bool, str]]
"""A prepared check: the output text in, (the fact holds, the reason stating it) out."""

NUMBER = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
SCHEMA_MESSAGE_CHARS = 110  # of a validation error's message, in a reason


def prepare(spec: EvaluatorSpec) -> ScoreFn:
    """The evaluator's callable; a fixed value is checked here (ValueProblem when unusable), a templated one per
    request (a failed score labelled `invalid_value` or `missing_reference` when unusable for that item)."""
    template = compile_value(spec.value)
    names = (spec.name,)
    negate = spec.negate

    def verdict(check: Check, output: str) -> list[Score]:
        holds, reason = check(output)
        passed = holds != negate
        return [Score(spec.name, 1.0 if passed else 0.0, passed, shorten(reason))]

    if template.static:
        check = build_check(spec.type, spec.value, spec.options)
        return lambda response, item: verdict(check, response.output)

    def templated(response: Response, item: ItemContext) -> list[Score]:
        try:
            check = build_check(spec.type, template.render(item), spec.options)
        except ValueProblem as problem:
            return problem_scores(names, problem)
        return verdict(check, response.output)

    return templated


def build_check(type_: str, value: Any, options: Mapping[str, Any]) -> Check:
    """The check of a deterministic type for a (rendered) value; ValueProblem when the value is unusable."""
    builder = _BUILDERS.get(type_)
    if builder is None:
        raise ValueProblem(f"{type_!r} is not a deterministic evaluator type")
    return builder(value, options)


# -- text ------------------------------------------------------------------------------------------------------

def _equals(value: Any, options: Mapping[str, Any]) -> Check:
    if isinstance(value, str):
        target = value.strip()
        shown = quote(target)

        def equals_text(output: str) -> tuple[bool, str]:
            text = output.strip()
            if text == target:
                return True, f"equals {shown}"
            return False, f"{quote(text)} is not {shown}"
        return equals_text

    shown_json = quote(compact_json(value))

    def equals_json(output: str) -> tuple[bool, str]:
        try:
            document = parse_json(output)
        except NotJSON as error:
            return False, f"not JSON ({error}), so not {shown_json}"
        if json_equal(document, value):
            return True, f"equals JSON {shown_json}"
        return False, f"JSON {quote(compact_json(document))} is not {shown_json}"
    return equals_json


def _contains(value: Any, options: Mapping[str, Any]) -> Check:
    needle = as_text(value)
    found, missing = (True, f"contains {quote(needle)}"), (False, f"does not contain {quote(needle)}")
    return lambda output: found if needle in output else missing


def _icontains(value: Any, options: Mapping[str, Any]) -> Check:
    text = as_text(value)
    needle = text.casefold()
    found = (True, f"contains {quote(text)} (ignoring case)")
    missing = (False, f"does not contain {quote(text)} (ignoring case)")
    return lambda output: found if needle in output.casefold() else missing


def _starts_with(value: Any, options: Mapping[str, Any]) -> Check:
    prefix = as_text(value)
    shown = quote(prefix)
    head = min(max(len(prefix), 20), QUOTE_CHARS)

    def starts_with(output: str) -> tuple[bool, str]:
        start = len(output) - len(output.lstrip()) if output[:1].isspace() else 0
        if output.startswith(prefix, start):
            return True, f"starts with {shown}"
        return False, f"starts with {quote(output[start:start + head])}, not {shown}"
    return starts_with


def _texts(value: Any) -> list[str]:
    texts = [value] if isinstance(value, str) else [as_text(v) for v in value] if isinstance(value, list | tuple) \
        else [as_text(value)]
    if not texts:
        raise ValueProblem("the value lists no text to look for")
    return texts


def _contains_any(value: Any, options: Mapping[str, Any]) -> Check:
    needles = _texts(value)
    none_found = (False, f"contains none of {len(needles)}: " + ", ".join(quote(n, 30) for n in needles[:4])
                  + (", …" if len(needles) > 4 else ""))

    def contains_any(output: str) -> tuple[bool, str]:
        for needle in needles:
            if needle in output:
                return True, f"contains {quote(needle)}"
        return none_found
    return contains_any


def _contains_all(value: Any, options: Mapping[str, Any]) -> Check:
    needles = _texts(value)
    every = (True, f"contains all {len(needles)}" if len(needles) > 1 else f"contains {quote(needles[0])}")

    def contains_all(output: str) -> tuple[bool, str]:
        missing = [needle for needle in needles if needle not in output]
        if not missing:
            return every
        more = f" and {len(missing) - 1} more" if len(missing) > 1 else ""
        return False, f"lacks {quote(missing[0])}{more} ({len(needles) - len(missing)} of {len(needles)} found)"
    return contains_all


def _regex(value: Any, options: Mapping[str, Any]) -> Check:
    if not isinstance(value, str):
        raise ValueProblem(f"a regex must be a string, not {quote(compact_json(value))}")
    try:
        pattern = re.compile(value)
    except re.error as error:
        raise ValueProblem(f"invalid regex {quote(value)}: {error.msg}") from None
    shown = quote(value)
    missing = (False, f"no match for {shown}")

    def regex(output: str) -> tuple[bool, str]:
        match = pattern.search(output)
        if match is None:
            return missing
        return True, f"matches {shown}: {quote(match.group(0), 40)}"
    return regex


# -- JSON ------------------------------------------------------------------------------------------------------

def _is_json(value: Any, options: Mapping[str, Any]) -> Check:
    validator = None if value is None else schema_validator(value)

    def is_json(output: str) -> tuple[bool, str]:
        try:
            document = parse_json(output)
        except NotJSON as error:
            return False, f"not JSON ({error}): {quote(output.strip(), 40)}"
        if validator is None:
            return True, "is JSON"
        problem = first_schema_error(validator, document)
        return (True, "is JSON matching the schema") if problem is None else (False, f"JSON, but {problem}")
    return is_json


def _json_schema(value: Any, options: Mapping[str, Any]) -> Check:
    if value is None:
        raise ValueProblem("json-schema needs a schema as its value")
    return _is_json(value, options)


def _contains_json(value: Any, options: Mapping[str, Any]) -> Check:
    validator = None if value is None else schema_validator(value)

    def contains_json(output: str) -> tuple[bool, str]:
        seen, first_problem = 0, ""
        for document in find_json(output):
            if validator is None:
                return True, f"contains JSON {quote(compact_json(document), 40)}"
            problem = first_schema_error(validator, document)
            if problem is None:
                return True, f"contains JSON matching the schema: {quote(compact_json(document), 40)}"
            seen += 1
            first_problem = first_problem or problem
        if seen:
            return False, f"{seen} JSON value{'s' if seen > 1 else ''} found, none matching the schema: {first_problem}"
        return False, "no JSON object or array in the output"
    return contains_json


def schema_validator(schema: Any) -> Validator:
    """A validator for the schema (built once per distinct schema); ValueProblem when it is not a valid schema.

    The draft is the schema's `$schema`, else 2020-12. References are resolved within the schema only: nothing is
    fetched.
    """
    if isinstance(schema, str):
        try:
            schema = parse_json(schema)
        except NotJSON as error:
            raise ValueProblem(f"the schema is not JSON ({error})") from None
    if not isinstance(schema, dict | bool):
        raise ValueProblem(f"a JSON Schema is an object, not {quote(compact_json(schema))}")
    return _validator(json.dumps(schema, sort_keys=True))


@functools.lru_cache(maxsize=256)
def _validator(schema_text: str) -> Validator:
    schema = json.loads(schema_text)
    cls = validators.validator_for(schema)
    try:
        cls.check_schema(schema)
    except SchemaError as error:
        raise ValueProblem(f"invalid JSON Schema: {shorten(error.message, SCHEMA_MESSAGE_CHARS)}") from None
    return cls(schema)


def first_schema_error(validator: Validator, document: Any) -> str | None:
    """None when the document validates, else its first validation error: `at $.path: message`, shortened."""
    error: ValidationError | None = next(iter(validator.iter_errors(document)), None)
    if error is None:
        return None
    return f"at {error.json_path}: {shorten(error.message, SCHEMA_MESSAGE_CHARS)}"


# -- numbers ---------------------------------------------------------------------------------------------------

def _numeric(value: Any, options: Mapping[str, Any]) -> Check:
    target = _number_value(value, "the value")
    tolerance = _number_value(options.get("tolerance") or 0, "tolerance")
    if tolerance < 0:
        raise ValueProblem(f"tolerance must not be negative, not {number(tolerance)}")
    within = f"within {number(tolerance)} of" if tolerance else "equal to"

    def numeric(output: str) -> tuple[bool, str]:
        text = output.strip()
        if NUMBER.fullmatch(text) is None:
            return False, f"not a number: {quote(text, 40)}"
        actual = float(text)
        difference = abs(actual - target)
        # Up to float rounding: 1.1 is within 0.1 of 1.0 although 1.1 - 1.0 = 0.10000000000000009.
        if difference <= tolerance + 1e-12 * max(abs(actual), abs(target)):
            return True, f"{number(actual)} is {within} {number(target)}"
        return False, f"{number(actual)} is not {within} {number(target)} (off by {number(difference)})"
    return numeric


def _number_value(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueProblem(f"{what} must be a number, not {quote(compact_json(value))}")
    if isinstance(value, str):
        if NUMBER.fullmatch(value.strip()) is None:
            raise ValueProblem(f"{what} must be a number, not {quote(value)}")
        value = float(value)
    if not math.isfinite(value):
        raise ValueProblem(f"{what} must be a finite number")
    return float(value)


_BUILDERS: dict[str, Callable[[Any, Mapping[str, Any]], Check]] = {
    "equals": _equals,
    "contains": _contains,
    "icontains": _icontains,
    "starts-with": _starts_with,
    "contains-any": _contains_any,
    "contains-all": _contains_all,
    "regex": _regex,
    "is-json": _is_json,
    "contains-json": _contains_json,
    "json-schema": _json_schema,
    "numeric": _numeric,
}

DETERMINISTIC_TYPES: frozenset[str] = frozenset(_BUILDERS)
"""The types of this module; each can be negated (`not-contains`)."""

