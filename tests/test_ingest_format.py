"""The ingest wire format v1 (JSON lines): exact round trips, one precise message per bad row, and agreement
with the real migrated ClickHouse tables (chDB): columns, types, ranges, defaults, and an insert read back."""

from __future__ import annotations

import json
import random
import re
import struct
import time
import uuid
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from benchlab.errors import InvalidInputError
from benchlab.stores import request_events, scores
from benchlab.stores.clickhouse import ClickHouseStore
from benchlab.stores.clickhouse_migrations import migrate_clickhouse
from benchlab.stores.ingest_format import (
    FORMAT_VERSION,
    TABLES,
    DecodedBatch,
    IngestColumn,
    IngestFormatError,
    IngestTable,
    Kind,
    RejectedRow,
    decode_batch,
    encode_rows,
)
from benchlab.stores.request_events import RequestEvent
from benchlab.stores.scores import ScoreRow

EVENTS = TABLES["request_events"]
SCORES = TABLES["scores"]
PROJECT = uuid.UUID("6f1c2b1e-0d4a-4c55-9a51-2c7d3f0e9b10")
RUN = uuid.UUID("0b7c9a4e-51f2-4c1d-8d7e-3a9f6e2b1c08")
EXPERIMENT = uuid.UUID("9e3d1f20-7a6b-4f0e-b2c4-5d8e9f0a1b2c")
PASS = uuid.UUID("2a4b6c8d-1e3f-4a5b-9c7d-0e1f2a3b4c5d")
BASE_TS = datetime(2025, 3, 4, 5, 6, 7, 123456, tzinfo=UTC)
DOC = Path(__file__).resolve().parents[1] / "docs" / "ingest.md"


def f32(value: float) -> float:
    """The value as Float32 stores it, so a row read back from ClickHouse compares equal."""
    return float(struct.unpack("<f", struct.pack("<f", value))[0])


def event(n: int, rng: random.Random | None = None, **overrides: Any) -> RequestEvent:
    """A realistic engine row: measured floats at full precision, a ~200-character answer with non-ASCII text."""
    rng = rng or random.Random(n)
    gaps = [rng.uniform(4, 40) for _ in range(12)]
    values: dict[str, Any] = dict(
        project_id=PROJECT, run_id=RUN, experiment_id=EXPERIMENT, event_id=uuid.uuid5(RUN, f"item-{n}/0"),
        item_id=f"item-{n}", repetition=n % 3, attempt=1, provider="openai", model="gpt-4o-mini",
        prompt_version="v3", params_hash="a1b2c3", source="experiment", load_phase="main",
        ts=BASE_TS + timedelta(milliseconds=n * 37, microseconds=n), in_window=n % 5 != 0,
        run_offset_s=n * 0.0371, first_on_connection=n == 0, queue_delay_ms=rng.uniform(0, 2),
        ttft_ms=rng.uniform(80, 900), ttfot_ms=rng.uniform(80, 900), e2e_ms=rng.uniform(900, 4000),
        e2e_from_intended_ms=rng.uniform(900, 4000), stream_end_ms=rng.uniform(900, 4000),
        tpot_ms=sum(gaps) / len(gaps), inter_event_ms=gaps, tokens_per_event=[rng.randint(1, 3) for _ in gaps],
        prompt_tokens=420 + n, completion_tokens=57, reasoning_tokens=0, cached_tokens=128,
        tokens_estimated=False, cost_usd=rng.uniform(0, 0.01), cost_known=True, status="ok", error_type="",
        http_status=200, finish_reason="stop",
        output=("Réponse n°" + str(n) + " — the capital is Paris.\n\t\"quoted\" \\ 東京 😀 " * 4)[:200],
        tool_calls=json.dumps([{"id": "c1", "name": "lookup", "arguments": '{"q": "x"}'}]) if n % 2 else "",
        error_message="")
    values.update(overrides)
    return RequestEvent(**values)


