"""Companies: list, create (API key shown once), settings, API key regeneration, deletion."""

from __future__ import annotations

from functools import lru_cache
from typing import Any
from zoneinfo import available_timezones

from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from alertwhisperer.auth.principal import Principal, Role
from alertwhisperer.deps import ClockDep, CurrentUser, SessionDep, commit
from alertwhisperer.errors import Conflict, Invalid
from alertwhisperer.realtime.hub import Event, emit
from alertwhisperer.tenants import assets
from alertwhisperer.tenants import service as tenants
from alertwhisperer.tenants.models import Company
from alertwhisperer.tenants.schemas import CompanyCreate, CompanyUpdate, IngestSettings
from alertwhisperer.web.forms import Form, FormErrors, domain_errors, validation_errors
from alertwhisperer.web.templating import COMPANY_COOKIE, origin_tag, page, redirect

router = APIRouter()
_MSP = (Role.MSP_ADMIN,)


@lru_cache(maxsize=1)
def timezones() -> list[str]:
    return sorted(tz for tz in available_timezones() if "/" in tz or tz == "UTC")


def _event(db: AsyncSession, user: Principal, kind: str, company: Company) -> None:
    emit(db, Event(kind, company.id, {"id": company.id, "name": company.name, "origin": origin_tag(user)}))


def _settings_values(company: Company) -> dict[str, Any]:
    settings = company.settings or {}
    ingest = IngestSettings.model_validate(settings.get("ingest") or {}).model_dump()
    policy = company.policy or {}
    return {
        "name": company.name, "timezone": company.timezone,
        "policy.auto_approve_low_risk": policy.get("auto_approve_low_risk", True),
        "policy.allow_auto_remediation": policy.get("allow_auto_remediation", True),
        "settings.contact_email": settings.get("contact_email") or "", "settings.notes": settings.get("notes", ""),
        "settings.ingest.rate_limit_per_minute": ingest["rate_limit_per_minute"],
        "settings.ingest.burst": ingest["burst"],
        "settings.ingest.require_signature": ingest["require_signature"],
        "settings.ingest.allow_sns_subscription_confirm": ingest["allow_sns_subscription_confirm"],
    }


def _settings_data(form: Form, company: Company) -> dict[str, Any]:
    """The settings form as a CompanyUpdate payload (the correlation policy has its own page: kept as it is)."""
    return {
        "name": form.text("name"), "timezone": form.text("timezone"),
        "policy": {"auto_approve_low_risk": form.checked("policy.auto_approve_low_risk"),
                   "allow_auto_remediation": form.checked("policy.allow_auto_remediation")},
        "settings": {"contact_email": form.opt("settings.contact_email"), "notes": form.raw("settings.notes"),
                     "correlation": (company.settings or {}).get("correlation") or {},
                     "ingest": {
                         "rate_limit_per_minute": form.text("settings.ingest.rate_limit_per_minute"),
                         "burst": form.text("settings.ingest.burst"),
                         "require_signature": form.checked("settings.ingest.require_signature"),
                         "allow_sns_subscription_confirm":
                             form.checked("settings.ingest.allow_sns_subscription_confirm")}},
    }


@router.get("/companies")
async def list_companies(request: Request, user: CurrentUser, db: SessionDep) -> Response:
    companies = await tenants.list_companies(db, actor=user)
    counts = await assets.count_by_company(db, company_ids=[c.id for c in companies])
    return await page(request, db, user, "companies/list.html", {"rows": companies, "asset_counts": counts},
                      section="companies")


async def _new_form(request: Request, db: AsyncSession, user: Principal, values: dict[str, Any],
                    errors: FormErrors, status_code: int = 200) -> Response:
    return await page(request, db, user, "companies/new.html",
                      {"values": values, "errors": errors, "timezones": timezones()},
                      status_code=status_code, section="companies")


@router.get("/companies/new")
async def new_company(request: Request, user: CurrentUser, db: SessionDep) -> Response:
    user.require_role(*_MSP, action="create companies")
    return await _new_form(request, db, user, {"timezone": "UTC"}, {})


