"""`benchlab projects create` and `benchlab keys create|list`: a project and a CI key on a fresh install, no browser.

Whoever can run benchlab on the configured stores (read the data dir, or hold BENCHLAB_DATABASE_URL) already
holds the whole database, so these commands act as the instance admin: any role may be granted. They reach
PostgreSQL as `login-link` does (commands/configured_postgres.py), so they work while `benchlab serve` runs on
the same data dir. Every change is in the audit log under the actor `cli:<os user>`.

The key is minted and stored by the same code as `createApiKey` (auth/api_keys.py) and shown once: the last line
of stdout, or all of stdout with `--quiet`, so `KEY=$(benchlab keys create ... --quiet)` captures it.
`keys list` never shows secrets (they are not stored).
"""

from __future__ import annotations

import getpass
import json
import os
import re
import socket
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import asyncpg

from benchlab import catalog
from benchlab.auth.api_keys import CreatedKey, create_key
from benchlab.auth.audit import record
from benchlab.auth.roles import Role
from benchlab.commands.configured_postgres import on_configured_postgres
from benchlab.commands.report import table
from benchlab.config import Settings
from benchlab.errors import InvalidInputError, NotFoundError
from benchlab.stores import api_keys as key_store
from benchlab.stores.postgres import PgConnection
from benchlab.stores.projects import find_row_by_slug

EXPIRY_HELP = "a duration from now (12h, 30d, 2w, 1y) or a date or time in UTC (2027-01-01, 2027-01-01T12:00:00Z)"
_DURATION = re.compile(r"(\d{1,6})\s*([hdwy])")
_UNITS = {"h": timedelta(hours=1), "d": timedelta(days=1), "w": timedelta(weeks=1), "y": timedelta(days=365)}
NAME_MAX = 200


def cli_actor() -> str:
    """How the audit log names a person acting through these commands."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no login name and no passwd entry (some containers)
        user = f"uid-{os.getuid()}"
    return f"cli:{user}"


def parse_expiry(text: str, now: datetime | None = None) -> datetime:
    """When a key given `--expires text` expires (UTC); InvalidInputError unless it is a time in the future."""
    now = now or datetime.now(UTC)
    given = text.strip()
    duration = _DURATION.fullmatch(given.lower())
    try:
        if duration:
            count, unit = int(duration.group(1)), duration.group(2)
            if count == 0:
                raise InvalidInputError(f"--expires {text}: give a duration of at least 1{unit}")
            expires = now + count * _UNITS[unit]
        else:
            expires = datetime.fromisoformat(given)  # a date alone is its midnight
            if expires.tzinfo is None:
                expires = expires.replace(tzinfo=UTC)
    except (ValueError, OverflowError):
        raise InvalidInputError(f"--expires {text!r}: give {EXPIRY_HELP}") from None
    if expires <= now:
        raise InvalidInputError(f"--expires {text}: {expires:%Y-%m-%d %H:%M} UTC is in the past; give a future date "
                                "or a duration such as 30d")
    return expires


def _key_name(name: str | None, now: datetime) -> str:
    if name is None:
        return f"cli {now:%Y-%m-%d %H:%M}"
    name = name.strip()
    if not 1 <= len(name) <= NAME_MAX:
        raise InvalidInputError(f"--name: give 1 to {NAME_MAX} characters")
    return name


async def _project(conn: PgConnection, slug: str) -> asyncpg.Record:
    row = await find_row_by_slug(conn, slug)
    if row is None:
        raise NotFoundError(f"no project with slug {slug!r}; create it with `benchlab projects create {slug}`")
    return row


def projects_create_command(settings: Settings, slug: str, name: str | None, description: str) -> int:
    actor = cli_actor()

    async def job(conn: PgConnection) -> UUID:
        async with conn.transaction():
            created = await catalog.create_project(conn, slug, slug if name is None else name, description)
            await record(conn, actor=actor, action="project.create", target=created.slug, project_id=created.id,
                         host=socket.gethostname())
        return created.id

    project_id, _ = on_configured_postgres(settings, job)
    print(f"created project {slug} ({project_id}); make a key for it with "
          f"`benchlab keys create --project {slug} --role member`")
    return 0


@dataclass(frozen=True)
class _Made:
    key: CreatedKey
    project_slug: str


def keys_create_command(settings: Settings, project: str, role: str, name: str | None, expires: str | None,
                        quiet: bool) -> int:
    now = datetime.now(UTC)
    granted = Role(role)  # argparse allowed only the roles' values
    expires_at = None if expires is None else parse_expiry(expires, now)
    key_name = _key_name(name, now)
    actor = cli_actor()

    async def job(conn: PgConnection) -> _Made:
        async with conn.transaction():
            row = await _project(conn, project)
            key = await create_key(conn, project_id=row["id"], name=key_name, role=granted, created_by=None,
                                   expires_at=expires_at)
            await record(conn, actor=actor, action="api_key.create", target=str(key.key_id), project_id=row["id"],
                         name=key_name, role=granted.value, prefix=key.prefix, expires_at=expires_at,
                         host=socket.gethostname())
        return _Made(key, row["slug"])

    made, _ = on_configured_postgres(settings, job)
    if not quiet:
        until = f"expires {expires_at:%Y-%m-%d %H:%M} UTC" if expires_at else "does not expire"
        print(f"API key {key_name!r} of project {made.project_slug}: role {granted.value}, prefix {made.key.prefix}, "
              f"{until}; audited as {actor}")
        print("shown only now (it is stored hashed); send it as `Authorization: Bearer <key>`:")
    print(made.key.secret)
    return 0


def keys_list_command(settings: Settings, project: str, as_json: bool) -> int:
    async def job(conn: PgConnection) -> list[asyncpg.Record]:
        row = await _project(conn, project)
        return await key_store.list_keys(conn, row["id"])

    rows, _ = on_configured_postgres(settings, job)
    now = datetime.now(UTC)
    keys = [_key_entry(row, now) for row in rows]
    if as_json:
        print(json.dumps(keys, indent=2))
    elif not keys:
        print(f"project {project} has no API keys; create one with "
              f"`benchlab keys create --project {project} --role member`")
    else:
        header = ("prefix", "name", "role", "state", "created", "expires", "last used")
        print("\n".join(table([header, *(_key_row(key) for key in keys)])))
    return 0


def _key_entry(row: asyncpg.Record, now: datetime) -> dict[str, Any]:
    if row["revoked_at"] is not None:
        state = "revoked"
    elif row["expires_at"] is not None and row["expires_at"] <= now:
        state = "expired"
    else:
        state = "active"
    times = ("created_at", "expires_at", "revoked_at", "last_used_at")
    return {"id": str(row["id"]), "name": row["name"], "role": row["role"], "prefix": row["prefix"], "state": state,
            **{column: row[column].isoformat() if row[column] else None for column in times}}


def _key_row(key: dict[str, Any]) -> Sequence[str]:
    def when(value: str | None) -> str:
        return datetime.fromisoformat(value).astimezone(UTC).strftime("%Y-%m-%d %H:%M") if value else "-"

    return (key["prefix"], key["name"], key["role"], key["state"], when(key["created_at"]), when(key["expires_at"]),
            when(key["last_used_at"]))
