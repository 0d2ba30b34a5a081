"""Evaluator values over the item: `{{vars.NAME}}`, `{{expected_output}}`, `{{metadata.KEY}}`.

A value is compiled once (`compile_value`), then rendered per request. Rules:

- Whitespace inside the braces is allowed (`{{ vars.city }}`); NAME/KEY may be a dotted path into nested
  objects and lists (`{{vars.user.name}}`, `{{metadata.tags.0}}`). Any other `{{...}}` is left as written.
- A string that is exactly one placeholder renders to the referenced value itself, type and all (so
  `equals: "{{expected_output}}"` with `expected_output: {"a": 1}` compares JSON, and `numeric` gets a number).
  Inside a longer string a non-string value is inserted as compact JSON (`{"a":1}`).
- Lists and objects are rendered element by element (object keys are not templated).
- A reference the item does not have (no such var, no expected_output) raises ValueProblem labelled
  `missing_reference`: an evaluator never silently compares against an empty text.
- A value without `{{` is static: `render` returns it as is, at no cost.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from benchlab.evaluation.base import MISSING_REFERENCE, ValueProblem
from benchlab.evaluation.jsonvalues import as_text
from benchlab.evaluation.model import ItemContext

PLACEHOLDER = re.compile(r"\{\{\s*(?:(vars|metadata)\.([^\s{}.]+(?:\.[^\s{}.]+)*)|(expected_output))\s*\}\}")

Getter = Callable[[ItemContext], Any]


class Template:
    """A compiled value; `static` when it has no placeholder (`render` then returns `value` itself)."""

    __slots__ = ("_render", "static", "value")

    def __init__(self, value: Any, render: Callable[[ItemContext], Any] | None) -> None:
        self.value = value
        self.static = render is None
        self._render = render

    def render(self, item: ItemContext) -> Any:
        return self.value if self._render is None else self._render(item)


def compile_value(value: Any) -> Template:
    """The value compiled for rendering (strings are compiled once per distinct text, process-wide)."""
    if isinstance(value, str):
        return _compile_string(value)
    if isinstance(value, Mapping):
        children = {key: compile_value(child) for key, child in value.items()}
        if all(child.static for child in children.values()):
            return Template(value, None)
        return Template(value, lambda item: {key: child.render(item) for key, child in children.items()})
    if isinstance(value, list | tuple):
        elements = [compile_value(child) for child in value]
        if all(child.static for child in elements):
            return Template(value, None)
        return Template(value, lambda item: [child.render(item) for child in elements])
    return Template(value, None)


def render(value: Any, item: ItemContext) -> Any:
    """`value` with its placeholders filled from `item` (compiling on the way; prefer `compile_value` once)."""
    return compile_value(value).render(item)


@functools.lru_cache(maxsize=4096)
def _compile_string(text: str) -> Template:
    if "{{" not in text:
        return Template(text, None)
    parts: list[str | Getter] = []
    position = 0
    for match in PLACEHOLDER.finditer(text):
        if match.start() > position:
            parts.append(text[position:match.start()])
        parts.append(_getter(match))
        position = match.end()
    if position < len(text):
        parts.append(text[position:])
    getters = [part for part in parts if not isinstance(part, str)]
    if not getters:
        return Template(text, None)
    if len(parts) == 1:
        return Template(text, getters[0])  # the whole string is one placeholder: its value, type and all
    frozen = tuple(parts)
    return Template(text, lambda item: "".join(
        part if isinstance(part, str) else as_text(part(item)) for part in frozen))


def _getter(match: re.Match[str]) -> Getter:
    if match.group(3):
        return _expected_output
    section, path = match.group(1), tuple(match.group(2).split("."))
    shown = f"{section}.{match.group(2)}"
    if section == "vars":
        return lambda item: _lookup(item.vars, path, shown)
    return lambda item: _lookup(item.metadata, path, shown)


def _expected_output(item: ItemContext) -> Any:
    if item.expected_output is None:
        raise ValueProblem("the item has no expected_output", MISSING_REFERENCE)
    return item.expected_output


def _lookup(root: Any, path: Sequence[str], shown: str) -> Any:
    value = root
    for key in path:
        if isinstance(value, Mapping) and key in value:
            value = value[key]
        elif isinstance(value, list | tuple) and key.isdigit() and int(key) < len(value):
            value = value[int(key)]
        else:
            raise ValueProblem(f"the item has no {shown}", MISSING_REFERENCE)
    if value is None:
        raise ValueProblem(f"the item's {shown} is null", MISSING_REFERENCE)
    return value
