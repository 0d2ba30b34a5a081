"""Grafana's read-only users (issue 13, item 2): least privilege on both stores.

PostgreSQL: postgres/docker-init/01_grafana_readonly.sh (the compose stack's init script, which runs
postgres/grafana_readonly.sql) is run as-is against the embedded PostgreSQL on a migrated database; the test then
signs in as grafana_ro with its password and proves what it can and cannot read or write.

ClickHouse: chDB has no users, so clickhouse/docker/users.d/grafana_readonly.xml is checked as a file (user,
password from the environment, readonly=2 profile and its limits, exactly SELECT on the event tables), with the
setting names and the grant statements checked by chDB's own engine and parser.
"""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import uuid
import xml.etree.ElementTree as ElementTree
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import asyncpg
import pytest

from benchlab.stores.clickhouse import ClickHouseStore
from benchlab.stores.embedded_postgres import POSTGRES_BIN_PATH, EmbeddedPostgres

REPO = Path(__file__).resolve().parent.parent
INIT_SCRIPT = REPO / "postgres" / "docker-init" / "01_grafana_readonly.sh"
GRANTS_SQL = REPO / "postgres" / "grafana_readonly.sql"
CLICKHOUSE_USERS_FILE = REPO / "clickhouse" / "docker" / "users.d" / "grafana_readonly.xml"
CLICKHOUSE_ACCESS_FILE = REPO / "clickhouse" / "docker" / "config.d" / "access_control.xml"
CLICKHOUSE_MIGRATIONS = REPO / "clickhouse" / "migrations"

ROLE = "grafana_ro"
PASSWORD = "grafana 'ro' p@ss"  # quotes and spaces: the script must quote it

# Keep in step with the GRANTs at the end of postgres/grafana_readonly.sql: exactly these, nothing else.
GRANTED_COLUMNS: dict[str, set[str]] = {
    "projects": {"id", "slug", "name", "archived_at"},
    "experiments": {"id", "project_id", "name", "created_at", "updated_at", "archived_at"},
    "runs": {"id", "project_id", "experiment_id", "status", "planned_requests", "completed_requests",
             "failed_requests", "client_saturated", "created_at", "started_at", "finished_at", "gate_status",
             "summary"},
    "scoring_passes": {"id", "project_id", "run_id", "status", "total_requests", "scored_requests", "judge_calls",
                       "judge_cached", "judge_errors", "judge_cost_usd", "summary", "created_at", "finished_at"},
    "baselines": {"experiment_id", "name", "run_id"},
}
# Never readable, whatever the dashboards may want one day.
SECRET_QUERIES = [
    "SELECT * FROM api_keys",
    "SELECT key_hash FROM api_keys",
    "SELECT * FROM refresh_tokens",
    "SELECT token_hash FROM login_links",
    "SELECT * FROM user_identities",
    "SELECT email FROM users",
    "SELECT display_name FROM users",
    "SELECT credentials_encrypted FROM providers",
    "SELECT * FROM providers",
    "SELECT details FROM audit_log",
    "SELECT * FROM audit_log",
    "SELECT count(*) FROM audit_log",
    "SELECT * FROM runs",  # config_snapshot, error, owner are not granted
    "SELECT config_snapshot FROM runs",
    "SELECT error FROM runs",
    "SELECT created_by FROM scoring_passes",
    "SELECT set_by FROM baselines",
    "SELECT answer FROM judge_verdicts",
    "SELECT input FROM dataset_item_revisions",
    "SELECT template FROM prompt_versions",
    "SELECT * FROM schema_migrations",
]
WRITE_STATEMENTS = [
    "INSERT INTO projects (slug, name) VALUES ('evil', 'Evil')",
    "UPDATE runs SET status = 'failed'",
    "UPDATE projects SET name = 'x'",
    "DELETE FROM baselines",
    "DELETE FROM api_keys",
    "TRUNCATE scoring_passes",
    "CREATE TABLE public.grafana_was_here (x int)",
    "CREATE TEMPORARY TABLE grafana_scratch (x int)",
    "CREATE SCHEMA grafana_schema",
    "ALTER TABLE runs ADD COLUMN note text",
    "DROP TABLE baselines",
    "GRANT SELECT ON api_keys TO grafana_ro",
]


# --- PostgreSQL ----------------------------------------------------------------------------------------------

