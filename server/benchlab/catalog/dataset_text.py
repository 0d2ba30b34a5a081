"""Dataset items from JSONL or CSV text, by the same rules as a spec's `dataset.file` (`spec.datasets`).

The file reader there starts from a path; an import starts from text. This adapter calls the same record
readers (`text_records`) and item reader, then renames their `dataset.file:<line>` locations to
`line <line>`, the way a person pasting or uploading a file thinks of them. Every problem is collected and
sorted by line; one bad line rejects the whole import, so a dataset never holds half a file.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from benchlab.errors import InvalidInputError
from benchlab.spec import DatasetItem
from benchlab.spec.datasets import LABEL, TEXT_FORMATS, read_item, text_records
from benchlab.spec.fields import check_unique

MAX_IMPORT_BYTES = 20 * 1024 * 1024
MAX_IMPORT_ITEMS = 100_000
_LOCATION_FIRST = re.compile(rf"^{re.escape(LABEL)}:(\d+)(?:: |\.)")  # "dataset.file:4.vars: ..."
# "(first at dataset.file:2.id)" -> "(first at line 2)"; "used by dataset.file:3.assert[1]" -> "... line 3 assert[1]"
_LOCATION_INSIDE = re.compile(rf"{re.escape(LABEL)}:(\d+)(?:\.([A-Za-z_](?:[\w\[\]]|\.(?=\w))*))?")
_LINE = re.compile(r"^line (\d+):")


@dataclass(frozen=True)
class ImportedItem:
    line: int
    item: DatasetItem
    has_own_id: bool  # False: the id was given by position (item-0001, ...), as in spec files


def parse_items(text: str, format: str) -> list[ImportedItem]:
    """Every item of `text`, or InvalidInputError listing every bad line (`line 17: invalid JSON: ...`)."""
    if format not in TEXT_FORMATS:
        raise InvalidInputError([f"format: '{format}' is not one of {', '.join(TEXT_FORMATS)}"])
    size = len(text.encode("utf-8", "surrogatepass"))
    if size > MAX_IMPORT_BYTES:
        raise InvalidInputError([f"text: {size / 2**20:.1f} MB is more than an import may hold "
                                 f"({MAX_IMPORT_BYTES // 2**20} MB); split it and import the parts with mode append"])
    problems: list[str] = []
    records = text_records(text, format, problems)  # a lone surrogate is a line's problem, not a crash
    if len(records) > MAX_IMPORT_ITEMS:
        raise InvalidInputError([f"text: {len(records)} items are more than an import may hold ({MAX_IMPORT_ITEMS}); "
                                 "split it and import the parts with mode append"])
    imported = []
    for position, (location, raw) in enumerate(records):
        item = read_item(problems, location, raw, position)
        if item.messages and item.vars:
            problems.append(f"{location}.messages: an imported item has vars or messages, not both (a stored item "
                            "keeps only its messages); move the vars into the messages, or drop the messages")
        imported.append(ImportedItem(int(location.rsplit(":", 1)[1]), item, raw.get("id") is not None))
    check_unique(problems, [(f"{LABEL}:{entry.line}.id", entry.item.id) for entry in imported], "item id")
    if not records and not problems:
        problems.append("text: has no items")
    if problems:
        raise InvalidInputError(_by_line([_relabel(problem) for problem in problems]))
    return imported


def _relabel(problem: str) -> str:
    problem = _LOCATION_FIRST.sub(lambda match: f"line {match.group(1)}: ", problem, count=1)
    return _LOCATION_INSIDE.sub(_line_inside, problem)


def _line_inside(match: re.Match[str]) -> str:
    """A location inside a message: the line, and the path within the item unless it is a plain key (`id`)."""
    path = match.group(2)
    return f"line {match.group(1)}" if path is None or path.isidentifier() else f"line {match.group(1)} {path}"


def _by_line(problems: list[str]) -> list[str]:
    """Problems about the whole text first, then by line (the readers report per kind, not per line)."""
    def line(problem: str) -> int:
        match = _LINE.match(problem)
        return int(match.group(1)) if match else 0

    return sorted(problems, key=line)
