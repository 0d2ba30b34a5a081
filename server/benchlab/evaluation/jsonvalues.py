"""JSON values as evaluators compare them: equality that keeps `true` apart from `1`, compact text, safe parsing."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from typing import Any

_DECODER = json.JSONDecoder()
_CANDIDATE = re.compile(r'\{\s*["}]|\[\s*[\]\[{"\-0-9tfn]')
_BRACKET_RUN = re.compile(r"[\[{\s]+")

MAX_FAILED_CANDIDATES = 1000


class NotJSON(ValueError):
    """The text is not one JSON document; the message says why, briefly (the decoder's first complaint)."""


def parse_json(text: str) -> Any:
    """The JSON document `text` holds (surrounding whitespace allowed); NotJSON otherwise.

    Deeply nested input raises RecursionError inside the decoder; it is reported as NotJSON like any other
    text that cannot be read.
    """
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise NotJSON(f"{error.msg} at line {error.lineno} column {error.colno}") from None
    except RecursionError:
        raise NotJSON("nested too deeply") from None


def find_json(text: str) -> Iterator[Any]:
    """Each JSON object or array embedded in `text`, in order: prose around it is fine.

    A candidate is a `{` followed by `"` or `}`, or a `[` followed by what can start a JSON value (whitespace
    between allowed), so prose like `{this}` costs nothing; `raw_decode` reads one value from there (a balanced,
    decodable value is taken whole, whatever follows it is ignored). After a value the scan resumes behind it;
    after a candidate that does not decode, at the next one, so an object inside a broken one is still found.
    Bounded work on hostile text: a candidate nested too deeply for the decoder skips its run of brackets, and
    the scan gives up after MAX_FAILED_CANDIDATES candidates that do not decode.
    """
    position = failures = 0
    while failures < MAX_FAILED_CANDIDATES:
        match = _CANDIDATE.search(text, position)
        if match is None:
            return
        start = match.start()
        try:
            value, end = _DECODER.raw_decode(text, start)
        except json.JSONDecodeError:
            failures += 1
            position = start + 1
            continue
        except RecursionError:
            failures += 1
            run = _BRACKET_RUN.match(text, start)
            position = run.end() if run else start + 1
            continue
        yield value
        position = end


def json_equal(left: Any, right: Any) -> bool:
    """Equal as JSON values: key order is irrelevant, 1 equals 1.0, but `true` is not 1 and `"1"` is not 1."""
    if isinstance(left, bool) or isinstance(right, bool):
        return isinstance(left, bool) and isinstance(right, bool) and left == right
    if isinstance(left, int | float) or isinstance(right, int | float):
        return isinstance(left, int | float) and isinstance(right, int | float) and left == right
    if isinstance(left, Mapping) or isinstance(right, Mapping):
        return (isinstance(left, Mapping) and isinstance(right, Mapping) and left.keys() == right.keys()
                and all(json_equal(left[key], right[key]) for key in left))
    if isinstance(left, list | tuple) or isinstance(right, list | tuple):
        return (isinstance(left, list | tuple) and isinstance(right, list | tuple) and len(left) == len(right)
                and all(json_equal(a, b) for a, b in zip(left, right, strict=True)))
    return type(left) is type(right) and bool(left == right)  # strings, null


def json_contains(actual: Any, expected: Any) -> bool:
    """`actual` holds `expected`: every key of an expected object is present with a value that holds the
    expected one (recursively); anything else (lists, scalars) must be equal as JSON."""
    if isinstance(expected, Mapping):
        return isinstance(actual, Mapping) and all(
            key in actual and json_contains(actual[key], value) for key, value in expected.items())
    return json_equal(actual, expected)


def compact_json(value: Any) -> str:
    """The value as compact JSON text (no spaces, non-ASCII kept), as templates insert non-string values."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=str)


def as_text(value: Any) -> str:
    """A string as is; any other value as compact JSON (e.g. `4` -> "4", `{"a": 1}` -> '{"a":1}')."""
    return value if isinstance(value, str) else compact_json(value)
