"""The runbook library console: browse and filter, a company's effective view, runbook detail with versions,
and the YAML editor (new runbook, edit, company override) whose validation problems appear next to their lines.

Everything goes through ``remediation.runbooks`` (rights, validation, audit). Technicians see the pages read-only;
the edit routes answer them 403.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy.ext.asyncio import AsyncSession

from alertwhisperer.auth.principal import Principal, Role
from alertwhisperer.deps import ClockDep, CurrentUser, SessionDep, commit
from alertwhisperer.errors import Conflict, Forbidden
from alertwhisperer.remediation import runbooks as service
from alertwhisperer.remediation.library import pending_update
from alertwhisperer.remediation.models import Runbook
from alertwhisperer.remediation.spec import SpecError, parse_yaml
from alertwhisperer.web.forms import Form
from alertwhisperer.web.templating import page, redirect, selected_company, templates

router = APIRouter()

RISKS = ("low", "medium", "high")
COMMON_TRIGGERS = (
    "disk",
    "cpu",
    "memory",
    "oom",
    "host_down",
    "service_down:nginx",
    "service_down:postgresql",
    "http_errors",
    "latency",
    "db_connections",
    "db_slow",
    "replication",
    "security",
    "certificate",
    "backup",
    "network",
)
NEW_TEMPLATE = """name: my-runbook
title: What this runbook does
description: |
  When to use it, what it changes, and what a technician should know.
category: services
risk: medium            # low | medium | high; medium needs a company admin's approval, high an MSP admin's
trigger:
  symptoms: ["service_down:myapp"]
parameters:
  - name: service
    description: the systemd unit to restart
    required: true
    pattern: '[A-Za-z0-9@._-]+'
    from_incident: service
steps:
  linux:
    - name: Restart
      run: systemctl restart {{ service }}
health_check:
  kind: command
  command: systemctl is-active --quiet {{ service }}
timeout_seconds: 300
"""


def _admin_companies(user: Principal, companies: list[Any]) -> list[Any]:
    if user.role not in (Role.MSP_ADMIN, Role.COMPANY_ADMIN):
        return []
    return [c for c in companies if user.sees_company(c.id)]


def _new_url(user: Principal, companies: list[Any], company: Any) -> str:
    """Where "New runbook" leads: a runbook of the chosen company when the user administers it, else the library
    (MSP admins) or the user's first company ("" when the user may create none)."""
    mine = _admin_companies(user, companies)
    if company is not None and company in mine:
        return f"/runbooks/new?company_id={company.id}"
    if user.is_msp_admin:
        return "/runbooks/new"
    return f"/runbooks/new?company_id={mine[0].id}" if mine else ""


async def _companies(db: AsyncSession, user: Principal) -> list[Any]:
    from alertwhisperer.tenants import service as tenants

    return list(await tenants.list_companies(db, actor=user))


@router.get("/runbooks")
async def library(request: Request, user: CurrentUser, db: SessionDep, clock: ClockDep) -> Response:
    params = request.query_params
    companies = await _companies(db, user)
    if "company_id" in params:
        chosen = params.get("company_id", "")
    else:  # first visit: the company picked in the switcher, if any ("Library only" stays one click away)
        picked = selected_company(request, user, companies)
        chosen = picked.id if picked is not None else ""
    filters = {
        "company_id": chosen,
        "risk": params.get("risk", ""),
        "q": params.get("q", "").strip()[:200],
        "trigger": params.get("trigger", "").strip()[:120],
    }
    if filters["risk"] not in RISKS:
        filters["risk"] = ""
    entries = await service.listing(
        db,
        actor=user,
        clock=clock,
        company_id=filters["company_id"] or None,
        risk=filters["risk"] or None,
        q=filters["q"] or None,
        trigger=filters["trigger"] or None,
    )
    await commit(request, db)  # keeps the built-ins synced on first use
    company = next((c for c in companies if c.id == filters["company_id"]), None)
    ctx = {
        "entries": entries,
        "filters": filters,
        "risks": RISKS,
        "triggers": COMMON_TRIGGERS,
        "company": company,
        "filter_companies": companies,
        "active": any(filters.values()),
        "new_url": _new_url(user, companies, company),
    }
    if request.headers.get("hx-request") == "true":
        ctx.update(principal=user)
        return templates.TemplateResponse(request, "runbooks/_list.html", ctx)
    return await page(request, db, user, "runbooks/library.html", ctx, section="runbooks")


