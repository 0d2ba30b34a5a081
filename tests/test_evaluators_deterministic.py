"""Deterministic evaluators and templates (docs/evaluation.md, "Types"): hand-checked outputs, negation, unicode,
empty and 1 MB outputs, JSON in prose, schema violations reported with their path."""

from __future__ import annotations

import pytest

from benchlab.errors import InvalidInputError
from benchlab.evaluation.base import MISSING_REFERENCE, ValueProblem
from benchlab.evaluation.model import ItemContext
from benchlab.evaluation.templates import compile_value, render
from tests.helpers.evaluators import score, spec

HUGE = ("lorem ipsum dolor sit amet " * 40_000)[:1_000_000]  # 1 MB of prose


def passes(type_: str, value: object, output: str, **options: object) -> bool:
    result = score(spec(type_, value, **options), output)
    assert result.value == (1.0 if result.passed else 0.0)
    return result.passed


# -- equals ------------------------------------------------------------------------------------------------------

def test_equals_text_ignores_surrounding_whitespace_only() -> None:
    assert passes("equals", "4", " 4\n")
    assert passes("equals", " Paris ", "Paris")
    assert not passes("equals", "4", "4.")
    assert not passes("equals", "Paris", "paris")
    result = score(spec("equals", "4"), "The answer is 5")
    assert result.reason == "'The answer is 5' is not '4'"


def test_equals_a_json_value_compares_parsed_json() -> None:
    assert passes("equals", {"a": 1, "b": [1, 2]}, '{"b": [1, 2],\n "a": 1.0}')
    assert passes("equals", 4, " 4.0 ")
    assert passes("equals", [1, "x", None], '[1, "x", null]')
    assert not passes("equals", {"a": 1}, '{"a": true}')  # true is not 1 in JSON
    assert not passes("equals", 1, '"1"')
    assert not passes("equals", {"a": 1}, '{"a": 1, "b": 2}')
    result = score(spec("equals", {"a": 1}), "four")
    assert not result.passed and result.reason.startswith("not JSON (Expecting value")


# -- contains, icontains, starts-with ----------------------------------------------------------------------------

def test_contains_is_case_sensitive() -> None:
    assert passes("contains", "Paris", "The capital is Paris.")
    assert not passes("contains", "paris", "The capital is Paris.")
    assert score(spec("contains", "Paris"), "Rome").reason == "does not contain 'Paris'"
    assert passes("contains", 4, "answer: 42")  # a non-string value is looked for as its JSON text


def test_icontains_folds_unicode_case() -> None:
    assert passes("icontains", "STRASSE", "Die Straße ist lang")
    assert passes("icontains", "straße", "DIE STRASSE")
    assert passes("icontains", "ΣΊΣΥΦΟΣ", "ο σίσυφος")  # final sigma folds like sigma
    assert passes("icontains", "PARIS", "paris")
    assert not passes("icontains", "Strasse", "Die Strase")


def test_starts_with_skips_leading_whitespace_of_the_output() -> None:
    assert passes("starts-with", "Hello", "\n  Hello world")
    assert not passes("starts-with", "Hello", "Hi there, Hello")
    assert score(spec("starts-with", "Hello"), "Hi there, Hello").reason == "starts with 'Hi there, Hello', not 'Hello'"
    assert not passes("starts-with", "Hello", "")
    assert not passes("starts-with", "Hello", "   ")


def test_contains_any_and_all() -> None:
    assert passes("contains-any", ["cat", "dog"], "a hotdog")
    assert score(spec("contains-any", ["cat", "dog"]), "a hotdog").reason == "contains 'dog'"
    result = score(spec("contains-any", ["cat", "cow"]), "a hotdog")
    assert not result.passed and result.reason == "contains none of 2: 'cat', 'cow'"
    assert passes("contains-any", "dog", "hotdog")  # one string is a list of one
    assert passes("contains-all", ["a1", "c3"], "a1 b2 c3")
    result = score(spec("contains-all", ["a1", "b2", "c3"]), "a1 c3")
    assert not result.passed and result.reason == "lacks 'b2' (2 of 3 found)"
    result = score(spec("contains-all", ["x", "y", "z"]), "")
    assert result.reason == "lacks 'x' and 2 more (0 of 3 found)"


