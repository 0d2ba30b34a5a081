"""Find the language-neutral folders (SQL migrations, schema, dashboards) wherever benchlab is installed.

A wheel carries them under `benchlab/_shipped/` (see setup.py); an editable install or a checkout reads
them from the repository root.
"""

from pathlib import Path

_PACKAGE_DIR = Path(__file__).resolve().parent


def shipped_folder(name: str) -> Path:
    """Return the folder `name` (e.g. "postgres") from the wheel, or from the repository in a checkout."""
    for candidate in (_PACKAGE_DIR / "_shipped" / name, _PACKAGE_DIR.parent.parent / name):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(
        f"benchlab's '{name}' folder is missing from this installation; reinstall the package"
    )


def postgres_migrations_dir() -> Path:
    return shipped_folder("postgres") / "migrations"


def clickhouse_migrations_dir() -> Path:
    return shipped_folder("clickhouse") / "migrations"


def schema_sdl_path() -> Path:
    return shipped_folder("schema") / "schema.graphql"
