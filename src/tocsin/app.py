"""The application factory. `create_app(settings)` wires everything; nothing happens at import."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import structlog
import swagger_ui_bundle
from fastapi import APIRouter, FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.telemetry import TelemetryConfig
from sqlalchemy import text
from sqlalchemy.orm import configure_mappers
from starlette.routing import Route

from tocsin import __version__
from tocsin.alerts import api as alerts_api
from tocsin.alerts import ingest as alerts_ingest
from tocsin.alerts import opsgenie_routes
from tocsin.alerts import views as alerts_views
from tocsin.alerts.hotpath import EnqueueEndpoint
from tocsin.auditing import api as audit_api
from tocsin.auditing import views as audit_views
from tocsin.auth import account_views as auth_account_views
from tocsin.auth import api as auth_api
from tocsin.auth import sso_api, sso_views
from tocsin.auth import views as auth_views
from tocsin.bootstrap import Container, build
from tocsin.catalog import api as catalog_api
from tocsin.catalog import views as catalog_views
from tocsin.chat import api as chat_api
from tocsin.chat import receive as chat_receive
from tocsin.chat import views as chat_views
from tocsin.comms import api as comms_api
from tocsin.comms import views as comms_views
from tocsin.config import Settings
from tocsin.definitions import api as definitions_api
from tocsin.definitions import views as definitions_views
from tocsin.deps import CurrentUser, DbSession
from tocsin.escalation import api as escalation_api
from tocsin.escalation import views as escalation_views
from tocsin.followups import api as followups_api
from tocsin.followups import views as followups_views
from tocsin.incidents import api as incidents_api
from tocsin.incidents import live as incidents_live
from tocsin.incidents import role_views as incident_role_views
from tocsin.incidents import views as incidents_views
from tocsin.insights import kpis_views as insights_kpis
from tocsin.insights import learning_views as insights_learning
from tocsin.insights import load_views as insights_load
from tocsin.insights import noise_views
from tocsin.notify import api as notify_api
from tocsin.notify import views as notify_views
from tocsin.observability.logging import configure_logging
from tocsin.observability.metrics import Metrics
from tocsin.plan import api as plan_api
from tocsin.plan import views as plan_views
from tocsin.postmortems import api as postmortems_api
from tocsin.postmortems import policy_views as postmortem_policy_views
from tocsin.postmortems import review_api as postmortems_review_api
from tocsin.postmortems import review_views as postmortems_review_views
from tocsin.postmortems import template_views as postmortem_template_views
from tocsin.postmortems import views as postmortems_views
from tocsin.roster import api as roster_api
from tocsin.roster import views as roster_views
from tocsin.runbooks import api as runbooks_api
from tocsin.runbooks import views as runbooks_views
from tocsin.schedules import api as schedules_api
from tocsin.schedules import views as schedules_views
from tocsin.scim import api as scim_api
from tocsin.scim import views as scim_views
from tocsin.simulation import api as simulation_api
from tocsin.simulation import views as simulation_views
from tocsin.statuspages import api as statuspages_api
from tocsin.statuspages import composer as statuspages_composer
from tocsin.statuspages import maintenance_views as statuspages_maintenance
from tocsin.statuspages import views as statuspages_views
from tocsin.statuspages.cache import PageCache
from tocsin.statuspages.public import PREFIX as STATUS_PREFIX
from tocsin.statuspages.public import StatusPagesEndpoint
from tocsin.subscribers import api as subscribers_api
from tocsin.subscribers import public as subscribers_public
from tocsin.subscribers import views as subscribers_views
from tocsin.trackers import api as trackers_api
from tocsin.trackers import views as trackers_views
from tocsin.web.errors import install_error_handlers
from tocsin.web.middleware import HttpMiddleware, Intercept
from tocsin.web.openapi import declare_errors
from tocsin.web.templating import make_templates
from tocsin.webhooks import api as webhooks_api
from tocsin.webhooks import views as webhooks_views
from tocsin.wiring import build_cards, build_checks
from tocsin.workflows import api as workflows_api
from tocsin.workflows import views as workflows_views

log = structlog.get_logger("tocsin.app")
STATIC_DIR = Path(__file__).resolve().parent / "static"

ENQUEUE_PATH = "/v2/enqueue"
NO_TELEMETRY: TelemetryConfig = {
    "tracing": False,
    "metrics": False,
    "logs": False,
    "operation_spans": False,
}
# Not access-logged: at thousands of events a second the log would drown the rest.
QUIET_PATHS = frozenset({ENQUEUE_PATH})


class TocsinAPI(FastAPI):
    """FastAPI whose OpenAPI document declares the error answers of every operation
    (web/openapi.py), as schemathesis checks in tests/test_openapi_conformance.py."""

    def openapi(self) -> dict[str, Any]:
        document = super().openapi()  # cached by FastAPI until the routes change
        if document is not self._declared:
            self._declared = declare_errors(document)
        return document

    _declared: dict[str, Any] | None = None


def _routers() -> list[APIRouter]:
    return [
        alerts_ingest.router,
        opsgenie_routes.router,
        auth_api.router,
        sso_api.router,
        catalog_api.router,
        definitions_api.router,
        alerts_api.router,
        incidents_api.router,
        postmortems_api.router,
        postmortems_review_api.router,
        runbooks_api.router,
        workflows_api.router,
        followups_api.router,
        escalation_api.router,
        simulation_api.router,
        simulation_views.router,
        schedules_api.router,
        scim_api.router,
        scim_api.admin_router,
        scim_views.router,
        auth_views.router,
        auth_account_views.router,
        sso_views.router,
        catalog_views.router,
        definitions_views.router,
        incidents_views.router,
        incident_role_views.router,
        postmortems_views.router,
        postmortem_template_views.router,
        postmortem_policy_views.router,
        postmortems_review_views.router,
        runbooks_views.router,
        followups_views.router,
        incidents_live.router,
        alerts_views.router,
        notify_api.router,
        notify_views.router,
        escalation_views.router,
        schedules_views.router,
        comms_api.router,
        comms_views.router,
        statuspages_api.router,
        statuspages_views.router,
        statuspages_maintenance.router,
        statuspages_composer.router,
        subscribers_api.router,
        subscribers_public.router,
        subscribers_views.router,
        trackers_api.router,
        trackers_views.router,
        chat_api.router,
        chat_views.router,
        chat_receive.router,
        webhooks_api.router,
        webhooks_views.router,
        audit_api.router,
        audit_views.router,
        workflows_views.router,
        roster_api.router,
        roster_views.router,
        plan_api.router,
        plan_views.router,
        insights_kpis.router,
        insights_kpis.api,
        insights_load.router,
        insights_load.api_router,  # fmt: skip
        insights_learning.router,
        noise_views.router,
        noise_views.api_router,
    ]


def _system_router(container: Container, metrics: Metrics) -> APIRouter:
    router = APIRouter(include_in_schema=False)

    @router.get("/healthz")
    def healthz() -> dict[str, str]:
        """The process is up."""
        return {"status": "ok", "version": __version__}

    @router.get("/readyz")
    def readyz() -> Response:
        """The process can reach its database."""
        try:
            with container.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
        except Exception as exc:
            log.warning("readyz.database_unavailable", error=str(exc))
            return JSONResponse({"status": "unavailable", "database": "unreachable"}, 503)
        return JSONResponse({"status": "ok", "database": "ok"})

    @router.get("/metrics")
    def prometheus(user: CurrentUser, db: DbSession) -> Response:
        return metrics.render(db)

    return router


def _docs_router(app: FastAPI) -> APIRouter:
    router = APIRouter(include_in_schema=False)

    @router.get("/api/v1/openapi.json")
    def openapi(user: CurrentUser) -> JSONResponse:
        return JSONResponse(app.openapi())

    @router.get("/api/v1/docs")
    def docs(user: CurrentUser) -> Response:
        return get_swagger_ui_html(
            openapi_url="/api/v1/openapi.json",
            title="Tocsin API",
            swagger_js_url="/api/v1/docs-assets/swagger-ui-bundle.js",
            swagger_css_url="/api/v1/docs-assets/swagger-ui.css",
            swagger_favicon_url="/static/favicon.svg",
        )

    return router


def create_app(settings: Settings, *, container: Container | None = None) -> FastAPI:
    """Build a Tocsin web application for these settings."""
    configure_logging(settings)
    container = container or build(settings)
    metrics = Metrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # The engine stores and applies accepted events, and runs jobs unless they run
        # elsewhere (`tocsin serve --no-worker`, `tocsin worker`).
        engine = container.background(jobs=settings.embedded_worker, metrics=metrics.job)
        app.state.background = engine
        engine.start()
        # Status pages are served from memory, refreshed in the background.
        page_cache.refresh()
        page_cache.start()
        if getattr(app.state, "freeze_after_start", False):
            freeze_startup_objects()
        log.info("tocsin.started", url=settings.base_url, database=_safe_url(settings))
        try:
            yield
        finally:
            page_cache.stop()
            container.inbox.close()  # refuse new events; the engine writes what it holds
            engine.stop()  # steps under way and sends finish; queued jobs stay queued

    app = TocsinAPI(
        title="Tocsin",
        version=__version__,
        description="Incident response: declare, run and learn from incidents.",
        # Served below behind login, with Swagger UI from a package instead of a CDN.
        openapi_url=None,
        docs_url=None,
        redoc_url=None,
        lifespan=lifespan,
        telemetry=None if settings.opentelemetry else NO_TELEMETRY,
    )
    app.state.settings = settings
    app.state.container = container
    app.state.sessionmaker = container.sessionmaker
    app.state.templates = make_templates()
    app.state.cards = build_cards()  # other domains' cards on a domain's page
    app.state.checks = build_checks()  # what `tocsin check` and the escalation page find
    app.state.metrics = metrics
    page_cache = PageCache(container.sessionmaker, poll_seconds=settings.statuspage_poll_seconds)
    app.state.statuspages = page_cache

    install_error_handlers(app)
    scim_api.install_error_handler(app)
    app.add_middleware(HttpMiddleware, metrics=metrics, quiet=QUIET_PATHS)
    # Outermost: status page files are answered before anything else.
    status_pages = StatusPagesEndpoint(page_cache, settings, container.sessionmaker, metrics.count)
    app.add_middleware(Intercept, prefix=STATUS_PREFIX, handler=status_pages)

    # The ingestion endpoint senders hit hardest: a plain ASGI app as a route (hotpath.py).
    app.router.routes.append(
        Route(ENQUEUE_PATH, EnqueueEndpoint(container.intake), include_in_schema=False)
    )
    app.mount("/static", StaticFiles(directory=str(STATIC_DIR)), name="static")
    app.mount(
        "/api/v1/docs-assets",
        # Swagger UI 5 (the package's version follows it): older ones cannot read OpenAPI 3.1.
        StaticFiles(directory=str(swagger_ui_bundle.swagger_ui_path)),
        name="docs-assets",
    )
    app.include_router(_docs_router(app))
    app.include_router(_system_router(container, metrics))
    for router in _routers():
        app.include_router(router)
    return app


def create_app_from_environment() -> FastAPI:
    """For process managers that import an app factory (`tocsin serve --workers N`, or
    `uvicorn --factory tocsin.app:create_app_from_environment`): settings from TOCSIN_*."""
    app = create_app(Settings())
    app.state.freeze_after_start = True
    return app


def freeze_startup_objects() -> None:
    """Move what start-up allocated out of the garbage collector's sight (`gc.freeze`): a
    serving process keeps those objects (ORM mappers, templates, caches) for its whole life,
    and full collections need not walk them (see docs/benchmarks.md). The ORM's mappers are
    configured here first, as the first query would do later."""
    configure_mappers()
    gc.collect()
    gc.freeze()


def _safe_url(settings: Settings) -> str:
    url = settings.database_url
    if "@" in url:
        scheme, rest = url.split("://", 1)
        return f"{scheme}://***@{rest.split('@', 1)[1]}"
    return url
