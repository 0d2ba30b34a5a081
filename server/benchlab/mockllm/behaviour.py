"""What a mock response contains and when each of its events is due.

A `Behaviour` holds the server's defaults (CLI flags or constructor). A request overrides any field, first
through its model name, then through the `X-Mock-Behaviour` header (the header wins):

    model  "mock-llm?ttft_ms=80&gap_ms=normal(5,1)&output_tokens=32"
    header X-Mock-Behaviour: {"ttft_ms": {"dist": "lognormal", "median": 80, "sigma": 0.3}, "fault": "429"}

The model name before `?` must be a served model. The query is URL-decoded; each value is read as JSON when it
parses (numbers, true/false, null, objects) and as a plain string otherwise. Unknown fields and bad values
are answered with 400, so typos never pass silently. The fields are the attributes of `Behaviour` below.

Durations (`ttft_ms`, `gap_ms`): a number (fixed) or a distribution, written `normal(mean,std)`,
`uniform(low,high)`, `exponential(mean)`, `lognormal(median,sigma)` or as an object such as
`{"dist": "normal", "mean": 80, "std": 5}`; draws below 0 become 0. `ttft_ms` is drawn once per request,
`gap_ms` once per token after the first.

Seeds: each request draws from its own `random.Random("<server seed>:<n>")`, n being its ordinal on the
server (1, 2, ...), or `"<server seed>:seed=<s>"` when the body has `"seed": s`. The first draw decides a
probabilistic fault, then ttft, then (judge mode with `judge_malformed_rate` > 0 only) whether the verdict is
malformed, then the gaps, so the same seed reproduces the same latencies.

Known outputs (all off by default; then the content is the `tok{i} ` words below, byte for byte):
- `answer` (text) answers every request with this text; `--answer-key FILE` (server option) answers the
  prompts listed in the file. Either way `accuracy` decides, per prompt and model, whether the answer is
  correct; a wrong one is the entry's `wrong` text or `wrong_answer`. answers.py has the rules.
- `judge: true` answers judge prompts (tagged rubric or pairwise parts) with a JSON verdict by a fixed rule;
  `judge_bias` adds position bias, `judge_malformed_rate` sends unparseable verdicts. judge.py has the rules.
A known text is sent as word tokens (`word_tokens`): each token is a word with the whitespace after it, so
the deltas concatenate to the text exactly, and completion_tokens counts them. It ignores `output_tokens`;
`max_tokens` cuts it (finish_reason "length" only when tokens were cut off). The schedule is unchanged: a
known text of N tokens is due exactly like N `tok{i}` words.

Schedule, relative to the request's arrival t0 on CLOCK_MONOTONIC:
- the role-only event (chat, streaming, `role_first_event`) is due at t0, like servers that send it at once;
- token j (reasoning tokens first, then content or tool-call tokens) is due at ttft + gap_1 + ... + gap_j;
- an event carries up to `tokens_per_event` tokens of one phase and is due with its first token, so with a
  fixed gap event i of a phase-less stream is due at t0 + ttft + i * tokens_per_event * gap;
- finish, usage and [DONE] follow the last token event at once; a non-streaming body is due with the last token.

Tokens are exact: content token i is the word "tok{i} " (or token i of the known text), reasoning token i
is "think{i} ". A tool call counts one token for its opening delta (id and name) and one per 4-character
fragment of its arguments JSON; several calls (from an answer key) follow each other, call k streamed with
`"index": k`, each opening with a delta of its own.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import math
import random
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from itertools import accumulate
from typing import Any, NamedTuple, TypeVar
from urllib.parse import parse_qsl

T = TypeVar("T")
DEFAULT_OUTPUT_TOKENS = 64
TOOL_FRAGMENT_CHARS = 4
FAULTS = ("429", "500", "disconnect", "stall", "overloaded")
JUDGE_BIASES = ("none", "first", "second")
_DISTRIBUTIONS = {"fixed": ("value",), "normal": ("mean", "std"), "uniform": ("low", "high"),
                  "exponential": ("mean",), "lognormal": ("median", "sigma")}
_SHORTHAND = re.compile(r"^\s*([a-z]+)\s*\(([^()]*)\)\s*$")


class InvalidRequest(ValueError):
    """A request or override the server refuses (HTTP 400); the message says which field and why."""


def decode_value(text: str) -> object:
    """Read a value given as text (model-name query, CLI flag): JSON when it parses, else the string itself."""
    try:
        return json.loads(text)
    except ValueError:
        return text


@dataclass(frozen=True)
class Duration:
    """A latency in milliseconds: fixed, or drawn from a seeded distribution each time it is used."""

    dist: str
    params: tuple[float, ...]

    @classmethod
    def parse(cls, value: object) -> Duration:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return cls._checked("fixed", [value])
        if isinstance(value, str):
            match = _SHORTHAND.match(value)
            if match:
                return cls._checked(match[1], [_number(p) for p in match[2].split(",")])
            return cls._checked("fixed", [_number(value)])
        if isinstance(value, Mapping):
            names = _DISTRIBUTIONS.get(str(value.get("dist")))
            if names is None or set(value) != {"dist", *names}:
                raise ValueError(f"expected {{'dist': one of {sorted(_DISTRIBUTIONS)}, <its parameters>}}")
            return cls._checked(value["dist"], [value[name] for name in names])
        raise ValueError("expected a number of ms, e.g. 80, 'normal(80,5)' or {'dist': 'normal', 'mean': 80, 'std': 5}")

    @classmethod
    def _checked(cls, dist: str, params: list[object]) -> Duration:
        names = _DISTRIBUTIONS.get(dist)
        if names is None or len(params) != len(names):
            raise ValueError(f"unknown distribution {dist!r} or wrong parameters; known: {sorted(_DISTRIBUTIONS)}")
        numbers = tuple(_number(p) for p in params)
        if any(x < 0 for x in numbers) or (dist == "uniform" and numbers[0] > numbers[1]):
            raise ValueError(f"{dist} parameters must be >= 0 (and low <= high): {numbers}")
        return cls(dist, numbers)

    def draw(self, rng: random.Random) -> float:
        p = self.params
        if self.dist == "normal":
            value = rng.gauss(p[0], p[1])
        elif self.dist == "uniform":
            value = rng.uniform(p[0], p[1])
        elif self.dist == "exponential":
            value = rng.expovariate(1 / p[0]) if p[0] else 0.0
        elif self.dist == "lognormal":
            value = p[0] * math.exp(p[1] * rng.gauss(0.0, 1.0))
        else:
            value = p[0]
        return max(0.0, value)

    def draws(self, rng: random.Random, count: int) -> tuple[float, ...]:
        if self.dist == "fixed":
            return (self.params[0],) * count
        return tuple(self.draw(rng) for _ in range(count))

    def to_json(self) -> float | dict[str, object]:
        if self.dist == "fixed":
            return self.params[0]
        return {"dist": self.dist, **dict(zip(_DISTRIBUTIONS[self.dist], self.params, strict=True))}


def _number(value: object) -> float:
    number = float(value) if isinstance(value, int | float | str) and not isinstance(value, bool) else math.nan
    if not math.isfinite(number):
        raise ValueError(f"not a finite number: {value!r}")
    return number


def _count(minimum: int) -> Callable[[object], int]:
    def parse(value: object) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise ValueError(f"expected an integer >= {minimum}")
        return value
    return parse


def _optional(parse: Callable[[object], T]) -> Callable[[object], T | None]:
    return lambda value: None if value is None else parse(value)


def _flag(value: object) -> bool:
    if not isinstance(value, bool):
        raise ValueError("expected true or false")
    return value


def _non_negative(value: object) -> float:
    number = _number(value)
    if number < 0:
        raise ValueError("expected a number >= 0")
    return number


def _fault(value: object) -> str:
    if str(value) not in FAULTS:
        raise ValueError(f"expected one of {list(FAULTS)}")
    return str(value)


def _fault_rates(value: object) -> dict[str, float]:
    if not isinstance(value, Mapping):
        raise ValueError('expected an object such as {"429": 0.05, "disconnect": 0.01}')
    rates = {_fault(kind): _non_negative(p) for kind, p in value.items()}
    if sum(rates.values()) > 1:
        raise ValueError("probabilities add up to more than 1")
    return rates


def _probability(value: object) -> float:
    number = _number(value)
    if not 0 <= number <= 1:
        raise ValueError("expected a probability between 0 and 1")
    return number


def _text(value: object) -> str:
    if not isinstance(value, str):
        raise ValueError('expected text (quote numbers and true/false as JSON strings, e.g. "42")')
    return value


def _judge_bias(value: object) -> str:
    if value not in JUDGE_BIASES:
        raise ValueError(f"expected one of {list(JUDGE_BIASES)}")
    return str(value)


def _tool_call(value: object) -> str | dict[str, Any]:
    if value in ("auto", "none"):
        return str(value)
    if isinstance(value, Mapping) and isinstance(value.get("name"), str) and set(value) <= {"name", "arguments"}:
        arguments = value.get("arguments", {})
        if isinstance(arguments, Mapping):
            return {"name": value["name"], "arguments": dict(arguments)}
    raise ValueError('expected "auto", "none" or {"name": ..., "arguments": {...}}')


def _field(default: object, parse: Callable[[object], object], help: str) -> Any:
    """A field with its parser and help text; Any like `dataclasses.field`'s: the annotation types the field."""
    metadata = {"parse": parse, "help": help}
    if isinstance(default, dict):
        return field(default_factory=lambda: dict(default), metadata=metadata)
    return field(default=default, metadata=metadata)


