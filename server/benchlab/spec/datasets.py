"""The `dataset` section: items inline or from a JSONL or CSV file, validated alike.

File records carry their location, `dataset.file:<line>`, so every later problem about such an item (a
missing template variable, a bad `metadata`) points at the line to edit, not at an index to count.

- JSONL (`.jsonl`): one JSON object per line with the keys of an inline item; blank lines are skipped.
- CSV (`.csv`): a header row, then one item per row. Columns `id` and `expected_output` are taken as text,
  `expected_tool_calls`, `metadata`, `assert` (a JSON list of evaluators) and `labels` (a JSON object) hold
  JSON, and every other column becomes a var of that name. An empty cell means "not given" for these six
  columns; an empty var cell is the empty string.
Files are read as UTF-8 (a byte-order mark is ignored); each line that is not (a Latin-1 export, say) is
reported with its line and column, and the other problems of the file are still listed. Lines end at `\n`
(`\r\n` too), so a JSON value may hold U+2028 and its like. An item without `id` gets `item-0001`,
`item-0002`, ... by position (1-based), so ids are deterministic and match the order of the file.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from benchlab.spec.evaluators import check_item, read_evaluators, read_labels
from benchlab.spec.fields import Located, Section, check_unique, json_copy
from benchlab.spec.model import DatasetItem

LABEL = "dataset.file"
JSON_COLUMNS = ("expected_tool_calls", "metadata", "assert", "labels")
TEXT_COLUMNS = ("id", "expected_output")
TEXT_FORMATS = ("jsonl", "csv")

DATASET_KEYS = ("name", "items", "file")
ITEM_KEYS = ("id", "vars", "messages", "expected_output", "expected_tool_calls", "metadata", "assert", "labels")
ITEM_ROLES = ("system", "developer", "user", "assistant", "tool")
# A byte that is not UTF-8, as `surrogateescape` decodes it (U+DC80-U+DCFF), or any other lone surrogate: the
# only code points a Python str can hold that UTF-8 (and so PostgreSQL) cannot.
_UNDECODABLE = re.compile(r"[\ud800-\udfff]")


def read_dataset(top: Section, base_dir: Path | None) -> tuple[str, list[Located[DatasetItem]]]:
    """The `dataset` section: its name and its items, each with the location problems about it should name."""
    section = top.section("dataset", DATASET_KEYS, required=True)
    if not isinstance(top.raw("dataset"), Mapping):
        return "", []  # already reported as missing or not a mapping
    name = section.label("name", required=True)
    if section.has("items") and section.has("file"):
        top.problems.append("dataset: give items or file, not both")
        records: Sequence[Located[object]] = []
    elif section.has("file"):
        records = _file_records(section, base_dir)
    else:
        records = section.entries("items", required="(inline items), or file (a .jsonl or .csv path)")
    items: list[Located[DatasetItem]] = []
    for position, (location, raw) in enumerate(records):
        item = read_item(top.problems, location, raw, position)
        if isinstance(raw, Mapping):  # a non-mapping was reported; checking its vars would only add noise
            items.append((location, item))
    check_unique(top.problems, [(f"{location}.id", item.id) for location, item in items], "item id")
    return name, items


def _file_records(dataset: Section, base_dir: Path | None) -> list[Located[dict[str, Any]]]:
    file = dataset.text("file", max_len=4096)
    if not file:
        return []
    if base_dir is None:
        dataset.report("file", "only allowed in a spec read from a file (or given base_dir); give items inline")
        return []
    return _read_file(base_dir / Path(file).expanduser(), dataset.problems)


def read_item(problems: list[str], location: str, raw: object, position: int) -> DatasetItem:
    """One dataset item, inline or read from a file; `position` (0-based) gives an item without id its id.

    The item's own evaluators (`assert`) are checked against it here; what needs the rest of the spec (judges,
    the experiment's evaluators, which names `labels` may use) is checked by `spec.load`.
    """
    section = Section(problems, location, raw, ITEM_KEYS)
    expected = section.raw("expected_output")
    item = DatasetItem(
        id=section.label("id", default=f"item-{position + 1:04d}"),
        vars=section.json_mapping("vars"),
        messages=_item_messages(section),
        expected_output=None if expected is None else json_copy(expected, section.at("expected_output"), problems),
        expected_tool_calls=_tool_calls(section),
        metadata=section.json_mapping("metadata"),
        asserts=read_evaluators(section, "assert", item=True),
        labels=read_labels(section, "labels"),
    )
    own = [(f"{section.at('assert')}[{index}]", evaluator) for index, evaluator in enumerate(item.asserts or ())]
    check_item(problems, location, item, own)
    return item


def _item_messages(item: Section) -> tuple[dict[str, Any], ...]:
    """Literal chat messages in OpenAI's shape (tool calls and parts allowed); they are not templates."""
    messages = []
    for path, raw in item.entries("messages"):
        if not isinstance(raw, Mapping):
            item.problems.append(f"{path}: must be a mapping")
            continue
        message = json_copy(raw, path, item.problems)
        if message.get("role") not in ITEM_ROLES:
            item.problems.append(f"{path}.role: must be one of {', '.join(ITEM_ROLES)}")
        if not isinstance(message.get("content"), str | list | None):
            item.problems.append(f"{path}.content: must be a string, a list of parts or null")
        messages.append(message)
    return tuple(messages)


