"""Executions console: the live list with the self-healed KPI strip, and one run's page with its approval, timing,
health check, rollback and output (stored pieces, then live ``execution.output`` events; ``executions.js``).

Reads and changes go through ``remediation.executions`` (scope checks, cancel rules); approving posts to the
approvals pages (``/approvals/{id}/approve|reject``), which send the approver back here to watch the run.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from alertwhisperer.auth.principal import Principal, Role
from alertwhisperer.correlation.models import Incident
from alertwhisperer.deps import ClockDep, CurrentUser, SessionDep, commit
from alertwhisperer.errors import DomainError
from alertwhisperer.remediation import approvals, executions, states
from alertwhisperer.remediation.executors.base import MAX_OUTPUT
from alertwhisperer.remediation.models import Approval, Execution
from alertwhisperer.tenants import service as tenants
from alertwhisperer.web.forms import Form
from alertwhisperer.web.listing import list_partial
from alertwhisperer.web.pages.incidents import duration
from alertwhisperer.web.templating import page, redirect, selected_company, templates

router = APIRouter()

PAGE_SIZE = 50
MAX_LIMIT = executions.MAX_LIMIT
KPI_DAYS = 30
STATUS_CHOICES: list[tuple[str, str]] = [
    ("active", "Active (waiting or running)"),
    ("waiting", "Waiting (queued or for approval)"),
    ("pending_approval", "Pending approval"),
    ("queued", "Queued"),
    ("approved", "Approved"),
    ("dispatched", "Dispatched"),
    ("running", "Running"),
    ("succeeded", "Succeeded"),
    ("failed", "Failed"),
    ("timed_out", "Timed out"),
    ("cancelled", "Cancelled"),
    ("expired", "Expired"),
    ("undeliverable", "Undeliverable"),
]
TRIGGERS = ("auto", "manual")
APPROVER_SHORT = {"company_admin": "a company admin", "msp_admin": "an MSP admin"}
HEALTH_KINDS = {
    "command": "Command on the target",
    "http": "HTTP check",
    "alert_resolved": "The alert resolved",
    "none": "None defined (the run's success counts)",
}


def duration_ms(value: int | None) -> str:
    """``1234`` ms -> ``1.2 s``; longer runs as :func:`incidents.duration`; None -> ``—``."""
    if value is None:
        return "—"
    if value < 1000:
        return f"{value} ms"
    if value < 90_000:
        return f"{value / 1000:.1f} s"
    return duration(value / 1000)


def kpi_view(data: dict[str, Any]) -> dict[str, Any]:
    """``executions.self_healed_kpi`` as the strip shows it."""
    return {
        "resolved": int(data.get("resolved") or 0),
        "self_healed": int(data.get("self_healed") or 0),
        "percent": data.get("self_healed_pct"),
        "mttr_auto": data.get("mttr_self_healed_seconds"),
        "mttr_manual": data.get("mttr_manual_seconds"),
        "runs": data.get("executions") or {},
    }


def _url(params: dict[str, object]) -> str:
    clean = {k: v for k, v in params.items() if v not in (None, "")}
    return "/executions" + ("?" + urlencode(clean) if clean else "")


async def _incident_titles(db: AsyncSession, ids: set[str]) -> dict[str, str]:
    if not ids:
        return {}
    rows = await db.execute(select(Incident.id, Incident.title).where(Incident.id.in_(sorted(ids))))
    return {i: t for i, t in rows.all()}


async def _approvals(db: AsyncSession, ids: list[str]) -> dict[str, Approval]:
    if not ids:
        return {}
    rows = await db.execute(select(Approval).where(Approval.execution_id.in_(ids)))
    return {a.execution_id: a for a in rows.scalars()}


async def _runbook_choices(db: AsyncSession, user: Principal, company_id: str) -> list[tuple[str, str]]:
    """The runbooks that ran in the shown companies (the filter offers only what can match)."""
    stmt = select(Execution.runbook_slug, Execution.runbook_title).distinct()
    if company_id:
        stmt = stmt.where(Execution.company_id == company_id)
    elif not user.is_msp_admin:
        stmt = stmt.where(Execution.company_id.in_(sorted(user.company_ids)))
    seen: dict[str, str] = {}
    for slug, title in (await db.execute(stmt)).all():
        seen.setdefault(slug, title or slug)
    return sorted(seen.items(), key=lambda kv: kv[1].lower())


async def _list_rows(
    db: AsyncSession, user: Principal, flt: dict[str, str], limit: int
) -> tuple[list[Execution], bool]:
    """Newest first, ``limit`` of them, and whether there are more."""
    rows = await executions.list_executions(
        db,
        actor=user,
        company_id=flt["company_id"] or None,
        status=flt["status"] or None,
        incident_id=flt["incident"] or None,
        runbook=flt["runbook"] or None,
        trigger=flt["trigger"] or None,
        limit=min(limit + 1, MAX_LIMIT),
    )
    return rows[:limit], len(rows) > limit


@router.get("/executions")
async def execution_list(request: Request, user: CurrentUser, db: SessionDep, clock: ClockDep) -> Response:
    q = request.query_params
    companies = await tenants.list_companies(db, actor=user)
    if "company_id" in q:
        company_id = q.get("company_id", "").strip()
        if company_id:
            user.require_company(company_id)
    else:
        current = selected_company(request, user, companies)
        company_id = current.id if current else ""
    status = q.get("status", "").strip()
    flt = {
        "company_id": company_id,
        "status": status if status in dict(STATUS_CHOICES) else "",
        "runbook": q.get("runbook", "").strip()[:80],
        "trigger": q.get("trigger", "") if q.get("trigger") in TRIGGERS else "",
        "incident": q.get("incident", "").strip()[:64],
    }
    try:
        limit = max(1, min(int(q.get("limit", PAGE_SIZE)), MAX_LIMIT))
    except ValueError:
        limit = PAGE_SIZE
    rows, has_more = await _list_rows(db, user, flt, limit)
    now = clock.now()
    kpi = await executions.self_healed_kpi(
        db, actor=user, company_id=company_id or None, since=now - timedelta(days=KPI_DAYS)
    )
    active = {k: v for k, v in flt.items() if v and k != "company_id"}
    if "company_id" in q:
        active = {"company_id": company_id, **active}
    titles = await _incident_titles(
        db, {r.incident_id for r in rows if r.incident_id} | ({flt["incident"]} if flt["incident"] else set())
    )
    ctx: dict[str, Any] = {
        "rows": rows,
        "has_more": has_more,
        "limit": limit,
        "max_limit": MAX_LIMIT,
        "filters": flt,
        "filtered": any(v for k, v in flt.items() if k != "company_id"),
        "status_groups": STATUS_CHOICES,
        "runbook_choices": await _runbook_choices(db, user, company_id),
        "filter_companies": companies,
        "company": next((c for c in companies if c.id == company_id), None),
        "company_names": {c.id: c.name for c in companies},
        "kpi": kpi_view(kpi),
        "kpi_days": KPI_DAYS,
        "approvals": await _approvals(db, [r.id for r in rows]),
        "incident_titles": titles,
        "incident_title": titles.get(flt["incident"], ""),
        "approver_labels": APPROVER_SHORT,
        "self_url": _url({**active, **({"limit": limit} if limit != PAGE_SIZE else {})}),
        "more_url": _url({**active, "limit": min(limit + PAGE_SIZE, MAX_LIMIT)}),
        "live_filter": company_id,
        "duration": duration,
        "duration_ms": duration_ms,
        "now": now,
    }
    if list_partial(request, "executions-live"):
        response = templates.TemplateResponse(request, "executions/_list.html", ctx)
        response.headers["Cache-Control"] = "no-store"
        response.headers["Vary"] = "HX-Request, HX-Target"
        return response
    return await page(request, db, user, "executions/list.html", ctx, section="executions")


def _approval_state(execution: Execution, approval: Approval | None, now: datetime) -> str:
    if not execution.approval_required:
        return "not_needed"
    if approval is not None:
        return str(approval.decision)
    if execution.status == states.EXPIRED or (
        execution.status == states.PENDING_APPROVAL and approvals.is_expired(execution, now)
    ):
        return "expired"
    if execution.status == states.PENDING_APPROVAL:
        return "pending"
    return "withdrawn"


def expiry_text(expires_at: datetime | None, now: datetime) -> str:
    if expires_at is None:
        return ""
    seconds = (expires_at - now).total_seconds()
    return f"expires in {duration(seconds)}" if seconds > 0 else f"expired {duration(seconds)} ago"


def may_cancel(user: Principal, execution: Execution) -> bool:
    """The cancel button: a run that has not started, for whoever asked for it or an admin (the service
    decides; this only hides a button that would be refused)."""
    admin = user.is_msp_admin or user.role is Role.COMPANY_ADMIN
    return execution.status in states.WAITING and (admin or execution.requested_by_id == user.user_id)


def output_state(status: str) -> str:
    if status in states.IN_FLIGHT:
        return "live"
    return "waiting" if status in states.WAITING else "done"


def _empty_output(execution: Execution) -> str:
    if execution.status in states.WAITING:
        return "Nothing yet: the output appears here, line by line, as soon as the run starts."
    if execution.status in states.IN_FLIGHT:
        return "Connected; waiting for the first output…"
    if execution.status in (states.CANCELLED, states.EXPIRED) and execution.started_at is None:
        return "It never ran, so there is no output."
    return "The run produced no output."


@router.get("/executions/{execution_id}")
async def execution_detail(
    execution_id: str, request: Request, user: CurrentUser, db: SessionDep, clock: ClockDep
) -> Response:
    execution = await executions.get_execution(db, actor=user, execution_id=execution_id)
    now = clock.now()
    approval = await executions.approval_of(db, execution_id=execution.id)
    company = await tenants.get_company(db, actor=user, company_id=execution.company_id)
    incident = await db.get(Incident, execution.incident_id) if execution.incident_id else None
    chunks = await executions.output_of(db, actor=user, execution_id=execution.id)
    state = _approval_state(execution, approval, now)
    why_not = approvals.why_not_approver(user, execution)
    approver_text = approvals.APPROVER_LABELS.get(execution.approver_role, "an approver")
    return await page(
        request,
        db,
        user,
        "executions/detail.html",
        {
            "e": execution,
            "company": company,
            "incident": incident,
            "approval": approval,
            "chunks": chunks,
            "approval_state": state,
            "can_approve": state == "pending" and why_not is None,
            "cannot_approve_reason": f"Waiting for approval by {approver_text}"
            + (f" — {why_not}." if why_not else "."),
            "approver_text": approver_text[:1].upper() + approver_text[1:],
            "expiry_text": expiry_text(execution.expires_at, now),
            "can_cancel": may_cancel(user, execution),
            "output_state": output_state(execution.status),
            "empty_output_text": _empty_output(execution),
            "max_output_kb": MAX_OUTPUT // 1024,
            "health_kinds": HEALTH_KINDS,
            "duration_ms": duration_ms,
            "now": now,
        },
        section="executions",
    )


@router.get("/executions/{execution_id}/output")
async def execution_output(execution_id: str, user: CurrentUser, db: SessionDep, after: int = 0) -> Response:
    """The stored output pieces after ``after`` (the page fills gaps in the live stream with this)."""
    execution = await executions.get_execution(db, actor=user, execution_id=execution_id)
    chunks = await executions.output_of(db, actor=user, execution_id=execution_id, after_seq=max(0, after))
    return JSONResponse(
        {
            "status": execution.status,
            "truncated": execution.truncated,
            "chunks": [{"seq": c.seq, "stream": c.stream, "text": c.text} for c in chunks],
        },
        headers={"Cache-Control": "no-store"},
    )


@router.post("/executions/{execution_id}/cancel")
async def cancel_execution(
    execution_id: str, request: Request, user: CurrentUser, db: SessionDep, clock: ClockDep
) -> Response:
    form = await Form.read(request)
    url = f"/executions/{execution_id}"
    try:
        execution = await executions.cancel(
            db, actor=user, clock=clock, execution_id=execution_id, note=form.text("note")[:1000]
        )
    except DomainError as exc:
        if exc.status_code == 404:
            raise
        await db.rollback()
        return redirect(url, f"Not cancelled: {exc.message}", "error")
    await commit(request, db)
    what = "Request withdrawn" if execution.approval_required else "Run cancelled"
    return redirect(url, f"{what}. It will not start.")
