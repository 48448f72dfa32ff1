"""Server-rendered console (Jinja2 + HTMX): pages call the services directly, never our own HTTP API."""

from __future__ import annotations

import structlog
from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from alertwhisperer.web.pages import (
    alerts,
    approvals,
    assets,
    audit,
    auth,
    chat,
    companies,
    correlation_settings,
    dashboard,
    demo,
    executions,
    incident_runbooks,
    incidents,
    integration_settings,
    integrations,
    notifications,
    patches,
    profile,
    remediation_access,
    remediation_settings,
    runbooks,
    schedules,
    sla_settings,
    users,
)
from alertwhisperer.web.templating import STATIC_DIR

log = structlog.get_logger(__name__)


def mount_web(app: FastAPI) -> None:
    if not (STATIC_DIR / "vendor" / "htmx.min.js").exists():
        log.warning("web.assets_missing", hint="run scripts/web-assets to install the console's front-end assets")
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    for module in (auth, dashboard, alerts, incidents, companies, assets, integrations, integration_settings, users,
                   profile, audit, correlation_settings, schedules, sla_settings, notifications, chat, runbooks,
                   approvals, executions, patches, remediation_access, remediation_settings, incident_runbooks):
        app.include_router(module.router, include_in_schema=False)
    app.include_router(demo.router, include_in_schema=False)
