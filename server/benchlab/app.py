"""The Starlette application: `/graphql`, `/auth/*`, `/healthz`, `/readyz`, with request ids and access logs.

`create_app(settings, runtime=None)`: the CLI opens the stores itself (so a bad URL is one clear line, not
a startup traceback) and passes the runtime in; tests and other embedders may let the lifespan open them.
`serve` in local mode also passes the local CLI credential it wrote to the data dir (auth/local_cli.py).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route, WebSocketRoute

from benchlab.api.endpoint import GraphQLEndpoint
from benchlab.api.graphiql import ASSETS_PATH, serve_asset
from benchlab.api.schema import QueryLimits, build_schema
from benchlab.api.shared_feeds import SharedFeeds
from benchlab.auth.local_cli import LocalCliCredential
from benchlab.auth.origin import OriginCheckMiddleware
from benchlab.auth.routes import auth_routes
from benchlab.auth.services import AuthServices
from benchlab.config import Settings
from benchlab.ingest.routes import ingest_routes
from benchlab.request_log import RequestLogMiddleware
from benchlab.runtime import Runtime


async def healthz(request: Request) -> JSONResponse:
    """The process is up and serving; says nothing about the stores."""
    return JSONResponse({"status": "ok"})


async def readyz(request: Request) -> JSONResponse:
    """Every store answers: 200 when all do, 503 naming the ones that do not."""
    checks = await request.app.state.runtime.readiness()
    ready = all(result == "ok" for result in checks.values())
    return JSONResponse({"status": "ready" if ready else "unavailable", "checks": checks},
                        status_code=200 if ready else 503)


def create_app(settings: Settings, runtime: Runtime | None = None,
               local_cli: LocalCliCredential | None = None) -> Starlette:
    schema = build_schema(QueryLimits(settings.graphql_max_depth, settings.graphql_max_tokens,
                                      settings.graphql_max_aliases, settings.graphql_max_nodes))
    graphql = GraphQLEndpoint(schema)

    @contextlib.asynccontextmanager
    async def serving(app: Starlette, opened: Runtime) -> AsyncIterator[None]:
        app.state.runtime = opened
        app.state.auth = AuthServices(opened, local_cli)
        graphql.follow_access_changes(app.state.auth)
        app.state.shared_feeds = None
        if opened.settings.shared_subscriptions:
            app.state.shared_feeds = SharedFeeds(opened.hub, schema._schema, schema.execution_context_class)
            graphql.share_live_results(app.state.shared_feeds)
        await opened.start_ingest()
        opened.start_workers()
        try:
            yield
        finally:
            await opened.runs.stop_workers()  # runs executing here go back to the queue
            await app.state.auth.close()

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        if runtime is not None:
            async with serving(app, runtime):
                yield
            return
        opened = await Runtime.open(settings)
        try:
            await opened.migrate()
            async with serving(app, opened):
                yield
        finally:
            await opened.close()

    return Starlette(
        routes=[
            Route("/healthz", healthz),
            Route("/readyz", readyz),
            Route("/graphql", graphql, methods=["GET", "POST"]),
            WebSocketRoute("/graphql", graphql),
            Route(f"{ASSETS_PATH}/{{path:path}}", serve_asset),
            *auth_routes(),
            *ingest_routes(),
        ],
        middleware=[Middleware(RequestLogMiddleware), Middleware(OriginCheckMiddleware, settings=settings)],
        lifespan=lifespan,
    )
