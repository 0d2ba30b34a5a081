"""`createExport`: a short-lived download link for a run's or a project's requests or scores, or a dataset version.

Viewers may export what they may read. The scope is checked here (run, dataset, version, time range), so a
bad request is a GraphQL error, not a broken download; the link (exports/tokens.py) names the caller, whose
access `GET /exports/<token>` (api/downloads.py) checks again. Audited: exports take data out of the server.
"""

from __future__ import annotations

import strawberry
from strawberry.types import Info

from benchlab.api.auditing import audit
from benchlab.api.context import identity_of, runtime_of
from benchlab.api.ids import expect_id
from benchlab.api.permissions import project_role, require_role
from benchlab.api.types.exports import CreateExportInput, ExportPayload, ScorePasses
from benchlab.auth.identity import Identity
from benchlab.auth.roles import Role
from benchlab.errors import InvalidInputError
from benchlab.exports import scope as scopes
from benchlab.exports import tokens
from benchlab.exports.formats import prepare_export
from benchlab.exports.scope import ExportFormat, ExportScope, ExportTable


def principal_of(identity: Identity) -> tokens.Principal:
    return tokens.Principal(identity.user_id, identity.key_id, identity.key_project_id,
                            identity.key_role.value if identity.key_role else None)


@strawberry.type
class ExportMutations:
    @strawberry.mutation(permission_classes=[project_role(Role.VIEWER, "input.run_id", "Run"),
                                             project_role(Role.VIEWER, "input.project_id", "Project")],
                         description=(
        "A download link for an export: REQUESTS or SCORES of a run (`runId`) or a project (`projectId`, with "
        "`from`, `to`, `source`), or a DATASET version, as JSONL, CSV or Parquet. The file is streamed (any size, "
        "in constant server memory); the link works for 10 minutes, for whoever holds it, while the caller's "
        "access lasts. Rows are in the table's sort order and columns in the table's order (docs/exports.md)."))
    async def create_export(self, info: Info, input: CreateExportInput) -> ExportPayload:
        runtime = runtime_of(info)
        if (input.run_id is None) == (input.project_id is None):
            raise InvalidInputError("give exactly one of runId and projectId", argument="runId")
        run_id = None if input.run_id is None else expect_id(input.run_id, "Run", "runId")
        if input.project_id is not None:
            project_id = expect_id(input.project_id, "Project", "projectId")
        else:
            assert run_id is not None
            async with runtime.pg.acquire() as conn:
                project_id = await scopes.run_project(conn, run_id)
        await require_role(info, project_id, Role.VIEWER, "Project")
        scope = ExportScope(
            ExportTable(input.table.value), ExportFormat(input.format.value), project_id, run_id, input.from_,
            input.to, input.source.value if input.source is not None else None,
            input.passes is ScorePasses.ALL, input.dataset, input.dataset_version)
        prepared = await prepare_export(runtime.pg, runtime.clickhouse, scope)  # every check, before the link
        token, expires = tokens.issue(runtime.secrets, principal_of(identity_of(info)), scope)
        await audit(info, "export.create", prepared.filename, project_id, table=scope.table.value,
                    format=scope.format.value, run=run_id and str(run_id), expires_at=expires.isoformat())
        return ExportPayload(url=f"{runtime.settings.public_url}{tokens.PATH}/{token}", expires_at=expires,
                             filename=prepared.filename, content_type=prepared.content_type)