def score(n: int, name: str = "exact", **overrides: Any) -> ScoreRow:
    values: dict[str, Any] = dict(
        project_id=PROJECT, run_id=RUN, experiment_id=EXPERIMENT, pass_id=PASS,
        event_id=uuid.uuid5(RUN, f"item-{n}/0"), ts=BASE_TS + timedelta(seconds=n), item_id=f"item-{n}",
        repetition=0, load_phase="main", model="gpt-4o-mini", prompt_version="v3", params_hash="a1b2c3",
        evaluator=name, evaluator_type="deterministic", score_name=name, weight=1.0, value=n % 2 * 1.0,
        passed=n % 2 == 1, label="", reason=f"expected 'Paris', got 'Lyon' ({n})", reference='{"label": "x"}',
        counterpart="", judge_model="gpt-4o", judge_cached=n % 3 == 0, judge_prompt_tokens=311,
        judge_completion_tokens=12, judge_cost_usd=0.000213 * n, judge_latency_ms=812.25)
    values.update(overrides)
    return ScoreRow(**values)


def minimal_event(n: int = 1, **extra: Any) -> dict[str, Any]:
    return {"project_id": str(PROJECT), "event_id": str(uuid.uuid5(RUN, f"min-{n}")),
            "ts": "2025-03-04T05:06:07.123456Z", **extra}


def lines(*objects: Any) -> bytes:
    return b"".join((o if isinstance(o, bytes) else json.dumps(o).encode()) + b"\n" for o in objects)


def decode(body: bytes, table: IngestTable = EVENTS, **kwargs: Any) -> DecodedBatch:
    return decode_batch(table, body, max_rows=kwargs.pop("max_rows", 1000), **kwargs)


def single_error(line: bytes | dict[str, Any], table: IngestTable = EVENTS) -> str:
    """The message for one bad line sent between two good rows, checking that both good rows are kept."""
    good = [minimal_event(100), minimal_event(101)] if table is EVENTS else [
        json.loads(encode_rows(SCORES, [score(100).as_row()])), json.loads(encode_rows(SCORES, [score(101).as_row()]))]
    batch = decode(lines(good[0], line, good[1]), table)
    assert [r[table.columns.index("event_id")] for r in batch.rows] == [uuid.UUID(g["event_id"]) for g in good]
    assert [r.line for r in batch.rejected] == [2] and batch.lines == 3
    return batch.rejected[0].error


# --- the shape of the tables ---------------------------------------------------------------------------------------

def test_columns_follow_the_row_types_and_the_required_columns_are_the_documented_ones() -> None:
    assert FORMAT_VERSION == 1
    assert set(TABLES) == {"request_events", "scores"}
    assert EVENTS.name == request_events.TABLE and EVENTS.columns == request_events.COLUMNS
    assert SCORES.name == scores.TABLE and SCORES.columns == scores.COLUMNS
    assert EVENTS.required == {"project_id", "event_id", "ts"}
    assert SCORES.required == {"project_id", "run_id", "pass_id", "event_id", "ts", "evaluator", "score_name",
                               "value"}
    assert EVENTS.kinds["attempt"] is Kind.INT and EVENTS.specs["attempt"].maximum == 255
    assert EVENTS.kinds["tokens_per_event"] is Kind.INT_LIST and EVENTS.specs["tokens_per_event"].maximum == 65535
    assert EVENTS.kinds["inter_event_ms"] is Kind.FLOAT_LIST and EVENTS.kinds["ts"] is Kind.DATETIME
    assert EVENTS.defaults == {**{name: spec.default for name, spec in EVENTS.specs.items() if not spec.required},
                               "attempt": 1, "source": "experiment", "load_phase": "main", "in_window": True,
                               "cost_known": True}


