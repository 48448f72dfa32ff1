"""Patch compliance console: per-company summary cards and per-asset table, with "Scan now" per asset and per
company. Everything goes through ``remediation.patches`` (scope checks, audit).

The body (``#patches-body``) reloads itself on ``patch.updated`` / ``patch.scanning`` live events and polls every
few seconds while a scan is under way (so progress shows even without a live connection). A scan form posts and
is redirected back with a flash message; with HTMX the answer is the refreshed body plus an ``aw-flash`` trigger.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from alertwhisperer.auth.principal import Principal
from alertwhisperer.clock import Clock
from alertwhisperer.deps import CSRF_COOKIE, ClockDep, CurrentUser, SessionDep, commit
from alertwhisperer.errors import Conflict, Invalid, NotFound
from alertwhisperer.jobs.worker import wake_workers
from alertwhisperer.remediation import patches
from alertwhisperer.tenants.models import Asset, Company
from alertwhisperer.web.forms import Form
from alertwhisperer.web.templating import origin_tag, page, redirect, templates

router = APIRouter()

SOURCES = {"ssm": "AWS Patch Manager", "apt": "apt", "dnf": "dnf", "ssh": "SSH", "local": "Local"}
STALE_LISTS = timedelta(days=7)  # apt package lists older than this make "missing" an underestimate


def _aware(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def row_view(row: patches.PatchRow, now: datetime) -> dict[str, Any]:
    """What one table row shows (status word, badge colour, notes)."""
    state = row.state
    details = state.details if state is not None else {}
    if row.scanning:
        status, tone = "Scanning…", "blue"
    elif state is None:
        status, tone = "Never scanned", "gray"
    elif not row.scanned:
        status, tone = "Scan failed", "red"
    elif row.compliant:
        status, tone = "Compliant", "green"
    else:
        status, tone = "Non-compliant", "amber" if not state.critical and not state.failed else "red"
    notes: list[str] = []
    lists = details.get("lists_updated_at")
    if isinstance(lists, str):
        try:
            age = now - datetime.fromisoformat(lists)
        except ValueError:
            age = timedelta(0)
        if age > STALE_LISTS:
            notes.append(f"package lists are {age.days} days old (run apt update on the host): counts may be low")
    if details.get("security_error"):
        notes.append("security advisories could not be listed: " + str(details["security_error"])[:200])
    return {
        "row": row, "state": state, "status": status, "tone": tone, "notes": notes,
        "source": SOURCES.get(state.source, state.source) if state is not None else "",
        "severity_reported": bool(details.get("severity_reported", True)),
        "packages": list(details.get("packages") or [])[:100], "advisories": list(details.get("advisories") or []),
        "os": details.get("os", ""), "scanned_at": _aware(state.scanned_at) if row.scanned and state else None,
        "checked_at": details.get("checked_at"),
    }


async def _company_param(db: AsyncSession, user: Principal, request: Request) -> Company | None:
    company_id = request.query_params.get("company") or None
    if company_id is None:
        return None
    user.require_company(company_id)
    company = await db.get(Company, company_id)
    if company is None:
        raise NotFound("company not found")
    return company


async def _context(db: AsyncSession, user: Principal, company: Company | None, now: datetime) -> dict[str, Any]:
    company_id = company.id if company else None
    summaries = await patches.compliance_by_company(db, actor=user, company_id=company_id)
    rows = await patches.list_rows(db, actor=user, company_id=company_id)
    unreachable = 0
    if company is not None:
        total = (await db.execute(select(func.count()).select_from(Asset)
                                  .where(Asset.company_id == company.id))).scalar_one()
        unreachable = int(total) - sum(1 for r in rows if r.access is not None)
    scanning = any(r.scanning for r in rows)
    query = f"?company={company.id}" if company else ""
    return {
        "company": company, "summaries": summaries, "rows": [row_view(r, now) for r in rows],
        "scanning": scanning, "unreachable": unreachable, "body_url": f"/patches/_body{query}",
        "self_url": f"/patches{query}", "now": now,
        "any_access": any(s["assets_with_access"] for s in summaries),
        "company_names": {s["company_id"]: s["name"] for s in summaries},
    }


@router.get("/patches")
async def patches_page(request: Request, user: CurrentUser, db: SessionDep, clock: ClockDep) -> Response:
    company = await _company_param(db, user, request)
    ctx = await _context(db, user, company, clock.now())
    return await page(request, db, user, "patches/index.html", ctx, section="patches")


@router.get("/patches/_body")
async def patches_body(request: Request, user: CurrentUser, db: SessionDep, clock: ClockDep) -> Response:
    company = await _company_param(db, user, request)
    ctx = await _context(db, user, company, clock.now())
    return _fragment(request, user, ctx)


def _fragment(request: Request, user: Principal, ctx: dict[str, Any]) -> Response:
    response = templates.TemplateResponse(request, "patches/_body.html", {
        **ctx, "principal": user, "csrf_token": request.cookies.get(CSRF_COOKIE, "")})
    response.headers["Cache-Control"] = "no-store"
    return response


def _message(result: patches.ScanRequest, names: dict[str, str]) -> tuple[str, str]:
    if result.queued:
        what = names.get(result.queued[0], "the asset") if len(result.queued) == 1 else f"{len(result.queued)} assets"
        extra = ""
        busy = [s for s in result.skipped if "this hour" in s["reason"]]
        if busy:
            extra = f" {len(busy)} other{'s were' if len(busy) > 1 else ' was'} already scanned this hour."
        return f"Scanning {what}. Results appear here as each scan finishes.{extra}", "success"
    when = result.next_at.strftime("%H:%M UTC") if result.next_at else "the next hour"
    return (f"Already scanned or being scanned this hour; the results are below. A new scan can be asked for "
            f"from {when}.", "info")


async def _scan(request: Request, db: AsyncSession, user: Principal, clock: Clock, back: str) -> Response:
    form = await Form.read(request)
    asset_id, company_id = form.opt("asset_id"), form.opt("company_id")
    try:
        result = await patches.request_scan(db, actor=user, clock=clock, asset_id=asset_id, company_id=company_id,
                                            origin=origin_tag(user))
    except (Conflict, Invalid) as exc:
        await db.rollback()
        message, kind = exc.message[:1].upper() + exc.message[1:], "error"
    else:
        names = {a.id: a.name for a in (await db.execute(select(Asset).where(Asset.id.in_(result.queued)))).scalars()}
        message, kind = _message(result, names)
        await commit(request, db)
        if result.queued:
            wake_workers(getattr(request.app.state, "hub", None))
    if request.headers.get("hx-request") == "true":
        company = await _company_param(db, user, request)
        ctx = await _context(db, user, company, clock.now())
        response = _fragment(request, user, ctx)
        response.headers["HX-Trigger"] = json.dumps({"aw-flash": {"message": message, "kind": kind}})
        return response
    return redirect(back, message, kind)


@router.post("/patches/scan")
async def scan(request: Request, user: CurrentUser, db: SessionDep, clock: ClockDep) -> Response:
    company = request.query_params.get("company")
    return await _scan(request, db, user, clock, f"/patches?company={quote(company)}" if company else "/patches")