@dataclass(frozen=True)
class Behaviour:
    """How the server answers; every field can be overridden per request (see the module docstring)."""

    ttft_ms: Duration = _field(Duration("fixed", (50.0,)), Duration.parse, "time to first token (ms or distribution)")
    gap_ms: Duration = _field(Duration("fixed", (10.0,)), Duration.parse, "gap between tokens (ms or distribution)")
    output_tokens: int | None = _field(None, _optional(_count(0)), "content tokens; default: the request's "
                                       f"max_tokens, else {DEFAULT_OUTPUT_TOKENS}; never more than max_tokens")
    tokens_per_event: int = _field(1, _count(1), "tokens per SSE event (stream interval, speculative decoding)")
    role_first_event: bool = _field(True, _flag, "chat streams open with a role-only event (no content)")
    reasoning_tokens: int = _field(0, _count(0), "chat: reasoning_content tokens before the answer")
    tool_call: str | dict[str, Any] = _field("auto", _tool_call, 'when the request has tools: "auto" calls '
                                             'tool_choice\'s or the first tool with {}, "none" answers with text, '
                                             '{"name": ..., "arguments": {...}} makes this call')
    fault: str | None = _field(None, _optional(_fault), f"force a fault: one of {list(FAULTS)}")
    fault_rates: dict[str, float] = _field({}, _fault_rates, 'probability per fault kind, e.g. {"429": 0.05}')
    fault_times: int | None = _field(None, _optional(_count(0)), "the forced fault hits only the first N "
                                     "attempts per X-Mock-Request-Key (retry tests)")
    fault_after_events: int = _field(1, _count(0), "disconnect/stall after this many SSE events")
    stall_ms: float | None = _field(None, _optional(_non_negative), "stall in ms (null: until the client goes)")
    retry_after_s: float = _field(1.0, _non_negative, "Retry-After of a 429, in seconds")
    send_usage: bool = _field(True, _flag, "answer stream_options.include_usage with the usage chunk (false: "
                              "never, like servers that ignore it; clients must estimate tokens)")
    answer: str | None = _field(None, _optional(_text), "answer every request with exactly this text (word "
                                "tokens; wins over --answer-key); accuracy and wrong_answer apply")
    accuracy: float = _field(1.0, _probability, "share of prompts answered correctly when an answer is selected: "
                             "correct iff sha256(seed, model, prompt) -> [0,1) < accuracy (answers.py)")
    wrong_answer: str = _field("I don't know.", _text, "the text of a wrong answer (key entries may give "
                               "their own 'wrong')")
    judge: bool = _field(False, _flag, "judge mode: answer tagged rubric (<rubric> <question> <response> "
                         "[<expected>]) or pairwise (<criteria> <question> <response_a> <response_b> "
                         "[<expected>]) prompts with a JSON verdict by a fixed rule (judge.py); other prompts: 400")
    judge_bias: str = _field("none", _judge_bias, 'pairwise verdicts: "none" follows the rule, "first" / '
                             '"second" always pick A / B (position bias)')
    judge_malformed_rate: float = _field(0.0, _probability, "probability (per request, seeded) that a judge "
                                         "sends an unparseable verdict: the JSON cut in half, or prose")

    def with_overrides(self, overrides: Mapping[str, object]) -> Behaviour:
        """This behaviour with some fields replaced; raises InvalidRequest naming the first bad field."""
        if not overrides:
            return self
        changes = {}
        for name, value in overrides.items():
            if name not in _FIELDS:
                raise InvalidRequest(f"unknown behaviour field {name!r}; known: {sorted(_FIELDS)}")
            try:
                changes[name] = _FIELDS[name].metadata["parse"](value)
            except (ValueError, TypeError) as exc:
                raise InvalidRequest(f"behaviour field {name!r}: {exc}") from None
        return dataclasses.replace(self, **changes)

    @functools.cached_property
    def as_json(self) -> dict[str, object]:
        """The fields as JSON values (durations as given). Cached: requests mostly share the server's default."""
        values = {name: getattr(self, name) for name in _FIELDS}
        return {k: v.to_json() if isinstance(v, Duration) else v for k, v in values.items()}


