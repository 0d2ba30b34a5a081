"""Render a ClickHouse migration statement for where it runs: one node, a replicated cluster, a sharded cluster.

Migration files are written once, for one node (what chDB and the compose file run), and their checksums are
recorded when applied, so they never change: the cluster forms are derived here, at apply time
(docs/clickhouse-cluster.md). The renderer is deliberately small and strict. It understands the statement
shapes migrations use (CREATE TABLE with a *MergeTree engine, ALTER TABLE, DROP TABLE, TRUNCATE TABLE, CREATE
MATERIALIZED VIEW ... TO, INSERT INTO ... SELECT) by regular expressions over the statement with its comments and
quoted text blanked out, and in cluster mode refuses everything else: a statement applied to one node of a
cluster would leave the nodes disagreeing, silently.

Per statement kind, in cluster mode (the cluster name is configured, e.g. `benchlab`):

- CREATE TABLE t: `ON CLUSTER` after the name; `ENGINE = XMergeTree(args)` becomes
  `ReplicatedXMergeTree('/clickhouse/tables/{shard}/{database}/t', '{replica}', args)` (the braces are
  ClickHouse macros, expanded by each server); `non_replicated_deduplication_window` becomes
  `replicated_deduplication_window` (insert deduplication tokens keep working).
- ALTER TABLE t: `ON CLUSTER` after the name.
- DROP TABLE t: `ON CLUSTER` after the name, and `SYNC`, so the table's Keeper metadata is gone before a
  migration creates the table again on the same replication path.
- TRUNCATE TABLE t: `ON CLUSTER` after the name.
- CREATE MATERIALIZED VIEW v TO t AS SELECT ... FROM s: `ON CLUSTER` after the name. Every node has its own view:
  a view sees the inserts made on its node, and the replicated target table copies what it writes. A view with
  its own storage (no TO), POPULATE, or a SELECT reading anything but one table is refused.
- INSERT INTO t ... SELECT (a backfill): unchanged and run once, on the node `migrate` talks to; the replicated
  table copies the rows to the other replicas (ON CLUSTER would insert them once per node).

Sharded, each table is the replicated `t_local` plus a `Distributed` table `t` over it, on the cluster; ALTERs
of columns apply to both (local first), ALTERs of storage (indexes, TTL, settings, mutations) and TRUNCATE to
`t_local` only; DROP drops both (the distributed table first). A materialized view reads `s_local` and writes
`t_local` on every node, so each shard aggregates its own rows and queries through the Distributed `t` merge
the shards' states. An INSERT ... SELECT goes through the Distributed tables (read from every shard, written to
each row's shard by `t`'s sharding key) with `insert_distributed_sync = 1`, so the rows are on their shards when
the migration is recorded.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from benchlab.config import Settings
from benchlab.errors import ConfigError
from benchlab.stores.sql_files import MigrationError, closing_quote

CLUSTER_VARIABLE = "BENCHLAB_CLICKHOUSE_CLUSTER"
CHDB_IS_SINGLE_NODE = ("chDB is a single node; unset BENCHLAB_CLICKHOUSE_CLUSTER or point BENCHLAB_CLICKHOUSE_URL "
                       "at a ClickHouse server")
LOCAL_SUFFIX = "_local"
# Sharding keys of the Distributed tables, by table. Tables not listed that have both project_id and run_id
# use DEFAULT_SHARDING_KEY: a run's rows stay on one shard, so per-run quantiles are computed where they live.
DEFAULT_SHARDING_KEY = "cityHash64(project_id, run_id)"
SHARDING_KEYS: dict[str, str] = {
    "schema_migrations": "cityHash64(version)",  # the history: one version's rows on one shard, FINAL works
    # Per-minute states of every run: queries merge them across shards, so any spread is right; its view writes
    # each shard's rows where they are, and only a backfill inserts through the Distributed table.
    "request_rollup_minute": "cityHash64(project_id, model)",
}

_MERGE_TREES = ("MergeTree", "ReplacingMergeTree", "SummingMergeTree", "AggregatingMergeTree",
                "CollapsingMergeTree", "VersionedCollapsingMergeTree", "GraphiteMergeTree", "CoalescingMergeTree")
_ENGINE_BY_LOWER = {name.lower(): name for name in _MERGE_TREES}
_IDENT = r"(?:`[^`]*`|\"[^\"]*\"|[A-Za-z_][A-Za-z0-9_]*)"
_NAME = rf"(?P<name>{_IDENT}(?:\s*\.\s*{_IDENT})?)"
_CREATE = re.compile(rf"\A\s*CREATE\s+TABLE\s+(?P<if_not_exists>IF\s+NOT\s+EXISTS\s+)?{_NAME}", re.I)
_ALTER = re.compile(rf"\A\s*ALTER\s+TABLE\s+{_NAME}", re.I)
_DROP = re.compile(rf"\A\s*DROP\s+TABLE\s+(?P<if_exists>IF\s+EXISTS\s+)?{_NAME}"
                   r"(?P<sync>\s+(?:SYNC|NO\s+DELAY))?\s*\Z", re.I)
_TRUNCATE = re.compile(rf"\A\s*TRUNCATE\s+(?:TABLE\s+)?(?P<if_exists>IF\s+EXISTS\s+)?{_NAME}\s*\Z", re.I)
_VIEW = re.compile(rf"\A\s*CREATE\s+MATERIALIZED\s+VIEW\s+(?P<if_not_exists>IF\s+NOT\s+EXISTS\s+)?{_NAME}", re.I)
_INSERT = re.compile(rf"\A\s*INSERT\s+INTO\s+(?:TABLE\s+)?{_NAME}", re.I)
_VIEW_TO = re.compile(rf"\s*TO\s+(?P<target>{_IDENT}(?:\s*\.\s*{_IDENT})?)\s+AS\s+SELECT\b", re.I)
_FROM_TABLE = re.compile(rf"\bFROM\s+(?P<source>{_IDENT}(?:\s*\.\s*{_IDENT})?)", re.I)
_FROM = re.compile(r"\bFROM\b", re.I)
_JOIN = re.compile(r"\b(?:JOIN|UNION|ARRAY\s+JOIN)\b", re.I)
_SELECT = re.compile(r"\b(?:SELECT|WITH)\b", re.I)
_SETTINGS = re.compile(r"\bSETTINGS\b", re.I)
_ON_CLUSTER = re.compile(r"\s*ON\s+CLUSTER\b", re.I)
_ENGINE = re.compile(r"\bENGINE\s*(?:=\s*)?(?P<engine>[A-Za-z_][A-Za-z0-9_]*)", re.I)
_SETTING = re.compile(r"\A\s*(?P<key>[A-Za-z_][A-Za-z0-9_]*)\s*=\s*(?P<value>\S.*?)\s*\Z", re.S)
_COLUMN_COMMAND = re.compile(r"\A\s*(?:ADD|DROP|MODIFY|RENAME|COMMENT)\s+COLUMN\b", re.I)
_NOT_A_COLUMN = re.compile(r"\A\s*(?:INDEX|PROJECTION|CONSTRAINT|PRIMARY\s+KEY)\b", re.I)
_PLAIN_IDENT = re.compile(r"\A[A-Za-z_][A-Za-z0-9_]*\Z")
_BAD_CLUSTER_CHARS = re.compile(r"[`'\"\\\s]")


@dataclass(frozen=True)
class DdlTarget:
    """Where migrations run: one node (cluster None, as chDB), or every node of a ClickHouse cluster."""

    cluster: str | None = None
    sharded: bool = False

    def __post_init__(self) -> None:
        if self.cluster is not None and (not self.cluster or _BAD_CLUSTER_CHARS.search(self.cluster)):
            raise ValueError(f"'{self.cluster}' is not a usable cluster name (no quotes, backslashes or spaces)")
        if self.sharded and self.cluster is None:
            raise ValueError("sharding needs a cluster")

    @classmethod
    def from_settings(cls, settings: Settings) -> DdlTarget:
        """The target the settings describe; a cluster on chDB is refused (chDB cannot run cluster DDL)."""
        if settings.clickhouse_cluster is not None and settings.uses_chdb:
            raise ConfigError(CLUSTER_VARIABLE, CHDB_IS_SINGLE_NODE)
        return cls(settings.clickhouse_cluster, settings.clickhouse_sharded)

    def describe(self) -> str:
        if self.cluster is None:
            return "a single node"
        return f"cluster `{self.cluster}`, {'sharded' if self.sharded else 'replicated'}"


SINGLE_NODE = DdlTarget()


def render_statement(sql: str, target: DdlTarget) -> list[str]:
    """The statements to execute for one migration statement on `target`, in order.

    One node: the statement itself, byte for byte (what chDB and a lone server have always applied). Cluster
    mode: see the module docstring; a statement it does not understand raises MigrationError naming it.
    """
    if target.cluster is None:
        return [sql]
    masked = mask(sql)
    if match := _CREATE.match(masked):
        return _Renderer(sql, masked, target).create(match)
    if match := _ALTER.match(masked):
        return _Renderer(sql, masked, target).alter(match)
    if match := _DROP.match(masked):
        return _Renderer(sql, masked, target).drop(match)
    if match := _TRUNCATE.match(masked):
        return _Renderer(sql, masked, target).truncate(match)
    if match := _VIEW.match(masked):
        return _Renderer(sql, masked, target).materialized_view(match)
    if match := _INSERT.match(masked):
        return _Renderer(sql, masked, target).insert_select(match)
    raise _refuse(sql, "cluster mode renders only CREATE TABLE ... ENGINE = *MergeTree, ALTER TABLE, DROP TABLE, "
                  "TRUNCATE TABLE, CREATE MATERIALIZED VIEW ... TO and INSERT INTO ... SELECT; write this "
                  "statement for one node in a form the renderer understands, or extend "
                  "benchlab/stores/clickhouse_ddl.py")


def create_database(database: str, target: DdlTarget) -> list[str]:
    """Statements that create the database on every node before any table DDL.

    One node: none (the store creates its database where it connects). A cluster: `CREATE DATABASE ... ON
    CLUSTER`, since ON CLUSTER table DDL fails on a node that lacks the database.
    """
    if target.cluster is None:
        return []
    return [f"CREATE DATABASE IF NOT EXISTS {quote_identifier(database)} ON CLUSTER `{target.cluster}`"]


def mask(sql: str) -> str:
    """`sql` with comments and the insides of quoted strings and identifiers blanked, the same length.

    Regexes then see only code (a `;`, `ENGINE` or `(` in a comment or a string does not count) and every
    position still points at the same character of the original text.
    """
    out = list(sql)
    i, n = 0, len(sql)
    while i < n:
        ch = sql[i]
        if sql.startswith("--", i):
            end = sql.find("\n", i)
            end = n if end < 0 else end
            _blank(out, i, end)
            i = end
        elif sql.startswith("/*", i):
            end = sql.find("*/", i + 2)
            end = n if end < 0 else end + 2
            _blank(out, i, end)
            i = end
        elif ch in ("'", '"', "`"):
            close = closing_quote(sql, i, ch)
            _blank(out, i + 1, close)
            i = close + 1
        else:
            i += 1
    return "".join(out)


class _Renderer:
    """One statement in cluster mode: edits to the original text, located through its masked copy."""

    def __init__(self, sql: str, masked: str, target: DdlTarget) -> None:
        assert target.cluster is not None
        self.sql = sql
        self.masked = masked
        self.cluster = target.cluster
        self.sharded = target.sharded
        self.on_cluster = f" ON CLUSTER `{self.cluster}`"  # the name is checked: no backticks in it

    def create(self, match: re.Match[str]) -> list[str]:
        table, name_start, name_end = self._table(match)
        columns_open = _skip_space(self.masked, name_end)
        if not self.masked.startswith("(", columns_open):
            raise self._refuse("expected the column list after the table name (CREATE TABLE ... AS and "
                               "ON CLUSTER are not rendered)")
        columns_close = _closing_paren(self.masked, columns_open)
        if columns_close < 0:
            raise self._refuse("the column list is not closed")
        tail_start = columns_close + 1
        if _top_level(self.masked, tail_start, len(self.masked), re.compile(r"\bAS\b", re.I)):
            raise self._refuse("CREATE TABLE ... AS SELECT is not rendered")
        engines = _top_level(self.masked, tail_start, len(self.masked), _ENGINE)
        if len(engines) != 1:
            raise self._refuse("expected exactly one ENGINE clause after the column list")
        engine_match = engines[0]
        local = table + LOCAL_SUFFIX if self.sharded else table
        edits = [(name_end, name_end, self.on_cluster)]
        if self.sharded:
            edits.insert(0, (name_start, name_end, quote_identifier(local)))
        edits.append(self._replicated_engine(engine_match, local))
        edits.extend(self._settings(engine_match.end()))
        statement = _apply_edits(self.sql, edits)
        if not self.sharded:
            return [statement]
        key = self._sharding_key(table, columns_open, columns_close)
        if_not_exists = "IF NOT EXISTS " if match.group("if_not_exists") else ""
        distributed = (f"CREATE TABLE {if_not_exists}{quote_identifier(table)}{self.on_cluster} AS "
                       f"{quote_identifier(local)}\nENGINE = Distributed({quote_string(self.cluster)}, "
                       f"currentDatabase(), {quote_string(local)}, {key})")
        return [statement, distributed]

    def alter(self, match: re.Match[str]) -> list[str]:
        table, name_start, name_end = self._table(match)
        commands = _split_top_level(self.masked, name_end, len(self.masked))
        if not self.masked[name_end:].strip():
            raise self._refuse("the ALTER TABLE has no command")
        if not self.sharded:
            return [_apply_edits(self.sql, [(name_end, name_end, self.on_cluster)])]
        kinds = {bool(_COLUMN_COMMAND.match(self.masked[start:end])) for start, end in commands}
        if len(kinds) > 1:
            raise self._refuse("sharded mode needs column changes (both tables) and storage changes (the "
                               "_local table only) in separate ALTER statements")
        local = _apply_edits(self.sql, [(name_start, name_end, quote_identifier(table + LOCAL_SUFFIX)),
                                        (name_end, name_end, self.on_cluster)])
        if kinds != {True}:
            return [local]  # indexes, TTL, settings, mutations: the Distributed table has no storage
        return [local, _apply_edits(self.sql, [(name_end, name_end, self.on_cluster)])]

    def drop(self, match: re.Match[str]) -> list[str]:
        table, name_start, name_end = self._table(match)
        clause = self.on_cluster + ("" if match.group("sync") else " SYNC")
        statement = _apply_edits(self.sql, [(name_end, name_end, clause)])
        if not self.sharded:
            return [statement]
        local = _apply_edits(self.sql, [(name_start, name_end, quote_identifier(table + LOCAL_SUFFIX)),
                                        (name_end, name_end, clause)])
        return [statement, local]  # the Distributed table first: it never points at a dropped table

    def truncate(self, match: re.Match[str]) -> list[str]:
        table, name_start, name_end = self._table(match)
        edits = [(name_end, name_end, self.on_cluster)]
        if self.sharded:  # the Distributed table has no storage
            edits.insert(0, (name_start, name_end, quote_identifier(table + LOCAL_SUFFIX)))
        return [_apply_edits(self.sql, edits)]

    def materialized_view(self, match: re.Match[str]) -> list[str]:
        _, _, name_end = self._table(match)
        to = _VIEW_TO.match(self.masked, name_end)
        if to is None:
            raise self._refuse("a materialized view must write TO a table and then read AS SELECT (a view "
                               "with its own storage, or POPULATE, is not rendered)")
        target_start, target_end = to.span("target")
        select_start = to.end()
        froms = _top_level(self.masked, select_start, len(self.masked), _FROM)
        source = _FROM_TABLE.match(self.masked, froms[0].start()) if len(froms) == 1 else None
        if source is None or _top_level(self.masked, select_start, len(self.masked), _JOIN):
            raise self._refuse("the view's SELECT must read one table (FROM t, no join, union or subquery)")
        for start, end in (to.span("target"), source.span("source")):
            if "." in self.masked[start:end]:
                raise self._refuse("database-qualified table names are not rendered (migrations run in the "
                                   "configured database)")
        edits = [(name_end, name_end, self.on_cluster)]
        if self.sharded:  # each shard aggregates its own rows into its own part of the target
            source_start, source_end = source.span("source")
            edits += [(target_start, target_end,
                       quote_identifier(_unquote(self.sql[target_start:target_end]) + LOCAL_SUFFIX)),
                      (source_start, source_end,
                       quote_identifier(_unquote(self.sql[source_start:source_end]) + LOCAL_SUFFIX))]
        return [_apply_edits(self.sql, edits)]

    def insert_select(self, match: re.Match[str]) -> list[str]:
        _, _, name_end = self._table(match)
        selects = _top_level(self.masked, name_end, len(self.masked), _SELECT)
        if not selects:
            raise self._refuse("only INSERT INTO ... SELECT is rendered (VALUES and FORMAT are not)")
        if not self.sharded:
            return [self.sql]  # once: the replicated table copies the rows to every replica
        select_start = selects[0].start()
        settings = _top_level(self.masked, name_end, select_start, _SETTINGS)
        if settings:  # add to the statement's own SETTINGS, before its SELECT
            end = len(self.masked[:select_start].rstrip())
            return [_apply_edits(self.sql, [(end, end, ", insert_distributed_sync = 1")])]
        return [_apply_edits(self.sql, [(select_start, select_start, "SETTINGS insert_distributed_sync = 1 ")])]

    def _table(self, match: re.Match[str]) -> tuple[str, int, int]:
        """The unquoted table name and its span; refuses database-qualified names and existing ON CLUSTER."""
        start, end = match.span("name")
        token = self.sql[start:end]
        if "." in self.masked[start:end]:
            raise self._refuse("database-qualified table names are not rendered (migrations run in the "
                               "configured database)")
        if _ON_CLUSTER.match(self.masked, end):
            raise self._refuse("the statement already has ON CLUSTER; write migrations for one node")
        return _unquote(token), start, end

    def _replicated_engine(self, engine_match: re.Match[str], table: str) -> tuple[int, int, str]:
        written = engine_match.group("engine")
        engine = _ENGINE_BY_LOWER.get(written.lower())
        if engine is None:
            why = "is already replicated" if written.lower().startswith("replicated") else "has no replicated form"
            raise self._refuse(f"engine {written} {why}; cluster mode renders the *MergeTree engines")
        start, end = engine_match.span("engine")
        arguments = ""
        args_open = _skip_space(self.masked, end)
        if self.masked.startswith("(", args_open):
            args_close = _closing_paren(self.masked, args_open)
            if args_close < 0:
                raise self._refuse(f"the arguments of {written} are not closed")
            arguments = self.sql[args_open + 1:args_close].strip()
            end = args_close + 1
        path = quote_string("/clickhouse/tables/{shard}/{database}/" + table)
        extra = f", {arguments}" if arguments else ""
        return start, end, f"Replicated{engine}({path}, '{{replica}}'{extra})"

    def _settings(self, after_engine: int) -> list[tuple[int, int, str]]:
        """Swap non_replicated_deduplication_window for replicated_deduplication_window in SETTINGS."""
        found = _top_level(self.masked, after_engine, len(self.masked), re.compile(r"\bSETTINGS\b", re.I))
        if not found:
            return []
        start = found[0].end()
        comment = _top_level(self.masked, start, len(self.masked), re.compile(r"\bCOMMENT\b", re.I))
        end = comment[0].start() if comment else len(self.masked)
        items: list[tuple[str, str]] = []
        values_end = start
        for item_start, item_end in _split_top_level(self.masked, start, end):
            setting = _SETTING.match(self.masked[item_start:item_end])
            if setting is None:
                raise self._refuse(f"cannot read the setting '{self.sql[item_start:item_end].strip()}'")
            values_end = item_start + setting.end("value")
            items.append((setting.group("key"), self.sql[item_start + setting.start("value"):values_end]))
        keys = [key.lower() for key, _ in items]
        if "non_replicated_deduplication_window" not in keys:
            return []
        rendered: list[str] = []
        for key, value in items:
            if key.lower() == "non_replicated_deduplication_window":
                if "replicated_deduplication_window" not in keys:
                    rendered.append(f"replicated_deduplication_window = {value}")
            else:
                rendered.append(f"{key} = {value}")
        keyword_start = found[0].start()
        if not rendered:  # the clause goes, with the white space before it
            return [(len(self.masked[:keyword_start].rstrip()), values_end, "")]
        keyword = self.sql[keyword_start:found[0].end()]  # as written: only the list changes
        return [(keyword_start, values_end, f"{keyword} {', '.join(rendered)}")]

    def _sharding_key(self, table: str, columns_open: int, columns_close: int) -> str:
        if table in SHARDING_KEYS:
            return SHARDING_KEYS[table]
        names = set()
        for start, end in _split_top_level(self.masked, columns_open + 1, columns_close):
            definition = self.masked[start:end]
            first = re.match(rf"\s*({_IDENT})", definition)
            if first and not _NOT_A_COLUMN.match(definition):
                names.add(_unquote(self.sql[start + first.start(1):start + first.end(1)]))
        if {"project_id", "run_id"} <= names:
            return DEFAULT_SHARDING_KEY
        raise self._refuse(f"no sharding key for table {table}: it lacks project_id and run_id; add one to "
                           "SHARDING_KEYS in benchlab/stores/clickhouse_ddl.py")

    def _refuse(self, why: str) -> MigrationError:
        return _refuse(self.sql, why)


def quote_identifier(name: str) -> str:
    """A name as ClickHouse reads it: bare when it is a plain identifier, in backticks otherwise."""
    if _PLAIN_IDENT.match(name):
        return name
    return "`" + name.replace("\\", "\\\\").replace("`", "\\`") + "`"


def quote_string(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _refuse(sql: str, why: str) -> MigrationError:
    """The error naming the statement by its first line of code (comments before it skipped)."""
    masked = mask(sql)
    start = len(masked) - len(masked.lstrip())
    first_line = sql[start:].split("\n", 1)[0].rstrip()
    shown = first_line if len(first_line) <= 80 else first_line[:77] + "..."
    return MigrationError(f"cannot render for a ClickHouse cluster: {why} -- in: {shown}")


def _unquote(token: str) -> str:
    if len(token) >= 2 and token[0] == token[-1] and token[0] in "`\"":
        return token[1:-1]
    return token


def _apply_edits(sql: str, edits: list[tuple[int, int, str]]) -> str:
    """Replace each (start, end) span of the original text; spans never overlap."""
    out = sql
    for start, end, text in sorted(edits, key=lambda edit: (edit[0], edit[1]), reverse=True):
        out = out[:start] + text + out[end:]
    return out


def _blank(out: list[str], start: int, end: int) -> None:
    for k in range(start, end):
        if out[k] != "\n":
            out[k] = " "


def _skip_space(text: str, i: int) -> int:
    while i < len(text) and text[i].isspace():
        i += 1
    return i


def _closing_paren(masked: str, open_index: int) -> int:
    """Index of the `)` matching the `(` at `open_index`, or -1."""
    depth = 0
    for k in range(open_index, len(masked)):
        if masked[k] == "(":
            depth += 1
        elif masked[k] == ")":
            depth -= 1
            if depth == 0:
                return k
    return -1


def _depths(masked: str, start: int, end: int) -> list[int]:
    """Parenthesis depth at each position of masked[start:end], relative to `start`."""
    depths: list[int] = []
    depth = 0
    for k in range(start, end):
        if masked[k] == ")":
            depth -= 1
        depths.append(depth)
        if masked[k] == "(":
            depth += 1
    return depths


def _top_level(masked: str, start: int, end: int, pattern: re.Pattern[str]) -> list[re.Match[str]]:
    """Matches of `pattern` in masked[start:end] outside any parentheses."""
    depths = _depths(masked, start, end)
    return [m for m in pattern.finditer(masked, start, end) if depths[m.start() - start] == 0]


def _split_top_level(masked: str, start: int, end: int) -> list[tuple[int, int]]:
    """Spans of masked[start:end] between commas outside parentheses."""
    depths = _depths(masked, start, end)
    spans: list[tuple[int, int]] = []
    begin = start
    for k in range(start, end):
        if masked[k] == "," and depths[k - start] == 0:
            spans.append((begin, k))
            begin = k + 1
    spans.append((begin, end))
    return [(s, e) for s, e in spans if masked[s:e].strip()]