# -- regex -------------------------------------------------------------------------------------------------------

def test_regex_searches_anywhere() -> None:
    result = score(spec("regex", r"\d{3}-\d{4}"), "call 555-1234 now")
    assert result.passed and result.reason == r"matches '\\d{3}-\\d{4}': '555-1234'"
    assert not passes("regex", r"^\d+$", "12 apples")
    assert not passes("regex", r"(?i)straße", "STRASSE")  # re's ignore-case does not fold ß to ss
    assert passes("regex", r"\bStraße\b", "Die Straße ist")
    assert passes("regex", r"(?i)yes", "YES")


def test_an_invalid_fixed_regex_is_refused_when_prepared() -> None:
    with pytest.raises(InvalidInputError, match=r"evaluator 'regex' \(regex\): invalid regex '\(': missing \)"):
        score(spec("regex", "("), "x")


# -- JSON --------------------------------------------------------------------------------------------------------

def test_is_json() -> None:
    assert passes("is-json", None, '  {"a": 1}\n')
    assert passes("is-json", None, "[1, 2]")
    assert passes("is-json", None, "3")
    result = score(spec("is-json"), '{"a": 1')
    assert not result.passed and result.reason.startswith("not JSON (Expecting ',' delimiter at line 1 column 8)")
    assert not passes("is-json", None, 'Here it is: {"a": 1}')
    assert not passes("is-json", None, "")
    assert not passes("is-json", None, "[" * 100_000)  # too deep for the decoder: not JSON, no crash


def test_is_json_with_a_schema_validates() -> None:
    schema = {"type": "object", "required": ["a"]}
    assert passes("is-json", schema, '{"a": 1}')
    result = score(spec("is-json", schema), '{"b": 1}')
    assert not result.passed and result.reason == "JSON, but at $: 'a' is a required property"


def test_contains_json_finds_json_in_prose() -> None:
    result = score(spec("contains-json"), 'Sure! Here is the data: {"name": "x", "n": [1, 2]} Hope it helps.')
    assert result.passed and result.reason == 'contains JSON \'{"name":"x","n":[1,2]}\''
    assert not passes("contains-json", None, "use {braces} like {this} or [that]")
    assert score(spec("contains-json"), "no json here").reason == "no JSON object or array in the output"
    assert passes("contains-json", None, "a {broken: json} then [1, 2]")
    assert passes("contains-json", None, '{"outer": {"inner": 1}')  # the outer is cut off, the inner decodes
    assert not passes("contains-json", None, "just 42 and \"text\"")  # scalars are not embedded objects
    assert not passes("contains-json", None, "")
    assert not passes("contains-json", None, "{" * 50_000 + "[" * 50_000)  # too deep: skipped, not a crash
    assert not passes("contains-json", None, "[1," * 300_000)  # 300 000 broken candidates: the scan gives up
    assert passes("contains-json", None, HUGE + ' {"found": true}')


def test_contains_json_with_a_schema_needs_a_matching_value() -> None:
    schema = {"type": "object", "required": ["name"]}
    assert passes("contains-json", schema, 'first {"id": 1}, then {"name": "x"}')
    result = score(spec("contains-json", schema), 'first {"id": 1}, then [2]')
    assert not result.passed
    assert result.reason == "2 JSON values found, none matching the schema: at $: 'name' is a required property"


