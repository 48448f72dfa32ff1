"""Alerts: the live, filterable list of stored alerts and one alert's detail (labels, raw delivery)."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import Response

from alertwhisperer.deps import CurrentUser, SessionDep
from alertwhisperer.ingest import adapters, queries
from alertwhisperer.ingest.heartbeats import SOURCE as HEARTBEAT_SOURCE
from alertwhisperer.ingest.models import Delivery
from alertwhisperer.tenants import service as tenants
from alertwhisperer.web.listing import PAGE_SIZE, list_partial, page_limit
from alertwhisperer.web.templating import page, selected_company, templates

router = APIRouter()
RAW_LIMIT = 64 * 1024  # characters of a delivery body shown on the detail page
PUSHING = ("alert-filters", "load-more")  # elements whose requests change the page's URL


def _url(params: dict[str, object]) -> str:
    return "/alerts" + ("?" + urlencode(params) if params else "")


def tool_names() -> dict[str, str]:
    names = {}
    for key in adapters.all_keys():
        adapter = adapters.get(key)
        if adapter is not None:
            names[key] = adapter.INFO.name
    names[HEARTBEAT_SOURCE] = "Heartbeat"
    return names


@router.get("/alerts")
async def alert_list(request: Request, user: CurrentUser, db: SessionDep) -> Response:
    q = request.query_params
    companies = await tenants.list_companies(db, actor=user)
    if "company_id" in q:
        company_id = q.get("company_id", "")
    else:
        current = selected_company(request, user, companies)
        company_id = current.id if current else ""
    flt = queries.AlertFilter(company_id=company_id, severity=q.get("severity", ""), status=q.get("status", ""),
                              source=q.get("tool", ""), asset=q.get("asset", ""), q=q.get("q", "")).cleaned()
    limit = page_limit(q.get("limit", str(PAGE_SIZE)), queries.MAX_LIMIT)
    rows = await queries.list_alerts(db, actor=user, flt=flt, limit=limit)  # 404 for a company out of scope
    total = await queries.count_alerts(db, actor=user, flt=flt)
    params = {"company_id": flt.company_id, "severity": flt.severity, "status": flt.status, "tool": flt.source,
              "asset": flt.asset, "q": flt.q}
    active = {k: v for k, v in params.items() if v and k != "company_id"}
    if "company_id" in q:  # chosen on this page (may be "" = all), over the switcher's default
        active = {"company_id": flt.company_id, **active}
    names = {c.id: c.name for c in companies}
    ctx: dict[str, Any] = {
        "rows": rows, "total": total, "limit": limit, "filters": params, "flt": flt,
        "tools": tool_names(), "severities": queries.SEVERITIES, "statuses": queries.STATUSES,
        "filter_companies": companies, "company_names": names,
        "company": next((c for c in companies if c.id == flt.company_id), None),
        "self_url": _url({**active, **({"limit": limit} if limit != PAGE_SIZE else {})}),
        "more_url": _url({**active, "limit": limit + PAGE_SIZE}),
        "live_filter": json.dumps({"company_id": flt.company_id, "severity": flt.severity, "status": flt.status,
                                   "source": flt.source, "asset": flt.asset.lower(), "q": flt.q.lower()}),
        "first_company": companies[0] if companies else None,
    }
    if list_partial(request, "alerts-list"):
        response = templates.TemplateResponse(request, "alerts/_list.html", ctx)
        response.headers["Cache-Control"] = "no-store"
        response.headers["Vary"] = "HX-Request, HX-Target"
        if request.headers.get("hx-trigger") in PUSHING:  # the address bar shows the clean filter URL
            response.headers["HX-Push-Url"] = ctx["self_url"]
        return response
    return await page(request, db, user, "alerts/list.html", ctx, section="alerts")


def pretty_body(delivery: Delivery | None) -> tuple[str, bool, int]:
    """The raw delivery body for display: pretty JSON when it is JSON, bounded. (text, truncated, bytes)."""
    if delivery is None:
        return "", False, 0
    raw = bytes(delivery.body or b"")
    try:
        text = json.dumps(json.loads(raw), indent=2, ensure_ascii=False)
    except ValueError:
        text = raw.decode("utf-8", errors="replace")
    return text[:RAW_LIMIT], len(text) > RAW_LIMIT, len(raw)


@router.get("/alerts/{alert_id}")
async def alert_detail(alert_id: str, request: Request, user: CurrentUser, db: SessionDep) -> Response:
    detail = await queries.get_alert(db, actor=user, alert_id=alert_id)
    company = await tenants.get_company(db, actor=user, company_id=detail.alert.company_id)
    body, truncated, size = pretty_body(detail.delivery)
    return await page(request, db, user, "alerts/detail.html", {
        "a": detail.alert, "delivery": detail.delivery, "company": company, "raw_body": body,
        "raw_truncated": truncated, "raw_size": size, "tools": tool_names(),
        "is_test": (detail.alert.labels or {}).get("aw_test") == "true",
    }, section="alerts")