_FIELDS = {f.name: f for f in dataclasses.fields(Behaviour)}


def parse_model_name(model: str) -> tuple[str, dict[str, object]]:
    """Split `base?field=value&...` into the served model's name and its behaviour overrides."""
    base, _, query = model.partition("?")
    try:
        pairs = parse_qsl(query, keep_blank_values=True, strict_parsing=True) if query else []
    except ValueError:
        raise InvalidRequest(f"model {model!r}: expected name?field=value&field=value") from None
    return base, {name: decode_value(value) for name, value in pairs}


def _words(value: object) -> int:
    """Prompt tokens, deterministically: whitespace words of every text (token-id lists count their ids)."""
    if isinstance(value, str):
        return len(value.split())
    if isinstance(value, int) and not isinstance(value, bool):
        return 1
    if isinstance(value, list):
        return sum(_words(item) for item in value)
    if isinstance(value, Mapping):
        return _words(value.get("content")) + _words(value.get("text"))
    return 0


@dataclass(frozen=True)
class RequestParams:
    """The parts of an OpenAI request body that shape the response."""

    chat: bool
    model: str
    stream: bool
    include_usage: bool
    max_tokens: int | None
    prompt_tokens: int
    tool_names: tuple[str, ...]
    tool_choice: object
    seed: int | None

    @classmethod
    def from_body(cls, body: object, chat: bool) -> RequestParams:
        if not isinstance(body, Mapping) or not isinstance(body.get("model"), str):
            raise InvalidRequest("the body must be a JSON object with a string 'model'")
        prompt = body.get("messages") if chat else body.get("prompt")
        if chat and not isinstance(prompt, list):
            raise InvalidRequest("'messages' must be a list")
        max_tokens = body.get("max_completion_tokens") if chat else None
        max_tokens = body.get("max_tokens") if max_tokens is None else max_tokens
        seed = body.get("seed")
        if not all(v is None or (isinstance(v, int) and not isinstance(v, bool)) for v in (max_tokens, seed)):
            raise InvalidRequest("'max_tokens' and 'seed' must be integers")
        try:
            tool_names = tuple(str(t["function"]["name"]) for t in body.get("tools") or []) if chat else ()
        except (TypeError, KeyError):
            raise InvalidRequest("'tools' must be a list of {'type': 'function', 'function': {'name': ...}}") from None
        stream = body.get("stream") is True
        options = body.get("stream_options") or {}
        return cls(chat=chat, model=body["model"], stream=stream,
                   include_usage=stream and isinstance(options, Mapping) and options.get("include_usage") is True,
                   max_tokens=max_tokens, prompt_tokens=_words(prompt), tool_names=tool_names,
                   tool_choice=body.get("tool_choice"), seed=seed)

    @classmethod
    def from_anthropic_body(cls, body: object) -> RequestParams:
        """The same from an Anthropic Messages API body (anthropic.py): always chat, `max_tokens` required as
        Anthropic requires it, tools named at the top level, `tool_choice` read in OpenAI's terms, and no
        include_usage (the usage is part of every Anthropic answer). `system` counts towards the prompt."""
        if not isinstance(body, Mapping) or not isinstance(body.get("model"), str):
            raise InvalidRequest("the body must be a JSON object with a string 'model'")
        messages, max_tokens, seed = body.get("messages"), body.get("max_tokens"), body.get("seed")
        if not isinstance(messages, list):
            raise InvalidRequest("'messages' must be a list")
        if not isinstance(max_tokens, int) or isinstance(max_tokens, bool) or max_tokens < 1:
            raise InvalidRequest("max_tokens: an integer >= 1 is required")
        if seed is not None and (not isinstance(seed, int) or isinstance(seed, bool)):
            raise InvalidRequest("'seed' must be an integer")
        try:
            tool_names = tuple(str(t["name"]) for t in body.get("tools") or [])
        except (TypeError, KeyError):
            raise InvalidRequest("'tools' must be a list of {'name': ..., 'input_schema': {...}}") from None
        choice = body.get("tool_choice")
        choice = choice if isinstance(choice, Mapping) else {}
        tool_choice: object = None  # auto and any: the first tool (or the `tool_call` field's)
        if choice.get("type") == "none":
            tool_choice = "none"
        elif choice.get("type") == "tool":
            tool_choice = {"type": "function", "function": {"name": choice.get("name")}}
        return cls(chat=True, model=body["model"], stream=body.get("stream") is True, include_usage=False,
                   max_tokens=max_tokens, prompt_tokens=_words(messages) + _words(body.get("system")),
                   tool_names=tool_names, tool_choice=tool_choice, seed=seed)


