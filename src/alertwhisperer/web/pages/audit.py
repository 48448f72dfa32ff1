"""The audit log: filters, pagination, CSV/JSON export links and chain verification."""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import Response

from alertwhisperer.audit import service as audit
from alertwhisperer.auth.principal import Role
from alertwhisperer.deps import CurrentUser, SessionDep
from alertwhisperer.tenants import service as tenants
from alertwhisperer.web.forms import FormErrors
from alertwhisperer.web.templating import page, selected_company, templates

router = APIRouter()
PAGE_SIZE = 50


def _parse_time(value: str, field: str, errors: FormErrors) -> datetime | None:
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        errors[field] = "Use a date and time such as 2026-03-01T09:00."
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


@router.get("/audit")
async def audit_log(request: Request, user: CurrentUser, db: SessionDep) -> Response:
    user.require_role(Role.MSP_ADMIN, Role.COMPANY_ADMIN, action="read the audit log")
    q = request.query_params
    companies = await tenants.list_companies(db, actor=user)
    if "company_id" in q:
        company_id = q.get("company_id", "")
    else:
        current = selected_company(request, user, companies)
        company_id = current.id if current else ""
    if company_id and company_id not in {c.id for c in companies}:
        company_id = ""
    errors: FormErrors = {}
    filters = {"actor": q.get("actor", "").strip(), "action": q.get("action", "").strip(),
               "company_id": company_id, "since": q.get("since", "").strip(), "until": q.get("until", "").strip()}
    flt = audit.AuditFilter(actor=filters["actor"] or None, action=filters["action"] or None,
                            company_id=company_id or None,
                            since=_parse_time(filters["since"], "since", errors),
                            until=_parse_time(filters["until"], "until", errors))
    try:
        page_no = max(1, int(q.get("page", "1")))
    except ValueError:
        page_no = 1
    rows, total = await audit.list_entries(db, actor=user, flt=flt, limit=PAGE_SIZE,
                                           offset=(page_no - 1) * PAGE_SIZE)
    pages = max(1, -(-total // PAGE_SIZE))
    active = {k: v for k, v in filters.items() if v}
    export = {k: v for k, v in {"actor": flt.actor, "action": flt.action, "company_id": flt.company_id,
                                "since": flt.since.isoformat() if flt.since else None,
                                "until": flt.until.isoformat() if flt.until else None}.items() if v}
    return await page(request, db, user, "audit/index.html", {
        "rows": rows, "total": total, "page_no": page_no, "pages": pages, "filters": filters,
        "errors": errors, "actions": await audit.list_actions(db), "filter_companies": companies,
        "query": lambda n: "?" + urlencode({**active, "page": n}),
        "export_csv": "/api/audit/export?" + urlencode({**export, "format": "csv"}),
        "export_json": "/api/audit/export?" + urlencode({**export, "format": "json"}),
        "filtered": bool(active),
    }, section="audit")


@router.get("/audit/verify")
async def verify_chain(request: Request, user: CurrentUser, db: SessionDep) -> Response:
    user.require_role(Role.MSP_ADMIN, action="verify the audit chain")
    report = await audit.verify_chain(db)
    return templates.TemplateResponse(request, "audit/_verify.html", {"report": report})
