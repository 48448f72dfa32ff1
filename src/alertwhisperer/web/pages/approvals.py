"""The approvals inbox: requests waiting for the viewer (with a live countdown to their deadline), their own
waiting requests, and recently decided ones. Approving redirects to the execution's page, where the output
streams; a refused answer (own request, role, already answered, expired, reject without a note) re-renders the
inbox with the reason next to the request. The waiting list refreshes live on ``execution.updated``.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy.ext.asyncio import AsyncSession

from alertwhisperer.auth.principal import Principal
from alertwhisperer.clock import Clock
from alertwhisperer.deps import CSRF_COOKIE, ClockDep, CurrentUser, SessionDep, commit
from alertwhisperer.errors import DomainError
from alertwhisperer.remediation import approvals, gates
from alertwhisperer.tenants import service as tenants
from alertwhisperer.web.forms import Form
from alertwhisperer.web.listing import list_partial
from alertwhisperer.web.templating import page, redirect, templates

router = APIRouter()

LIVE_ID = "approvals-live"
RISK_LABELS = {"low": "Low risk", "medium": "Medium risk", "high": "High risk"}
STATUS_LABELS = {
    "pending_approval": "Waiting", "approved": "Approved", "queued": "Queued", "dispatched": "Dispatched",
    "running": "Running", "succeeded": "Succeeded", "failed": "Failed", "timed_out": "Timed out",
    "cancelled": "Cancelled", "expired": "Expired", "undeliverable": "Undeliverable",
}
STATUS_BADGES = {
    "pending_approval": "badge-amber", "approved": "badge-blue", "queued": "badge-blue", "dispatched": "badge-indigo",
    "running": "badge-indigo", "succeeded": "badge-green", "failed": "badge-red", "timed_out": "badge-red",
    "undeliverable": "badge-red", "cancelled": "", "expired": "badge-amber",
}
APPROVER_TEXT = {"company_admin": "Company admin or MSP admin", "msp_admin": "MSP admin only"}


def expires_text(seconds: int | None) -> str:
    """``expires in 43 min`` / ``expires in under a minute`` / ``expired``."""
    if seconds is None or seconds <= 0:
        return "expired"
    if seconds < 60:
        return "expires in under a minute"
    minutes = (seconds + 59) // 60
    if minutes < 60:
        return f"expires in {minutes} min"
    return f"expires in {minutes // 60} h" + (f" {minutes % 60} min" if minutes % 60 else "")


async def _context(db: AsyncSession, user: Principal, clock: Clock, company_id: str | None) -> dict[str, Any]:
    now = clock.now()
    waiting = await approvals.list_requests(db, actor=user, now=now, status="pending", company_id=company_id,
                                            limit=200)
    decided = await approvals.list_requests(db, actor=user, now=now, status="decided", company_id=company_id,
                                            limit=30)
    companies = await tenants.list_companies(db, actor=user)
    return {
        "waiting": waiting, "decided": decided, "actionable": sum(1 for v in waiting if v.can_decide),
        "filter_companies": companies, "company_id": company_id or "",
        "company": next((c for c in companies if c.id == company_id), None),
        "self_url": "/approvals" + (f"?company_id={company_id}" if company_id else ""),
        "risk_labels": RISK_LABELS, "status_labels": STATUS_LABELS, "status_badges": STATUS_BADGES,
        "approver_text": APPROVER_TEXT, "expires_text": expires_text, "errors": {}, "notes": {}, "top_error": "",
    }


async def _render(request: Request, db: AsyncSession, user: Principal, clock: Clock, company_id: str | None, *,
                  extra: dict[str, Any] | None = None, status_code: int = 200) -> Response:
    ctx = await _context(db, user, clock, company_id)
    ctx.update(extra or {})
    if list_partial(request, LIVE_ID):
        ctx["csrf_token"] = request.cookies.get(CSRF_COOKIE, "")
        ctx["principal"] = user
        response = templates.TemplateResponse(request, "approvals/_live.html", ctx, status_code=status_code)
        response.headers["Cache-Control"] = "no-store"
        response.headers["Vary"] = "HX-Request, HX-Target"
        return response
    return await page(request, db, user, "approvals/inbox.html", ctx, status_code=status_code, section="approvals")


@router.get("/approvals")
async def inbox(request: Request, user: CurrentUser, db: SessionDep, clock: ClockDep,
                company_id: str = "") -> Response:
    if company_id:
        user.require_company(company_id)
    return await _render(request, db, user, clock, company_id or None)


async def _refused(request: Request, db: AsyncSession, user: Principal, clock: Clock, execution_id: str,
                   exc: DomainError, note: str) -> Response:
    """Show the inbox again with why the answer was refused, next to the request when it is still listed."""
    await db.rollback()
    message = exc.message[:1].upper() + exc.message[1:]
    extra = {"errors": {execution_id: message}, "notes": {execution_id: note}, "top_error": message}
    return await _render(request, db, user, clock, None, extra=extra, status_code=exc.status_code)


@router.post("/approvals/{execution_id}/approve")
async def approve(execution_id: str, request: Request, user: CurrentUser, db: SessionDep,
                  clock: ClockDep) -> Response:
    note = (await Form.read(request)).text("note")
    try:
        execution = await gates.approve(db, actor=user, clock=clock, execution_id=execution_id, note=note)
    except gates.RequestExpired as exc:
        await commit(request, db)  # keep it written as expired
        return await _refused(request, db, user, clock, execution_id, exc, note)
    except DomainError as exc:
        return await _refused(request, db, user, clock, execution_id, exc, note)
    await commit(request, db)
    return redirect(f"/executions/{execution.id}",
                    f"Approved “{execution.runbook_title}” on {execution.asset_name}. It is queued to run; "
                    "the output appears here as it arrives.")


@router.post("/approvals/{execution_id}/reject")
async def reject(execution_id: str, request: Request, user: CurrentUser, db: SessionDep,
                 clock: ClockDep) -> Response:
    note = (await Form.read(request)).text("note")
    try:
        execution = await gates.reject(db, actor=user, clock=clock, execution_id=execution_id, note=note)
    except gates.RequestExpired as exc:
        await commit(request, db)
        return await _refused(request, db, user, clock, execution_id, exc, note)
    except DomainError as exc:
        return await _refused(request, db, user, clock, execution_id, exc, note)
    await commit(request, db)
    told = f" {execution.requested_by_name} has been told why." if execution.requested_by_id else ""
    return redirect("/approvals", f"Rejected “{execution.runbook_title}” on {execution.asset_name}.{told}")
