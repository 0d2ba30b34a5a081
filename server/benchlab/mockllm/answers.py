"""Known answers: the mock answers listed prompts with known text or tool calls, correctly or not by a fixed rule.

An answer is selected by, in this order:
1. the `answer` behaviour field (header, model name query or server default): this text, source "header";
2. the answer key (`--answer-key FILE`, read once at start): the entry whose prompt equals the request's
   prompt exactly, source "key".
Without either, the response is today's `tok0 tok1 ...`. Judge mode (judge.py) wins over both.

The request's prompt (`prompt_of`): the content of its last `user` message (chat; a string, or its text
parts - plain strings and `{"type": "text", "text": ...}`, other parts such as images left out - joined by
newlines) or its `prompt` (completions; a string, or the first string of a list), stripped of surrounding
whitespace. No such text: "".

Correct or wrong (`answers_correctly`), per prompt and model, not per request, so repetitions agree and
accuracy 0.8 means 80 % of prompts in expectation:

    u = int.from_bytes(sha256(f"{seed}\\n{model}\\n{prompt}".encode()).digest()[:8], "big") / 2**64
    correct = u < accuracy

with `seed` the server seed (`--seed`, not the body's), `model` the request's model name without its
`?query`, `prompt` as above. accuracy 1.0 is always correct, 0.0 never.

Correct: the answer text, or, when the key entry has `tool_calls` and the response may call tools (the
request has `tools`, and neither `tool_choice` nor the `tool_call` field is "none"), all those calls
(arguments JSON: `json.dumps(arguments)`, or the string itself when given as a string), finish_reason
"tool_calls". The `tool_call` field's own calls never apply to a selected answer.
Wrong: the entry's `wrong` text, else the `wrong_answer` field; never a tool call.

Answer key file: JSON Lines (one object per line, blank lines skipped), or a YAML list when the name ends
in .yaml / .yml. Each entry:

    {"prompt": "What is 2+2?", "answer": "4", "wrong": "5",
     "tool_calls": [{"name": "add", "arguments": {"a": 2, "b": 2}}]}

`prompt` (non-empty text, stripped, unique) and `answer` (text) are required, `wrong` and `tool_calls` are
optional; unknown keys are refused. Every error names the file and line (`AnswerKeyError`).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from benchlab.mockllm.behaviour import Behaviour, Reply, RequestParams, Text, ToolCall, calls_tools, text_of

ENTRY_KEYS = ("prompt", "answer", "wrong", "tool_calls")


class AnswerKeyError(ValueError):
    """An answer key file that cannot be used; the message names the file and line."""


def answer_draw(seed: int, prompt: str, model: str) -> float:
    """The uniform number in [0, 1) behind `answers_correctly` (see the module docstring)."""
    base = model.partition("?")[0]
    digest = hashlib.sha256(f"{seed}\n{base}\n{prompt}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def answers_correctly(seed: int, prompt: str, model: str, accuracy: float) -> bool:
    """Whether the mock gives the correct answer to `prompt` on `model` (its `?query` ignored): the same for
    every repetition, and true for a share `accuracy` of prompts in expectation."""
    return answer_draw(seed, prompt, model) < accuracy


def prompt_of(body: Mapping[str, object], chat: bool) -> str:
    """The request's prompt as answers and verdicts read it (see the module docstring)."""
    if not chat:
        prompt = body.get("prompt")
        if isinstance(prompt, list):
            prompt = next((item for item in prompt if isinstance(item, str)), None)
        return prompt.strip() if isinstance(prompt, str) else ""
    messages = body.get("messages")
    for message in reversed(messages if isinstance(messages, list) else []):
        if isinstance(message, Mapping) and message.get("role") == "user":
            content = message.get("content")
            if isinstance(content, list):
                texts = [_part_text(part) for part in content]
                content = "\n".join(text for text in texts if text is not None)
            return content.strip() if isinstance(content, str) else ""
    return ""


def _part_text(part: object) -> str | None:
    if isinstance(part, str):
        return part
    if isinstance(part, Mapping) and part.get("type", "text") == "text" and isinstance(part.get("text"), str):
        return str(part["text"])
    return None


@dataclass(frozen=True)
class AnswerEntry:
    """One prompt of the key with its answers, split into tokens once at start."""

    prompt: str
    answer: Text
    wrong: Text | None
    tool_calls: tuple[ToolCall, ...]
    line: int


class AnswerKey:
    """The answer key: entries by their (stripped) prompt."""

    def __init__(self, entries: Mapping[str, AnswerEntry]) -> None:
        self.entries = dict(entries)

    def __len__(self) -> int:
        return len(self.entries)

    def get(self, prompt: str) -> AnswerEntry | None:
        return self.entries.get(prompt)