def test_left_out_columns_take_the_tables_defaults() -> None:
    [row] = decode(lines(minimal_event(1))).rows
    values = dict(zip(EVENTS.columns, row, strict=True))
    assert values["ts"] == datetime(2025, 3, 4, 5, 6, 7, 123456, tzinfo=UTC) and values["ts"].tzinfo is not None
    assert (values["attempt"], values["source"], values["load_phase"], values["in_window"],
            values["cost_known"]) == (1, "experiment", "main", True, True)
    assert values["run_id"] == uuid.UUID(int=0) and values["ttft_ms"] == 0.0 and values["output"] == ""
    assert values["inter_event_ms"] == values["tokens_per_event"] == [] and values["first_on_connection"] is False
    assert type(values["ttft_ms"]) is float and type(values["prompt_tokens"]) is int


# --- round trips ---------------------------------------------------------------------------------------------------

def test_engine_rows_round_trip_exactly() -> None:
    rows = [event(n).as_row() for n in range(200)]
    rows.append(event(200, output="", tool_calls="", inter_event_ms=[], tokens_per_event=[], status="error",
                      error_type="timeout", error_message="read timed out after 60 s", http_status=0,
                      cost_known=False, cost_usd=0.0, ts=datetime(2025, 3, 4, 7, 6, 7, tzinfo=timezone(
                          timedelta(hours=2)))).as_row())
    body = encode_rows(EVENTS, rows)
    assert body.endswith(b"\n") and body.count(b"\n") == len(rows) and body.isascii()
    batch = decode(body)
    assert batch.rejected == [] and batch.lines == len(rows)
    assert batch.rows == [tuple(r) for r in rows]
    assert all(r[EVENTS.columns.index("ts")].tzinfo is UTC for r in batch.rows)
    score_rows = [score(n, name).as_row() for n in range(50) for name in ("exact", "judge")]
    assert decode(encode_rows(SCORES, score_rows), SCORES).rows == score_rows


def test_float_extremes_and_unicode_round_trip() -> None:
    rows = [event(1, cost_usd=5e-324, run_offset_s=1.7976931348623157e308, ttft_ms=3.4028234663852886e38,
                  inter_event_ms=[0.1, 1e-45, 123456.789], output="\x00\u2028\U0001f600 \"\\ \r\n",
                  repetition=4294967295, attempt=255, http_status=65535).as_row()]
    assert decode(encode_rows(EVENTS, rows)).rows == rows


def test_encoding_refuses_values_the_format_cannot_carry() -> None:
    with pytest.raises(ValueError, match="naive datetime"):
        encode_rows(EVENTS, [event(1, ts=datetime(2025, 1, 1)).as_row()])
    with pytest.raises(ValueError):
        encode_rows(EVENTS, [event(1, ttft_ms=float("nan")).as_row()])
    with pytest.raises(ValueError):  # a row with a column missing
        encode_rows(EVENTS, [event(1).as_row()[:-1]])


def test_a_split_surrogate_pair_still_encodes_and_arrives_joined() -> None:
    # A provider's emoji split between two stream chunks leaves two lone surrogates in the engine's text.
    [row] = decode(encode_rows(EVENTS, [event(1, output="a\ud83d" + "\ude00b").as_row()])).rows
    assert row[EVENTS.columns.index("output")] == "a\U0001f600b"


