"""The wire format of the ingest endpoint (docs/ingest.md): batches of `request_events` and `scores` rows.

Format v1 is JSON lines: UTF-8, one JSON object per line, lines separated by `\\n` (a `\\r` before it is
tolerated), blank lines ignored, a trailing newline optional, a leading byte order mark ignored. Each object
is one row; its keys are the table's column names, and a left-out optional column takes the table's DDL
DEFAULT (or the kind's zero value). Values:

- UUIDs are strings in the hyphenated form, any case (`"0b0f4c52-6c1e-4a43-9a0e-6f2d1c1f1a01"`);
- `ts` is an ISO 8601 string with an explicit offset or `Z` (naive times are refused: a worker's local time
  zone must never leak into the data); it is stored in UTC with microseconds;
- integers are JSON integers (`3`, never `3.0` or `"3"`) within the column's ClickHouse range (UInt8: 0-255);
- floats are finite JSON numbers (integers accepted; NaN and Infinity refused, as ClickHouse would store
  them and every aggregate over them would be NaN); Float32 columns also refuse magnitudes beyond Float32;
- booleans are `true`/`false` only, arrays JSON arrays, strings strings; `null` is never a value.

Why JSON lines: every language and `curl` can produce it without a library, a bad row is rejected alone and
named by its line number, and a batch can be streamed and split anywhere between lines. A columnar format
(Arrow IPC) may come as v2 for bulk producers; the version is in the URL path (`/ingest/v1/events`), so
both can be served side by side and a client always knows which one it speaks.

This module is pure (no I/O): `decode_batch` turns a request body into rows in `COLUMNS` order, ready for
`ClickHouseStore.insert`, and per-row problems; `encode_rows` is its inverse for workers that send the rows
the engine built. The ClickHouse types below are written out on purpose (not read from the database at
import): a test migrates a real database and proves they agree with `system.columns`.
"""

from __future__ import annotations

import difflib
import functools
import json
import math
import re
import struct
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from enum import StrEnum
from types import MappingProxyType
from typing import Any
from uuid import UUID

from benchlab.errors import InvalidInputError
from benchlab.stores import request_events, scores

FORMAT_VERSION = 1
QUOTE_CHARS = 40  # the most of a bad value an error message repeats
_MAX_PROBLEMS = 5  # per rejected row; the rest are counted
_FLOAT32_MAX = struct.unpack("<f", b"\xff\xff\x7f\x7f")[0]
_FLOAT64_MAX = sys.float_info.max
# DateTime64's range (ClickHouse stores anything outside it as garbage, silently).
_TS_MIN = datetime(1900, 1, 1, tzinfo=UTC)
_TS_MAX = datetime(2299, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)
_UUID_TEXT = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
_ZERO_UUID = UUID(int=0)


class IngestFormatError(InvalidInputError):
    """The batch as a whole cannot be read (not UTF-8, too many rows, no rows): nothing of it is written."""


class Kind(StrEnum):
    """What a column's JSON value must be; derived from its ClickHouse type."""

    UUID = "uuid"
    STR = "str"
    INT = "int"
    FLOAT = "float"
    BOOL = "bool"
    DATETIME = "datetime"
    FLOAT_LIST = "list[float]"
    INT_LIST = "list[int]"