def _database_name(database_url: str) -> str:
    return urlsplit(database_url).path.lstrip("/")


def run_init_script(server: EmbeddedPostgres, database: str, password: str | None = PASSWORD,
                    ) -> subprocess.CompletedProcess[str]:
    """The compose stack's init script, with the environment the postgres image gives it."""
    env = {key: value for key, value in os.environ.items() if not key.startswith(("PG", "GRAFANA_"))}
    env.update(PATH=f"{POSTGRES_BIN_PATH}{os.pathsep}{os.environ.get('PATH', '')}", PGHOST=str(server.socket_dir),
               POSTGRES_USER="postgres", POSTGRES_DB=database, GRAFANA_READONLY_SQL=str(GRANTS_SQL))
    if password is not None:
        env["GRAFANA_PG_PASSWORD"] = password
    return subprocess.run(["bash", str(INIT_SCRIPT)], env=env, capture_output=True, text=True, timeout=60,
                          check=False)


def apply_grants(server: EmbeddedPostgres, database: str, password: str = PASSWORD) -> None:
    result = run_init_script(server, database, password)
    assert result.returncode == 0, f"{INIT_SCRIPT.name} failed: {result.stderr or result.stdout}"


async def _reload_async(server: EmbeddedPostgres) -> None:
    conn = await asyncpg.connect(server.url_for("postgres"))
    try:
        assert await conn.fetchval("SELECT pg_reload_conf()")
        errors = await conn.fetch("SELECT line_number, error FROM pg_hba_file_rules WHERE error IS NOT NULL")
        assert not errors, f"pg_hba.conf rejected: {errors}"
    finally:
        await conn.close()


async def connect_as_grafana(server: EmbeddedPostgres, database: str, password: str = PASSWORD,
                             ) -> asyncpg.Connection:
    return await asyncpg.connect(host=str(server.socket_dir), user=ROLE, password=password, database=database)


@pytest.fixture
async def grafana_db(postgres_server: EmbeddedPostgres, database_url: str) -> AsyncIterator[dict[str, Any]]:
    """A migrated database with a project whose runs, passes and baseline the dashboards read, plus one row in
    every secret-holding table; grafana_ro created by the init script and requiring its password."""
    database = _database_name(database_url)
    hba_file = Path(postgres_server.pgdata) / "pg_hba.conf"
    original_hba = hba_file.read_text()
    hba_file.write_text(f"local all {ROLE} scram-sha-256\nhost all {ROLE} all scram-sha-256\n" + original_hba)
    try:
        await _reload_async(postgres_server)
        owner = await asyncpg.connect(database_url)
        try:
            ids = await _seed(owner)
        finally:
            await owner.close()
        await asyncio.to_thread(apply_grants, postgres_server, database)
        await _wait_for_password_auth(postgres_server, database)
        yield {"server": postgres_server, "database": database, "url": database_url, **ids}
    finally:
        hba_file.write_text(original_hba)
        await _reload_async(postgres_server)


async def _wait_for_password_auth(server: EmbeddedPostgres, database: str) -> None:
    """pg_reload_conf() only signals the postmaster: wait until a password-less grafana_ro is refused."""
    for _ in range(100):
        try:
            conn = await asyncpg.connect(host=str(server.socket_dir), user=ROLE, database=database)
        except (asyncpg.InvalidPasswordError, asyncpg.InvalidAuthorizationSpecificationError):
            return
        except asyncpg.PostgresError as exc:
            if "password" in str(exc).lower():
                return
            raise
        await conn.close()
        await asyncio.sleep(0.05)
    raise AssertionError("pg_hba.conf change never took effect")