# --- rejected rows -------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("line", "message"), [
    (b'{"project_id": "6f1c2b1e-0d4a-4c55-9a51-2c7d3f0e9b10", "event_id": }',
     "invalid JSON at column 68: Expecting value"),
    (b"[1, 2, 3]", "expected a JSON object (one row per line), got an array"),
    (b'"just a string"', "expected a JSON object (one row per line), got a string"),
    (minimal_event(7, ttft=12.5), "unknown column 'ttft' (did you mean 'ttft_ms'?)"),
    (minimal_event(7, zzz_qqq=1), "unknown column 'zzz_qqq'; the columns of request_events are in docs/ingest.md"),
    ({"project_id": str(PROJECT), "event_id": str(uuid.uuid4())}, "ts: required"),
    (minimal_event(7, ttft_ms="12.5"), "ttft_ms: expected a number, got a string '12.5'"),
    (minimal_event(7, ttft_ms=True), "ttft_ms: expected a number, got a boolean true"),
    (minimal_event(7, output=42), "output: expected a string, got a number 42"),
    (minimal_event(7, in_window=1), "in_window: expected true or false, got a number 1"),
    (minimal_event(7, in_window="true"), "in_window: expected true or false, got a string 'true'"),
    (minimal_event(7, in_window=None), "in_window: expected true or false, got null (leave the key out to use the "
                                       "default true)"),
    (minimal_event(7, attempt=256), "attempt: 256 is out of range for UInt8 (0 to 255)"),
    (minimal_event(7, prompt_tokens=-1), "prompt_tokens: -1 is out of range for UInt32 (0 to 4294967295)"),
    (minimal_event(7, repetition=3.0), "repetition: expected an integer, got 3.0 (write integers without a "
                                       "fraction or exponent)"),
    (minimal_event(7, repetition="3"), "repetition: expected an integer, got a string '3'"),
    (minimal_event(7, http_status=10 ** 50), "http_status: 1000000000000000000000000000000000000000... (51 digits) "
                                             "is out of range for UInt16 (0 to 65535)"),
    (b'{"project_id": "6f1c2b1e-0d4a-4c55-9a51-2c7d3f0e9b10", "event_id": "5f1c2b1e-0d4a-4c55-9a51-2c7d3f0e9b10", '
     b'"ts": "2025-03-04T05:06:07Z", "ttft_ms": NaN}', "ttft_ms: NaN is not allowed: send a finite number"),
    (b'{"project_id": "6f1c2b1e-0d4a-4c55-9a51-2c7d3f0e9b10", "event_id": "5f1c2b1e-0d4a-4c55-9a51-2c7d3f0e9b10", '
     b'"ts": "2025-03-04T05:06:07Z", "cost_usd": 1e400}', "cost_usd: Infinity is not allowed: send a finite number"),
    (b'{"project_id": "6f1c2b1e-0d4a-4c55-9a51-2c7d3f0e9b10", "event_id": "5f1c2b1e-0d4a-4c55-9a51-2c7d3f0e9b10", '
     b'"ts": "2025-03-04T05:06:07Z", "e2e_ms": -Infinity}', "e2e_ms: -Infinity is not allowed: send a finite number"),
    (minimal_event(7, ttft_ms=1e39), "ttft_ms: 1e+39 is out of range for Float32 (at most ±3.402823e+38)"),
    (minimal_event(7, ts="2025-03-04T05:06:07"), "ts: '2025-03-04T05:06:07' has no UTC offset: add 'Z' (UTC) or the "
                                                 "offset, e.g. '+02:00'"),
    (minimal_event(7, ts="2025-03-04"), "ts: '2025-03-04' has no UTC offset"),
    (minimal_event(7, ts="yesterday at noon"), "ts: 'yesterday at noon' is not an ISO 8601 timestamp (e.g. "
                                               "'2025-03-04T05:06:07.123456Z')"),
    (minimal_event(7, ts=1741064767), "ts: expected an ISO 8601 timestamp string, got a number 1741064767"),
    (minimal_event(7, ts="1800-01-01T00:00:00Z"), "ts: '1800-01-01T00:00:00Z' is outside the storable range"),
    (minimal_event(7, run_id="not-a-uuid"), "run_id: 'not-a-uuid' is not a UUID (write it as 8-4-4-4-12 hex "
                                            "digits, e.g. '00000000-0000-0000-0000-000000000000')"),
    (minimal_event(7, run_id=RUN.hex), f"run_id: '{RUN.hex}' is not a UUID"),
    (minimal_event(7, run_id="{" + str(RUN)[1:] + "}"), "is not a UUID"),
    (minimal_event(7, run_id=RUN.int), "run_id: expected a UUID string, got a number"),
    (minimal_event(7, tokens_per_event=[1, 70000]), "tokens_per_event[1]: 70000 is out of range for UInt16 "
                                                    "(0 to 65535)"),
    (minimal_event(7, tokens_per_event=[1, 2.5]), "tokens_per_event[1]: expected an integer, got 2.5"),
    (minimal_event(7, tokens_per_event=[True]), "tokens_per_event[0]: expected an integer, got a boolean true"),
    (minimal_event(7, tokens_per_event=5), "tokens_per_event: expected an array of integers, got a number 5"),
    (minimal_event(7, inter_event_ms=[1, "2"]), "inter_event_ms[1]: expected a number, got a string '2'"),
    (minimal_event(7, inter_event_ms=[1.5, 4e38]), "inter_event_ms[1]: 4e+38 is out of range for Float32"),
    (b'{"project_id": "6f1c2b1e-0d4a-4c55-9a51-2c7d3f0e9b10", "event_id": "5f1c2b1e-0d4a-4c55-9a51-2c7d3f0e9b10", '
     b'"ts": "2025-03-04T05:06:07Z", "inter_event_ms": [1.5, NaN]}', "inter_event_ms[1]: NaN is not allowed"),
    (b'{"project_id": "6f1c2b1e-0d4a-4c55-9a51-2c7d3f0e9b10", "event_id": "5f1c2b1e-0d4a-4c55-9a51-2c7d3f0e9b10", '
     b'"ts": "2025-03-04T05:06:07Z", "output": "ok \\ud83d then"}', "output: contains an unpaired UTF-16 surrogate"),
    (b"[" * 100_000, "invalid JSON"),
    (b"1" * 5000, "invalid JSON: Exceeds the limit (4300 digits)"),
])
def test_a_bad_row_is_rejected_alone_with_a_precise_message(line: bytes | dict[str, Any], message: str) -> None:
    assert message in single_error(line)