@router.post("/companies")
async def create_company(request: Request, user: CurrentUser, db: SessionDep, clock: ClockDep) -> Response:
    user.require_role(*_MSP, action="create companies")
    form = await Form.read(request)
    values = form.values()
    try:
        data = CompanyCreate.model_validate({
            "name": form.text("name"), "slug": form.opt("slug"), "timezone": form.text("timezone") or "UTC",
            "settings": {"contact_email": form.opt("settings.contact_email")}})
        company, key = await tenants.create_company(db, actor=user, clock=clock, data=data)
    except ValidationError as exc:
        return await _new_form(request, db, user, values, validation_errors(exc), 422)
    except (Invalid, Conflict) as exc:
        await db.rollback()
        return await _new_form(request, db, user, values, domain_errors(exc, default_field="slug"), 422)
    _event(db, user, "company.created", company)
    await commit(request, db)
    return await _detail(request, db, user, company, new_key=key, key_context="created")


async def _detail(request: Request, db: AsyncSession, user: Principal, company: Company, *,
                  values: dict[str, Any] | None = None, errors: FormErrors | None = None,
                  new_key: str | None = None, key_context: str | None = None, status_code: int = 200,
                  delete_error: str | None = None) -> Response:
    asset_count = len(await assets.list_assets(db, actor=user, company_id=company.id))
    return await page(request, db, user, "companies/detail.html", {
        "company": company, "values": values or _settings_values(company), "errors": errors or {},
        "new_key": new_key, "key_context": key_context, "timezones": timezones(), "asset_count": asset_count,
        "delete_error": delete_error, "can_edit": user.role.value in ("msp_admin", "company_admin"),
        "window_count": len(((company.settings or {}).get("correlation") or {}).get("maintenance_windows") or []),
    }, status_code=status_code, section="companies")


@router.get("/companies/{company_id}")
async def company_detail(company_id: str, request: Request, user: CurrentUser, db: SessionDep) -> Response:
    company = await tenants.get_company(db, actor=user, company_id=company_id)
    return await _detail(request, db, user, company)


@router.post("/companies/{company_id}")
async def update_company(company_id: str, request: Request, user: CurrentUser, db: SessionDep,
                         clock: ClockDep) -> Response:
    company = await tenants.get_company(db, actor=user, company_id=company_id)
    user.require_company_admin(company.id, "change company settings")
    form = await Form.read(request)
    values: dict[str, Any] = {**_settings_values(company), **form.values()}
    for box in ("policy.auto_approve_low_risk", "policy.allow_auto_remediation",
                "settings.ingest.require_signature", "settings.ingest.allow_sns_subscription_confirm"):
        values[box] = form.checked(box)
    try:
        data = CompanyUpdate.model_validate(_settings_data(form, company))
        await tenants.update_company(db, actor=user, clock=clock, company_id=company.id, data=data)
    except ValidationError as exc:
        return await _detail(request, db, user, company, values=values, errors=validation_errors(exc),
                             status_code=422)
    except Invalid as exc:
        await db.rollback()
        company = await tenants.get_company(db, actor=user, company_id=company_id)
        return await _detail(request, db, user, company, values=values, errors=domain_errors(exc),
                             status_code=422)
    _event(db, user, "company.updated", company)
    await commit(request, db)
    return redirect(f"/companies/{company.id}", "Company settings saved.")


@router.post("/companies/{company_id}/api-key")
async def regenerate_key(company_id: str, request: Request, user: CurrentUser, db: SessionDep,
                         clock: ClockDep) -> Response:
    company, key = await tenants.regenerate_api_key(db, actor=user, clock=clock, company_id=company_id)
    await commit(request, db)
    return await _detail(request, db, user, company, new_key=key, key_context="regenerated")


@router.post("/companies/{company_id}/delete")
async def delete_company(company_id: str, request: Request, user: CurrentUser, db: SessionDep,
                         clock: ClockDep) -> Response:
    company = await tenants.get_company(db, actor=user, company_id=company_id)
    form = await Form.read(request)
    name = company.name
    try:
        await tenants.delete_company(db, actor=user, clock=clock, company_id=company.id,
                                     confirm_slug=form.text("confirm_slug"))
    except Invalid as exc:
        await db.rollback()
        company = await tenants.get_company(db, actor=user, company_id=company_id)
        return await _detail(request, db, user, company, delete_error=exc.message, status_code=422)
    emit(db, Event("company.deleted", company_id, {"id": company_id, "name": name, "origin": origin_tag(user)}))
    await commit(request, db)
    response = redirect("/companies", f"Company {name} was deleted.")
    if request.cookies.get(COMPANY_COOKIE) == company_id:
        response.delete_cookie(COMPANY_COOKIE, path="/")
    return response