async def _seed(conn: asyncpg.Connection) -> dict[str, uuid.UUID]:
    user_id = await conn.fetchval(
        "INSERT INTO users (email, display_name) VALUES ('alice@example.com', 'Alice') RETURNING id")
    project_id = await conn.fetchval(
        "INSERT INTO projects (slug, name) VALUES ('acme', 'Acme') RETURNING id")
    experiment_id = await conn.fetchval(
        "INSERT INTO experiments (project_id, name, spec) VALUES ($1, 'latency', '{}'::jsonb) RETURNING id",
        project_id)
    run_id = await conn.fetchval(
        "INSERT INTO runs (project_id, experiment_id, status, config_snapshot, planned_requests,"
        " completed_requests, failed_requests, client_saturated, summary, error, owner, gate_status,"
        " started_at, finished_at)"
        " VALUES ($1, $2, 'completed', '{\"secret\": \"snap\"}'::jsonb, 10, 9, 1, true, '{\"p50\": 50}'::jsonb,"
        " 'provider said: key sk-123 rejected', 'host:1', 'passed', now(), now()) RETURNING id",
        project_id, experiment_id)
    pass_id = await conn.fetchval(
        "INSERT INTO scoring_passes (project_id, run_id, status, evaluators, trigger, total_requests,"
        " scored_requests, judge_calls, judge_cost_usd, created_by, finished_at)"
        " VALUES ($1, $2, 'completed', '[]'::jsonb, 'run', 10, 9, 4, 0.25, 'alice@example.com', now())"
        " RETURNING id", project_id, run_id)
    await conn.execute(
        "INSERT INTO baselines (experiment_id, name, run_id, set_by) VALUES ($1, 'main', $2, 'alice@example.com')",
        experiment_id, run_id)
    await conn.execute(
        "INSERT INTO providers (project_id, name, provider_type, credentials_encrypted)"
        " VALUES ($1, 'openai', 'openai', 'secret-token'::bytea)", project_id)
    await conn.execute(
        "INSERT INTO api_keys (project_id, name, role, prefix, key_hash, created_by)"
        " VALUES ($1, 'ci', 'member', 'abc123', 'hash', $2)", project_id, user_id)
    await conn.execute(
        "INSERT INTO refresh_tokens (family_id, user_id, token_hash, expires_at)"
        " VALUES (gen_random_uuid(), $1, 'rt-hash', now() + interval '1 day')", user_id)
    await conn.execute(
        "INSERT INTO login_links (user_id, token_hash, expires_at) VALUES ($1, 'll-hash', now())", user_id)
    await conn.execute(
        "INSERT INTO user_identities (user_id, provider, issuer, subject, email)"
        " VALUES ($1, 'okta', 'https://idp', 'sub', 'alice@example.com')", user_id)
    await conn.execute(
        "INSERT INTO audit_log (actor, project_id, action, details) VALUES ('alice@example.com', $1, 'x',"
        " '{\"why\": \"secret\"}'::jsonb)", project_id)
    return {"project_id": project_id, "experiment_id": experiment_id, "run_id": run_id, "pass_id": pass_id}


async def _privilege_map(conn: asyncpg.Connection) -> dict[str, set[str]]:
    """{table: columns grafana_ro may SELECT} over every table, view and sequence outside the system schemas."""
    rows = await conn.fetch(
        """SELECT c.relname, a.attname
           FROM pg_class c
           JOIN pg_namespace n ON n.oid = c.relnamespace
           JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
           WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%'
             AND c.relkind IN ('r', 'p', 'v', 'm', 'f', 'S')
             AND has_column_privilege($1, c.oid, a.attnum, 'SELECT')""", ROLE)
    granted: dict[str, set[str]] = {}
    for row in rows:
        granted.setdefault(row["relname"], set()).add(row["attname"])
    return granted


async def test_init_script_grants_exactly_the_dashboard_columns(grafana_db: dict[str, Any]) -> None:
    owner = await asyncpg.connect(grafana_db["url"])
    try:
        assert await _privilege_map(owner) == GRANTED_COLUMNS
        # No table-level privilege of any kind (a table-level SELECT would cover columns added later).
        table_privileges = await owner.fetch(
            """SELECT c.relname, p.privilege_type
               FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace,
                    aclexplode(c.relacl) p
               WHERE p.grantee = $1::regrole""", ROLE)
        assert table_privileges == [], f"table-level privileges: {table_privileges}"
        role = await owner.fetchrow("SELECT * FROM pg_roles WHERE rolname = $1", ROLE)
        assert role is not None
        assert role["rolcanlogin"] and not role["rolsuper"] and not role["rolcreatedb"]
        assert not role["rolcreaterole"] and not role["rolreplication"] and not role["rolbypassrls"]
        assert not role["rolinherit"] and role["rolconnlimit"] == 20
        assert await owner.fetchval("SELECT count(*) FROM pg_auth_members WHERE member = $1::regrole", ROLE) == 0
        assert await owner.fetchval("SELECT count(*) FROM pg_default_acl d, aclexplode(d.defaclacl) e"
                                    " WHERE e.grantee = $1::regrole", ROLE) == 0
        database = grafana_db["database"]
        assert await owner.fetchval("SELECT has_database_privilege($1, $2, 'CONNECT')", ROLE, database)
        assert not await owner.fetchval("SELECT has_database_privilege($1, $2, 'CREATE')", ROLE, database)
        assert not await owner.fetchval("SELECT has_database_privilege($1, $2, 'TEMPORARY')", ROLE, database)
        assert await owner.fetchval("SELECT has_schema_privilege($1, 'public', 'USAGE')", ROLE)
        assert not await owner.fetchval("SELECT has_schema_privilege($1, 'public', 'CREATE')", ROLE)
        # Nothing in public is readable by everyone (PUBLIC) either.
        public_grants = await owner.fetch(
            """SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace,
                      aclexplode(c.relacl) p
               WHERE n.nspname = 'public' AND p.grantee = 0""")
        assert public_grants == []
    finally:
        await owner.close()


