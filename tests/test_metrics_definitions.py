"""`benchlab.metrics` is the one definition: the README, the schema's descriptions and ClickHouse agree with it."""

from __future__ import annotations

import re
import uuid
from pathlib import Path
from typing import Any

import asyncpg
import graphql
import numpy as np
import pytest

from benchlab.api.schema import export_sdl
from benchlab.api.types.analytics import Metric as MetricEnum
from benchlab.metrics import METRICS, QUANTILE_METHOD, quantile
from benchlab.stores.clickhouse import ClickHouseStore
from benchlab.stores.clickhouse_migrations import migrate_clickhouse
from tests.helpers.event_rows import event_row, table_columns

README = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
RUN_LEVEL_ROWS = {"throughput, goodput", "measurement window"}  # README rows about runs, not request metrics
LEVELS = (0.001, 0.25, 0.5, 0.9, 0.95, 0.99, 0.999, 1.0)


def readme_table() -> dict[str, str]:
    """The "What is measured" table: label -> definition."""
    section = README.split("## What is measured", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\| (.+?) \| (.+) \|$", section, flags=re.M)
    return {label: definition for label, definition in rows if label != "metric"}


def test_the_readme_table_states_each_definition_word_for_word() -> None:
    table = readme_table()
    assert {m.label: table.get(m.label) for m in METRICS.values()} == {m.label: m.definition
                                                                       for m in METRICS.values()}
    assert set(table) - {m.label for m in METRICS.values()} == RUN_LEVEL_ROWS


def test_the_readme_names_the_one_quantile_method() -> None:
    assert QUANTILE_METHOD in " ".join(README.split())


def test_schema_descriptions_are_the_definitions() -> None:
    sdl = export_sdl()
    schema = graphql.build_schema(sdl)
    enum = schema.get_type("Metric")
    assert isinstance(enum, graphql.GraphQLEnumType)
    assert {MetricEnum[name].value: value.description for name, value in enum.values.items()} == {
        name: metric.description for name, metric in METRICS.items()}
    request = schema.get_type("RequestEvent")
    assert isinstance(request, graphql.GraphQLObjectType)
    for name in ("queue_delay_ms", "ttft_ms", "ttfot_ms", "tpot_ms", "e2e_ms", "inter_event_ms"):
        assert request.fields[_camel(name)].description == METRICS[name].meaning
    assert "last token-bearing event − actual send" in METRICS["e2e_ms"].description
    assert "last byte" not in sdl  # E2E ends at the last token-bearing event, everywhere


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.capitalize() for part in rest)


# -- the same rows and the same quantiles in ClickHouse and in Python --------------------------------------------

def varied_rows(rng: np.random.Generator) -> list[dict[str, Any]]:
    """Rows that every condition splits: failures, zero latencies, 0-3 tokens, unknown prices, empty streams."""
    rows = []
    for n in range(600):
        tokens = int(rng.integers(0, 4))
        gaps = [float(g) for g in rng.exponential(8, size=max(tokens - 1, 0))]
        rows.append({
            "n": n, "model": "abc"[n % 3], "status": "error" if rng.random() < 0.15 else "ok",
            "ttft_ms": 0.0 if tokens == 0 else float(rng.gamma(3, 40)),
            "ttfot_ms": 0.0 if tokens == 0 or rng.random() < 0.2 else float(rng.gamma(3, 45)),
            "e2e_ms": 0.0 if tokens == 0 else float(rng.uniform(100, 2000)),
            "e2e_from_intended_ms": 0.0 if tokens == 0 else float(rng.uniform(100, 2500)),
            "queue_delay_ms": float(rng.exponential(3)), "tpot_ms": float(np.mean(gaps)) if gaps else 0.0,
            "inter_event_ms": gaps, "tokens_per_event": [1] * len(gaps), "completion_tokens": tokens,
            "cost_usd": float(rng.uniform(0, 0.01)), "cost_known": bool(rng.random() < 0.8)})
    return rows


async def test_sql_and_python_take_the_same_rows_and_quantiles(clickhouse: ClickHouseStore,
                                                                pg: asyncpg.Connection) -> None:
    await migrate_clickhouse(clickhouse, pg)
    columns = await table_columns(clickhouse)
    rows = varied_rows(np.random.default_rng(17))
    run = uuid.uuid4()
    await clickhouse.insert("request_events", [
        event_row(columns, row["n"], run_id=run, event_id=uuid.uuid5(run, str(row["n"])),
                  **{k: v for k, v in row.items() if k != "n"}) for row in rows], columns, caller="tests")
    levels = ", ".join(repr(level) for level in LEVELS)
    selected = ", ".join(f"{metric.count()}, {metric.quantiles(levels)}" for metric in METRICS.values())
    result = await clickhouse.query(f"SELECT model, {selected} FROM request_events GROUP BY model ORDER BY model",
                                    caller="tests")
    assert [row[0] for row in result.rows] == ["a", "b", "c"]
    for row in result.rows:
        group = [r for r in rows if r["model"] == row[0]]
        for index, metric in enumerate(METRICS.values()):
            counted = [r for r in group if metric.takes(r)]
            values = [v for r in counted for v in r[metric.name]] if metric.array else [r[metric.name]
                                                                                        for r in counted]
            count, quantiles = row[1 + 2 * index], row[2 + 2 * index]
            assert count == len(values) > 0, metric.name
            # Bit for bit, before any rounding: the live progress and the queries compute one number.
            assert [metric.quantile(values, level) for level in LEVELS] == list(quantiles), metric.name
            as_stored = np.asarray(values, dtype=np.float32 if metric.latency else np.float64)
            assert list(quantiles) == pytest.approx(np.quantile(as_stored.astype(np.float64), LEVELS), rel=1e-12)


def test_python_quantile_edges() -> None:
    assert quantile([], 0.5) is None
    assert quantile([7.0], 0.99) == 7.0
    assert quantile([4.0, 1.0, 3.0, 2.0], 0.5) == 2.5  # the mean of the two middle values
    assert quantile([1.0, 2.0], 1.0) == 2.0 and quantile([1.0, 2.0], 0.0) == 1.0
    assert METRICS["ttft_ms"].clean(float("nan")) is None and METRICS["ttft_ms"].clean(12.34567) == 12.346
