"""`GET /exports/<token>`: stream the export a download link (createExport) names.

The token is the only credential (a plain `curl -o file URL` works), so it is checked first (401 when expired,
altered or not ours), then the access of whoever asked for it, as it is now (403 when their key was revoked,
their account disabled or their membership removed since), then the scope against the stores (404 when the run
or dataset version is gone). Only then do the headers go out and the rows follow, page by page
(exports/formats.py): the response never holds more than one page. The token never reaches a log: the access
log masks the path (request_log.py), and no error repeats it.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import BaseRoute, Route

from benchlab.api.db import RequestDb
from benchlab.api.loaders import Loaders
from benchlab.api.permissions import role_of
from benchlab.auth.identity import Identity, IdentityKind
from benchlab.auth.roles import Role
from benchlab.auth.services import auth_of
from benchlab.errors import InvalidInputError, NotFoundError, UnauthenticatedError
from benchlab.exports import tokens
from benchlab.exports.formats import PreparedExport, prepare_export
from benchlab.runtime import Runtime

log = logging.getLogger(__name__)


def download_routes() -> list[BaseRoute]:
    return [Route(f"{tokens.PATH}/{{token}}", download, methods=["GET"])]


async def download(request: Request) -> Response:
    runtime: Runtime = request.app.state.runtime
    try:
        grant = tokens.verify(runtime.secrets, request.path_params["token"])
    except tokens.InvalidDownloadToken as exc:
        return _refused(401, "UNAUTHENTICATED", str(exc))
    try:
        identity = await auth_of(request).authenticator.recheck(_identity(grant.principal))
    except UnauthenticatedError as exc:
        return _refused(403, "FORBIDDEN", f"whoever made this download link may no longer export: {exc}")
    role = await role_of(identity, Loaders(RequestDb(runtime.pg)), grant.scope.project_id)
    if role is None or not role.allows(Role.VIEWER):
        return _refused(403, "FORBIDDEN", "whoever made this download link no longer has access to the project")
    try:
        prepared = await prepare_export(runtime.pg, runtime.clickhouse, grant.scope)
    except NotFoundError as exc:
        return _refused(404, "NOT_FOUND", str(exc))
    except InvalidInputError as exc:
        return _refused(400, "BAD_USER_INPUT", str(exc))
    return StreamingResponse(_logged(prepared), media_type=prepared.content_type, headers={
        "Content-Disposition": f'attachment; filename="{prepared.filename}"', "Cache-Control": "no-store",
        "X-Content-Type-Options": "nosniff"})


def _identity(principal: tokens.Principal) -> Identity:
    if principal.key_id is not None:
        return Identity(IdentityKind.API_KEY, key_id=principal.key_id, key_project_id=principal.key_project_id,
                        key_role=Role(principal.key_role) if principal.key_role else None)
    return Identity(IdentityKind.USER, user_id=principal.user_id)


async def _logged(prepared: PreparedExport) -> AsyncIterator[bytes]:
    """The chunks; a failure after the headers went out can only cut the download short: say so in the log."""
    try:
        async for chunk in prepared.chunks():
            yield chunk
    except Exception:
        log.exception("export %s failed after it started; the client received a truncated file", prepared.filename)
        raise


def _refused(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"error": message, "code": code}, status_code=status)