async def test_grafana_ro_reads_the_dashboard_columns(grafana_db: dict[str, Any]) -> None:
    conn = await connect_as_grafana(grafana_db["server"], grafana_db["database"])
    try:
        for table, columns in GRANTED_COLUMNS.items():
            listed = ", ".join(sorted(columns))
            rows = await conn.fetch(f"SELECT {listed} FROM {table}")
            assert len(rows) == 1, f"{table}: {rows}"
        run = await conn.fetchrow(
            "SELECT r.status, r.planned_requests, r.completed_requests, r.failed_requests, r.client_saturated,"
            "       r.gate_status, r.summary, e.name AS experiment, p.slug, b.name AS baseline,"
            "       s.judge_calls, s.judge_cost_usd"
            " FROM runs r JOIN experiments e ON e.id = r.experiment_id JOIN projects p ON p.id = r.project_id"
            " LEFT JOIN baselines b ON b.run_id = r.id LEFT JOIN scoring_passes s ON s.run_id = r.id"
            " WHERE r.project_id = $1", grafana_db["project_id"])
        assert run is not None
        assert dict(run) | {"summary": None} == {
            "status": "completed", "planned_requests": 10, "completed_requests": 9, "failed_requests": 1,
            "client_saturated": True, "gate_status": "passed", "summary": None, "experiment": "latency",
            "slug": "acme", "baseline": "main", "judge_calls": 4, "judge_cost_usd": 0.25}
        assert "50" in run["summary"]
        assert await conn.fetchval("SELECT count(*) FROM runs") == 1, "count(*) works with column privileges"
        # The role's defaults (defence in depth on top of the grants).
        assert await conn.fetchval("SHOW default_transaction_read_only") == "on"
        assert await conn.fetchval("SHOW statement_timeout") == "1min"
    finally:
        await conn.close()


@pytest.mark.parametrize("query", SECRET_QUERIES)
async def test_grafana_ro_cannot_read_secrets(grafana_db: dict[str, Any], query: str) -> None:
    conn = await connect_as_grafana(grafana_db["server"], grafana_db["database"])
    try:
        with pytest.raises(asyncpg.InsufficientPrivilegeError, match="permission denied"):
            await conn.fetch(query)
    finally:
        await conn.close()


async def test_grafana_ro_cannot_write_even_in_a_read_write_transaction(grafana_db: dict[str, Any]) -> None:
    conn = await connect_as_grafana(grafana_db["server"], grafana_db["database"])
    try:
        # A client can lift the role's read-only default: the privileges alone must refuse every write.
        await conn.execute("SET default_transaction_read_only = off")
        await conn.execute("SET SESSION CHARACTERISTICS AS TRANSACTION READ WRITE")
        assert await conn.fetchval("SHOW transaction_read_only") == "off"
        for statement in WRITE_STATEMENTS:
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                await conn.execute(statement)
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await conn.execute("SET ROLE postgres")
    finally:
        await conn.close()
    owner = await asyncpg.connect(grafana_db["url"])
    try:
        assert await owner.fetchval("SELECT count(*) FROM projects") == 1
        assert await owner.fetchval("SELECT status FROM runs") == "completed"
        assert await owner.fetchval("SELECT count(*) FROM baselines") == 1
    finally:
        await owner.close()