async def _detail(
    request: Request, db: AsyncSession, user: Principal, runbook: Runbook, version_number: int | None
) -> Response:
    version = await service.version_of(db, actor=user, runbook_id=runbook.id, version=version_number)
    companies = await _companies(db, user)
    overriding = await service.companies_overriding(db, actor=user, runbook=runbook)
    overriding_ids = {c.id for c in overriding}
    counterpart = await service.library_counterpart(db, runbook)
    ctx = {
        "runbook": runbook,
        "version": version,
        "spec": service.spec_of(version),
        "is_current": version.version == runbook.current_version,
        "versions": await service.versions_of(db, actor=user, runbook_id=runbook.id),
        "can_edit": service.can_edit(user, runbook),
        "counterpart": counterpart,
        "overriding": overriding,
        "update": await pending_update(db, runbook),
        "override_targets": [c for c in _admin_companies(user, companies) if c.id not in overriding_ids],
        "company_name": next((c.name for c in companies if c.id == runbook.company_id), ""),
    }
    return await page(request, db, user, "runbooks/detail.html", ctx, section="runbooks")


@router.get("/runbooks/new")
async def new_form(request: Request, user: CurrentUser, db: SessionDep) -> Response:
    company_id = request.query_params.get("company_id") or None
    _require_create(user, company_id)
    text = NEW_TEMPLATE
    source = request.query_params.get("from")
    if source:  # a company override starts from the library runbook's current YAML
        text = (await service.version_of(db, actor=user, runbook_id=source)).yaml
    return await _editor(request, db, user, mode="new", text=text, company_id=company_id)


def _require_create(user: Principal, company_id: str | None) -> None:
    if company_id:
        user.require_company_admin(company_id, "add runbooks for this company")
    else:
        user.require_role(Role.MSP_ADMIN, action="add runbooks to the library")


async def _editor(
    request: Request,
    db: AsyncSession,
    user: Principal,
    *,
    mode: str,
    text: str,
    company_id: str | None = None,
    runbook: Runbook | None = None,
    note: str = "",
    problems: list[dict[str, Any]] | None = None,
    status_code: int = 200,
) -> Response:
    companies = await _companies(db, user)
    lines = text.split("\n")
    by_line: dict[int, list[str]] = {}
    for p in problems or []:
        if p.get("line"):
            by_line.setdefault(int(p["line"]), []).append(str(p["message"]))
    ctx = {
        "mode": mode,
        "text": text,
        "lines": lines,
        "problems": problems or [],
        "by_line": by_line,
        "runbook": runbook,
        "note": note,
        "company_id": company_id or "",
        "company_name": next((c.name for c in companies if c.id == company_id), ""),
        "action": f"/runbooks/{runbook.id}/edit" if runbook else "/runbooks/new",
    }
    return await page(request, db, user, "runbooks/editor.html", ctx, status_code=status_code, section="runbooks")


def _problems_of(exc: SpecError | Conflict) -> list[dict[str, Any]]:
    found = (exc.details or {}).get("problems") if isinstance(exc.details, dict) else None
    return list(found or [{"line": None, "field": None, "message": exc.message}])


@router.post("/runbooks/new")
async def create(request: Request, user: CurrentUser, db: SessionDep, clock: ClockDep) -> Response:
    form = await Form.read(request)
    company_id = form.text("company_id") or None
    _require_create(user, company_id)
    text, note = form.raw("yaml").replace("\r\n", "\n"), form.text("note")[:500]
    try:
        runbook = await service.create(db, actor=user, clock=clock, yaml_text=text, company_id=company_id, note=note)
    except (SpecError, Conflict) as exc:
        await db.rollback()
        return await _editor(
            request,
            db,
            user,
            mode="new",
            text=text,
            company_id=company_id,
            note=note,
            problems=_problems_of(exc),
            status_code=422,
        )
    await commit(request, db)
    return redirect(f"/runbooks/{runbook.id}", f"Runbook '{runbook.slug}' saved as version 1.")


@router.post("/runbooks/check")
async def check(request: Request, user: CurrentUser) -> Response:
    """The editor's "Check" button: the problems list for the posted YAML (nothing is saved)."""
    form = await Form.read(request)
    problems: list[dict[str, Any]] = []
    try:
        parse_yaml(form.raw("yaml").replace("\r\n", "\n"))
    except SpecError as exc:
        problems = exc.problems
    return templates.TemplateResponse(request, "runbooks/_problems.html", {"problems": problems, "checked": True})