def test_messages_quote_at_most_forty_characters_of_a_bad_value() -> None:
    long_text = "x" * 10_000
    for bad in (minimal_event(7, ttft_ms=long_text), minimal_event(7, run_id=long_text),
                minimal_event(7, ts=long_text), minimal_event(7, **{long_text: 1}),
                minimal_event(7, inter_event_ms=[long_text]), minimal_event(7, tokens_per_event=[[1] * 5000])):
        error = single_error(bad)
        assert "x" * 40 in error or "[1, 1" in error
        assert "x" * 41 not in error and len(error) < 250, error
    assert "'" + "x" * 40 + "'... (10000 chars)" in single_error(minimal_event(7, ttft_ms=long_text))


def test_every_problem_of_a_row_is_reported_at_once() -> None:
    error = single_error({"project_id": "nope", "ttft": 1, "attempt": -1, "ts": "2025-01-01T00:00:00"})
    assert error == ("unknown column 'ttft' (did you mean 'ttft_ms'?); event_id: required; project_id: 'nope' is "
                     "not a UUID (write it as 8-4-4-4-12 hex digits, e.g. '00000000-0000-0000-0000-000000000000'); "
                     "attempt: -1 is out of range for UInt8 (0 to 255); ts: '2025-01-01T00:00:00' has no UTC offset: "
                     "add 'Z' (UTC) or the offset, e.g. '+02:00'")
    many = single_error({f"unknown_{i}": i for i in range(9)})
    assert many.count("unknown column") == 5 and many.endswith("and 7 more problems")


def test_a_line_longer_than_the_limit_is_rejected_without_being_parsed() -> None:
    long_row = json.dumps(minimal_event(2, output="é" * 600)).encode()  # 1200 bytes of text, 600 characters
    batch = decode(lines(minimal_event(1), long_row, minimal_event(3)), max_line_bytes=1000)
    assert [r.line for r in batch.rejected] == [2] and len(batch.rows) == 2
    assert batch.rejected[0].error == (f"the line is {len(long_row)} bytes, more than the limit of 1000 bytes per "
                                       "row; shorten its texts")
    assert decode(lines(minimal_event(1), long_row), max_line_bytes=len(long_row)).rejected == []


