"""`benchlab import dataset NAME FILE --project SLUG`: items from JSONL or CSV as a new version of a dataset.

The other half of `benchlab export dataset`: its file, imported into any dataset (created when the project has
none of that name), gives the same items and the same version content hash. The rules are importDatasetItems'
(catalog/dataset_import.py): `--mode replace` (default) makes a version of exactly the file's items, `append`
adds them to the latest version's; content already stored as a version is that version again (nothing new).
Where it runs follows `benchlab run`: through the server holding the data dir or given with `--server`
(`createDataset`, `importDatasetItems`), else on the configured PostgreSQL. Exit status 0, or 2 for bad input
(every bad line of the file is listed, and nothing is imported).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchlab.config import Settings
from benchlab.errors import InvalidInputError, NotFoundError
from benchlab.stores.postgres import PgConnection

DATASETS = """query($slug: String!, $after: String) { project(slug: $slug) { id
  datasets(first: 100, after: $after) { nodes { id name } pageInfo { hasNextPage endCursor } } } }"""
CREATE = """mutation($p: ID!, $n: String!) { createDataset(input: {projectId: $p, name: $n}) { dataset { id } } }"""
IMPORT = """mutation($d: ID!, $t: String!, $f: ImportFormat!, $m: ImportMode!) { importDatasetItems(input: {
  datasetId: $d, text: $t, format: $f, mode: $m}) { created importedItems version { version contentHash } } }"""


@dataclass(frozen=True)
class Imported:
    version: int
    content_hash: str
    created: bool
    items: int


def read_items(path: Path, given: str | None) -> tuple[str, str]:
    """The file's text and format (`--format`, else its extension); InvalidInputError saying what is wrong."""
    fmt = given or {".jsonl": "jsonl", ".ndjson": "jsonl", ".csv": "csv"}.get(path.suffix.lower())
    if fmt is None:
        raise InvalidInputError(f"--format: give jsonl or csv ({path.name} has no known extension: .jsonl, .csv)")
    try:
        return path.read_text(encoding="utf-8"), fmt
    except FileNotFoundError:
        raise InvalidInputError(f"FILE: {path} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInputError(f"FILE: cannot read {path} as UTF-8 text: {exc}") from None


def report(name: str, project: str, result: Imported) -> int:
    outcome = f"version {result.version}" if result.created else \
        f"version {result.version}, which already held exactly these items"
    print(f"imported {result.items} items into dataset {name!r} of project {project!r}: {outcome} "
          f"(content hash {result.content_hash})")
    return 0


def import_command(settings: Settings, project: str, name: str, text: str, fmt: str, mode: str) -> int:
    from benchlab import catalog
    from benchlab.commands.configured_postgres import on_configured_postgres
    from benchlab.stores import datasets as dataset_store
    from benchlab.stores.projects import find_row_by_slug

    async def job(conn: PgConnection) -> Imported:
        row = await find_row_by_slug(conn, project)
        if row is None:
            raise NotFoundError(f"--project: no project {project!r}")
        dataset = await dataset_store.find_by_name(conn, row["id"], name)
        dataset_id = dataset.id if dataset is not None else (await catalog.create_dataset(conn, row["id"], name)).id
        result = await catalog.import_dataset_items(conn, row["id"], dataset_id, text, fmt, mode)
        return Imported(result.version.version, result.version.content_hash, result.created, result.imported_items)

    return report(name, project, on_configured_postgres(settings, job)[0])


def remote_import_command(url: str, credential: str, project: str, name: str, text: str, fmt: str,
                          mode: str) -> int:
    from benchlab.client.graphql import GraphQLClient

    async def send() -> Imported:
        async with GraphQLClient(url, credential, timeout=300) as client:
            project_id, dataset_id, after = None, None, None
            while dataset_id is None:
                found = (await client.execute(DATASETS, {"slug": project, "after": after}))["project"]
                project_id = found["id"]
                page: dict[str, Any] = found["datasets"]
                dataset_id = next((node["id"] for node in page["nodes"] if node["name"] == name), None)
                if dataset_id is None and not page["pageInfo"]["hasNextPage"]:
                    created = await client.execute(CREATE, {"p": project_id, "n": name})
                    dataset_id = created["createDataset"]["dataset"]["id"]
                after = page["pageInfo"]["endCursor"]
            payload = (await client.execute(IMPORT, {"d": dataset_id, "t": text, "f": fmt.upper(),
                                                     "m": mode.upper()}))["importDatasetItems"]
        return Imported(payload["version"]["version"], payload["version"]["contentHash"], payload["created"],
                        payload["importedItems"])

    return report(name, project, asyncio.run(send()))