_WORD_TOKEN = re.compile(r"\s*\S+\s*|\s+")


def word_tokens(text: str) -> tuple[str, ...]:
    """A known text as tokens: each word with the whitespace after it (leading whitespace joins the first word,
    a text of only whitespace is one token), so the tokens concatenate to the text exactly."""
    return tuple(_WORD_TOKEN.findall(text))


@dataclass(frozen=True)
class Text:
    """A known content (answer, verdict) as tokens, each JSON-escaped once so events only join slices."""

    tokens: tuple[str, ...]
    escaped: tuple[str, ...]  # each token as the inside of a JSON string


@functools.lru_cache(maxsize=1024)
def text_of(text: str) -> Text:
    """The tokens of a known text; cached, so a text given in a header is split once, not per request."""
    tokens = word_tokens(text)
    return Text(tokens, tuple(json.dumps(token)[1:-1] for token in tokens))


@dataclass(frozen=True)
class ToolCall:
    """The function call a response makes instead of answering with text."""

    name: str
    arguments: str  # JSON text, streamed in TOOL_FRAGMENT_CHARS fragments

    def fragment(self, index: int) -> str:
        return self.arguments[index * TOOL_FRAGMENT_CHARS:(index + 1) * TOOL_FRAGMENT_CHARS]

    @property
    def tokens(self) -> int:
        return 1 + math.ceil(len(self.arguments) / TOOL_FRAGMENT_CHARS)


