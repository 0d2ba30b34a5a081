"""Splitting migration files into statements, and reading a migrations folder."""

from pathlib import Path

import pytest

from benchlab.resources import clickhouse_migrations_dir, postgres_migrations_dir
from benchlab.stores.sql_files import MigrationError, load_migrations, split_statements


def test_splits_on_top_level_semicolons_only() -> None:
    text = """-- a comment; not a statement end
CREATE TABLE a (x text DEFAULT 'semi;colon');
/* block; comment */
CREATE FUNCTION f() RETURNS int AS $body$ SELECT 1; $body$ LANGUAGE sql;
INSERT INTO "odd;name" VALUES ('it''s; fine')
"""
    statements = split_statements(text)
    assert [s.line for s in statements] == [2, 4, 5]
    assert statements[0].sql == "CREATE TABLE a (x text DEFAULT 'semi;colon')"
    assert "SELECT 1; $body$" in statements[1].sql
    assert statements[2].sql.endswith("('it''s; fine')")


def test_comment_only_text_has_no_statements() -> None:
    assert split_statements("-- nothing here;\n/* nor; here */\n;\n") == []


def test_rejects_badly_named_and_duplicate_files(tmp_path: Path) -> None:
    (tmp_path / "1_bad.sql").write_text("SELECT 1;")
    with pytest.raises(MigrationError, match="must be named NNNN_lowercase_name.sql"):
        load_migrations(tmp_path)
    (tmp_path / "1_bad.sql").unlink()
    (tmp_path / "0001_a.sql").write_text("SELECT 1;")
    (tmp_path / "0001_b.sql").write_text("SELECT 2;")
    with pytest.raises(MigrationError, match="version 1 is also used"):
        load_migrations(tmp_path)


def test_shipped_migrations_load_in_order() -> None:
    for folder in (postgres_migrations_dir(), clickhouse_migrations_dir()):
        files = load_migrations(folder)
        assert files, f"no migrations in {folder}"
        assert [f.version for f in files] == sorted({f.version for f in files})
        assert all(f.statements() for f in files)
