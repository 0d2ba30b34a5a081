"""The Starlette application: `/graphql`, `/auth/*`, `/healthz`, `/readyz`, with request ids and access logs.

`create_app(settings, runtime=None)`: the CLI opens the stores itself (so a bad URL is one clear line, not
a startup traceback) and passes the runtime in; tests and other embedders may let the lifespan open them.
`serve` in local mode also passes the local CLI credential it wrote to the data dir (auth/local_cli.py).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route, WebSocketRoute

from benchlab.alerts.service import AlertService
from benchlab.api.downloads import download_routes
from benchlab.api.endpoint import GraphQLEndpoint
from benchlab.api.graphiql import ASSETS_PATH, serve_asset
from benchlab.api.schema import QueryLimits, build_schema
from benchlab.api.shared_feeds import SharedFeeds
from benchlab.auth.local_cli import LocalCliCredential
from benchlab.auth.origin import OriginCheckMiddleware
from benchlab.auth.routes import auth_routes
from benchlab.auth.services import AuthServices
from benchlab.config import Settings
from benchlab.ingest.otlp_routes import otlp_routes
from benchlab.ingest.routes import ingest_routes
from benchlab.metrics_endpoint import metrics_route
from benchlab.production.scorer import ProductionScorer
from benchlab.request_log import RequestLogMiddleware
from benchlab.request_metrics import RequestMetricsMiddleware
from benchlab.runtime import SERVICE_STOP_TIMEOUT_S, WORKERS_STOP_TIMEOUT_S, Runtime, finished_within
from benchlab.schedules.scheduler import Scheduler
from benchlab.stores.telemetry_figures import FigureRefresher


async def healthz(request: Request) -> JSONResponse:
    """The process is up and serving; says nothing about the stores."""
    return JSONResponse({"status": "ok"})


async def readyz(request: Request) -> JSONResponse:
    """Every store answers: 200 when all do, 503 naming the ones that do not."""
    checks = await request.app.state.runtime.readiness()
    ready = all(result == "ok" for result in checks.values())
    return JSONResponse({"status": "ready" if ready else "unavailable", "checks": checks},
                        status_code=200 if ready else 503)


def stop_on_close(services: contextlib.AsyncExitStack, what: str, stop: Callable[[], Awaitable[None]]) -> None:
    """Run `stop` when `services` closes, for at most SERVICE_STOP_TIMEOUT_S: one service that hangs while
    stopping is named in the log and must not keep the server from stopping."""
    services.push_async_callback(lambda: finished_within(f"stopping {what}", stop(), SERVICE_STOP_TIMEOUT_S))


async def start_background_services(opened: Runtime, services: contextlib.AsyncExitStack) -> None:
    """Start the server's background services; each is stopped when `services` closes (in reverse order), also
    when a later one fails to start. Every server process runs them all and PostgreSQL makes each piece of work
    happen once across replicas; an interval setting of 0 turns a service off in this process."""
    settings = opened.settings
    # Schedules (docs/schedules.md): each due time starts one run; completed scheduled runs are gated.
    scheduler = Scheduler(opened.engine_deps(), interval_s=settings.scheduler_interval_s)
    scheduler.start()
    stop_on_close(services, "the scheduler", scheduler.stop)
    # Sampled scoring of production traffic (docs/production.md): each sampled batch is claimed once.
    if settings.production_scoring_interval_s > 0:
        scorer = ProductionScorer(opened.engine_deps(), interval_s=settings.production_scoring_interval_s)
        await scorer.start()
        stop_on_close(services, "the production scorer", scorer.stop)
    # Alerts (docs/alerts.md): each transition and each webhook delivery happens once.
    alerts = AlertService(settings, opened.pg, opened.clickhouse, opened.hub, opened.secrets)
    alerts.start()
    stop_on_close(services, "the alert service", alerts.stop)
    # Prometheus figures from the stores (/metrics, docs/operations.md): refreshed while someone scrapes.
    figures = FigureRefresher(opened.pg, settings.data_dir / "spool")
    figures.start()
    stop_on_close(services, "the metrics figures", figures.stop)


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
            async with contextlib.AsyncExitStack() as services:
                await start_background_services(opened, services)
                yield
        finally:
            # Runs executing here go back to the queue; bounded like every step of a shutdown (runtime.py).
            await finished_within("handing this process's runs back to the queue", opened.runs.stop_workers(),
                                  WORKERS_STOP_TIMEOUT_S)
            await finished_within("closing the auth services", app.state.auth.close(), SERVICE_STOP_TIMEOUT_S)

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
            metrics_route(settings),  # GET /metrics: Prometheus (metrics_endpoint.py says who may scrape)
            Route("/graphql", graphql, methods=["GET", "POST"]),
            WebSocketRoute("/graphql", graphql),
            Route(f"{ASSETS_PATH}/{{path:path}}", serve_asset),
            *auth_routes(),
            *ingest_routes(),
            *otlp_routes(),  # POST /v1/traces: OTLP/HTTP production traffic (docs/ingest.md)
            *download_routes(),  # GET /exports/<token>: createExport's download links (docs/exports.md)
        ],
        middleware=[Middleware(RequestMetricsMiddleware), Middleware(RequestLogMiddleware),
                    Middleware(OriginCheckMiddleware, settings=settings)],
        lifespan=lifespan,
    )
