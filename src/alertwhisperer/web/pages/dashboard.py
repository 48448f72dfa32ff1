"""The dashboard and the company switcher."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from alertwhisperer.audit import service as audit
from alertwhisperer.auth import users
from alertwhisperer.auth.principal import Role
from alertwhisperer.correlation import queries as incident_queries
from alertwhisperer.deps import ClockDep, CurrentUser, SessionDep
from alertwhisperer.incidents import kpis as sla_kpis
from alertwhisperer.ingest import queries
from alertwhisperer.remediation import approvals, executions, patches
from alertwhisperer.tenants import assets
from alertwhisperer.tenants import service as tenants
from alertwhisperer.web.errors import safe_next
from alertwhisperer.web.forms import Form
from alertwhisperer.web.pages import alerts, incidents
from alertwhisperer.web.templating import ALL_COMPANIES, COMPANY_COOKIE, page, redirect, selected_company

router = APIRouter()


@router.get("/")
async def dashboard(request: Request, user: CurrentUser, db: SessionDep, clock: ClockDep) -> Response:
    companies = await tenants.list_companies(db, actor=user)
    current = selected_company(request, user, companies)
    scope = [current] if current else companies
    asset_count = critical_count = 0
    for company in scope:
        rows = await assets.list_assets(db, actor=user, company_id=company.id)
        asset_count += len(rows)
        critical_count += sum(1 for a in rows if a.critical)
    technicians: int | None = None
    activity: list[object] = []
    if user.role in (Role.MSP_ADMIN, Role.COMPANY_ADMIN):
        techs = await users.list_users(db, actor=user, role=Role.TECHNICIAN,
                                       company_id=current.id if current else None)
        technicians = sum(1 for t in techs if t.is_active)
        flt = audit.AuditFilter(company_id=current.id if current else None)
        activity = list((await audit.list_entries(db, actor=user, flt=flt, limit=8))[0])
    alert_flt = queries.AlertFilter(company_id=current.id if current else "")
    since = clock.now() - timedelta(hours=24)
    alerts_24h = await queries.count_alerts(db, actor=user, flt=alert_flt, since=since)
    critical_24h = await queries.count_alerts(db, actor=user, flt=queries.AlertFilter(
        company_id=alert_flt.company_id, severity="critical"), since=since)
    company_id = current.id if current else ""
    incident_kpis = await incident_queries.incident_kpis(db, actor=user, company_id=company_id, since=since)
    top_incidents = await incident_queries.search_incidents(
        db, actor=user, flt=incident_queries.IncidentFilter(company_id=company_id, status="open"), limit=5)
    sla = await sla_kpis.sla_kpis(db, actor=user, now=clock.now(), company_id=company_id)
    automation = await _automation(db, user, clock.now(), current.id if current else None)
    return await page(request, db, user, "dashboard.html", {
        "incident_kpis": incident_kpis, "sla": sla.as_dict(), "top_incidents": top_incidents,
        "duration": incidents.duration,
        "now": clock.now(), "incident_filter": json.dumps({"company_id": company_id}),
        "kpi": {"companies": len(scope), "assets": asset_count, "critical": critical_count,
                "technicians": technicians, "alerts_24h": alerts_24h, "critical_24h": critical_24h},
        "activity": activity, "scope_companies": scope,
        "recent_alerts": await queries.list_alerts(db, actor=user, flt=alert_flt, limit=6),
        "alert_filter": json.dumps({"company_id": alert_flt.company_id}),
        "tools": alerts.tool_names(), "automation": automation,
    }, section="dashboard")


async def _automation(db: SessionDep, user: CurrentUser, now: datetime, company_id: str | None) -> dict[str, Any]:
    """Self-healed share and runs over 30 days, approvals waiting for this viewer, patch compliance."""
    kpi = await executions.self_healed_kpi(db, actor=user, company_id=company_id, since=now - timedelta(days=30))
    compliance = await patches.compliance_by_company(db, actor=user, company_id=company_id)
    scanned = sum(c["assets_scanned"] for c in compliance)
    compliant = sum(c["compliant"] for c in compliance)
    return {"kpi": kpi, "pending_approvals": await approvals.pending_count(db, actor=user, now=now),
            "patch_percent": round(100 * compliant / scanned) if scanned else None, "patch_scanned": scanned,
            "patch_critical": sum(c["critical"] for c in compliance),
            "patch_security": sum(c["security"] for c in compliance)}


@router.post("/switch-company")
async def switch_company(request: Request, user: CurrentUser, db: SessionDep) -> Response:
    form = await Form.read(request)
    chosen = form.text("company_id")
    target = safe_next(form.text("next"))
    parts = target.split("?")[0].split("/")
    company_page = len(parts) > 2 and parts[1] == "companies" and parts[2] not in ("", "new")
    if chosen in ("", ALL_COMPANIES):
        response = redirect("/companies" if company_page else target)
        response.delete_cookie(COMPANY_COOKIE, path="/")
        return response
    company = await tenants.get_company(db, actor=user, company_id=chosen)  # 404 outside the scope
    if company_page:  # stay on the same kind of page, for the newly chosen company
        parts[2] = company.id
        target = "/".join(parts)
    response = redirect(target)
    response.set_cookie(COMPANY_COOKIE, company.id, httponly=True, samesite="lax", path="/",
                        max_age=365 * 86400)
    return response