def test_duplicate_rows_in_one_batch_are_rejected_and_name_the_first() -> None:
    first = minimal_event(1)
    again = {**first, "event_id": first["event_id"].upper(), "ttft_ms": 5}  # the same UUID in another case
    batch = decode(lines(first, minimal_event(2), b"", again))
    assert len(batch.rows) == 2 and batch.lines == 3
    assert batch.rejected == [RejectedRow(4, "duplicate of line 1: the same event_id; send each row once")]
    rows = [score(1, "exact").as_row(), score(1, "judge").as_row(), score(2, "exact").as_row(),
            score(1, "exact", value=0.5).as_row()]
    batch = decode(encode_rows(SCORES, rows), SCORES)
    assert batch.rows == rows[:3]
    assert batch.rejected == [RejectedRow(4, "duplicate of line 1: the same pass_id, event_id, evaluator, "
                                             "score_name; send each row once")]


def test_scores_rows_are_checked_against_their_own_columns() -> None:
    row = json.loads(encode_rows(SCORES, [score(7).as_row()]))
    del row["value"]
    assert single_error(row, SCORES) == "value: required"
    assert single_error({**json.loads(encode_rows(SCORES, [score(7).as_row()])), "ttft_ms": 1}, SCORES) == (
        "unknown column 'ttft_ms'; the columns of scores are in docs/ingest.md")


def test_a_mixed_batch_keeps_its_good_rows_in_order_with_line_numbers_counting_blank_lines() -> None:
    body = (b"\xef\xbb\xbf" + json.dumps(minimal_event(1)).encode() + b"\r\n\r\n"
            + b"{oops\n   \n"
            + json.dumps(minimal_event(2, ts="2025-03-04T07:06:07.5+02:00", attempt=2)).encode() + b"\n"
            + json.dumps(minimal_event(3, attempt=999)).encode() + b"\n\n"
            + json.dumps(minimal_event(4, ts="2025-03-04T05:06:07.1234567z")).encode())  # no trailing newline
    batch = decode(body)
    assert batch.lines == 5
    event_ids = [row[EVENTS.columns.index("event_id")] for row in batch.rows]
    assert event_ids == [uuid.uuid5(RUN, f"min-{n}") for n in (1, 2, 4)]
    assert [(r.line, r.error.split(":")[0]) for r in batch.rejected] == [(3, "invalid JSON at column 2"),
                                                                        (6, "attempt")]
    assert batch.row_lines == [1, 5, 8]
    ts = [row[EVENTS.columns.index("ts")] for row in batch.rows]
    assert ts[1] == datetime(2025, 3, 4, 5, 6, 7, 500000, tzinfo=UTC) and ts[1].utcoffset() == timedelta(0)
    assert ts[2] == datetime(2025, 3, 4, 5, 6, 7, 123456, tzinfo=UTC)


def test_uppercase_uuids_and_integers_in_float_columns_are_accepted() -> None:
    [row] = decode(lines(minimal_event(1, run_id=str(RUN).upper(), ttft_ms=12, inter_event_ms=[1, 2.5]))).rows
    values = dict(zip(EVENTS.columns, row, strict=True))
    assert values["run_id"] == RUN
    assert values["ttft_ms"] == 12.0 and type(values["ttft_ms"]) is float
    assert values["inter_event_ms"] == [1.0, 2.5] and all(type(v) is float for v in values["inter_event_ms"])


# --- whole-batch errors --------------------------------------------------------------------------------------------

def test_a_body_that_is_not_utf8_is_refused_naming_the_byte_offset() -> None:
    body = lines(minimal_event(1)) + b'{"output": "caf\xe9"}\n'
    with pytest.raises(IngestFormatError) as caught:
        decode(body)
    offset = body.index(b"\xe9")
    assert str(caught.value) == (f"the body is not valid UTF-8: invalid continuation byte at byte offset {offset} "
                                 "(line 2); send the rows as UTF-8 JSON lines")
    assert isinstance(caught.value, InvalidInputError) and caught.value.extensions == {"offset": offset}