@dataclass(frozen=True)
class Reply:
    """A known output instead of the `tok{i}` words, decided before planning (answers.py, judge.py): a text,
    or tool calls; `malformed` are the unparseable alternatives of a judge verdict (see plan_response)."""

    text: Text | None = None
    tool_calls: tuple[ToolCall, ...] = ()
    source: str | None = None  # "header" (the answer field) | "key" (the answer key); None for verdicts
    correct: bool | None = None
    verdict: dict[str, object] | None = None
    malformed: tuple[Text, ...] = ()


class Event(NamedTuple):  # a tuple: a 64-token stream builds ~70 of these per request
    """One write of the response: kind, which tokens of its phase it carries, and when it is due."""

    kind: str  # role | reasoning | content | tool_call | finish | usage | done | response
    start: int  # index of its first token within its phase (tool calls: counted across all calls)
    tokens: int
    due_ns: int  # after the request's arrival


@dataclass(frozen=True)
class Plan:
    """Everything decided about one response before its first byte is sent."""

    behaviour: Behaviour
    params: RequestParams
    fault: str | None
    ttft_ms: float
    gaps_ms: tuple[float, ...]
    reasoning_tokens: int
    content_tokens: int
    tool_calls: tuple[ToolCall, ...]
    finish_reason: str
    events: tuple[Event, ...]
    text: Text | None = None  # the known content (its first content_tokens tokens are sent); None: tok{i} words
    reply: Reply | None = None
    malformed: bool = False  # a malformed judge verdict was drawn: `text` is one of reply.malformed

    @property
    def sends_usage(self) -> bool:
        """Whether the stream ends with a usage chunk: asked for, and not switched off by `send_usage`."""
        return self.params.include_usage and self.behaviour.send_usage

    @property
    def tool_call_tokens(self) -> int:
        return sum(call.tokens for call in self.tool_calls)

    @property
    def completion_tokens(self) -> int:
        return self.reasoning_tokens + (self.tool_call_tokens if self.tool_calls else self.content_tokens)


