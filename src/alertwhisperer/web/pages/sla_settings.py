"""A company's SLA settings page: targets per severity, warning lead time, escalation chain.

Everything goes through ``incidents.sla_service`` (role checks, validation, audit); technicians see the page
read-only and get 403 on POST. Durations are typed as ``30m``, ``4h``, ``1d`` or ``1h30m`` (a bare number is
minutes); an empty target means "no target".
"""

from __future__ import annotations

import re
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy.ext.asyncio import AsyncSession

from alertwhisperer.auth.principal import Principal
from alertwhisperer.deps import ClockDep, CurrentUser, SessionDep, commit
from alertwhisperer.errors import Invalid
from alertwhisperer.incidents import sla_service as service
from alertwhisperer.incidents.sla_policy import LEVEL_NAMES, LEVELS, SEVERITIES, SlaPolicy, dump
from alertwhisperer.tenants.models import Company
from alertwhisperer.web.forms import Form, FormErrors
from alertwhisperer.web.templating import page, redirect

router = APIRouter()

DURATION_PART = re.compile(r"(\d+)\s*(d|h|m|min)?", re.I)
DURATION_RE = re.compile(r"^\s*(\d+\s*(d|h|m|min)?\s*)+$", re.I)
UNIT_MINUTES = {"d": 1440, "h": 60, "m": 1, "min": 1, "": 1}
SEVERITY_LABELS = {"critical": "Critical", "high": "High", "medium": "Medium", "low": "Low", "info": "Info"}
TARGETS = (("response", "response_minutes"), ("resolution", "resolution_minutes"))


def format_minutes(minutes: int | None) -> str:
    """240 -> ``4h``, 90 -> ``1h30m``, 2880 -> ``2d``, None -> ``""``."""
    if minutes is None:
        return ""
    if minutes % 1440 == 0:
        return f"{minutes // 1440}d"
    if minutes % 60 == 0:
        return f"{minutes // 60}h"
    if minutes > 60:
        return f"{minutes // 60}h{minutes % 60}m"
    return f"{minutes}m"


def parse_duration(text: str) -> int | None:
    """Minutes from ``30m`` / ``4h`` / ``1d`` / ``1h30m`` / ``45``; None for empty. ValueError if unreadable."""
    if not text.strip():
        return None
    if not DURATION_RE.match(text):
        raise ValueError("write a duration such as 30m, 4h, 1d or 1h30m (empty: no target)")
    return sum(int(n) * UNIT_MINUTES[(unit or "").lower()] for n, unit in DURATION_PART.findall(text))


def _values(policy: SlaPolicy) -> dict[str, Any]:
    data = dump(policy)
    values: dict[str, Any] = {"enabled": data["enabled"], "warning_minutes": str(data["warning_minutes"])}
    for severity in SEVERITIES:
        for name, key in TARGETS:
            values[f"{severity}.{name}"] = format_minutes(data[severity][key])
    for key, value in data["escalation"].items():
        values[f"escalation.{key}"] = "" if value is None else str(value)
    return values


def _data(form: Form) -> tuple[dict[str, Any], FormErrors]:
    """The form as the API's JSON body, and the durations it could not read."""
    errors: FormErrors = {}
    data: dict[str, Any] = {"enabled": form.checked("enabled"), "warning_minutes": form.text("warning_minutes")}
    for severity in SEVERITIES:
        target: dict[str, Any] = {}
        for name, key in TARGETS:
            try:
                target[key] = parse_duration(form.text(f"{severity}.{name}"))
            except ValueError as exc:
                errors[f"{severity}.{name}"] = str(exc)[:1].upper() + str(exc)[1:]
        data[severity] = target
    escalation: dict[str, Any] = {f"level{n}_wait_minutes": form.text(f"escalation.level{n}_wait_minutes")
                                  for n in LEVELS}
    escalation["max_level"] = form.text("escalation.max_level")
    escalation["secondary_user_id"] = form.text("escalation.secondary_user_id") or None
    data["escalation"] = escalation
    return data, errors


def _errors(exc: Invalid) -> FormErrors:
    """Service field names (``critical.response_minutes``) to the form's (``critical.response``)."""
    errors: FormErrors = {}
    problems = (exc.details or {}).get("problems") or [{"field": exc.field, "message": exc.message}]
    for p in problems:
        field = str(p.get("field") or "__all__")
        head, _, tail = field.partition(".")
        if head in SEVERITIES:
            field = f"{head}.{tail.removesuffix('_minutes')}" if tail else f"{head}.resolution"
        message = str(p.get("message", "invalid value"))
        errors.setdefault(field, message[:1].upper() + message[1:])
    return errors


def _can_edit(user: Principal) -> bool:
    return user.role.value in ("msp_admin", "company_admin")


async def _page(request: Request, db: AsyncSession, user: Principal, company: Company, policy: SlaPolicy, *,
                values: dict[str, Any] | None = None, errors: FormErrors | None = None,
                status_code: int = 200) -> Response:
    people = await service.eligible_secondaries(db, company_id=company.id)
    return await page(request, db, user, "sla/settings.html", {
        "company": company, "values": values or _values(policy), "errors": errors or {},
        "severities": [(s, SEVERITY_LABELS[s]) for s in SEVERITIES], "levels": LEVELS, "level_names": LEVEL_NAMES,
        "max_levels": [(str(n), f"Level {n} — {LEVEL_NAMES[n]}") for n in LEVELS],
        "secondaries": [("", "The on-call technician for the incident's category")]
                       + [(u.id, f"{u.name} ({u.email})") for u in people],
        "can_edit": _can_edit(user),
    }, status_code=status_code, section="companies")


@router.get("/companies/{company_id}/sla")
async def sla_form(company_id: str, request: Request, user: CurrentUser, db: SessionDep) -> Response:
    company, policy = await service.get_policy(db, actor=user, company_id=company_id)
    return await _page(request, db, user, company, policy)


@router.post("/companies/{company_id}/sla")
async def save_sla(company_id: str, request: Request, user: CurrentUser, db: SessionDep,
                   clock: ClockDep) -> Response:
    company, policy = await service.get_policy(db, actor=user, company_id=company_id)
    user.require_company_admin(company.id, "change the SLA settings")
    form = await Form.read(request)
    data, errors = _data(form)
    if not errors:
        try:
            await service.set_policy(db, actor=user, clock=clock, company_id=company.id, data=data)
        except Invalid as exc:
            errors = _errors(exc)
    if errors:
        await db.rollback()
        company, policy = await service.get_policy(db, actor=user, company_id=company_id)
        values = {**form.values(), "enabled": form.checked("enabled")}
        return await _page(request, db, user, company, policy, values=values, errors=errors, status_code=422)
    await commit(request, db)
    return redirect(f"/companies/{company_id}/sla",
                    "SLA settings saved. They apply to incidents opened or reopened from now on.")
