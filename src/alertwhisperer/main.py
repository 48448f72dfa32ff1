"""create_app(settings) and the lifespan: engine, migrations check, hub, demo seed."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response

from alertwhisperer import __version__
from alertwhisperer.audit.api import router as audit_router
from alertwhisperer.auth.api import router as auth_router
from alertwhisperer.auth.cookies import RefreshedCookiesMiddleware
from alertwhisperer.auth.users_api import router as users_router
from alertwhisperer.chat.api import router as chat_router
from alertwhisperer.clock import Clock, SystemClock
from alertwhisperer.config import Settings
from alertwhisperer.correlation.api import router as incidents_router
from alertwhisperer.correlation.settings_api import router as correlation_settings_router
from alertwhisperer.db import make_engine, make_sessionmaker
from alertwhisperer.errors import DomainError, Invalid, Throttled
from alertwhisperer.incidents.api import router as lifecycle_router
from alertwhisperer.incidents.schedules_api import router as schedules_router
from alertwhisperer.incidents.sla_api import router as sla_router
from alertwhisperer.ingest.api import router as ingest_router
from alertwhisperer.ingest.fastpath import Front
from alertwhisperer.ingest.fastpath import install as install_webhook_fast_path
from alertwhisperer.ingest.integrations_api import router as integrations_router
from alertwhisperer.ingest.limiter import WebhookLimiter
from alertwhisperer.jobs.registry import build_registry
from alertwhisperer.jobs.supervisor import WorkerProcess
from alertwhisperer.jobs.worker import Worker
from alertwhisperer.notify.api import router as notify_router
from alertwhisperer.ops.api import router as ops_router
from alertwhisperer.ops.middleware import Metrics, RequestMiddleware
from alertwhisperer.realtime.api import router as realtime_router
from alertwhisperer.realtime.hub import make_hub
from alertwhisperer.remediation.access_api import router as access_router
from alertwhisperer.remediation.approvals_api import router as approvals_router
from alertwhisperer.remediation.executions_api import router as executions_router
from alertwhisperer.remediation.patches_api import router as patches_router
from alertwhisperer.remediation.policy_api import router as remediation_policy_router
from alertwhisperer.remediation.runbooks_api import router as runbooks_router
from alertwhisperer.tenants.api import router as tenants_router

log = structlog.get_logger(__name__)


def _error_body(exc: DomainError) -> dict[str, object]:
    body: dict[str, object] = {"error": exc.code, "message": exc.message}
    if isinstance(exc, Invalid) and exc.field:
        body["field"] = exc.field
    if exc.details is not None:
        body["details"] = exc.details
    return body


async def _domain_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, DomainError)
    from alertwhisperer.web.errors import html_error, wants_html

    if wants_html(request):
        return html_error(request, exc)
    headers = {"Retry-After": str(exc.retry_after)} if isinstance(exc, Throttled) else None
    if exc.status_code == 401:
        headers = {"WWW-Authenticate": "Bearer"}
    return JSONResponse(_error_body(exc), status_code=exc.status_code, headers=headers)


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    problems = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err.get("loc", ()) if p not in ("body", "query", "path"))
        problems.append({"field": loc or None, "message": err.get("msg", "invalid")})
    summary = "; ".join(f"{p['field']}: {p['message']}" if p["field"] else str(p["message"]) for p in problems)
    return JSONResponse({"error": "invalid", "message": summary or "invalid request", "problems": problems},
                        status_code=422)


def create_app(settings: Settings, *, clock: Clock | None = None) -> FastAPI:
    settings.resolve_secret()
    settings.check_production()
    metrics = Metrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = make_engine(settings.db_url)
        app.state.engine = engine
        app.state.sessionmaker = make_sessionmaker(engine)
        hub = make_hub(settings.redis_url, settings.hub_dir)
        await hub.start()
        app.state.hub = hub
        app.state.limiter = WebhookLimiter(settings.redis_url)
        worker = Worker(app.state.sessionmaker, build_registry(), app.state.clock, hub=hub, settings=settings)
        app.state.worker = worker
        child = WorkerProcess(settings) if settings.embedded_worker and settings.worker_process else None
        if child is not None:
            await child.start()
        elif settings.embedded_worker:
            worker.start()
        log.info("app.started", version=__version__, env=settings.env,
                 database=settings.db_url.split("://")[0])
        try:
            yield
        finally:
            if child is not None:
                await child.stop()
            await worker.stop()
            await hub.stop()
            await engine.dispose()

    app = FastAPI(title="Alert Whisperer", version=__version__, lifespan=lifespan,
                  docs_url="/api/docs", redoc_url=None, openapi_url="/api/openapi.json")
    app.state.settings = settings
    app.state.clock = clock or SystemClock()
    app.state.metrics = metrics
    app.add_exception_handler(DomainError, _domain_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    for router in (ops_router, auth_router, users_router, tenants_router, audit_router, ingest_router,
                   integrations_router, incidents_router, correlation_settings_router, lifecycle_router,
                   schedules_router, sla_router, notify_router, chat_router, realtime_router, runbooks_router,
                   access_router, approvals_router, executions_router, patches_router, remediation_policy_router):
        app.include_router(router)
    from alertwhisperer.web import mount_web

    mount_web(app)
    app.add_middleware(RefreshedCookiesMiddleware, settings=settings)
    app.add_middleware(RequestMiddleware, metrics=metrics)
    install_webhook_fast_path(app, metrics)  # outermost: POST /api/webhooks/{source} without the stack
    return app


def tune_gc() -> None:
    """For a long-running server: the objects made at start-up (modules, routes, models) are never garbage,
    so they are frozen out of the collector's scans, and young collections run every 20,000 allocations
    instead of every 700 — under load the default thresholds cost a full collection every few seconds."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(20_000, 20, 20)


def app_from_environment() -> Front:
    """The application as ``serve --workers N`` starts it in each server process (settings from the environment)."""
    from alertwhisperer.ops.logging import configure_logging

    settings = Settings().resolve_secret()
    configure_logging(settings.log_level, settings.log_json)
    app = Front(create_app(settings))
    tune_gc()
    return app
