"""Reading a parsed document field by field, collecting every problem with its path instead of stopping.

The spec parser (`spec_load`) is written against `Section`: each getter checks one field's type and range,
records a `path: message` problem when it is wrong, and returns a harmless fallback so parsing goes on and
the user sees all problems at once. Messages never echo a value that failed a type or pattern check: the
field could be a secret pasted in the wrong place.
"""

from __future__ import annotations

import datetime
import difflib
import math
import re
from collections.abc import Collection, Hashable, Mapping, Sequence
from typing import Any, Literal, TypeGuard, TypeVar, overload

import yaml

from benchlab.spec.model import Secret, SpecError

JSON_SCALARS = (str, int, float, bool, type(None))

T = TypeVar("T")
Choice = TypeVar("Choice", bound=str)
Located = tuple[str, T]  # (path or location in the document, what was found there)


def parse_yaml(text: str, label: str) -> Any:
    """The YAML document in `text`; syntax errors and duplicate keys raise SpecError as `label:line:column:`."""
    try:
        return yaml.load(text, Loader=_StrictLoader)
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        where = f"{label}:{mark.line + 1}:{mark.column + 1}" if mark else label
        # Only the problem text: the library's own message quotes the offending line, which may hold a key.
        raise SpecError([f"{where}: invalid YAML: {error.problem or error.context}"]) from None
    except yaml.YAMLError as error:
        raise SpecError([f"{label}: invalid YAML: {type(error).__name__}"]) from None


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that rejects duplicate keys, which plain YAML silently resolves to the last one."""


def _construct_mapping(loader: _StrictLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        if isinstance(key_node, yaml.ScalarNode) and key_node.tag != "tag:yaml.org,2002:merge":
            key = loader.construct_object(key_node)
            if key in seen:
                raise yaml.constructor.ConstructorError(None, None, f"duplicate key '{key}'", key_node.start_mark)
            seen.add(key)
    return loader.construct_mapping(node)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def hint(word: str, candidates: Collection[str]) -> str:
    """` (did you mean 'x'?)` for a near miss, else the allowed words, so a typo is fixed in one edit."""
    close = difflib.get_close_matches(word, list(candidates), n=1)
    if close:
        return f" (did you mean '{close[0]}'?)"
    return f" (expected one of: {', '.join(sorted(candidates))})" if candidates else ""


def is_number(value: object) -> TypeGuard[int | float]:
    """A finite int or float; bools are not numbers here although Python says they are ints."""
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def is_integer(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def json_copy(value: Any, path: str, problems: list[str]) -> Any:
    """A fresh copy of a JSON value (tuples become lists); reports what JSON cannot hold, e.g. YAML dates."""
    if isinstance(value, float) and not math.isfinite(value):
        problems.append(f"{path}: must be a finite number")
    elif isinstance(value, JSON_SCALARS):
        return value
    elif isinstance(value, list | tuple):
        return [json_copy(item, f"{path}[{index}]", problems) for index, item in enumerate(value)]
    elif isinstance(value, Mapping):
        copied = {}
        for key, item in value.items():
            if isinstance(key, str):
                copied[key] = json_copy(item, f"{path}.{key}", problems)
            else:
                problems.append(f"{path}: key {key!r} must be a string")
        return copied
    elif isinstance(value, datetime.date):
        problems.append(f"{path}: YAML read a date here; quote it to keep it a string")
    else:
        problems.append(f"{path}: must be a JSON value (string, number, boolean, null, list or mapping)")
    return None


class Section:
    """One mapping of the document at `path` ("" for the top level), read field by field."""

    def __init__(self, problems: list[str], path: str, data: object, keys: Collection[str]) -> None:
        self.problems = problems
        self.path = path
        self.data: Mapping[Any, Any] = data if isinstance(data, Mapping) else {}
        if data is not None and not isinstance(data, Mapping):
            problems.append(f"{path or 'spec'}: must be a mapping")
        for key in self.data:
            if key not in keys:
                self.report(str(key), "unknown key" + hint(str(key), keys))

    def at(self, key: str) -> str:
        return f"{self.path}.{key}" if self.path else key

    def report(self, key: str, message: str) -> None:
        self.problems.append(f"{self.at(key)}: {message}")

    def has(self, key: str) -> bool:
        """Present and not null: an explicit `key: null` means the same as leaving the key out."""
        return self.data.get(key) is not None

    def raw(self, key: str) -> Any:
        return self.data.get(key)

    def _absent(self, key: str, required: bool | str) -> bool:
        if self.has(key):
            return False
        if required:
            self.report(key, "required" if required is True else f"required {required}")
        return True

    @overload
    def text(self, key: str, *, required: Literal[True], max_len: int = ...,
             pattern: re.Pattern[str] | None = ..., expected: str = ...) -> str: ...
    @overload
    def text(self, key: str, *, required: bool | str = ..., default: str, max_len: int = ...,
             pattern: re.Pattern[str] | None = ..., expected: str = ...) -> str: ...
    @overload
    def text(self, key: str, *, required: bool | str = ..., default: None = ..., max_len: int = ...,
             pattern: re.Pattern[str] | None = ..., expected: str = ...) -> str | None: ...

    def text(self, key: str, *, required: bool | str = False, default: str | None = None, max_len: int = 200,
             pattern: re.Pattern[str] | None = None, expected: str = "") -> str | None:
        """A string of 1..max_len chars; `expected` describes `pattern` to the user. Never None when required
        ("" when missing or wrong) or given a default."""
        if self._absent(key, required):
            return "" if required else default
        value = self.data[key]
        if not isinstance(value, str):
            self.report(key, "must be a string")
        elif not value.strip() or len(value) > max_len:
            self.report(key, f"must be 1 to {max_len} characters, not blank")
        elif pattern is not None and not pattern.fullmatch(value):
            self.report(key, f"must be {expected}")
        else:
            return value
        return "" if required else default

    def label(self, key: str, *, required: bool = False, default: str = "") -> str:
        """A name-like string; integers are accepted (`version: 2`), floats are not (`1.10` would read 1.1)."""
        if self._absent(key, required):
            return default
        value = self.data[key]
        if is_integer(value):
            return str(value)
        if isinstance(value, float):
            self.report(key, "must be a string: quote it (as a number, 1.10 would read 1.1)")
        elif not isinstance(value, str) or not value.strip() or len(value) > 200:
            self.report(key, "must be a string of 1 to 200 characters, not blank")
        else:
            return value
        return default

    def secret(self, key: str) -> Secret | None:
        if not self.has(key):
            return None
        value = self.data[key]
        if isinstance(value, str) and value.strip():
            return Secret(value)
        self.report(key, "must be a non-empty string")
        return None

    @overload
    def integer(self, key: str, *, required: bool | str = ..., default: int, minimum: int | None = ...) -> int: ...
    @overload
    def integer(self, key: str, *, required: bool | str = ..., default: None = ...,
                minimum: int | None = ...) -> int | None: ...

    def integer(self, key: str, *, required: bool | str = False, default: int | None = None,
                minimum: int | None = None) -> int | None:
        if self._absent(key, required):
            return default
        value = self.data[key]
        if not is_integer(value):
            self.report(key, "must be an integer")
        elif minimum is not None and value < minimum:
            self.report(key, f"must be at least {minimum}")
        else:
            return value
        return default

    @overload
    def number(self, key: str, *, required: bool | str = ..., default: float, minimum: float | None = ...,
               above: float | None = ..., maximum: float | None = ...) -> float: ...
    @overload
    def number(self, key: str, *, required: bool | str = ..., default: None = ..., minimum: float | None = ...,
               above: float | None = ..., maximum: float | None = ...) -> float | None: ...

    def number(self, key: str, *, required: bool | str = False, default: float | None = None,
               minimum: float | None = None, above: float | None = None, maximum: float | None = None
               ) -> float | None:
        """A finite number with inclusive `minimum`/`maximum` and exclusive lower bound `above`."""
        if self._absent(key, required):
            return default
        value = self.data[key]
        if not is_number(value):
            self.report(key, "must be a number")
        elif minimum is not None and value < minimum:
            self.report(key, f"must be at least {minimum}")
        elif above is not None and value <= above:
            self.report(key, f"must be greater than {above}")
        elif maximum is not None and value > maximum:
            self.report(key, f"must be at most {maximum}")
        else:
            return value
        return default

    def boolean(self, key: str, *, default: bool) -> bool:
        if not self.has(key):
            return default
        value = self.data[key]
        if isinstance(value, bool):
            return value
        self.report(key, "must be true or false")
        return default

    def choice(self, key: str, choices: Collection[Choice], *, default: Choice | None = None) -> Choice | None:
        """The one of `choices` (e.g. an enum's members) the value equals; `default` when absent (required when
        None); None when invalid or missing."""
        if self._absent(key, default is None):
            return default
        value = self.data[key]
        for choice in choices:
            if isinstance(value, str) and value == choice:
                return choice
        shown = f"'{value}'" if isinstance(value, str) else "this value"
        self.report(key, f"{shown} is not one of {', '.join(choices)}" + (hint(value, choices)
                                                                           if isinstance(value, str) else ""))
        return None

    def entries(self, key: str, *, required: bool | str = False) -> list[Located[Any]]:
        """The items of a list field with their paths; a required list must not be empty."""
        if self._absent(key, required):
            return []
        value = self.data[key]
        if not isinstance(value, list | tuple):
            self.report(key, "must be a list")
            return []
        if required and not value:
            self.report(key, "must have at least one entry")
        return [(f"{self.at(key)}[{index}]", item) for index, item in enumerate(value)]

    def section(self, key: str, keys: Collection[str], *, required: bool = False) -> Section:
        """The nested mapping at `key` (empty when absent, so its fields take their defaults)."""
        self._absent(key, required)
        return Section(self.problems, self.at(key), self.data.get(key), keys)

    def json_mapping(self, key: str) -> dict[str, Any]:
        if not self.has(key):
            return {}
        value = self.data[key]
        if not isinstance(value, Mapping):
            self.report(key, "must be a mapping")
            return {}
        return json_copy(value, self.at(key), self.problems)


def check_unique(problems: list[str], named: Sequence[Located[object]], what: str) -> None:
    """Report every repeat of a key after its first occurrence; `named` holds (path, key) pairs."""
    first: dict[object, str] = {}
    for path, key in named:
        if not isinstance(key, Hashable) or not key or (isinstance(key, tuple) and not all(key)):
            continue  # a missing or malformed key was reported where it was read
        if key in first:
            problems.append(f"{path}: duplicate {what} {_show(key)} (first at {first[key]})")
        else:
            first[key] = path


def _show(key: object) -> str:
    return ", ".join(f"'{part}'" for part in key) if isinstance(key, tuple) else f"'{key}'"