def test_too_many_rows_or_none_at_all_refuse_the_whole_batch() -> None:
    body = lines(*(minimal_event(n) for n in range(4)), b"", b"  ")
    assert len(decode(body, max_rows=4).rows) == 4  # blank lines do not count
    with pytest.raises(IngestFormatError, match=r"^the batch holds 4 rows, more than the limit of 3 rows per batch; "
                                                r"split the batch into smaller ones$"):
        decode(body, max_rows=3)
    for empty in (b"", b"\n\n", b" \r\n"):
        with pytest.raises(IngestFormatError, match="the body holds no rows"):
            decode(empty)


# --- the real tables -----------------------------------------------------------------------------------------------

@pytest.fixture
async def migrated(clickhouse: ClickHouseStore, pg: asyncpg.Connection) -> ClickHouseStore:
    await migrate_clickhouse(clickhouse, pg)
    return clickhouse


def as_utc(row: Any) -> tuple[Any, ...]:
    """A row as the driver reads it, its DateTime64 values (naive, in UTC) made aware to compare with ours."""
    return tuple(v.replace(tzinfo=UTC) if isinstance(v, datetime) and v.tzinfo is None else v for v in row)


def int_range(clickhouse_type: str) -> tuple[int, int] | None:
    match = re.fullmatch(r"(?:Array\()?UInt(\d+)\)?", clickhouse_type)
    return (0, 2 ** int(match[1]) - 1) if match else None


@pytest.mark.parametrize("table", sorted(TABLES))
async def test_the_module_agrees_with_the_migrated_clickhouse_table(migrated: ClickHouseStore, table: str) -> None:
    spec = TABLES[table]
    result = await migrated.query(
        "SELECT name, type, default_kind, default_expression FROM system.columns "
        "WHERE database = currentDatabase() AND table = {t:String} ORDER BY position", {"t": table}, caller="tests")
    columns = {name: (type_, kind, expression) for name, type_, kind, expression in result.rows}
    assert set(columns) == set(spec.columns)
    for name, (clickhouse_type, default_kind, expression) in columns.items():
        column: IngestColumn = spec.specs[name]
        assert column.clickhouse_type == clickhouse_type, name
        if int_range(clickhouse_type):
            assert (column.minimum, column.maximum) == int_range(clickhouse_type), name
        assert default_kind in ("", "DEFAULT"), name
        if expression:  # ClickHouse evaluates the DDL's own expression
            evaluated = await migrated.query(f"SELECT CAST(({expression}) AS {clickhouse_type})", caller="tests")
            assert not column.required and column.default == evaluated.rows[0][0], name

    # What ClickHouse fills in for left-out columns (DDL defaults and the types' zero values) is what we fill in.
    required = [name for name in spec.columns if name in spec.required]
    sent = {"project_id": PROJECT, "run_id": RUN, "pass_id": PASS, "event_id": uuid.uuid4(), "ts": BASE_TS,
            "evaluator": "exact", "score_name": "exact", "value": 1.0}
    await migrated.insert(table, [tuple(sent[name] for name in required)], required, caller="tests")
    stored = await migrated.query(f"SELECT {', '.join(spec.columns)} FROM {table}", caller="tests")
    [decoded] = decode(lines({name: str(sent[name]) if isinstance(sent[name], uuid.UUID) else
                              sent[name].isoformat() if isinstance(sent[name], datetime) else sent[name]
                              for name in required}), spec).rows
    assert dict(zip(spec.columns, as_utc(stored.rows[0]), strict=True)) == dict(zip(spec.columns, decoded,
                                                                                    strict=True))


