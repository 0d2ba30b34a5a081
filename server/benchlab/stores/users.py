"""Users and their identities at identity providers (tables `users` and `user_identities`).

An identity is an (issuer, subject) pair a provider vouches for; a user may hold several. Emails are unique
without regard to case, so every lookup by email compares lower-cased.
"""

from __future__ import annotations

from uuid import UUID

import asyncpg

from benchlab.stores.postgres import PgConnection, fetch_one

SIGN_UP_LOCK = 0x62656E63_686C6163  # "benchlac": serialises "is this the first user?" between sign-ins

_SIGN_IN_COLUMNS = "id, email, is_instance_admin, disabled_at"


async def find_by_identity_for_update(conn: PgConnection, issuer: str, subject: str) -> asyncpg.Record | None:
    """The user behind (issuer, subject), identity row locked until the transaction ends."""
    return await conn.fetchrow(
        "SELECT u.id, u.email, u.is_instance_admin, u.disabled_at FROM user_identities i "
        "JOIN users u ON u.id = i.user_id WHERE i.issuer = $1 AND i.subject = $2 FOR UPDATE OF i",
        issuer, subject)


async def lock_sign_ups(conn: PgConnection) -> None:
    """Hold the sign-up lock until the transaction ends, so two first sign-ins cannot both be first."""
    await conn.execute("SELECT pg_advisory_xact_lock($1)", SIGN_UP_LOCK)


async def find_by_email(conn: PgConnection, email: str) -> asyncpg.Record | None:
    """id, email, is_instance_admin, disabled_at of the user with `email` (any case), or None."""
    return await conn.fetchrow(f"SELECT {_SIGN_IN_COLUMNS} FROM users WHERE lower(email) = lower($1)", email)


async def find_by_id(conn: PgConnection, user_id: UUID) -> asyncpg.Record | None:
    """id, email, is_instance_admin, disabled_at of the user, or None."""
    return await conn.fetchrow(f"SELECT {_SIGN_IN_COLUMNS} FROM users WHERE id = $1", user_id)


async def find_enabled(conn: PgConnection, user_id: UUID) -> asyncpg.Record | None:
    """id, email, display_name, is_instance_admin of the user unless disabled or gone."""
    return await conn.fetchrow("SELECT id, email, display_name, is_instance_admin FROM users "
                               "WHERE id = $1 AND disabled_at IS NULL", user_id)


async def any_user_except(conn: PgConnection, email: str) -> bool:
    """Whether a user other than the one with `email` (lower case) exists."""
    return await conn.fetchval("SELECT EXISTS (SELECT 1 FROM users WHERE lower(email) <> $1)", email)


async def create_user(conn: PgConnection, email: str, display_name: str,
                      is_instance_admin: bool) -> asyncpg.Record:
    """Insert a user; returns its id, email, is_instance_admin, disabled_at."""
    return await fetch_one(
        conn,
        f"INSERT INTO users (email, display_name, is_instance_admin) VALUES ($1, $2, $3) RETURNING {_SIGN_IN_COLUMNS}",
        email, display_name, is_instance_admin)


async def upsert_instance_admin(conn: PgConnection, email: str, display_name: str) -> UUID:
    """The id of the user with `email`, created if missing, made instance admin either way."""
    return await conn.fetchval(
        "INSERT INTO users (email, display_name, is_instance_admin) VALUES ($1, $2, true) "
        "ON CONFLICT ((lower(email))) DO UPDATE SET is_instance_admin = true RETURNING id", email, display_name)


async def add_identity(conn: PgConnection, user_id: UUID, provider: str, issuer: str, subject: str,
                       email: str) -> None:
    await conn.execute("INSERT INTO user_identities (user_id, provider, issuer, subject, email) "
                       "VALUES ($1, $2, $3, $4, $5)", user_id, provider, issuer, subject, email)


async def record_identity_sign_in(conn: PgConnection, issuer: str, subject: str, provider: str,
                                  email: str) -> None:
    """Note a sign-in through (issuer, subject) with the provider name and email it came with."""
    await conn.execute("UPDATE user_identities SET provider = $3, email = $4, last_login_at = now() "
                       "WHERE issuer = $1 AND subject = $2", issuer, subject, provider, email)


async def set_display_name(conn: PgConnection, user_id: UUID, display_name: str) -> None:
    await conn.execute("UPDATE users SET display_name = $2 WHERE id = $1 AND display_name <> $2",
                       user_id, display_name)


async def change_email_if_free(conn: PgConnection, user_id: UUID, email: str) -> bool:
    """Give the user `email` unless another user has it (any case); returns whether it changed."""
    status = await conn.execute(
        "UPDATE users SET email = $2 WHERE id = $1 AND NOT EXISTS "
        "(SELECT 1 FROM users WHERE lower(email) = lower($2) AND id <> $1)", user_id, email)
    return not status.endswith(" 0")


async def set_disabled(conn: PgConnection, user_id: UUID, disabled: bool) -> None:
    """Disable (keeping the first time it was disabled) or enable the user."""
    await conn.execute("UPDATE users SET disabled_at = CASE WHEN $2 THEN coalesce(disabled_at, now()) END "
                       "WHERE id = $1", user_id, disabled)


async def set_instance_admin(conn: PgConnection, user_id: UUID, is_instance_admin: bool) -> None:
    await conn.execute("UPDATE users SET is_instance_admin = $2 WHERE id = $1", user_id, is_instance_admin)