def _tool_calls(item: Section) -> tuple[dict[str, Any], ...] | None:
    if not item.has("expected_tool_calls"):
        return None
    calls = []
    for path, raw in item.entries("expected_tool_calls"):
        section = Section(item.problems, path, raw, ("name", "arguments"))
        calls.append({"name": section.text("name", required=True), "arguments": section.json_mapping("arguments")})
    return tuple(calls)


def _read_file(path: Path, problems: list[str]) -> list[Located[dict[str, Any]]]:
    """The items in `path`, each with its location; what cannot be read is added to `problems`."""
    readers = {".jsonl": _jsonl_records, ".csv": _csv_records}
    reader = readers.get(path.suffix.lower())
    if reader is None:
        problems.append(f"{LABEL}: unsupported file type '{path.suffix}' (use .jsonl or .csv)")
        return []
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        problems.append(f"{LABEL}: file not found: {path}")
        return []
    except OSError as error:
        problems.append(f"{LABEL}: cannot read {path}: {error.strerror}")
        return []
    before = len(problems)
    records = reader(decode_text(data, problems), problems)
    if not records and len(problems) == before:
        problems.append(f"{LABEL}: has no items")
    return records


def text_records(text: str, format: str, problems: list[str]) -> list[Located[dict[str, Any]]]:
    """The records of a dataset's text in `format` (one of TEXT_FORMATS), read exactly as a dataset file of
    that type: decoded by `decode_text`, each record located `dataset.file:<line>`."""
    reader = {"jsonl": _jsonl_records, "csv": _csv_records}[format]
    return reader(decode_text(text, problems), problems)


def decode_text(data: bytes | str, problems: list[str]) -> str:
    """The text of a dataset, from a file's bytes or an import's text, without its byte-order mark.

    Each line holding a byte that is not UTF-8 (or, in text, a lone surrogate) is reported once, as
    `dataset.file:<line>: ... at column <n>`, and those characters become U+FFFD: the line is still parsed,
    so the other problems of the file are found in the same pass. The one decoder for spec files and imports.
    """
    text = (data.decode("utf-8", "surrogateescape") if isinstance(data, bytes) else data).removeprefix("\ufeff")
    line, counted_to, reported = 1, 0, 0
    for match in _UNDECODABLE.finditer(text):
        line += text.count("\n", counted_to, match.start())
        counted_to = match.start()
        if line == reported:
            continue  # one problem per line: its first bad character
        reported = line
        code = ord(match.group())
        what = f"byte 0x{code - 0xDC00:02X}" if 0xDC80 <= code <= 0xDCFF else f"unpaired surrogate U+{code:04X}"
        column = match.start() - text.rfind("\n", 0, match.start())
        problems.append(f"{LABEL}:{line}: not UTF-8: {what} at column {column} (convert the file to UTF-8)")
    return _UNDECODABLE.sub("\ufffd", text) if reported else text


def _jsonl_records(text: str, problems: list[str]) -> list[Located[dict[str, Any]]]:
    records: list[Located[dict[str, Any]]] = []
    for number, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        location = f"{LABEL}:{number}"
        try:
            value = json.loads(line)
        except json.JSONDecodeError as error:
            problems.append(f"{location}: invalid JSON: {error.msg} (column {error.colno})")
            continue
        if isinstance(value, dict):
            records.append((location, value))
        else:
            problems.append(f"{location}: must be a JSON object")
    return records


def _csv_records(text: str, problems: list[str]) -> list[Located[dict[str, Any]]]:
    reader = csv.reader(io.StringIO(text, newline=""))
    rows: list[tuple[int, list[str]]] = []  # (first line of the row, its cells); a quoted cell may span lines
    last_line = 0
    try:
        for row in reader:
            if row:
                rows.append((last_line + 1, row))
            last_line = reader.line_num
    except csv.Error as error:
        problems.append(f"{LABEL}:{reader.line_num}: invalid CSV: {error}")
        return []
    if not rows:
        return []
    header_line, header = rows[0]
    header = [name.strip() for name in header]
    if not _header_ok(header, header_line, problems):
        return []
    records: list[Located[dict[str, Any]]] = []
    for line, row in rows[1:]:
        location = f"{LABEL}:{line}"
        if len(row) != len(header):
            problems.append(f"{location}: {len(row)} fields, the header has {len(header)}")
        else:
            records.append((location, _csv_record(dict(zip(header, row, strict=True)), location, problems)))
    return records


def _header_ok(header: list[str], line: int, problems: list[str]) -> bool:
    seen: set[str] = set()
    for index, name in enumerate(header, start=1):
        if not name:
            problems.append(f"{LABEL}:{line}: column {index} has no name")
        elif name in seen:
            problems.append(f"{LABEL}:{line}: duplicate column '{name}'")
        seen.add(name)
    return all(header) and len(seen) == len(header)


def _csv_record(cells: dict[str, str], location: str, problems: list[str]) -> dict[str, Any]:
    record: dict[str, Any] = {name: cells[name] for name in TEXT_COLUMNS if cells.get(name)}
    for name in JSON_COLUMNS:
        if cells.get(name, "").strip():
            try:
                record[name] = json.loads(cells[name])
            except json.JSONDecodeError as error:
                problems.append(f"{location}.{name}: invalid JSON: {error.msg} (column {error.colno})")
    record["vars"] = {name: value for name, value in cells.items() if name not in TEXT_COLUMNS + JSON_COLUMNS}
    return record