async def test_tables_and_columns_added_later_are_not_readable(grafana_db: dict[str, Any]) -> None:
    owner = await asyncpg.connect(grafana_db["url"])
    try:
        # What a future migration would do, as the owner.
        await owner.execute("ALTER TABLE runs ADD COLUMN webhook_secret text DEFAULT 'shh'")
        await owner.execute("CREATE TABLE provider_tokens (token text)")
        await owner.execute("INSERT INTO provider_tokens VALUES ('t')")
    finally:
        await owner.close()
    conn = await connect_as_grafana(grafana_db["server"], grafana_db["database"])
    try:
        for query in ("SELECT webhook_secret FROM runs", "SELECT * FROM provider_tokens"):
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                await conn.fetch(query)
        assert await conn.fetchval("SELECT status FROM runs") == "completed"
    finally:
        await conn.close()


async def test_rerunning_replaces_broad_grants_and_the_password(grafana_db: dict[str, Any]) -> None:
    server, database = grafana_db["server"], grafana_db["database"]
    owner = await asyncpg.connect(grafana_db["url"])
    try:
        # What the first version of the init script (or an operator) gave the role.
        await owner.execute(f"GRANT SELECT ON ALL TABLES IN SCHEMA public TO {ROLE}")
        await owner.execute(f"GRANT INSERT ON api_keys TO {ROLE}")
        await owner.execute(f"ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT ON TABLES TO {ROLE}")
        await owner.execute("ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT ON TABLES TO PUBLIC")
        await owner.execute(f"GRANT pg_read_all_data TO {ROLE}")
        await owner.execute("GRANT SELECT ON audit_log TO PUBLIC")
    finally:
        await owner.close()

    await asyncio.to_thread(apply_grants, server, database, "a new password")

    owner = await asyncpg.connect(grafana_db["url"])
    try:
        assert await _privilege_map(owner) == GRANTED_COLUMNS
        assert await owner.fetchval("SELECT count(*) FROM pg_auth_members WHERE member = $1::regrole", ROLE) == 0
        default_acl = await owner.fetch("SELECT e.grantee FROM pg_default_acl d, aclexplode(d.defaclacl) e"
                                        " WHERE e.grantee IN (0, $1::regrole)", ROLE)
        assert default_acl == []
    finally:
        await owner.close()
    with pytest.raises(asyncpg.InvalidPasswordError):
        await connect_as_grafana(server, database, PASSWORD)
    conn = await connect_as_grafana(server, database, "a new password")
    try:
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await conn.fetch("SELECT * FROM api_keys")
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await conn.fetch("SELECT details FROM audit_log")
        assert await conn.fetchval("SELECT slug FROM projects") == "acme"
    finally:
        await conn.close()