# The columns' ClickHouse types as the migrations leave them (checked against system.columns by a test).
_CLICKHOUSE_TYPES: dict[str, dict[str, str]] = {
    request_events.TABLE: {
        "project_id": "UUID", "run_id": "UUID", "experiment_id": "UUID", "event_id": "UUID",
        "item_id": "String", "repetition": "UInt32", "attempt": "UInt8", "provider": "LowCardinality(String)",
        "model": "LowCardinality(String)", "prompt_version": "LowCardinality(String)",
        "params_hash": "LowCardinality(String)", "source": "LowCardinality(String)",
        "load_phase": "LowCardinality(String)", "ts": "DateTime64(6, 'UTC')", "in_window": "Bool",
        "run_offset_s": "Float64", "first_on_connection": "Bool", "queue_delay_ms": "Float32",
        "ttft_ms": "Float32", "ttfot_ms": "Float32", "e2e_ms": "Float32", "e2e_from_intended_ms": "Float32",
        "stream_end_ms": "Float32", "tpot_ms": "Float32", "inter_event_ms": "Array(Float32)",
        "tokens_per_event": "Array(UInt16)", "prompt_tokens": "UInt32", "completion_tokens": "UInt32",
        "reasoning_tokens": "UInt32", "cached_tokens": "UInt32", "tokens_estimated": "Bool",
        "cost_usd": "Float64", "cost_known": "Bool", "status": "LowCardinality(String)",
        "error_type": "LowCardinality(String)", "http_status": "UInt16", "finish_reason": "LowCardinality(String)",
        "output": "String", "tool_calls": "String", "error_message": "String",
        "input": "String",
    },
    scores.TABLE: {
        "project_id": "UUID", "run_id": "UUID", "experiment_id": "UUID", "pass_id": "UUID", "event_id": "UUID",
        "ts": "DateTime64(6, 'UTC')", "item_id": "String", "repetition": "UInt32",
        "load_phase": "LowCardinality(String)", "model": "LowCardinality(String)",
        "prompt_version": "LowCardinality(String)", "params_hash": "LowCardinality(String)",
        "evaluator": "LowCardinality(String)", "evaluator_type": "LowCardinality(String)",
        "score_name": "LowCardinality(String)", "weight": "Float64", "value": "Float64", "passed": "Bool",
        "label": "LowCardinality(String)", "reason": "String", "reference": "String",
        "counterpart": "LowCardinality(String)", "judge_model": "LowCardinality(String)", "judge_cached": "Bool",
        "judge_prompt_tokens": "UInt32", "judge_completion_tokens": "UInt32", "judge_cost_usd": "Float64",
        "judge_latency_ms": "Float32",
    },
}
# The DDL DEFAULTs that are not the type's zero value (a test evaluates every DDL default in ClickHouse).
_DDL_DEFAULTS: dict[str, dict[str, Any]] = {
    request_events.TABLE: {"attempt": 1, "source": "experiment", "load_phase": "main", "in_window": True,
                           "cost_known": True},
    scores.TABLE: {},
}
_REQUIRED: dict[str, tuple[str, ...]] = {
    request_events.TABLE: ("project_id", "event_id", "ts"),
    scores.TABLE: ("project_id", "run_id", "pass_id", "event_id", "ts", "evaluator", "score_name", "value"),
}
# What identifies a row: a second row with the same key in one batch is refused as a duplicate.
_ROW_KEYS: dict[str, tuple[str, ...]] = {
    request_events.TABLE: ("event_id",),
    scores.TABLE: ("pass_id", "event_id", "evaluator", "score_name"),
}
_ZERO: dict[Kind, Any] = {Kind.UUID: _ZERO_UUID, Kind.STR: "", Kind.INT: 0, Kind.FLOAT: 0.0, Kind.BOOL: False,
                          Kind.FLOAT_LIST: [], Kind.INT_LIST: []}
_EXPECTED: dict[Kind, str] = {
    Kind.UUID: "a UUID string", Kind.STR: "a string", Kind.INT: "an integer", Kind.FLOAT: "a number",
    Kind.BOOL: "true or false", Kind.DATETIME: "an ISO 8601 timestamp string", Kind.FLOAT_LIST: "an array of numbers",
    Kind.INT_LIST: "an array of integers",
}
_JSON_TYPES: dict[Kind, str] = {
    Kind.UUID: "UUID string", Kind.STR: "string", Kind.INT: "integer", Kind.FLOAT: "number",
    Kind.BOOL: "boolean", Kind.DATETIME: "ISO 8601 string with offset", Kind.FLOAT_LIST: "array of numbers",
    Kind.INT_LIST: "array of integers",
}
_MISSING: Any = object()


