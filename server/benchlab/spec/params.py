"""Request parameters: range rules for the well-known ones, pass-through for the rest, typo detection.

Unknown parameters go to the provider untouched (providers keep adding them), so a misspelt known one would
otherwise travel silently; a name very close to a known one is therefore rejected with a suggestion.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Callable, Mapping
from typing import Any

from benchlab.spec.fields import is_integer, is_number, json_copy

OUTPUT_LIMITS = frozenset({"max_tokens", "max_completion_tokens"})
PARAM_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")

# Set by benchlab itself: the value would be overwritten or break the timing.
RESERVED_PARAMS = {
    "model": "set by benchlab from models[].model",
    "messages": "set by benchlab from prompts[].messages",
    "prompt": "set by benchlab from prompts[].text",
    "stream": "set by the top-level stream field",
    "stream_options": "set by benchlab (usage is always requested when streaming)",
}


def _between(low: float, high: float, *, low_open: bool = False) -> Callable[[object], str | None]:
    def check(value: object) -> str | None:
        if not is_number(value):
            return "must be a number"
        if (value <= low if low_open else value < low) or value > high:
            return f"must be greater than {low} and at most {high}" if low_open else f"must be between {low} and {high}"
        return None

    return check


def _positive_integer(value: object) -> str | None:
    return None if is_integer(value) and value >= 1 else "must be an integer of at least 1"


def _integer(value: object) -> str | None:
    return None if is_integer(value) else "must be an integer"


def _one(value: object) -> str | None:
    # Several choices per request would make every latency figure ambiguous: one request, one completion.
    return None if is_integer(value) and value == 1 else "must be 1 (one completion per request)"


def _stop(value: object) -> str | None:
    if isinstance(value, str):
        return None
    if isinstance(value, list) and 1 <= len(value) <= 4 and all(isinstance(item, str) for item in value):
        return None
    return "must be a string or a list of 1 to 4 strings"


PARAM_RULES: dict[str, Callable[[object], str | None]] = {
    "temperature": _between(0, 2),
    "top_p": _between(0, 1, low_open=True),
    "max_tokens": _positive_integer,
    "max_completion_tokens": _positive_integer,
    "presence_penalty": _between(-2, 2),
    "frequency_penalty": _between(-2, 2),
    "seed": _integer,
    "n": _one,
    "stop": _stop,
}
# Passed through unchecked, listed only so that a near miss of them is not taken for a typo of another.
OTHER_KNOWN_PARAMS = frozenset({
    "top_k", "min_p", "repetition_penalty", "logprobs", "top_logprobs", "logit_bias", "response_format", "tools",
    "tool_choice", "parallel_tool_calls", "reasoning_effort", "user", "thinking", "extra_body",
})
KNOWN_PARAMS = PARAM_RULES.keys() | OTHER_KNOWN_PARAMS


def check_param_name(problems: list[str], path: str, name: object) -> bool:
    """False (with a problem added) for a reserved name, a non-identifier or a likely typo."""
    if not isinstance(name, str) or not PARAM_NAME.fullmatch(name):
        problems.append(f"{path}: not a parameter name (letters, digits and _)")
        return False
    if name in RESERVED_PARAMS:
        problems.append(f"{path}: {RESERVED_PARAMS[name]}")
        return False
    if name not in KNOWN_PARAMS:
        close = difflib.get_close_matches(name, sorted(KNOWN_PARAMS), n=1, cutoff=0.85)
        if close:
            problems.append(f"{path}: unknown parameter (did you mean '{close[0]}'?)")
            return False
    return True


def param_value(problems: list[str], path: str, name: str, value: Any) -> Any:
    """The value checked against its rule (known names) or as a JSON value (the rest), as a fresh copy."""
    rule = PARAM_RULES.get(name)
    message = rule(value) if rule else None
    if message:
        problems.append(f"{path}: {message}")
        return None
    return json_copy(value, path, problems)


def describe_params(params: Mapping[str, Any]) -> str:
    """A parameter set as a person compares it, `max_tokens=64 temperature=0.7`; `-` for the empty set."""
    if not params:
        return "-"
    return " ".join(f"{name}={value if isinstance(value, str) else json.dumps(value, separators=(',', ':'))}"
                    for name, value in sorted(params.items()))
