"""ClickHouse migrations rendered for one node, a replicated cluster and a sharded cluster (docs/clickhouse-cluster.md).

The rendering of every shipped migration (history table first) is kept in golden files,
tests/data/clickhouse_ddl/{single,cluster,sharded}.sql, for cluster name `benchlab`: a change to the renderer
or a new migration shows up there as reviewable DDL. After an intended change, rewrite them with

    BENCHLAB_UPDATE_GOLDEN=1 .venv/bin/pytest tests/test_clickhouse_ddl.py

and read the diff. (The variable is read when this module is imported: the session fixture clears BENCHLAB_*.)
One node is checked against chDB itself; the cluster forms, which need Keeper and several servers, are checked
by their structure and by ClickHouse's own parser (formatQuery, in chDB).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import asyncpg
import pytest

from benchlab.config import Settings
from benchlab.errors import ConfigError
from benchlab.resources import clickhouse_migrations_dir
from benchlab.stores.clickhouse import ClickHouseStore
from benchlab.stores.clickhouse_ddl import SINGLE_NODE, DdlTarget, create_database, render_statement
from benchlab.stores.clickhouse_migrations import _CREATE_HISTORY, migrate_clickhouse, render_file, render_migrations
from benchlab.stores.sql_files import MigrationError, load_migrations
from tests.helpers.server_process import run_cli

UPDATE_GOLDEN = os.environ.get("BENCHLAB_UPDATE_GOLDEN") == "1"
GOLDEN = Path(__file__).parent / "data" / "clickhouse_ddl"
CLUSTER = DdlTarget("benchlab")
SHARDED = DdlTarget("benchlab", sharded=True)
TARGETS = {"single": SINGLE_NODE, "cluster": CLUSTER, "sharded": SHARDED}
_CREATE_NAME = re.compile(r"^\s*CREATE TABLE (?:IF NOT EXISTS )?(\w+)", re.I)
_VIEW_NAME = re.compile(r"^\s*CREATE MATERIALIZED VIEW (?:IF NOT EXISTS )?(\w+)", re.I)
ROLLUPS = ("request_rollup_minute", "request_rollup_run_hour")
_ENGINE = re.compile(r"\bENGINE\s*=\s*(\w+)(?:\((.*?)\))?\s*(?:\n|PARTITION|ORDER|$)", re.S)


def file_statements() -> list[str]:
    """Every statement of the shipped migrations as written, the history table first."""
    statements = [_CREATE_HISTORY]
    for migration in load_migrations(clickhouse_migrations_dir()):
        statements.extend(statement.sql for statement in migration.statements())
    return statements


def rendered(target: DdlTarget) -> list[str]:
    return [sql for statement in file_statements() for sql in render_statement(statement, target)]


def final_engines(statements: list[str]) -> dict[str, str]:
    """Table -> engine after running `statements` in order (a DROP forgets the table)."""
    engines: dict[str, str] = {}
    for sql in statements:
        if create := _CREATE_NAME.match(sql):
            engine = _ENGINE.search(sql)
            assert engine, sql
            engines[create.group(1)] = engine.group(1)
        elif view := _VIEW_NAME.match(sql):
            engines[view.group(1)] = "MaterializedView"
        elif drop := re.match(r"\s*DROP TABLE (?:IF EXISTS )?(\w+)", sql):
            engines.pop(drop.group(1), None)
    return engines


@pytest.mark.parametrize("name", sorted(TARGETS))
def test_golden_renderings(name: str) -> None:
    text = render_migrations(TARGETS[name], "benchlab")
    path = GOLDEN / f"{name}.sql"
    if UPDATE_GOLDEN:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    assert text == path.read_text(encoding="utf-8"), (
        f"{path} is out of date; rerun with BENCHLAB_UPDATE_GOLDEN=1 and review the diff")


def test_single_node_is_the_files_unchanged() -> None:
    for statement in file_statements():
        assert render_statement(statement, SINGLE_NODE) == [statement]
    for migration in load_migrations(clickhouse_migrations_dir()):
        for statement, executed in render_file(migration, SINGLE_NODE):
            assert executed == [statement.sql]


async def test_single_node_rendering_is_what_chdb_applies(clickhouse: ClickHouseStore, pg: asyncpg.Connection,
                                                           chdb_url: str) -> None:
    await migrate_clickhouse(clickhouse, pg)
    tables = await clickhouse.query(
        "SELECT name, engine, create_table_query FROM system.tables WHERE database = currentDatabase()",
        caller="tests")
    migrated = {name: (engine, query.replace(f"{clickhouse.database}.", "")) for name, engine, query in tables.rows}
    assert {name: engine for name, (engine, _) in migrated.items()} == final_engines(rendered(SINGLE_NODE)) == {
        "schema_migrations": "ReplacingMergeTree", "request_events": "MergeTree", "scores": "MergeTree",
        **dict.fromkeys(ROLLUPS, "AggregatingMergeTree"), **{f"{t}_mv": "MaterializedView" for t in ROLLUPS}}

    # The same statements, applied one by one to another fresh database, give the same tables, to the letter.
    other = ClickHouseStore(chdb_url, clickhouse.database + "_again")
    await other.start()
    try:
        for sql in rendered(SINGLE_NODE):
            await other.command(sql, caller="tests")
        again = await other.query(
            "SELECT name, create_table_query FROM system.tables WHERE database = currentDatabase()", caller="tests")
        assert {name: query.replace(f"{other.database}.", "") for name, query in again.rows} == {
            name: query for name, (_, query) in migrated.items()}
    finally:
        await other.command(f"DROP DATABASE IF EXISTS `{other.database}`", caller="tests")
        await other.close()


@pytest.mark.parametrize("target", [CLUSTER, SHARDED], ids=["cluster", "sharded"])
def test_cluster_renderings_are_replicated_on_the_cluster(target: DdlTarget) -> None:
    statements = rendered(target)
    created: list[str] = []
    for sql in statements:
        assert "non_replicated_deduplication_window" not in sql
        if sql.lstrip().startswith("INSERT"):  # a backfill runs once, through the (Distributed) tables
            assert " ON CLUSTER" not in sql and sql.startswith(
                tuple(f"INSERT INTO {t} SETTINGS insert_deduplicate = 0" for t in ROLLUPS)), sql
            assert (", insert_distributed_sync = 1\nSELECT" in sql) == target.sharded, sql
            continue
        assert " ON CLUSTER `benchlab`" in sql, sql
        if sql.lstrip().startswith("DROP"):
            assert sql.endswith(" SYNC"), sql  # Keeper metadata gone before the table is created again
        if view := _VIEW_NAME.match(sql):  # every node has its own view, into its own (local) rollup
            suffix = "_local" if target.sharded else ""
            rollup = view.group(1).removesuffix("_mv")
            assert f" ON CLUSTER `benchlab` TO {rollup}{suffix} AS\nSELECT" in sql, sql
            assert sql.endswith(f"\nFROM request_events{suffix}\n" + sql.rsplit("\n", 1)[-1]), sql
            assert rollup + suffix in created
            continue
        if not (create := _CREATE_NAME.match(sql)):
            continue
        table = create.group(1)
        engine = _ENGINE.search(sql)
        assert engine, sql
        if engine.group(1) == "Distributed":
            assert target.sharded
            local = f"{table}_local"
            assert f" AS {local}\n" in sql and local in created, sql
            key = {"schema_migrations": "cityHash64(version)", "request_rollup_minute": "cityHash64(project_id, model)"
                   }.get(table, "cityHash64(project_id, run_id)")
            assert engine.group(2) == f"'benchlab', currentDatabase(), '{local}', {key}"
        else:
            assert engine.group(1) in ("ReplicatedMergeTree", "ReplicatedReplacingMergeTree",
                                       "ReplicatedAggregatingMergeTree"), sql
            assert engine.group(2).startswith(f"'/clickhouse/tables/{{shard}}/{{database}}/{table}', '{{replica}}'")
            assert table.endswith("_local") == target.sharded, sql
            if not table.startswith("schema_migrations"):
                assert "SETTINGS replicated_deduplication_window = 1000" in sql  # insert tokens still dedup
        created.append(table)
    expected = {"schema_migrations": "ReplicatedReplacingMergeTree", "request_events": "ReplicatedMergeTree",
                "scores": "ReplicatedMergeTree", **dict.fromkeys(ROLLUPS, "ReplicatedAggregatingMergeTree")}
    if target.sharded:
        expected = {**{f"{t}_local": e for t, e in expected.items()}, **dict.fromkeys(expected, "Distributed")}
    views = {f"{t}_mv": "MaterializedView" for t in ROLLUPS}
    assert final_engines(statements) == {**expected, **views}
    truncated = [sql for sql in statements if sql.startswith("TRUNCATE")]  # the storage, never the Distributed
    assert truncated == [f"TRUNCATE TABLE {t}{'_local' if target.sharded else ''} ON CLUSTER `benchlab`"
                         for t in ROLLUPS]


def test_sharded_alters_apply_to_both_tables_and_drops_drop_both() -> None:
    alter = "ALTER TABLE request_events ADD COLUMN IF NOT EXISTS x UInt8 AFTER source"
    assert render_statement(alter, SHARDED) == [
        "ALTER TABLE request_events_local ON CLUSTER `benchlab` ADD COLUMN IF NOT EXISTS x UInt8 AFTER source",
        "ALTER TABLE request_events ON CLUSTER `benchlab` ADD COLUMN IF NOT EXISTS x UInt8 AFTER source"]
    storage = "ALTER TABLE scores MODIFY SETTING index_granularity = 4096"  # the Distributed table has no storage
    assert render_statement(storage, SHARDED) == [
        "ALTER TABLE scores_local ON CLUSTER `benchlab` MODIFY SETTING index_granularity = 4096"]
    assert render_statement("DROP TABLE IF EXISTS scores", SHARDED) == [
        "DROP TABLE IF EXISTS scores ON CLUSTER `benchlab` SYNC",
        "DROP TABLE IF EXISTS scores_local ON CLUSTER `benchlab` SYNC"]
    assert render_statement("drop table scores sync", CLUSTER) == ["drop table scores ON CLUSTER `benchlab` sync"]


def test_materialized_views_inserts_and_truncates() -> None:
    view = ("CREATE MATERIALIZED VIEW IF NOT EXISTS r_mv TO r AS\nSELECT project_id, run_id, count() AS n, "
            "quantileDDIfState(0.01)(x, status = 'ok') AS q\nFROM events\nWHERE (x > 0)\nGROUP BY project_id, run_id")
    assert render_statement(view, CLUSTER) == [view.replace("r_mv TO", "r_mv ON CLUSTER `benchlab` TO")]
    assert render_statement(view, SHARDED) == [view.replace("r_mv TO r AS", "r_mv ON CLUSTER `benchlab` TO r_local AS")
                                               .replace("FROM events", "FROM events_local")]
    quoted = "create materialized view `v` to `the rollup` as select a from `raw events` group by a"
    assert render_statement(quoted, SHARDED) == [
        "create materialized view `v` ON CLUSTER `benchlab` to `the rollup_local` as select a from `raw events_local` "
        "group by a"]
    insert = "INSERT INTO r SELECT project_id, count() FROM events GROUP BY project_id"
    assert render_statement(insert, CLUSTER) == [insert]  # once: replication copies it, ON CLUSTER would repeat it
    assert render_statement(insert, SHARDED) == [insert.replace("r SELECT", "r SETTINGS insert_distributed_sync = 1 "
                                                                           "SELECT")]
    with_settings = "INSERT INTO r (a, b) SETTINGS insert_deduplicate = 0\nWITH 1 AS k SELECT k, k FROM events"
    assert render_statement(with_settings, SHARDED) == [with_settings.replace(
        "= 0\nWITH", "= 0, insert_distributed_sync = 1\nWITH")]
    assert render_statement("TRUNCATE TABLE r", CLUSTER) == ["TRUNCATE TABLE r ON CLUSTER `benchlab`"]
    assert render_statement("truncate r", SHARDED) == ["truncate r_local ON CLUSTER `benchlab`"]


def test_comments_quotes_case_and_engine_arguments() -> None:
    sql = ("create   table if not exists\n  -- ENGINE = Memory; (not code)\n  events /* c */ (\n"
           "    project_id UUID, run_id UUID, `odd name` String DEFAULT 'ENGINE = Log, (',\n"
           "    version UInt64\n)\nengine=ReplacingMergeTree(version)\norder by (project_id) -- done\n"
           "settings index_granularity = 8192, non_replicated_deduplication_window = 100")
    assert render_statement(sql, CLUSTER) == [sql.replace(
        "events /* c */", "events ON CLUSTER `benchlab` /* c */").replace(
        "ReplacingMergeTree(version)",
        "ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/{database}/events', '{replica}', version)").replace(
        "non_replicated_deduplication_window = 100", "replicated_deduplication_window = 100")]
    local, distributed = render_statement(sql, SHARDED)
    assert "events_local ON CLUSTER `benchlab` /* c */" in local
    assert "'/clickhouse/tables/{shard}/{database}/events_local', '{replica}', version)" in local
    assert distributed == ("CREATE TABLE IF NOT EXISTS events ON CLUSTER `benchlab` AS events_local\nENGINE = "
                           "Distributed('benchlab', currentDatabase(), 'events_local', cityHash64(project_id, run_id))")
    # A lone dedup setting goes with its SETTINGS keyword; one already replicated is kept as written.
    lone = "CREATE TABLE t (project_id UUID, run_id UUID) ENGINE = MergeTree ORDER BY run_id SETTINGS " \
           "non_replicated_deduplication_window = 10, replicated_deduplication_window = 20"
    assert render_statement(lone, CLUSTER)[0].endswith("ORDER BY run_id SETTINGS replicated_deduplication_window = 20")


async def test_cluster_renderings_parse_as_clickhouse_ddl(clickhouse: ClickHouseStore) -> None:
    """ClickHouse's own parser (formatQuery, in chDB) accepts every statement the renderer produces."""
    for target in (CLUSTER, SHARDED):
        for sql in create_database("benchlab", target) + rendered(target):
            result = await clickhouse.query("SELECT formatQuery({sql:String})", {"sql": sql}, caller="tests")
            assert "ON CLUSTER benchlab" in result.rows[0][0] or sql.startswith("INSERT INTO request_rollup_")