@dataclass(frozen=True)
class IngestColumn:
    """One column as the format sees it: its JSON value's kind and limits, and what a left-out value becomes."""

    name: str
    clickhouse_type: str
    kind: Kind
    required: bool
    default: Any                      # None for a required column
    minimum: int | float | None       # ints (and int array elements): the UInt range; floats: -max
    maximum: int | float | None

    @property
    def json_type(self) -> str:
        """The value as a client writes it, in words (the column tables of docs/ingest.md)."""
        if self.kind in (Kind.INT, Kind.INT_LIST):
            return f"{_JSON_TYPES[self.kind]} {self.minimum} to {self.maximum}"
        return _JSON_TYPES[self.kind]

    @property
    def default_json(self) -> str:
        """The default as a client would write it (docs and messages); `null` for a required column."""
        value = self.default
        return json.dumps(str(value) if isinstance(value, UUID) else value)


Decoder = Callable[[Any], Any]
Encoder = Callable[[Any], Any]


@dataclass(frozen=True)
class IngestTable:
    """A table rows can be ingested into: its columns in `COLUMNS` order, with precomputed converters."""

    name: str
    columns: tuple[str, ...]
    required: frozenset[str]
    specs: Mapping[str, IngestColumn]
    key: tuple[str, ...]  # duplicate rows in one batch are detected on these columns
    decoders: tuple[tuple[str, Decoder], ...] = field(repr=False, compare=False)
    encoders: tuple[tuple[int, Encoder], ...] = field(repr=False, compare=False)  # only columns that need one

    @property
    def kinds(self) -> dict[str, Kind]:
        return {name: spec.kind for name, spec in self.specs.items()}

    @property
    def defaults(self) -> dict[str, Any]:
        """The value each optional column takes when a row leaves it out."""
        return {name: spec.default for name, spec in self.specs.items() if not spec.required}


@dataclass(frozen=True)
class RejectedRow:
    line: int    # 1-based line number in the body
    error: str   # what is wrong with the row and how to fix it


@dataclass
class DecodedBatch:
    rows: list[tuple[Any, ...]]   # accepted rows, in body order, values in COLUMNS order
    rejected: list[RejectedRow]   # in body order
    lines: int                    # non-blank lines read: len(rows) + len(rejected)
    row_lines: list[int] = field(default_factory=list)  # the body line of each row (to reject one later)


class _Invalid(ValueError):
    """One value is wrong; the message names the column (only raised and caught in this module)."""


def decode_batch(table: IngestTable, body: bytes, *, max_rows: int,
                 max_line_bytes: int = 4 * 1024 * 1024) -> DecodedBatch:
    """Read a v1 body: good rows are kept in order, each bad row is rejected alone with the reason.

    Raises IngestFormatError when the body as a whole is unreadable: not UTF-8, no rows, more than `max_rows`.
    """
    text = _utf8(body)
    if text.startswith("\ufeff"):
        text = text[1:]
    numbered = [(number, line) for number, line in enumerate(text.split("\n"), 1)
                if line and not line.isspace()]
    if len(numbered) > max_rows:
        raise IngestFormatError(
            f"the batch holds {len(numbered)} rows, more than the limit of {max_rows} rows per batch; split the "
            "batch into smaller ones", limit=max_rows)
    if not numbered:
        raise IngestFormatError("the body holds no rows: send one JSON object per line (JSON lines)")
    columns, required, decoders = frozenset(table.columns), table.required, table.decoders
    key_index = [table.columns.index(name) for name in table.key]
    single_key = key_index[0] if len(key_index) == 1 else None
    seen: dict[Any, int] = {}
    suggestions = _Suggestions(table)
    rows: list[tuple[Any, ...]] = []
    row_lines: list[int] = []
    rejected: list[RejectedRow] = []
    loads = json.loads
    for number, line in numbered:
        # Characters <= bytes <= 4 characters: encode only a line that could be too long.
        if len(line) > max_line_bytes or (len(line) * 4 > max_line_bytes
                                          and len(line.encode("utf-8")) > max_line_bytes):
            rejected.append(RejectedRow(number, f"the line is {len(line.encode('utf-8'))} bytes, more than the "
                                                f"limit of {max_line_bytes} bytes per row; shorten its texts"))
            continue
        try:
            obj = loads(line)
        except json.JSONDecodeError as exc:
            rejected.append(RejectedRow(number, f"invalid JSON at column {exc.colno}: {exc.msg}"))
            continue
        except (ValueError, RecursionError) as exc:  # integers of thousands of digits, deep nesting
            rejected.append(RejectedRow(number, f"invalid JSON: {_shorten(str(exc), 80)}"))
            continue
        if type(obj) is not dict:
            rejected.append(RejectedRow(number, f"expected a JSON object (one row per line), got {_json_type(obj)}"))
            continue
        keys = obj.keys()
        try:
            if not (keys <= columns and keys >= required):
                raise _Invalid("")
            get = obj.get
            row = tuple([decode(get(name, _MISSING)) for name, decode in decoders])
            if "\\u" in line and _SURROGATE_ESCAPE.search(line):
                _check_surrogates(row, table.columns)
        except _Invalid:
            rejected.append(RejectedRow(number, _row_problems(table, obj, suggestions)))
            continue
        row_key = row[single_key] if single_key is not None else tuple([row[i] for i in key_index])
        first = seen.setdefault(row_key, number)
        if first != number:
            rejected.append(RejectedRow(number, f"duplicate of line {first}: the same "
                                                f"{', '.join(table.key)}; send each row once"))
            continue
        rows.append(row)
        row_lines.append(number)
    return DecodedBatch(rows, rejected, len(numbered), row_lines)


