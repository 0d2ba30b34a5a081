"""Input checks for the catalog commands, by the experiment spec's own rules wherever the spec has one.

A provider, model or prompt stored through the API must be usable in a spec later, so it is validated by
the very reader that validates specs' entries (`read_provider_entry` and its siblings in `benchlab.spec.load`),
and the problems renamed from `providers[0].api_base` to the command's own field names (`api_base`).
Every problem is collected before anything is raised, as the spec does.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from benchlab.errors import InvalidInputError
from benchlab.spec.fields import Section
from benchlab.spec.load import PROJECT_SLUG

T = TypeVar("T")

NAME_MAX = 200
DESCRIPTION_MAX = 10_000
SLUG_RULE = "a slug: lowercase letters, digits and '-', starting with a letter or digit"


def checked(read: Callable[[Section], T], values: Mapping[str, Any]) -> T:
    """`read` applied to the command's fields as one section; InvalidInputError if it found problems."""
    problems: list[str] = []
    value = read(Section(problems, "", values, tuple(values)))
    if problems:
        raise InvalidInputError(problems)
    return value


def spec_entry(list_key: str, read: Callable[[list[str]], T], *, renames: Mapping[str, str] | None = None,
               whole: str = "input") -> T:
    """One entry validated by the spec's reader of `list_key` entries, problems named by the command's fields.

    `read` reports problems as the spec does for a one-entry list (`providers[0].api_base: ...`); they are
    renamed to the command's fields (`api_base: ...`), `renames` mapping spec keys to parameter names
    (`model` -> `model_id`), and a problem about the entry as a whole (say "give messages or text, not
    both") is reported under `whole`.
    """
    problems: list[str] = []
    parsed = read(problems)
    if problems:
        prefix = f"{list_key}[0]"
        raise InvalidInputError([_field_path(problem, prefix, renames or {}, whole) for problem in problems])
    return parsed


def _field_path(problem: str, prefix: str, renames: Mapping[str, str], whole: str) -> str:
    if problem.startswith(prefix + "."):
        rest = problem[len(prefix) + 1:]
        name = re.match(r"[A-Za-z0-9_]*", rest)  # always matches (possibly nothing)
        key = name.group(0) if name else ""
        return renames.get(key, key) + rest[len(key):]
    if problem.startswith(prefix + ":"):
        return whole + problem[len(prefix):]
    return problem


def name_field(section: Section, key: str = "name") -> str:
    return section.text(key, required=True, max_len=NAME_MAX) or ""


def slug_field(section: Section) -> str:
    return section.text("slug", required=True, max_len=63, pattern=PROJECT_SLUG, expected=SLUG_RULE) or ""


def description_field(section: Section) -> str:
    """Free text, possibly empty (unlike names, which must say something)."""
    value = section.raw("description")
    if value is None:
        return ""
    if not isinstance(value, str):
        section.report("description", "must be a string")
    elif len(value) > DESCRIPTION_MAX:
        section.report("description", f"must be at most {DESCRIPTION_MAX} characters")
    else:
        return value
    return ""