# Runs in its own process: chDB allows one engine path per process, and this one needs a cluster configured.
_SHARDED_ON_CHDB = """
import json, sys, chdb
folder, statements = sys.argv[1], json.load(sys.stdin)
conn = chdb.connect(f"file:{folder}/data?config-file={folder}/cluster.xml")
conn.query("CREATE DATABASE bl")
conn.query("USE bl")
for sql in statements:
    conn.query(sql)
def rows(sql):
    return [line.split("\\t") for line in conn.query(sql, "TSV").bytes().decode().splitlines()]
print(json.dumps({"engines": dict(rows("SELECT name, engine FROM system.tables WHERE database = 'bl'")),
                  "rollups": rows("SELECT (SELECT sum(requests) FROM request_rollup_minute_local), "
                                  "(SELECT sum(requests) FROM request_rollup_run_hour_local)"),
                  "columns": rows("SELECT table, name, type FROM system.columns WHERE database = 'bl' "
                                  "ORDER BY table, position")}))
"""


def test_sharded_rendering_builds_distributed_tables_over_local_ones(tmp_path: Path) -> None:
    """The sharded DDL on a real engine with a cluster configured (chDB): what needs Keeper and several servers
    (ON CLUSTER, replication) is taken out; the Distributed tables, their AS, ALTERs and DROP ... SYNC run."""
    (tmp_path / "cluster.xml").write_text(
        "<clickhouse><remote_servers><benchlab><shard><replica><host>127.0.0.1</host><port>9000</port>"
        "</replica></shard></benchlab></remote_servers></clickhouse>")
    statements = [re.sub(r"Replicated(\w*MergeTree)\('[^']*', '\{replica\}'(?:, )?", r"\1(",
                         sql.replace(" ON CLUSTER `benchlab`", "")) for sql in rendered(SHARDED)]
    # A backfill reads and writes through the Distributed tables, which needs servers: on each shard it comes down
    # to the local tables, run here so its SELECT is checked against them. Then one row on this shard reaches both
    # local rollups through their views.
    statements = [re.sub(r"INSERT INTO (\w+) SETTINGS insert_deduplicate = 0, insert_distributed_sync = 1",
                         r"INSERT INTO \1_local SETTINGS insert_deduplicate = 0",
                         sql).replace("\nFROM request_events\n", "\nFROM request_events_local\n")
                  if sql.startswith("INSERT") else sql for sql in statements]
    statements.append("INSERT INTO request_events_local (project_id, run_id, ts, status, ttft_ms) "
                      "VALUES (generateUUIDv4(), generateUUIDv4(), now64(6), 'ok', 120)")
    result = subprocess.run([sys.executable, "-c", _SHARDED_ON_CHDB, str(tmp_path)], input=json.dumps(statements),
                            capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    found = json.loads(result.stdout)
    assert found["engines"] == {"schema_migrations": "Distributed", "schema_migrations_local": "ReplacingMergeTree",
                                "request_events": "Distributed", "request_events_local": "MergeTree",
                                "scores": "Distributed", "scores_local": "MergeTree",
                                **{t: "Distributed" for t in ROLLUPS},
                                **{f"{t}_local": "AggregatingMergeTree" for t in ROLLUPS},
                                **{f"{t}_mv": "MaterializedView" for t in ROLLUPS}}
    assert found["rollups"] == [["1", "1"]]
    columns: dict[str, list[tuple[str, str]]] = {}
    for table, name, column_type in found["columns"]:
        columns.setdefault(table, []).append((name, column_type))
    for table in ("schema_migrations", "request_events", "scores", *ROLLUPS):
        assert columns[table] == columns[f"{table}_local"]  # ALTERs reached both, in the same order
    assert ("load_phase", "LowCardinality(String)") in columns["request_events"]
    assert ("pass_id", "UUID") in columns["scores"]  # 0006 dropped and recreated both scores tables


@pytest.mark.parametrize(("sql", "why"), [
    ("CREATE MATERIALIZED VIEW mv ENGINE = MergeTree ORDER BY a AS SELECT a FROM e", "must write TO a table"),
    ("CREATE MATERIALIZED VIEW mv TO t POPULATE AS SELECT a FROM request_events", "must write TO a table"),
    ("CREATE MATERIALIZED VIEW mv TO t AS SELECT a FROM e JOIN scores USING (a)", "must read one table"),
    ("CREATE MATERIALIZED VIEW mv TO t AS SELECT a FROM (SELECT a FROM request_events)", "must read one table"),
    ("CREATE MATERIALIZED VIEW mv TO db.t AS SELECT a FROM request_events", "database-qualified"),
    ("-- a view\nCREATE VIEW v AS SELECT 1", "renders only CREATE TABLE"),
    ("INSERT INTO scores VALUES (1)", "only INSERT INTO ... SELECT"),
    ("OPTIMIZE TABLE scores FINAL", "renders only CREATE TABLE"),
    ("CREATE TABLE t (a UInt8) ENGINE = Memory", "engine Memory has no replicated form"),
    ("CREATE TABLE t (a UInt8) ENGINE = ReplicatedMergeTree ORDER BY a", "is already replicated"),
    ("CREATE TABLE t (a UInt8) ORDER BY a", "exactly one ENGINE clause"),
    ("CREATE TABLE t AS other ENGINE = MergeTree ORDER BY a", "expected the column list"),
    ("CREATE TABLE db.t (a UInt8) ENGINE = MergeTree ORDER BY a", "database-qualified"),
    ("ALTER TABLE t ON CLUSTER c ADD COLUMN b UInt8", "already has ON CLUSTER"),
])
def test_what_the_renderer_does_not_understand_is_refused(sql: str, why: str) -> None:
    assert render_statement(sql, SINGLE_NODE) == [sql]  # one node: as written, always
    with pytest.raises(MigrationError) as raised:
        render_statement(sql, CLUSTER)
    message = str(raised.value)
    assert why in message
    assert message.endswith("-- in: " + sql.splitlines()[-1][:80])  # names the statement, not its comment


@pytest.mark.parametrize(("sql", "why"), [
    ("CREATE TABLE t (a UInt8) ENGINE = MergeTree ORDER BY a", "no sharding key for table t"),
    ("ALTER TABLE t ADD COLUMN b UInt8, MODIFY TTL ts + INTERVAL 1 DAY", "in separate ALTER statements"),
])
def test_sharded_mode_refuses_what_it_cannot_place(sql: str, why: str) -> None:
    render_statement(sql, CLUSTER)  # fine when replicated only
    with pytest.raises(MigrationError, match=why):
        render_statement(sql, SHARDED)


def test_a_refused_statement_names_its_file_number_and_line(tmp_path: Path) -> None:
    (tmp_path / "0001_view.sql").write_text("-- fine\nALTER TABLE t ADD COLUMN x UInt8;\n\n"
                                            "CREATE MATERIALIZED VIEW mv ENGINE = Log AS SELECT 1;\n")
    migration = load_migrations(tmp_path)[0]
    assert len(render_file(migration, SINGLE_NODE)) == 2
    with pytest.raises(MigrationError, match=r"0001_view.sql: statement 2 \(line 4\): cannot render for a "
                                             r"ClickHouse cluster: .* -- in: CREATE MATERIALIZED VIEW mv"):
        render_file(migration, CLUSTER)


def test_print_clickhouse_shows_the_rendered_ddl(tmp_path: Path) -> None:
    env = {"BENCHLAB_DATA_DIR": str(tmp_path)}
    result = run_cli(["migrate", "--print-clickhouse", "--cluster", "benchlab", "--sharded"], env)
    assert result.returncode == 0, result.stderr
    assert result.stdout == (GOLDEN / "sharded.sql").read_text(encoding="utf-8")
    configured = run_cli(["migrate", "--print-clickhouse"], {**env, "BENCHLAB_CLICKHOUSE_CLUSTER": "benchlab"})
    assert configured.stdout == (GOLDEN / "cluster.sql").read_text(encoding="utf-8")


def test_sharded_without_a_cluster_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="BENCHLAB_CLICKHOUSE_SHARDED: sharding needs a cluster"):
        Settings.from_env({"BENCHLAB_DATA_DIR": str(tmp_path), "BENCHLAB_CLICKHOUSE_SHARDED": "true"})