def plan_response(behaviour: Behaviour, params: RequestParams, rng: random.Random,
                  reply: Reply | None = None) -> Plan:
    """Decide the fault, latencies, token counts and event schedule of one response.

    With a `reply` (a known answer or verdict) its text or tool calls replace the `tok{i}` words. A reply with
    `malformed` alternatives (a judge verdict) draws u = rng.random() after ttft when judge_malformed_rate > 0:
    u < rate sends alternative int(u / rate * len(alternatives)) instead of the verdict.
    """
    fault = behaviour.fault or _drawn_fault(behaviour.fault_rates, rng.random())
    ttft_ms = behaviour.ttft_ms.draw(rng)
    reasoning = behaviour.reasoning_tokens if params.chat else 0
    text, malformed = None, False
    if reply is None:
        tool_calls = _resolve_tool_call(behaviour, params)
        wanted = behaviour.output_tokens
        if wanted is None:
            wanted = DEFAULT_OUTPUT_TOKENS if params.max_tokens is None else params.max_tokens
        cut = params.max_tokens is not None and wanted >= params.max_tokens  # it ran until max_tokens
    else:
        text, tool_calls = reply.text, reply.tool_calls
        rate = behaviour.judge_malformed_rate
        if reply.malformed and rate > 0:
            u = rng.random()
            if u < rate:
                text, tool_calls, malformed = reply.malformed[int(u / rate * len(reply.malformed))], (), True
        wanted = len(text.tokens) if text else 0
        cut = params.max_tokens is not None and wanted > params.max_tokens  # a known text ends by itself
    content = 0 if tool_calls else wanted if params.max_tokens is None else min(wanted, params.max_tokens)
    if tool_calls:
        phases = (("reasoning", reasoning), *(("tool_call", call.tokens) for call in tool_calls))
        answer_tokens = sum(call.tokens for call in tool_calls)
    else:
        phases, answer_tokens = (("reasoning", reasoning), ("content", content)), content
    gaps_ms = behaviour.gap_ms.draws(rng, max(0, reasoning + answer_tokens - 1))
    finish = "tool_calls" if tool_calls else "length" if cut else "stop"
    sends_usage = params.include_usage and behaviour.send_usage  # the same rule as Plan.sends_usage
    tail = (("finish", "usage", "done") if sends_usage else ("finish", "done")) if params.stream else ()
    events = _schedule(ttft_ms, gaps_ms, phases, behaviour.tokens_per_event, params.stream,
                       params.stream and params.chat and behaviour.role_first_event, tail)
    return Plan(behaviour=behaviour, params=params, fault=fault, ttft_ms=ttft_ms, gaps_ms=gaps_ms,
                reasoning_tokens=reasoning, content_tokens=content, tool_calls=tool_calls, finish_reason=finish,
                events=events, text=text, reply=reply, malformed=malformed)