async def test_a_decoded_batch_inserts_into_the_real_tables_and_reads_back_equal(migrated: ClickHouseStore) -> None:
    rng = random.Random(7)
    rows = [event(n, rng, queue_delay_ms=f32(0.5), ttft_ms=f32(rng.uniform(80, 900)), ttfot_ms=f32(123.25),
                  e2e_ms=f32(987.5), e2e_from_intended_ms=f32(988.0), stream_end_ms=f32(990.125),
                  tpot_ms=f32(17.3), inter_event_ms=[f32(rng.uniform(1, 50)) for _ in range(20)]).as_row()
            for n in range(300)]
    body = encode_rows(EVENTS, rows) + b'{"project_id": "x"}\n'
    batch = decode(body)
    assert [r.line for r in batch.rejected] == [301] and len(batch.rows) == 300
    assert await migrated.insert(EVENTS.name, batch.rows, EVENTS.columns, caller="tests") == 300
    stored = await migrated.query(f"SELECT {', '.join(EVENTS.columns)} FROM request_events ORDER BY item_id",
                                  caller="tests")
    assert sorted(map(as_utc, stored.rows)) == sorted(rows)

    score_rows = [score(n, name, judge_latency_ms=f32(812.3)).as_row() for n in range(100) for name in ("a", "b")]
    batch = decode(encode_rows(SCORES, score_rows), SCORES)
    await migrated.insert(SCORES.name, batch.rows, SCORES.columns, caller="tests")
    stored = await migrated.query(f"SELECT {', '.join(SCORES.columns)} FROM scores", caller="tests")
    assert sorted(map(as_utc, stored.rows)) == sorted(score_rows)


# --- the documentation ---------------------------------------------------------------------------------------------

def doc_row(column: IngestColumn) -> list[str]:
    """A column's row in docs/ingest.md (the cells the module decides; the last cell, its meaning, is prose)."""
    default = "**required**" if column.required else f"`{column.default_json}`"
    return [f"`{column.name}`", column.json_type, f"`{column.clickhouse_type}`", default]


def documented_rows(table: str) -> list[list[str]]:
    text = DOC.read_text(encoding="utf-8")
    section = text.split(f"\n### `{table}` columns\n", 1)[1].split("\n#", 1)[0]
    return [[cell.strip() for cell in line.strip().strip("|").split("|")][:4]
            for line in section.splitlines() if line.startswith("| `")]


@pytest.mark.parametrize("table", sorted(TABLES))
def test_the_docs_list_exactly_the_modules_columns(table: str) -> None:
    expected = [doc_row(TABLES[table].specs[name]) for name in TABLES[table].columns]
    table_text = "\n".join("| " + " | ".join(cells) + " | |" for cells in expected)
    assert documented_rows(table) == expected, f"docs/ingest.md: the {table} table should read:\n{table_text}"


def test_the_docs_example_answer_is_what_the_format_says() -> None:
    text = DOC.read_text(encoding="utf-8")
    body = text.split("--data-binary @- <<'EOF'\n", 1)[1].split("EOF\n", 1)[0]
    answer = json.loads(text.split("<!-- example-answer -->\n```json\n", 1)[1].split("```", 1)[0])
    batch = decode(body.encode())
    assert answer["format"] == FORMAT_VERSION and answer["table"] == "request_events"
    assert answer["accepted"] == len(batch.rows)
    assert answer["rejected"] == [{"line": r.line, "error": r.error} for r in batch.rejected]


def test_rows_of_made_up_keys_are_rejected_quickly() -> None:
    """"Did you mean" costs ~0.1 ms a key: a batch of distinct made-up keys must not cost minutes."""
    body = lines(*({f"made_up_column_{n}_{i}": 1 for i in range(50)} for n in range(5000)))
    started = time.perf_counter()
    batch = decode(body, max_rows=5000)
    assert time.perf_counter() - started < 10
    assert len(batch.rejected) == 5000 and batch.rejected[-1].error.endswith("and 48 more problems")
    assert "docs/ingest.md" in batch.rejected[-1].error