def answer_reply(behaviour: Behaviour, params: RequestParams, prompt: str, key: AnswerKey | None,
                 seed: int) -> Reply | None:
    """The known answer to this request, or None (then the `tok{i}` words are sent)."""
    entry = None
    if behaviour.answer is None:
        entry = key.get(prompt) if key is not None else None
        if entry is None:
            return None
    source = "key" if entry else "header"
    if not answers_correctly(seed, prompt, params.model, behaviour.accuracy):
        wrong = entry.wrong if entry and entry.wrong else text_of(behaviour.wrong_answer)
        return Reply(text=wrong, source=source, correct=False)
    if entry is None:
        return Reply(text=text_of(behaviour.answer or ""), source=source, correct=True)
    if entry.tool_calls and calls_tools(behaviour, params):
        return Reply(tool_calls=entry.tool_calls, source=source, correct=True)
    return Reply(text=entry.answer, source=source, correct=True)


def load_answer_key(path: Path) -> AnswerKey:
    """Read an answer key file (JSON Lines, or a YAML list for .yaml / .yml); raises AnswerKeyError."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise AnswerKeyError(f"answer key {path}: cannot read it: {exc}") from None
    items = _yaml_items(text, path) if path.suffix.lower() in (".yaml", ".yml") else _jsonl_items(text, path)
    entries: dict[str, AnswerEntry] = {}
    for line, item in items:
        try:
            entry = _entry(item, line)
        except ValueError as exc:
            raise AnswerKeyError(f"answer key {path}, line {line}: {exc}") from None
        if entry.prompt in entries:
            raise AnswerKeyError(f"answer key {path}, line {line}: prompt {entry.prompt!r} is already given "
                                 f"on line {entries[entry.prompt].line}")
        entries[entry.prompt] = entry
    return AnswerKey(entries)


def _jsonl_items(text: str, path: Path) -> Iterator[tuple[int, object]]:
    for number, line in enumerate(text.splitlines(), 1):
        if line.strip():
            try:
                yield number, json.loads(line)
            except ValueError as exc:
                raise AnswerKeyError(f"answer key {path}, line {number}: not a JSON object: {exc} (JSON Lines: "
                                     "one entry per line; name the file .yaml for a YAML list)") from None


def _yaml_items(text: str, path: Path) -> Iterator[tuple[int, object]]:
    import yaml  # only for YAML keys

    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f", line {mark.line + 1}" if mark else ""
        raise AnswerKeyError(f"answer key {path}{where}: not valid YAML: {exc.problem or exc.context}") from None
    except yaml.YAMLError as exc:
        raise AnswerKeyError(f"answer key {path}: not valid YAML: {exc}") from None
    if node is None:
        return
    if not isinstance(node, yaml.SequenceNode):
        raise AnswerKeyError(f"answer key {path}, line {node.start_mark.line + 1}: expected a YAML list of entries")
    loader = yaml.SafeLoader("")
    for item in node.value:
        try:
            value = loader.construct_object(item, deep=True)
        except yaml.YAMLError as exc:
            raise AnswerKeyError(f"answer key {path}, line {item.start_mark.line + 1}: {exc}") from None
        yield item.start_mark.line + 1, value


def _entry(item: object, line: int) -> AnswerEntry:
    if not isinstance(item, Mapping):
        raise ValueError(f"expected an object with {list(ENTRY_KEYS)}, got {type(item).__name__}")
    unknown = sorted(str(k) for k in item if k not in ENTRY_KEYS)
    if unknown:
        raise ValueError(f"unknown keys {unknown}; known: {list(ENTRY_KEYS)}")
    prompt, answer, wrong = item.get("prompt"), item.get("answer"), item.get("wrong")
    if not isinstance(prompt, str) or not prompt.strip():
        raise ValueError("'prompt' must be non-empty text")
    if not isinstance(answer, str):
        raise ValueError("'answer' must be text (quote numbers and yes/no in YAML)")
    if wrong is not None and not isinstance(wrong, str):
        raise ValueError("'wrong' must be text")
    return AnswerEntry(prompt=prompt.strip(), answer=text_of(answer), wrong=None if wrong is None else text_of(wrong),
                       tool_calls=_tool_calls(item.get("tool_calls", [])), line=line)


def _tool_calls(value: object) -> tuple[ToolCall, ...]:
    problem = "'tool_calls' must be a list of {\"name\": text, \"arguments\": object or JSON text}"
    if not isinstance(value, list):
        raise ValueError(problem)
    calls = []
    for call in value:
        if not isinstance(call, Mapping) or not isinstance(call.get("name"), str) or not call["name"] \
                or not set(call) <= {"name", "arguments"}:
            raise ValueError(problem)
        arguments = call.get("arguments", {})
        if isinstance(arguments, Mapping):
            arguments = json.dumps(arguments)
        if not isinstance(arguments, str):
            raise ValueError(problem)
        calls.append(ToolCall(call["name"], arguments))
    return tuple(calls)