@functools.lru_cache(maxsize=256)
def _schedule(ttft_ms: float, gaps_ms: tuple[float, ...], phases: tuple[tuple[str, int], ...], per_event: int,
              stream: bool, role_event: bool, tail: tuple[str, ...]) -> tuple[Event, ...]:
    """The events of one response, due in ns after arrival. Cached: with fixed latencies all requests of one
    configuration share a schedule, and a lookup is much cheaper than building ~70 events per arrival."""
    token_due = [round((ttft_ms + elapsed) * 1e6) for elapsed in accumulate(gaps_ms, initial=0.0)]
    last_due = token_due[-1]  # == ttft when there are no tokens at all
    if not stream:
        return (Event("response", 0, sum(count for _, count in phases), last_due),)
    events = [Event("role", 0, 0, 0)] if role_event else []
    events += _token_events(phases, per_event, token_due)
    return (*events, *(Event(kind, 0, 0, last_due) for kind in tail))


def _drawn_fault(rates: Mapping[str, float], u: float) -> str | None:
    threshold = 0.0
    for kind, probability in rates.items():
        threshold += probability
        if u < threshold:
            return kind
    return None


def calls_tools(behaviour: Behaviour, params: RequestParams) -> bool:
    """Whether the response may call tools: the request has tools, and neither side says "none"."""
    return bool(params.tool_names) and behaviour.tool_call != "none" and params.tool_choice != "none"


def _resolve_tool_call(behaviour: Behaviour, params: RequestParams) -> tuple[ToolCall, ...]:
    if not calls_tools(behaviour, params):
        return ()
    if isinstance(behaviour.tool_call, dict):
        return (ToolCall(behaviour.tool_call["name"], json.dumps(behaviour.tool_call["arguments"])),)
    choice = params.tool_choice
    named = choice.get("function", {}).get("name") if isinstance(choice, Mapping) else None
    return (ToolCall(named or params.tool_names[0], "{}"),)


def _token_events(phases: tuple[tuple[str, int], ...], per_event: int, token_due: list[int]) -> list[Event]:
    """Group each phase's tokens into events; a tool call's opening delta (id + name) is an event of its own.
    Phases of one kind (several tool calls) number their tokens on: an event's start counts across them."""
    events, offset, kind_offset = [], 0, dict.fromkeys((kind for kind, _ in phases), 0)
    for kind, count in phases:
        starts = [0, *range(1, count, per_event)] if kind == "tool_call" else [*range(0, count, per_event)]
        if not count:
            continue
        base = kind_offset[kind]
        for start, end in zip(starts, [*starts[1:], count], strict=True):
            events.append(Event(kind, base + start, end - start, token_due[offset + start]))
        offset += count
        kind_offset[kind] = base + count
    return events