def test_a_cluster_on_chdb_is_refused(tmp_path: Path) -> None:
    settings = Settings.from_env({"BENCHLAB_DATA_DIR": str(tmp_path), "BENCHLAB_CLICKHOUSE_CLUSTER": "benchlab"})
    with pytest.raises(ConfigError) as raised:
        DdlTarget.from_settings(settings)
    assert str(raised.value) == ("BENCHLAB_CLICKHOUSE_CLUSTER: chDB is a single node; unset "
                                 "BENCHLAB_CLICKHOUSE_CLUSTER or point BENCHLAB_CLICKHOUSE_URL at a ClickHouse server")
    server = Settings.from_env({"BENCHLAB_DATA_DIR": str(tmp_path), "BENCHLAB_CLICKHOUSE_CLUSTER": "benchlab",
                                "BENCHLAB_CLICKHOUSE_SHARDED": "true",
                                "BENCHLAB_CLICKHOUSE_URL": "http://default:pw@clickhouse:8123"})
    assert DdlTarget.from_settings(server) == SHARDED
    assert DdlTarget.from_settings(Settings.from_env({"BENCHLAB_DATA_DIR": str(tmp_path)})) == SINGLE_NODE


async def test_a_database_migrated_for_another_topology_is_refused(clickhouse: ClickHouseStore,
                                                                    pg: asyncpg.Connection) -> None:
    """Its tables would stay as they are while new ALTERs reach one node or all: refuse, point at the docs."""
    await clickhouse.command("CREATE TABLE schema_migrations (version UInt32) ENGINE = Memory", caller="tests")
    with pytest.raises(MigrationError, match="schema_migrations is a Memory table, a single node expects "
                                             "ReplacingMergeTree; moving a database between one node and a cluster"):
        await migrate_clickhouse(clickhouse, pg)
    tables = await clickhouse.query("SELECT name FROM system.tables WHERE database = currentDatabase()",
                                    caller="tests")
    assert tables.rows == [("schema_migrations",)]
    assert create_database("benchlab", SINGLE_NODE) == []


async def test_migrating_chdb_for_a_cluster_is_refused_before_anything_runs(
        clickhouse: ClickHouseStore, pg: asyncpg.Connection) -> None:
    with pytest.raises(ConfigError, match="chDB is a single node"):
        await migrate_clickhouse(clickhouse, pg, target=CLUSTER)
    tables = await clickhouse.query("SELECT count() FROM system.tables WHERE database = currentDatabase()",
                                    caller="tests")
    assert tables.rows == [(0,)]