def encode_rows(table: IngestTable, rows: Iterable[Sequence[Any]]) -> bytes:
    """Rows in COLUMNS order, as the engine builds them, as a v1 body (`decode_batch` gives them back equal).

    Raises ValueError for a value the format cannot carry (a naive datetime, NaN): a bug of the caller.
    """
    columns, encoders, dumps = table.columns, table.encoders, _JSON.encode
    lines = []
    for row in rows:
        values = list(row)
        for index, encode in encoders:
            values[index] = encode(values[index])
        lines.append(dumps(dict(zip(columns, values, strict=True))))
    lines.append("")
    return "\n".join(lines).encode("utf-8")


# --- decoding values -------------------------------------------------------------------------------------------

def _utf8(body: bytes) -> str:
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = body.count(b"\n", 0, exc.start) + 1
        raise IngestFormatError(
            f"the body is not valid UTF-8: {exc.reason} at byte offset {exc.start} (line {line}); send the "
            "rows as UTF-8 JSON lines", offset=exc.start) from None


def _check_surrogates(row: tuple[Any, ...], columns: tuple[str, ...]) -> None:
    """An escaped lone surrogate (`\\ud83d` without its pair) decodes to a str ClickHouse cannot take."""
    for name, value in zip(columns, row, strict=True):
        if type(value) is str:
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                raise _Invalid(f"{name}: contains an unpaired UTF-16 surrogate escape; send the character "
                               "itself or a complete surrogate pair") from None


class _Suggestions:
    """"Did you mean" hints for unknown keys. A hint costs ~0.1 ms (difflib), so each key is looked up once per
    batch and a batch gets at most `budget` lookups: 100,000 rows of made-up keys must not cost minutes."""

    def __init__(self, table: IngestTable, budget: int = 1000) -> None:
        self.table, self.budget, self.known = table, budget, dict[str, str]()

    def hint(self, key: str) -> str:
        if key not in self.known and self.budget > 0 and len(key) <= 100:
            self.budget -= 1
            close = difflib.get_close_matches(key, self.table.columns, n=1)
            self.known[key] = f" (did you mean '{close[0]}'?)" if close else ""
        return self.known.get(key) or f"; the columns of {self.table.name} are in docs/ingest.md"


