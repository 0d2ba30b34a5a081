"""`benchlab export requests|scores|dataset`: write an export to a file (or stdout), streamed (docs/exports.md).

Where it runs follows `benchlab run` (client/target.py): with `--server URL` / BENCHLAB_SERVER_URL, or a
`benchlab serve` holding the data dir, the server makes a download link (`createExport`) and the file is
streamed from `GET /exports/<token>`; otherwise this process opens the stores and streams the pages itself.
Either way the file is written to `<output>.partial` and renamed when complete, so an interrupted export never
leaves a file that looks whole. Exit status: 0 written, 2 bad input (unknown run, project, dataset or version,
bad time range, an unreachable server).
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import IO, Any, BinaryIO
from urllib.parse import urlsplit
from uuid import UUID

from benchlab.config import Settings
from benchlab.errors import BenchlabError, InvalidInputError, NotFoundError

CREATE_EXPORT = """mutation($in: CreateExportInput!) { createExport(input: $in) { url filename contentType } }"""
PROJECT_ID = """query($slug: String!) { project(slug: $slug) { id } }"""
EXTENSIONS = {".jsonl": "jsonl", ".ndjson": "jsonl", ".csv": "csv", ".parquet": "parquet"}


@dataclass(frozen=True)
class ExportRequest:
    """What the command line asked for; `project` is a slug."""

    table: str                        # requests | scores | dataset
    format: str                       # jsonl | csv | parquet
    output: str                       # a path, or "-" for stdout
    run_id: UUID | None = None
    project: str | None = None
    start: datetime | None = None
    end: datetime | None = None
    source: str | None = None
    all_passes: bool = False
    dataset: str | None = None
    version: int | None = None


def export_format(output: str, given: str | None) -> str:
    """`--format`, else the output's extension; InvalidInputError when neither says, or for Parquet on stdout."""
    fmt = given or EXTENSIONS.get(Path(output).suffix.lower()) if output != "-" else given or "jsonl"
    if fmt is None:
        raise InvalidInputError(f"--format: give jsonl, csv or parquet (the output {output!r} has no known "
                                "extension: .jsonl, .csv, .parquet)")
    if fmt == "parquet" and output == "-":
        raise InvalidInputError("--output -: Parquet is binary; write it to a file (--output FILE.parquet)")
    return fmt


def export_command(settings: Settings, request: ExportRequest) -> int:
    from benchlab.commands.signals import ShutdownRequested, raise_on_signals, restored_signal_handlers
    from benchlab.stores.local import local_stores

    with restored_signal_handlers():
        raise_on_signals()
        try:
            with local_stores(settings) as resolved:
                return _write(request, lambda: _local_chunks(resolved, settings.embedded_postgres, request))
        except ShutdownRequested as stopped:  # the stores were closed on the way out; no file was left
            print(f"benchlab: export stopped by {stopped} before it was complete (no output file is left)",
                  file=sys.stderr)
            return stopped.exit_status


def remote_export_command(url: str, credential: str, request: ExportRequest) -> int:
    try:
        return _write(request, lambda: _remote_chunks(url, credential, request))
    except KeyboardInterrupt:  # Ctrl-C: the partial file was removed on the way out
        print("benchlab: export stopped by SIGINT before it was complete (no output file is left)", file=sys.stderr)
        return 130


def _write(request: ExportRequest, chunks: Any) -> int:
    async def copy(sink: IO[bytes]) -> int:
        written = 0
        async for chunk in chunks():
            sink.write(chunk)
            written += len(chunk)
        return written

    with _sink(request.output) as sink:
        written = asyncio.run(copy(sink))
    where = "stdout" if request.output == "-" else request.output
    print(f"benchlab: exported {request.table} ({request.format}, {written:,} bytes) to {where}", file=sys.stderr)
    return 0


@contextmanager
def _sink(output: str) -> Any:
    """stdout, or `<output>.partial` renamed to `output` once the export is complete (removed if it is not)."""
    if output == "-":
        yield sys.stdout.buffer
        sys.stdout.buffer.flush()
        return
    target = Path(output)
    if target.is_dir():
        raise InvalidInputError(f"--output: {output} is a directory; name a file")
    partial = target.with_name(target.name + ".partial")
    try:
        handle: BinaryIO = partial.open("wb")
    except OSError as exc:
        raise InvalidInputError(f"--output: cannot write {output}: {exc.strerror}") from None
    try:
        with handle:
            yield handle
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)


async def _local_chunks(settings: Settings, embedded: bool, request: ExportRequest) -> AsyncIterator[bytes]:
    from benchlab.exports import scope as scopes
    from benchlab.exports.formats import prepare_export
    from benchlab.runtime import Runtime
    from benchlab.stores.projects import find_row_by_slug

    runtime = await Runtime.open(settings, embedded_postgres=embedded)
    try:
        await runtime.migrate()
        async with runtime.pg.acquire() as conn:
            if request.project is not None:
                row = await find_row_by_slug(conn, request.project)
                if row is None:
                    raise NotFoundError(f"--project: no project {request.project!r}")
                project_id = row["id"]
            else:
                assert request.run_id is not None
                project_id = await scopes.run_project(conn, request.run_id)
        scope = scopes.ExportScope(scopes.ExportTable(request.table), scopes.ExportFormat(request.format),
                                   project_id, request.run_id, request.start, request.end, request.source,
                                   request.all_passes, request.dataset, request.version)
        prepared = await prepare_export(runtime.pg, runtime.clickhouse, scope)
        async for chunk in prepared.chunks():
            yield chunk
    finally:
        await runtime.close()


async def _remote_chunks(url: str, credential: str, request: ExportRequest) -> AsyncIterator[bytes]:
    import httpx

    from benchlab.client.graphql import GraphQLClient, ServerError

    async with GraphQLClient(url, credential) as client:
        variables: dict[str, Any] = {"table": request.table.upper(), "format": request.format.upper()}
        if request.project is not None:
            variables["projectId"] = (await client.execute(PROJECT_ID, {"slug": request.project}))["project"]["id"]
        if request.run_id is not None:
            variables["runId"] = str(request.run_id)
        optional = {"from": request.start and request.start.isoformat(), "to": request.end and request.end.isoformat(),
                    "source": request.source and request.source.upper(), "dataset": request.dataset,
                    "datasetVersion": request.version, "passes": "ALL" if request.all_passes else None}
        variables.update({key: value for key, value in optional.items() if value is not None})
        link = (await client.execute(CREATE_EXPORT, {"in": variables}))["createExport"]
        # The link's path on the server this command talks to (its public URL may name another host).
        download = client.base_url + urlsplit(link["url"]).path
    try:
        async with httpx.AsyncClient(timeout=httpx.Timeout(60.0, connect=10.0)) as http, \
                http.stream("GET", download) as response:
            if response.status_code != 200:
                body = await response.aread()
                raise ServerError(f"the download failed (HTTP {response.status_code}): {_error_of(body)}")
            async for chunk in response.aiter_bytes():
                yield chunk
    except httpx.HTTPError as exc:
        raise BenchlabError(f"the download from {url} failed: {exc}") from None


def _error_of(body: bytes) -> str:
    import json

    try:
        return str(json.loads(body)["error"])
    except (ValueError, KeyError, TypeError):
        return body[:200].decode("utf-8", "replace")
