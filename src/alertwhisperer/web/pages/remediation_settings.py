"""A company's remediation policy page (``/companies/{id}/remediation``): whether the decision engine looks at
its incidents, whether low-risk auto-approved runbooks may run without an approval, and the loop guard; with who
approves what, and the latest decisions.

Everything goes through ``remediation.policy_service`` (role checks, validation, audit); technicians see the page
read-only and get 403 on POST.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy.ext.asyncio import AsyncSession

from alertwhisperer.auth.principal import Principal
from alertwhisperer.deps import ClockDep, CurrentUser, SessionDep, commit
from alertwhisperer.errors import Invalid
from alertwhisperer.remediation import decision as decisions
from alertwhisperer.remediation import policy_service as service
from alertwhisperer.remediation.models import ESCALATE, EXECUTE, REQUEST_APPROVAL
from alertwhisperer.remediation.policy import APPROVAL_TTL, RemediationPolicy
from alertwhisperer.tenants.models import Company
from alertwhisperer.web.forms import Form, FormErrors
from alertwhisperer.web.templating import page, redirect

router = APIRouter()

ACTIONS = {
    EXECUTE: ("Ran automatically", "badge-green"),
    REQUEST_APPROVAL: ("Asked for approval", "badge-amber"),
    ESCALATE: ("Escalated", "badge-red"),
}


def _values(policy: RemediationPolicy) -> dict[str, Any]:
    return {"enabled": policy.enabled, "auto_run": policy.auto_run, "max_runs_per_hour": str(policy.max_runs_per_hour)}


def _can_edit(user: Principal) -> bool:
    return user.role.value in ("msp_admin", "company_admin")


def _matrix(policy: RemediationPolicy) -> list[tuple[str, str, str]]:
    """(risk, who must approve, badge class) as the gates apply them under this policy."""
    admins = "A company admin of this company, or an MSP admin"
    auto = "Nobody: runs as soon as it is chosen" if policy.auto_run else f"{admins} (auto-run is off)"
    return [
        ("Low, marked auto-approve", auto, "badge-green" if policy.auto_run else "badge-amber"),
        ("Low", admins, "badge-amber"),
        ("Medium", admins, "badge-amber"),
        ("High", "An MSP admin only", "badge-red"),
    ]


def _errors(exc: Invalid) -> FormErrors:
    errors: FormErrors = {}
    for p in (exc.details or {}).get("problems") or [{"field": exc.field, "message": exc.message}]:
        message = str(p.get("message", "invalid value"))
        errors.setdefault(str(p.get("field") or "__all__"), message[:1].upper() + message[1:])
    return errors


async def _page(
    request: Request,
    db: AsyncSession,
    user: Principal,
    company: Company,
    policy: RemediationPolicy,
    *,
    values: dict[str, Any] | None = None,
    errors: FormErrors | None = None,
    status_code: int = 200,
) -> Response:
    recent = await decisions.recent(db, actor=user, company_id=company.id)
    return await page(
        request,
        db,
        user,
        "remediation/settings.html",
        {
            "company": company,
            "policy": policy,
            "values": values or _values(policy),
            "errors": errors or {},
            "can_edit": _can_edit(user),
            "matrix": _matrix(policy),
            "ttl_minutes": int(APPROVAL_TTL.total_seconds() // 60),
            "recent": recent,
            "actions": ACTIONS,
        },
        status_code=status_code,
        section="companies",
    )


@router.get("/companies/{company_id}/remediation")
async def remediation_form(company_id: str, request: Request, user: CurrentUser, db: SessionDep) -> Response:
    company, policy = await service.get_policy(db, actor=user, company_id=company_id)
    return await _page(request, db, user, company, policy)


@router.post("/companies/{company_id}/remediation")
async def save_remediation(
    company_id: str, request: Request, user: CurrentUser, db: SessionDep, clock: ClockDep
) -> Response:
    company, policy = await service.get_policy(db, actor=user, company_id=company_id)
    user.require_company_admin(company.id, "change the remediation policy")
    form = await Form.read(request)
    data = {
        "enabled": form.checked("enabled"),
        "auto_run": form.checked("auto_run"),
        "max_runs_per_hour": form.text("max_runs_per_hour"),
    }
    try:
        await service.set_policy(db, actor=user, clock=clock, company_id=company.id, data=data)
    except Invalid as exc:
        await db.rollback()
        company, policy = await service.get_policy(db, actor=user, company_id=company_id)
        values = {**form.values(), "enabled": form.checked("enabled"), "auto_run": form.checked("auto_run")}
        return await _page(request, db, user, company, policy, values=values, errors=_errors(exc), status_code=422)
    await commit(request, db)
    return redirect(
        f"/companies/{company_id}/remediation", "Remediation policy saved. It applies to decisions from now on."
    )