def test_json_schema_reports_the_first_violation_with_its_path() -> None:
    schema = {"type": "object", "properties": {
        "user": {"type": "object", "properties": {"age": {"type": "integer"}}},
        "tags": {"type": "array", "items": {"type": "string"}}}}
    assert passes("json-schema", schema, '{"user": {"age": 30}, "tags": ["a"]}')
    result = score(spec("json-schema", schema), '{"user": {"age": "ten"}}')
    assert not result.passed and result.reason == "JSON, but at $.user.age: 'ten' is not of type 'integer'"
    result = score(spec("json-schema", schema), '{"tags": ["a", 2]}')
    assert result.reason == "JSON, but at $.tags[1]: 2 is not of type 'string'"
    assert score(spec("json-schema", schema), "not json").reason.startswith("not JSON")
    long = score(spec("json-schema", schema), '{"user": {"age": "' + "x" * 10_000 + '"}}')
    assert not long.passed and len(long.reason) <= 200 and "$.user.age" in long.reason


def test_json_schema_draft_comes_from_the_schema() -> None:
    draft7 = {"$schema": "http://json-schema.org/draft-07/schema#", "items": [{"type": "integer"}]}
    assert passes("json-schema", draft7, "[1]")  # tuple items are draft-7 syntax
    assert not passes("json-schema", draft7, '["a"]')


def test_an_invalid_schema_is_refused_when_prepared() -> None:
    with pytest.raises(InvalidInputError, match="invalid JSON Schema: 'nonsense' is not valid"):
        score(spec("json-schema", {"type": "nonsense"}), "{}")
    with pytest.raises(InvalidInputError, match="a JSON Schema is an object"):
        score(spec("json-schema", [1]), "{}")


# -- numeric -----------------------------------------------------------------------------------------------------

def test_numeric_is_strict_about_the_output() -> None:
    assert passes("numeric", 42, "42")
    assert passes("numeric", 42, " 42.0 \n")
    assert passes("numeric", -300, "-3e2")
    assert passes("numeric", "3.5", "3.5")  # a value written as text
    assert not passes("numeric", 42, "42 apples")
    assert not passes("numeric", 42, "forty-two")
    assert not passes("numeric", 42, "nan")
    assert not passes("numeric", 42, "")
    assert not passes("numeric", 42, "4_2")
    assert score(spec("numeric", 42), "42 apples").reason == "not a number: '42 apples'"


def test_numeric_tolerance() -> None:
    assert passes("numeric", 1.0, "1.1", tolerance=0.1)  # 1.1 - 1.0 is 0.10000000000000009 in floats
    assert passes("numeric", 1.0, "0.9", tolerance=0.1)
    result = score(spec("numeric", 1.0, tolerance=0.1), "1.2")
    assert not result.passed and result.reason == "1.2 is not within 0.1 of 1 (off by 0.2)"
    assert score(spec("numeric", 7), "7").reason == "7 is equal to 7"
    assert not passes("numeric", 7, "7.001")


# -- negation ----------------------------------------------------------------------------------------------------

HOLDS = [  # (type, value, output for which the check holds, output for which it does not)
    ("equals", "yes", "yes", "no"),
    ("contains", "cat", "a cat", "a dog"),
    ("icontains", "CAT", "a cat", "a dog"),
    ("starts-with", "Dear", "Dear Sir", "Hi"),
    ("contains-any", ["cat", "dog"], "dog", "cow"),
    ("contains-all", ["cat", "dog"], "cat dog", "cat"),
    ("regex", r"^\d+$", "123", "12a"),
    ("is-json", None, "{}", "{"),
    ("contains-json", None, "see {}", "see"),
    ("json-schema", {"type": "integer"}, "3", "3.5"),
    ("numeric", 3, "3", "4"),
]


@pytest.mark.parametrize(("type_", "value", "holds", "fails"), HOLDS, ids=[case[0] for case in HOLDS])
def test_not_inverts_verdict_and_score_of_every_type(type_: str, value: object, holds: str, fails: str) -> None:
    plain, negated = spec(type_, value), spec(f"not-{type_}", value)
    assert score(plain, holds).passed and not score(plain, fails).passed
    held = score(negated, holds)
    assert (held.passed, held.value) == (False, 0.0)
    assert held.reason == score(plain, holds).reason  # the reason states the fact either way
    missed = score(negated, fails)
    assert (missed.passed, missed.value) == (True, 1.0)


