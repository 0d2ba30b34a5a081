"""A dataset version's items as JSONL in exactly the format `importDatasetItems` reads (catalog/dataset_text.py).

One JSON object per item, in the version's order, with every field the item has: `id`, `vars` or `messages`,
`expected_output` (its JSON type kept: `4` stays a number, `"4"` a string), `expected_tool_calls` (`[]`: the
model must call no tool), `metadata`, `assert` (the item's own evaluators, as documents) and `labels`. Importing
the file into any dataset gives items equal to these, hence the same version content hash. Revision numbers are
not part of an item's content: a dataset's revisions count its own history, so a new dataset starts at 1.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from benchlab.spec import DatasetItem
from benchlab.spec.model import to_plain


def item_document(item: DatasetItem) -> dict[str, object]:
    """The item as an import line's object (the spec's own document form: `asserts` is written `assert`)."""
    document: dict[str, object] = to_plain(item)
    if item.messages:
        document.pop("vars", None)  # a stored item keeps only its messages; an import refuses both
    else:
        document.pop("messages", None)
    return document


def item_lines(items: Sequence[DatasetItem]) -> bytes:
    # allow_nan=False: a stored item never holds NaN (JSON has none), so one would be a bug to surface.
    return "".join(json.dumps(item_document(item), ensure_ascii=False, separators=(",", ":"), allow_nan=False)
                   + "\n" for item in items).encode("utf-8")