def _row_problems(table: IngestTable, obj: dict[str, Any], suggestions: _Suggestions) -> str:
    """Every problem of a rejected row, so one edit fixes it (the fast path only knows that one exists)."""
    unknown = [key for key in obj if key not in table.specs]
    problems = [f"unknown column {_quote(key)}{suggestions.hint(key)}" for key in unknown[:_MAX_PROBLEMS]]
    unlisted = len(unknown) - len(problems)  # counted, never looked up
    problems += [f"{name}: required" for name in table.columns if name in table.required and name not in obj]
    decoded = []
    for name, decode in table.decoders:
        try:
            decoded.append(decode(obj.get(name, _MISSING)))
        except _Invalid as exc:
            problems.append(str(exc))
    if not problems and not unlisted:
        try:
            _check_surrogates(tuple(decoded), table.columns)
        except _Invalid as exc:
            problems.append(str(exc))
    if len(problems) + unlisted > _MAX_PROBLEMS:
        problems[_MAX_PROBLEMS:] = [f"and {len(problems) + unlisted - _MAX_PROBLEMS} more problems"]
    return "; ".join(problems)


def _decoder(spec: IngestColumn) -> Decoder:
    """The function that checks and converts one JSON value of the column (or supplies its default)."""
    name, default, low, high = spec.name, spec.default, spec.minimum, spec.maximum

    def wrong(value: Any) -> _Invalid:
        if value is None and not spec.required:
            return _Invalid(f"{name}: expected {_EXPECTED[spec.kind]}, got null (leave the key out to use the "
                            f"default {spec.default_json})")
        return _Invalid(f"{name}: expected {_EXPECTED[spec.kind]}, got {_described(value)}")

    if spec.kind in (Kind.STR, Kind.BOOL):
        exact = str if spec.kind is Kind.STR else bool  # `type() is`: a bool is no int here, an int no bool

        def decode_exact(value: Any) -> Any:
            if type(value) is exact:
                return value
            if value is _MISSING:
                return default
            raise wrong(value)
        return decode_exact

    if spec.kind is Kind.INT:
        assert isinstance(low, int) and isinstance(high, int)

        def decode_int(value: Any) -> Any:
            if type(value) is int and low <= value <= high:
                return value
            if value is _MISSING:
                return default
            if type(value) is int:
                raise _Invalid(f"{name}: {_quote(value)} is out of range for {spec.clickhouse_type} ({low} to {high})")
            if type(value) is float:
                raise _Invalid(f"{name}: expected an integer, got {_quote(value)} (write integers without a "
                               "fraction or exponent)")
            raise wrong(value)
        return decode_int

    if spec.kind is Kind.FLOAT:
        assert isinstance(high, float)

        def decode_float(value: Any) -> Any:
            kind = type(value)
            if kind is float and -high <= value <= high:  # false for NaN and infinities
                return value
            if value is _MISSING:
                return default
            if kind is int:
                return _int_as_float(name, value, high)
            if kind is float:
                raise _Invalid(_bad_float(name, value, spec.clickhouse_type, high))
            raise wrong(value)
        return decode_float

    if spec.kind is Kind.UUID:
        def decode_uuid(value: Any) -> Any:
            if type(value) is str and len(value) == 36 and _UUID_TEXT.fullmatch(value):
                return _uuid(value)
            if value is _MISSING:
                return default
            if type(value) is str:
                raise _Invalid(f"{name}: {_quote(value)} is not a UUID (write it as 8-4-4-4-12 hex digits, e.g. "
                               f"'{_ZERO_UUID}')")
            raise wrong(value)
        return decode_uuid

    if spec.kind is Kind.DATETIME:
        def decode_datetime(value: Any) -> Any:
            if type(value) is not str:
                if value is _MISSING:
                    return default
                raise wrong(value)
            return _timestamp(name, value)
        return decode_datetime

    if spec.kind is Kind.FLOAT_LIST:
        assert isinstance(high, float)
        float64 = high == _FLOAT64_MAX

        def decode_floats(value: Any) -> Any:
            if type(value) is not list:
                if value is _MISSING:
                    return []
                raise wrong(value)
            if not value:
                return value
            types = set(map(type, value))
            if types == {float}:
                numbers = value
            elif types <= {float, int}:
                numbers = [_int_as_float(f"{name}[{i}]", v, high) if type(v) is int else v
                           for i, v in enumerate(value)]
            else:
                i, bad = next((i, v) for i, v in enumerate(value) if type(v) not in (float, int))
                raise _Invalid(f"{name}[{i}]: expected a number, got {_described(bad)}")
            # A NaN or infinity makes the sum non-finite (an overflowing sum only sends us to the slow check);
            # the range check is needed for Float32 only (a finite Python float fits Float64).
            if not (math.isfinite(sum(numbers)) and (float64 or -high <= min(numbers) and max(numbers) <= high)):
                i, bad = next((i, v) for i, v in enumerate(numbers) if not -high <= v <= high)
                raise _Invalid(_bad_float(f"{name}[{i}]", bad, spec.clickhouse_type.removeprefix("Array(")[:-1],
                                          high))
            return numbers
        return decode_floats

    assert spec.kind is Kind.INT_LIST and isinstance(low, int) and isinstance(high, int)
    element_type = spec.clickhouse_type.removeprefix("Array(")[:-1]

    def decode_ints(value: Any) -> Any:
        if type(value) is not list:
            if value is _MISSING:
                return []
            raise wrong(value)
        if not value:
            return value
        if set(map(type, value)) == {int} and low <= min(value) and max(value) <= high:
            return value
        for i, v in enumerate(value):
            if type(v) is float:
                raise _Invalid(f"{name}[{i}]: expected an integer, got {_quote(v)} (write integers without a "
                               "fraction or exponent)")
            if type(v) is not int:
                raise _Invalid(f"{name}[{i}]: expected an integer, got {_described(v)}")
            if not low <= v <= high:
                raise _Invalid(f"{name}[{i}]: {_quote(v)} is out of range for {element_type} ({low} to {high})")
        raise AssertionError("unreachable")  # pragma: no cover
    return decode_ints


