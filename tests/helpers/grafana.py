"""What Grafana does to a dashboard's SQL before a datasource runs it, in Python, so tests need no Grafana.

Order, as in Grafana with the official ClickHouse plugin (grafana-clickhouse-datasource):
1. `$__conditionalAll(condition, $var)` (ClickHouse only; the plugin's frontend, before variables): the condition
   when the variable has a selection, `1=1` when its current value is "All" (`$__all`) or empty. The arguments
   split at the first comma outside parentheses; the condition is kept verbatim.
2. Grafana's variable interpolation: `$name`, `${name}`, `${name:format}`. A single-value variable gives its
   value as is (the dashboards put it inside quotes); formats: `singlequote` ('a','b', a quote escaped as \\'),
   `sqlstring` ('a','b', a quote doubled), `csv`, `raw`. "All" (`$__all`, no custom all value) stands for every
   option of the variable. Names starting with `__` are not variables here (macros, data-link fields).
3. The datasource's macros, from the panel's time range and interval:
   ClickHouse (pkg/macros/macros.go of the plugin):
     `$__timeFilter(c)`   -> `c >= toDateTime(<from s>) AND c <= toDateTime(<to s>)`
     `$__timeFilter_ms(c)`-> `c >= fromUnixTimestamp64Milli(<from ms>) AND c <= fromUnixTimestamp64Milli(<to ms>)`
     `$__fromTime` / `$__toTime` -> `toDateTime(<s>)`
     `$__timeInterval(c)` -> `toStartOfInterval(toDateTime(c), INTERVAL <max(interval s, 1)> second)`
     `$__interval_s`      -> `<max(interval s, 1)>` (whole seconds)
   PostgreSQL (Grafana's grafana-postgresql-datasource):
     `$__timeFilter(c)`   -> `c BETWEEN '<from RFC 3339>' AND '<to RFC 3339>'`
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD_DIR = ROOT / "dashboards" / "benchlab"
CLICKHOUSE = "grafana-clickhouse-datasource"
POSTGRES = "grafana-postgresql-datasource"
ALL = "$__all"

# Grafana's variable syntax (public/app/features/variables/utils.ts), without the deprecated [[name]] form.
VARIABLE = re.compile(r"\$(\w+)|\$\{(\w+)(?::([^}]+))?\}")


def load_dashboards() -> dict[str, dict[str, Any]]:
    return {path.name: json.loads(path.read_text()) for path in sorted(DASHBOARD_DIR.glob("*.json"))}


def datasource_type(ref: Any, dashboard: dict[str, Any]) -> str:
    """The plugin a `{"type", "uid": "${ch}"}` reference resolves to (the datasource variable's plugin)."""
    uid = ref["uid"]
    name = uid[2:-1] if uid.startswith("${") else uid
    for variable in dashboard["templating"]["list"]:
        if variable["type"] == "datasource" and variable["name"] == name:
            return str(variable["query"])
    raise KeyError(f"datasource {uid} is not a datasource variable")


def panel_queries(dashboard: dict[str, Any]) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
    for panel in dashboard["panels"]:
        for target in panel.get("targets", []):
            yield panel, target


def variable_sql(variable: dict[str, Any]) -> str:
    query = variable["query"]
    return str(query["rawSql"] if isinstance(query, dict) else query)


@dataclass
class Selection:
    """A variable's current value: some values, or "All" (every option)."""

    values: list[str]
    options: list[str] = field(default_factory=list)
    multi: bool = False

    @property
    def is_all(self) -> bool:
        return self.values == [ALL]

    def expanded(self) -> list[str]:
        return list(self.options) if self.is_all else list(self.values)


@dataclass
class TimeRange:
    start: datetime
    end: datetime
    interval_s: float = 60.0


def conditional_all(sql: str, selections: dict[str, Selection]) -> str:
    macro = "$__conditionalAll("
    while (start := sql.rfind(macro)) != -1:
        args, end = _macro_args(sql, start + len(macro) - 1)
        if len(args) != 2:
            raise ValueError(f"$__conditionalAll takes 2 arguments: {sql[start:end]}")
        found = VARIABLE.search(args[1].strip())
        phrase = args[0]
        if found:
            selection = selections[found.group(1) or found.group(2)]
            if selection.is_all or selection.values in ([], [""]):
                phrase = "1=1"
        sql = sql[:start] + phrase + sql[end:]
    return sql


def interpolate(text: str, selections: dict[str, Selection]) -> str:
    def replace(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2)
        if name.startswith("__"):
            return match.group(0)
        selection = selections[name]  # KeyError: a reference to a variable the dashboard lacks
        return _format(selection, match.group(3))

    return VARIABLE.sub(replace, text)


def _format(selection: Selection, fmt: str | None) -> str:
    values = selection.expanded()
    if fmt == "singlequote":
        return ",".join("'" + v.replace("'", "\\'") + "'" for v in values)
    if fmt == "sqlstring":
        return ",".join("'" + v.replace("'", "''") + "'" for v in values)
    if fmt in (None, "raw", "csv"):
        if fmt is None and (selection.multi or selection.is_all) and len(values) != 1:
            # SQL datasources quote multi-value variables by default; the dashboards never rely on it.
            return ",".join("'" + v.replace("'", "''") + "'" for v in values)
        return ",".join(values)
    raise ValueError(f"format {fmt!r} is not implemented here")


def clickhouse_macros(sql: str, time: TimeRange) -> str:
    start, end = int(time.start.timestamp()), int(time.end.timestamp())
    interval = max(int(time.interval_s), 1)
    sql = re.sub(r"\$__timeFilter_ms\(([^)]*)\)", lambda m: (
        f"{m[1]} >= fromUnixTimestamp64Milli({int(time.start.timestamp() * 1000)}) AND "
        f"{m[1]} <= fromUnixTimestamp64Milli({int(time.end.timestamp() * 1000)})"), sql)
    sql = re.sub(r"\$__timeFilter\(([^)]*)\)",
                 lambda m: f"{m[1]} >= toDateTime({start}) AND {m[1]} <= toDateTime({end})", sql)
    sql = re.sub(r"\$__timeInterval\(([^)]*)\)",
                 lambda m: f"toStartOfInterval(toDateTime({m[1]}), INTERVAL {interval} second)", sql)
    sql = re.sub(r"\$__fromTime\b(\(\))?", f"toDateTime({start})", sql)
    sql = re.sub(r"\$__toTime\b(\(\))?", f"toDateTime({end})", sql)
    sql = re.sub(r"\$__interval_s\b", str(interval), sql)
    if "$__" in sql:
        raise ValueError(f"a macro is not implemented here: {sql}")
    return sql


def postgres_macros(sql: str, time: TimeRange) -> str:
    def rfc3339(moment: datetime) -> str:
        return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

    sql = re.sub(r"\$__timeFilter\(([^)]*)\)",
                 lambda m: f"{m[1]} BETWEEN '{rfc3339(time.start)}' AND '{rfc3339(time.end)}'", sql)
    if "$__" in sql:
        raise ValueError(f"a macro is not implemented here: {sql}")
    return sql


def expand(sql: str, plugin: str, selections: dict[str, Selection], time: TimeRange) -> str:
    """A panel's or variable's SQL as the datasource receives it."""
    if plugin == CLICKHOUSE:
        return clickhouse_macros(interpolate(conditional_all(sql, selections), selections), time)
    if plugin == POSTGRES:
        return postgres_macros(interpolate(sql, selections), time)
    raise ValueError(plugin)


def _macro_args(sql: str, open_paren: int) -> tuple[list[str], int]:
    """The arguments of a macro call whose `(` is at `open_paren` (split at top-level commas) and its end."""
    depth, args, current = 0, [], []
    for index in range(open_paren, len(sql)):
        char = sql[index]
        if char == "(":
            depth += 1
            if depth == 1:
                continue
        elif char == ")":
            depth -= 1
            if depth == 0:
                args.append("".join(current))
                return args, index + 1
        elif char == "," and depth == 1:
            args.append("".join(current))
            current = []
            continue
        current.append(char)
    raise ValueError(f"unbalanced macro call: {sql[open_paren:]}")


def variable_references(text: str) -> list[tuple[str, str | None, int]]:
    """(name, format, offset) of each variable reference, macros and `__` names excluded."""
    found = []
    for match in VARIABLE.finditer(text):
        name = match.group(1) or match.group(2)
        if not name.startswith("__"):
            found.append((name, match.group(3), match.start()))
    return found


def strings(node: Any) -> Iterator[str]:
    """Every string in a JSON document."""
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for value in node.values():
            yield from strings(value)
    elif isinstance(node, Sequence):
        for value in node:
            yield from strings(value)