@pytest.mark.parametrize(("type_", "value", "holds", "fails"), HOLDS, ids=[case[0] for case in HOLDS])
def test_huge_and_empty_outputs_give_short_reasons(type_: str, value: object, holds: str, fails: str) -> None:
    for output in (HUGE, HUGE + holds, "", "\n"):
        result = score(spec(type_, value), output)
        assert len(result.reason) <= 200
        assert result.value in (0.0, 1.0)
    assert score(spec("contains", "needle"), HUGE + "needle").passed


# -- templates ---------------------------------------------------------------------------------------------------

ITEM = ItemContext(vars={"city": "Paris", "n": 4, "user": {"name": "Ann", "tags": ["a", "b"]}},
                   expected_output={"a": 1}, metadata={"lang": "fr"})


def test_templates_fill_vars_metadata_and_expected_output() -> None:
    assert render("{{vars.city}}", ITEM) == "Paris"
    assert render("in {{ vars.city }} ({{metadata.lang}})", ITEM) == "in Paris (fr)"
    assert render("{{vars.user.name}} has {{vars.user.tags.1}}", ITEM) == "Ann has b"
    assert render("n={{vars.n}}, e={{expected_output}}", ITEM) == 'n=4, e={"a":1}'  # compact JSON inside text
    assert render("{{expected_output}}", ITEM) == {"a": 1}  # a whole placeholder keeps the value's type
    assert render("{{vars.n}}", ITEM) == 4
    assert render(["{{vars.city}}", {"k": "{{metadata.lang}}"}, 3], ITEM) == ["Paris", {"k": "fr"}, 3]
    assert render("{{unknown}} and {{ vars. }}", ITEM) == "{{unknown}} and {{ vars. }}"  # left as written


def test_a_static_value_is_returned_as_is() -> None:
    value = {"type": "object"}
    template = compile_value(value)
    assert template.static and template.render(ITEM) is value
    text = "no placeholder here"
    assert compile_value(text).render(ITEM) is text
    assert compile_value("{{vars.city}}") is compile_value("{{vars.city}}")  # compiled once per text


def test_a_missing_reference_raises_and_fails_the_evaluator_unnegated() -> None:
    with pytest.raises(ValueProblem, match="the item has no vars.country"):
        render("{{vars.country}}", ITEM)
    with pytest.raises(ValueProblem, match="the item has no expected_output"):
        render("{{expected_output}}", ItemContext())
    for type_ in ("contains", "not-contains"):
        result = score(spec(type_, "{{vars.country}}"), "anything", ITEM)
        assert (result.passed, result.value, result.label) == (False, 0.0, MISSING_REFERENCE)
        assert result.reason == "the item has no vars.country"


def test_evaluators_render_their_values_per_item() -> None:
    assert score(spec("contains", "{{vars.city}}"), "It is Paris.", ITEM).passed
    assert not score(spec("contains", "{{vars.city}}"), "It is Rome.", ITEM).passed
    assert score(spec("icontains", "{{ vars.city }}"), "PARIS", ITEM).passed
    assert score(spec("equals", "{{expected_output}}"), '{ "a" : 1 }', ITEM).passed  # JSON comparison
    assert score(spec("numeric", "{{vars.n}}"), "4.0", ITEM).passed
    assert score(spec("contains-all", ["{{vars.city}}", "{{metadata.lang}}"]), "Paris, fr", ITEM).passed
    regex = spec("regex", "^{{vars.n}}+$")
    assert score(regex, "444", ITEM).passed and not score(regex, "445", ITEM).passed
    item = ItemContext(vars={"pattern": "("})
    bad = score(spec("regex", "{{vars.pattern}}"), "x", item)
    assert (bad.passed, bad.label) == (False, "invalid_value") and bad.reason.startswith("invalid regex")
