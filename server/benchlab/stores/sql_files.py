"""Read numbered migration files and split SQL text into statements.

Migrations run statement by statement so a failure can name the statement (and ClickHouse accepts only one
statement per query). The splitter understands what can hide a semicolon: quoted strings, quoted
identifiers, PostgreSQL dollar quotes and comments.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

from benchlab.errors import BenchlabError

_FILE_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")
_DOLLAR_TAG = re.compile(r"\$[A-Za-z_0-9]*\$")
_LEADING_NOISE = re.compile(r"(?:\s+|--[^\n]*|/\*.*?\*/)*", re.S)  # whitespace and comments before code


class MigrationError(BenchlabError):
    """A migration could not be applied, or the recorded history disagrees with the files."""


@dataclass(frozen=True)
class Statement:
    sql: str
    line: int  # 1-based line of the statement's first character in its file

    @property
    def summary(self) -> str:
        first_line = self.sql.strip().splitlines()[0]
        return first_line if len(first_line) <= 80 else first_line[:77] + "..."


@dataclass(frozen=True)
class MigrationFile:
    version: int
    name: str
    path: Path
    text: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.text.encode()).hexdigest()

    @property
    def label(self) -> str:
        """How the file is named in messages: its folder and file name, e.g. postgres/migrations/0001_core.sql."""
        return "/".join(self.path.parts[-3:])

    def statements(self) -> list[Statement]:
        return split_statements(self.text)


def load_migrations(folder: Path) -> list[MigrationFile]:
    """All migration files in `folder`, ordered by version; rejects strays and duplicate numbers."""
    if not folder.is_dir():
        raise MigrationError(f"migration folder {folder} does not exist")
    files: dict[int, MigrationFile] = {}
    for path in sorted(folder.iterdir()):
        if path.suffix != ".sql":
            continue
        match = _FILE_NAME.match(path.name)
        if not match:
            raise MigrationError(f"{path}: migration files must be named NNNN_lowercase_name.sql")
        version = int(match.group(1))
        if version in files:
            raise MigrationError(f"{path}: version {version} is also used by {files[version].path.name}")
        files[version] = MigrationFile(version, match.group(2), path, path.read_text(encoding="utf-8"))
    return [files[v] for v in sorted(files)]


def split_statements(text: str) -> list[Statement]:
    """Split SQL text on top-level semicolons; drop statements that are only comments or blank."""
    statements: list[Statement] = []
    start = 0
    i = 0
    n = len(text)
    while i < n:
        ch = text[i]
        if ch == "-" and text.startswith("--", i):
            i = _find_or_end(text, "\n", i)
        elif ch == "/" and text.startswith("/*", i):
            i = _find_or_end(text, "*/", i + 2) + 1
        elif ch in ("'", '"', "`"):
            i = closing_quote(text, i, ch)
        elif ch == "$" and (tag := _DOLLAR_TAG.match(text, i)):
            i = _find_or_end(text, tag.group(0), tag.end()) + len(tag.group(0)) - 1
        elif ch == ";":
            _append(statements, text, start, i)
            start = i + 1
        i += 1
    _append(statements, text, start, n)
    return statements


def _append(statements: list[Statement], text: str, start: int, end: int) -> None:
    chunk = text[start:end]
    if not _has_code(chunk):
        return
    noise = _LEADING_NOISE.match(chunk)  # always matches (possibly nothing)
    leading = noise.end() if noise else 0
    line = text.count("\n", 0, start + leading) + 1
    statements.append(Statement(chunk[leading:].strip(), line))


def _has_code(chunk: str) -> bool:
    without_comments = re.sub(r"--[^\n]*|/\*.*?\*/", "", chunk, flags=re.S)
    return bool(without_comments.strip())


def _find_or_end(text: str, needle: str, start: int) -> int:
    found = text.find(needle, start)
    return len(text) - 1 if found < 0 else found


def closing_quote(text: str, i: int, quote: str) -> int:
    """Index of the quote closing the one at `i` (the last index when it is never closed); doubled quotes and
    backslash escapes stay inside the literal."""
    j = i + 1
    while j < len(text):
        if text[j] == "\\":
            j += 2
            continue
        if text[j] == quote:
            if j + 1 < len(text) and text[j + 1] == quote:
                j += 2
                continue
            return j
        j += 1
    return len(text) - 1