@functools.lru_cache(maxsize=4096)
def _uuid(text: str) -> UUID:
    """Parsing a UUID costs a microsecond; a batch repeats its project, run and experiment ids in every row."""
    return UUID(text)


def _int_as_float(name: str, value: int, limit: float) -> float:
    if -limit <= value <= limit:
        return float(value)
    raise _Invalid(f"{name}: {_quote(value)} is out of range (at most ±{limit:.7g})")


def _bad_float(name: str, value: float, clickhouse_type: str, limit: float) -> str:
    if math.isnan(value) or math.isinf(value):
        literal = "NaN" if math.isnan(value) else "Infinity" if value > 0 else "-Infinity"
        return f"{name}: {literal} is not allowed: send a finite number"
    return f"{name}: {_quote(value)} is out of range for {clickhouse_type} (at most ±{limit:.7g})"


def _timestamp(name: str, text: str) -> datetime:
    """An aware ISO 8601 time, in UTC; naive times are refused rather than guessed."""
    try:
        value = datetime.fromisoformat(text[:-1] + "Z" if text.endswith("z") else text)
    except ValueError:
        raise _Invalid(f"{name}: {_quote(text)} is not an ISO 8601 timestamp (e.g. '2025-03-04T05:06:07.123456Z')"
                       ) from None
    if value.tzinfo is None or value.utcoffset() is None:
        raise _Invalid(f"{name}: {_quote(text)} has no UTC offset: add 'Z' (UTC) or the offset, e.g. '+02:00'")
    value = value.astimezone(UTC)
    if not _TS_MIN <= value <= _TS_MAX:
        raise _Invalid(f"{name}: {_quote(text)} is outside the storable range (1900-01-01 to 2299-12-31 UTC)")
    return value


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, list):
        return "an array"
    return "an object"


def _described(value: Any) -> str:
    """`a string 'abc'`, `null`: what a client sent, for "expected X, got ..."."""
    return "null" if value is None else f"{_json_type(value)} {_quote(value)}"


def _quote(value: Any) -> str:
    """A bad value as the message shows it: at most QUOTE_CHARS characters of it, never a whole long text."""
    if isinstance(value, str):
        return repr(value) if len(value) <= QUOTE_CHARS else repr(value[:QUOTE_CHARS]) + f"... ({len(value)} chars)"
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 10 ** QUOTE_CHARS:
        return f"{str(value)[:QUOTE_CHARS]}... ({len(str(value))} digits)"
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= QUOTE_CHARS else text[:QUOTE_CHARS] + "..."