@router.get("/runbooks/{runbook_id}")
async def detail(runbook_id: str, request: Request, user: CurrentUser, db: SessionDep) -> Response:
    runbook = await service.get_for_actor(db, actor=user, runbook_id=runbook_id)
    return await _detail(request, db, user, runbook, None)


@router.get("/runbooks/{runbook_id}/versions/{version}")
async def old_version(runbook_id: str, version: int, request: Request, user: CurrentUser, db: SessionDep) -> Response:
    runbook = await service.get_for_actor(db, actor=user, runbook_id=runbook_id)
    return await _detail(request, db, user, runbook, version)


@router.get("/runbooks/{runbook_id}/edit")
async def edit_form(runbook_id: str, request: Request, user: CurrentUser, db: SessionDep) -> Response:
    runbook = await service.get_for_actor(db, actor=user, runbook_id=runbook_id)
    if not service.can_edit(user, runbook):
        raise Forbidden("your role may not edit this runbook")
    raw = request.query_params.get("from_version", "")
    number = int(raw) if raw.isdigit() else None
    version = await service.version_of(db, actor=user, runbook_id=runbook.id, version=number)
    note = f"restored version {number}" if number and number != runbook.current_version else ""
    return await _editor(request, db, user, mode="edit", text=version.yaml, runbook=runbook, note=note)


@router.post("/runbooks/{runbook_id}/edit")
async def save(runbook_id: str, request: Request, user: CurrentUser, db: SessionDep, clock: ClockDep) -> Response:
    runbook = await service.get_for_actor(db, actor=user, runbook_id=runbook_id)
    if not service.can_edit(user, runbook):
        raise Forbidden("your role may not edit this runbook")
    form = await Form.read(request)
    text, note = form.raw("yaml").replace("\r\n", "\n"), form.text("note")[:500]
    try:
        runbook, changed = await service.update(
            db, actor=user, clock=clock, runbook_id=runbook.id, yaml_text=text, note=note
        )
    except SpecError as exc:
        await db.rollback()
        runbook = await service.get_for_actor(db, actor=user, runbook_id=runbook_id)
        return await _editor(
            request,
            db,
            user,
            mode="edit",
            text=text,
            runbook=runbook,
            note=note,
            problems=exc.problems,
            status_code=422,
        )
    await commit(request, db)
    if not changed:
        return redirect(
            f"/runbooks/{runbook.id}",
            "Nothing changed: the YAML means the same as the current version, so no new version was made.",
            "info",
        )
    return redirect(f"/runbooks/{runbook.id}", f"Saved as version {runbook.current_version}.")


@router.post("/runbooks/{runbook_id}/enable")
async def enable(runbook_id: str, request: Request, user: CurrentUser, db: SessionDep, clock: ClockDep) -> Response:
    runbook = await service.set_enabled(db, actor=user, clock=clock, runbook_id=runbook_id, enabled=True)
    await commit(request, db)
    return redirect(f"/runbooks/{runbook.id}", "Runbook enabled: the decision engine may choose it again.")


@router.post("/runbooks/{runbook_id}/disable")
async def disable(runbook_id: str, request: Request, user: CurrentUser, db: SessionDep, clock: ClockDep) -> Response:
    runbook = await service.set_enabled(db, actor=user, clock=clock, runbook_id=runbook_id, enabled=False)
    await commit(request, db)
    where = "the companies using the library runbook" if runbook.company_id is None else "this company"
    return redirect(f"/runbooks/{runbook.id}", f"Runbook disabled: it is no longer chosen or offered for {where}.")


@router.post("/runbooks/{runbook_id}/delete")
async def delete(runbook_id: str, request: Request, user: CurrentUser, db: SessionDep, clock: ClockDep) -> Response:
    runbook = await service.get_for_actor(db, actor=user, runbook_id=runbook_id)
    counterpart = await service.library_counterpart(db, runbook)
    company_id = runbook.company_id
    try:
        await service.delete(db, actor=user, clock=clock, runbook_id=runbook_id)
    except Conflict as exc:
        await db.rollback()
        return redirect(f"/runbooks/{runbook_id}", exc.message, "error")
    await commit(request, db)
    if counterpart is not None:
        return redirect(
            f"/runbooks?company_id={company_id}", "Override deleted: the company uses the library runbook again."
        )
    return redirect(f"/runbooks?company_id={company_id}", "Runbook deleted.")