async def test_init_script_refuses_to_run_without_a_password(postgres_server: EmbeddedPostgres,
                                                             database_url: str) -> None:
    database = _database_name(database_url)
    missing = await asyncio.to_thread(run_init_script, postgres_server, database, None)
    assert missing.returncode != 0 and "GRAFANA_PG_PASSWORD" in missing.stderr
    empty = await asyncio.to_thread(run_init_script, postgres_server, database, "")
    assert empty.returncode != 0
    # The SQL on its own, without the psql variable, refuses too (nothing half-applied).
    result = await asyncio.to_thread(
        subprocess.run,
        [str(POSTGRES_BIN_PATH / "psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", str(postgres_server.socket_dir),
         "-U", "postgres", "-d", database, "-f", str(GRANTS_SQL)],
        capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode != 0 and "ro_password" in result.stderr
    conn = await asyncpg.connect(database_url)
    try:
        assert await conn.fetchval(
            "SELECT count(*) FROM information_schema.column_privileges WHERE grantee = $1"
            " AND table_catalog = current_database()", ROLE) == 0
    finally:
        await conn.close()


def test_grants_sql_lists_the_same_columns_as_this_test() -> None:
    """The GRANT lines of postgres/grafana_readonly.sql, read as text, match GRANTED_COLUMNS."""
    # Statements only: comments and the DO blocks (which revoke, by building statements) left out.
    text = re.sub(r"--[^\n]*", "", GRANTS_SQL.read_text())
    text = re.sub(r"\$\$.*?\$\$", "", text, flags=re.DOTALL)
    found: dict[str, set[str]] = {}
    for columns, table in re.findall(r"GRANT SELECT \(([^)]*)\) ON (\w+) TO grafana_ro", text):
        found[table] = {column.strip() for column in columns.split(",")}
    assert found == GRANTED_COLUMNS
    assert not re.search(r"GRANT\s+(SELECT|ALL)[^(;]*\bON\s+(ALL\s+TABLES|TABLE)\b", text, re.IGNORECASE), (
        "table-wide grants would expose columns added later")
    assert "ALTER DEFAULT PRIVILEGES" not in text, (
        "no default privileges: a new table must not be readable until it is listed")
    assert not {"api_keys", "users", "audit_log", "providers"} & found.keys()


# --- ClickHouse ----------------------------------------------------------------------------------------------

# Keep in step with <grants> in clickhouse/docker/users.d/grafana_readonly.xml.
CLICKHOUSE_GRANTED_TABLES = {"benchlab.request_events", "benchlab.scores"}
# Tables created by clickhouse/migrations that Grafana must not read. The rollups (0007) serve the API's
# large analytics queries; the dashboards read request_events, so least privilege leaves the rollups and
# their views out.
CLICKHOUSE_NOT_FOR_GRAFANA = {"schema_migrations", "request_rollup_minute", "request_rollup_minute_mv",
                              "request_rollup_run_hour", "request_rollup_run_hour_mv"}
PROFILE_LIMITS = ("max_execution_time", "max_memory_usage", "max_result_rows")


def _clickhouse_users() -> ElementTree.Element:
    return ElementTree.parse(CLICKHOUSE_USERS_FILE).getroot()


def _grafana_user() -> ElementTree.Element:
    user = _clickhouse_users().find(f"./users/{ROLE}")
    assert user is not None, f"{CLICKHOUSE_USERS_FILE.name} defines no {ROLE} user"
    return user


def _grafana_profile() -> ElementTree.Element:
    profile_name = _grafana_user().findtext("profile")
    profile = _clickhouse_users().find(f"./profiles/{profile_name}")
    assert profile is not None, f"{ROLE}'s profile {profile_name!r} is not defined in {CLICKHOUSE_USERS_FILE.name}"
    return profile


def _grant_queries() -> list[str]:
    return [" ".join((query.text or "").split()) for query in _grafana_user().findall("./grants/query")]


def test_clickhouse_user_password_comes_from_the_environment() -> None:
    user = _grafana_user()
    passwords = [child for child in user if child.tag.startswith("password") or child.tag == "no_password"]
    assert len(passwords) == 1 and passwords[0].tag == "password", (
        f"{ROLE} must have exactly one <password from_env=...>, found {[p.tag for p in passwords]}")
    assert passwords[0].get("from_env") == "GRAFANA_CH_PASSWORD" and not (passwords[0].text or "").strip()
    assert user.findtext("access_management", "0").strip() == "0", f"{ROLE} must not manage users or grants"


def test_clickhouse_profile_is_readonly_2_with_bounded_limits() -> None:
    profile = _grafana_profile()
    assert profile.findtext("readonly") == "2", (
        "readonly=2: no writes or DDL, but the Grafana plugin may send max_execution_time with every query")
    constraints = profile.find("constraints")
    assert constraints is not None, "readonly=2 lets a client change any setting: bound the limits"
    for name in PROFILE_LIMITS:
        value = profile.findtext(name)
        assert value is not None and int(value) > 0, f"the profile must set {name} (0 would mean no limit)"
        bound = constraints.find(name)
        assert bound is not None, f"{name} needs a constraint, or a client could raise it under readonly=2"
        low, high = int(bound.findtext("min", "0")), int(bound.findtext("max", "0"))
        assert 1 <= low <= int(value) <= high, f"{name}={value} must lie in its constraint [{low}, {high}]"
        assert bound.find("changeable_in_readonly") is None, "unneeded under readonly=2"
    assert int(constraints.findtext("max_execution_time/max", "0")) >= 60, "Grafana's queryTimeout is 60 s"


def test_clickhouse_grants_are_exactly_select_on_the_event_tables() -> None:
    queries = _grant_queries()
    pattern = re.compile(r"GRANT SELECT ON (\w+\.\w+)")
    assert all(pattern.fullmatch(query) for query in queries), (
        f"{ROLE} may only get `GRANT SELECT ON <db>.<table>` (no wildcard, no other privilege): {queries}")
    assert {pattern.fullmatch(query).group(1) for query in queries} == CLICKHOUSE_GRANTED_TABLES  # type: ignore[union-attr]


def test_every_clickhouse_table_is_classified_for_grafana() -> None:
    """A table a migration adds (a rollup, say) must be granted to Grafana or deliberately kept from it."""
    created = set()
    for migration in sorted(CLICKHOUSE_MIGRATIONS.glob("*.sql")):
        created |= set(re.findall(r"CREATE\s+(?:MATERIALIZED\s+VIEW|TABLE|VIEW)\s+(?:IF\s+NOT\s+EXISTS\s+)?"
                                  r"(?:benchlab\.)?`?(\w+)`?", migration.read_text(), re.IGNORECASE))
    assert {"request_events", "scores"} <= created
    granted = {table.split(".", 1)[1] for table in CLICKHOUSE_GRANTED_TABLES}
    assert created - CLICKHOUSE_NOT_FOR_GRAFANA == granted, (
        f"tables created by clickhouse/migrations {sorted(created)}: add each to the grants in "
        f"{CLICKHOUSE_USERS_FILE.name} and CLICKHOUSE_GRANTED_TABLES, or to CLICKHOUSE_NOT_FOR_GRAFANA")


async def test_clickhouse_engine_accepts_the_profile_and_the_grants(clickhouse: ClickHouseStore) -> None:
    """chDB (the same engine as the server image) knows every setting the profile names and parses each grant."""
    profile = _grafana_profile()
    constraints = profile.find("constraints")
    names = sorted({child.tag for child in profile if child.tag != "constraints"}
                   | {child.tag for child in (constraints if constraints is not None else [])})
    known = await clickhouse.query("SELECT name FROM system.settings WHERE name IN {names:Array(String)}",
                                   {"names": names}, caller="tests")
    assert sorted(row[0] for row in known.rows) == names, "the profile names a setting ClickHouse does not know"
    for query in _grant_queries():
        formatted = await clickhouse.query("SELECT formatQuery({q:String})", {"q": f"{query} TO {ROLE}"},
                                           caller="tests")
        assert formatted.rows[0][0] == f"{query} TO {ROLE}"


def test_clickhouse_system_tables_need_a_grant() -> None:
    access = ElementTree.parse(CLICKHOUSE_ACCESS_FILE).getroot()
    for setting in ("select_from_system_db_requires_grant", "select_from_information_schema_requires_grant"):
        assert access.findtext(f"./access_control_improvements/{setting}") == "true", (
            f"{setting} must be true: otherwise {ROLE} reads system.query_log (every query's text)")


async def test_every_dashboard_postgres_query_runs_as_grafana_ro(grafana_db: dict[str, Any]) -> None:
    """The grants and the dashboards agree: each PostgreSQL panel and variable query reads only granted columns."""
    from datetime import UTC, datetime, timedelta

    from tests.helpers import grafana

    time = grafana.TimeRange(datetime.now(UTC) - timedelta(days=1), datetime.now(UTC) + timedelta(hours=1))
    some_id = str(grafana_db["project_id"])
    conn = await connect_as_grafana(grafana_db["server"], grafana_db["database"])
    checked = 0
    try:
        for dashboard in grafana.load_dashboards().values():
            selections = {variable["name"]: grafana.Selection([some_id], [some_id])
                          for variable in dashboard["templating"]["list"]}
            queries = [grafana.variable_sql(v) for v in dashboard["templating"]["list"]
                       if v.get("type") == "query" and grafana.datasource_type(v.get("datasource"), dashboard)
                       == "grafana-postgresql-datasource"]
            queries += [target["rawSql"] for panel, target in grafana.panel_queries(dashboard)
                        if grafana.datasource_type(target.get("datasource") or panel.get("datasource"), dashboard)
                        == "grafana-postgresql-datasource"]
            for sql in queries:
                expanded = grafana.expand(sql, "grafana-postgresql-datasource", selections, time)
                await conn.fetch(expanded)  # permission denied would raise
                checked += 1
    finally:
        await conn.close()
    assert checked >= 5, checked