def _shorten(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit] + "..."


# --- encoding --------------------------------------------------------------------------------------------------

# ASCII output (non-ASCII characters as \u escapes): a text holding a lone surrogate (a provider's emoji split
# between two stream chunks) still encodes, and the receiver rejoins the pair or rejects that one row, where
# UTF-8 output would make the whole batch unencodable. As fast as UTF-8 output for ASCII text.
_JSON = json.JSONEncoder(ensure_ascii=True, allow_nan=False, check_circular=False, separators=(",", ":"))


def _encode_datetime(value: datetime) -> str:
    if value.tzinfo is None:
        raise ValueError(f"a naive datetime ({value}) cannot be sent: the engine stamps times in UTC")
    return value.isoformat()


_ENCODERS: dict[Kind, Encoder] = {Kind.UUID: str, Kind.DATETIME: _encode_datetime}


# --- the tables ------------------------------------------------------------------------------------------------

def _column(name: str, clickhouse_type: str, required: bool, ddl_default: Any) -> IngestColumn:
    kind, low, high = _kind_of(clickhouse_type)
    default = None if required else ddl_default if ddl_default is not _MISSING else _ZERO[kind]
    return IngestColumn(name, clickhouse_type, kind, required, default, low, high)


def _kind_of(clickhouse_type: str) -> tuple[Kind, int | float | None, int | float | None]:
    """The JSON kind and value range a ClickHouse type stands for (only the types the two tables use)."""
    if clickhouse_type.startswith("LowCardinality("):
        return _kind_of(clickhouse_type[len("LowCardinality("):-1])
    inner = clickhouse_type
    if inner.startswith("Array("):
        element, low, high = _kind_of(inner[len("Array("):-1])
        if element is Kind.INT:
            return Kind.INT_LIST, low, high
        if element is Kind.FLOAT:
            return Kind.FLOAT_LIST, low, high
        raise ValueError(f"no ingest kind for {clickhouse_type}")
    if match := re.fullmatch(r"UInt(8|16|32|64)", inner):
        return Kind.INT, 0, 2 ** int(match[1]) - 1
    simple: dict[str, tuple[Kind, int | float | None, int | float | None]] = {
        "UUID": (Kind.UUID, None, None), "String": (Kind.STR, None, None), "Bool": (Kind.BOOL, None, None),
        "Float32": (Kind.FLOAT, -_FLOAT32_MAX, _FLOAT32_MAX), "Float64": (Kind.FLOAT, -_FLOAT64_MAX, _FLOAT64_MAX),
        "DateTime64(6, 'UTC')": (Kind.DATETIME, None, None)}
    if inner not in simple:
        raise ValueError(f"no ingest kind for {clickhouse_type}")
    return simple[inner]


def _table(name: str, row_type: type) -> IngestTable:
    columns = tuple(f.name for f in fields(row_type))
    types = _CLICKHOUSE_TYPES[name]
    if set(types) != set(columns):  # a field added to the row type must be added here too
        raise RuntimeError(f"ingest_format: the ClickHouse types of {name} do not match {row_type.__name__}: "
                           f"{sorted(set(types) ^ set(columns))}")
    required = frozenset(_REQUIRED[name])
    specs = {column: _column(column, types[column], column in required,
                             _DDL_DEFAULTS[name].get(column, _MISSING)) for column in columns}
    decoders = tuple((column, _decoder(specs[column])) for column in columns)
    encoders = tuple((i, _ENCODERS[specs[column].kind]) for i, column in enumerate(columns)
                     if specs[column].kind in _ENCODERS)
    return IngestTable(name, columns, required, MappingProxyType(specs), _ROW_KEYS[name], decoders, encoders)


TABLES: dict[str, IngestTable] = {
    request_events.TABLE: _table(request_events.TABLE, request_events.RequestEvent),
    scores.TABLE: _table(scores.TABLE, scores.ScoreRow),
}
