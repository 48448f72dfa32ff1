"""A company's correlation settings page (grouping policy) and maintenance windows page.

Everything goes through ``correlation.settings_service`` (role checks, validation, audit); the pages check the
role first too, so a technician gets 403 before any validation. Technicians see both pages read-only.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy.ext.asyncio import AsyncSession

from alertwhisperer.auth.principal import Principal
from alertwhisperer.correlation import settings_service as service
from alertwhisperer.correlation.maintenance import DAYS
from alertwhisperer.correlation.policy import CorrelationPolicy
from alertwhisperer.deps import ClockDep, CurrentUser, SessionDep, commit
from alertwhisperer.errors import Conflict, Invalid
from alertwhisperer.tenants import assets as asset_service
from alertwhisperer.tenants.models import Company
from alertwhisperer.web.forms import Form, FormErrors
from alertwhisperer.web.pages import maintenance_form as mf
from alertwhisperer.web.pages.companies import timezones
from alertwhisperer.web.templating import page, redirect

router = APIRouter()

KEYS = [("asset+symptom", "Same asset and same kind of problem (recommended)"),
        ("asset", "Same asset, whatever the problem"),
        ("asset+signature", "Same asset and the same alert name (the seeds' rule)"),
        ("labels", "Same values of the labels listed below (custom)")]
NUMBERS = ("window_minutes", "topology_depth", "storm_min_assets", "storm_window_seconds", "resolve_hold_minutes",
           "reopen_minutes", "flap_changes", "flap_minutes", "open_incident_horizon_minutes")
SWITCHES = ("related_symptoms", "topology", "storm")
SCOPES = [("company", "The whole company"), ("assets", "Chosen assets"), ("tag", "Assets with a tag")]


def _can_edit(user: Principal) -> bool:
    return user.role.value in ("msp_admin", "company_admin")


# --- correlation policy ----------------------------------------------------------------------------------------
def _policy_values(policy: CorrelationPolicy) -> dict[str, Any]:
    data = service.dump(policy)
    values: dict[str, Any] = {name: str(data[name]) for name in NUMBERS}
    values |= {name: data[name] for name in SWITCHES}
    values |= {"key": data["key"], "key_labels": ", ".join(data["key_labels"]),
               "transient_pause_minutes": "" if data["transient_pause_minutes"] is None
               else str(data["transient_pause_minutes"])}
    return values


def _policy_data(form: Form, current: CorrelationPolicy) -> dict[str, Any]:
    """The form over the current policy (fields the form does not show stay as they are; the windows are left
    out, so the service keeps the stored ones)."""
    data = service.dump(current)
    del data[service.WINDOWS]
    data |= {name: form.text(name) for name in NUMBERS}
    data |= {name: form.checked(name) for name in SWITCHES}
    data |= {"key": form.text("key"), "key_labels": form.split("key_labels"),
             "transient_pause_minutes": form.text("transient_pause_minutes") or None}
    return data


async def _policy_page(request: Request, db: AsyncSession, user: Principal, company: Company,
                       policy: CorrelationPolicy, *, values: dict[str, Any] | None = None,
                       errors: FormErrors | None = None, status_code: int = 200) -> Response:
    return await page(request, db, user, "correlation/policy.html", {
        "company": company, "values": values or _policy_values(policy), "errors": errors or {}, "keys": KEYS,
        "window_count": len(policy.maintenance_windows), "can_edit": _can_edit(user),
    }, status_code=status_code, section="companies")


@router.get("/companies/{company_id}/correlation")
async def policy_form(company_id: str, request: Request, user: CurrentUser, db: SessionDep) -> Response:
    company, policy = await service.get_policy(db, actor=user, company_id=company_id)
    return await _policy_page(request, db, user, company, policy)


@router.post("/companies/{company_id}/correlation")
async def save_policy(company_id: str, request: Request, user: CurrentUser, db: SessionDep,
                      clock: ClockDep) -> Response:
    company, policy = await service.get_policy(db, actor=user, company_id=company_id)
    user.require_company_admin(company.id, "change the correlation policy")
    form = await Form.read(request)
    try:
        await service.set_policy(db, actor=user, clock=clock, company_id=company.id,
                                 data=_policy_data(form, policy))
    except Invalid as exc:
        await db.rollback()
        company, policy = await service.get_policy(db, actor=user, company_id=company_id)
        values = {**form.values(), **{name: form.checked(name) for name in SWITCHES}}
        return await _policy_page(request, db, user, company, policy, values=values,
                                  errors=mf.invalid_errors(exc), status_code=422)
    await commit(request, db)
    return redirect(f"/companies/{company_id}/correlation",
                    "Correlation settings saved. They apply from the next alert.")


# --- maintenance windows ---------------------------------------------------------------------------------------
async def _assets(db: AsyncSession, user: Principal, company_id: str) -> list[Any]:
    return list(await asset_service.list_assets(db, actor=user, company_id=company_id))


def _form_context(company: Company, assets: list[Any], unknown: list[str] | None = None) -> dict[str, Any]:
    options = [(a.id, a.name) for a in assets] + [(ref, f"{ref} (no such asset yet)") for ref in unknown or []]
    return {"company": company, "days": DAYS, "day_names": mf.DAY_NAMES, "scopes": SCOPES,
            "asset_options": options, "timezones": timezones()}


async def _windows_page(request: Request, db: AsyncSession, user: Principal, company_id: str, now: Any, *,
                        values: dict[str, Any] | None = None, errors: FormErrors | None = None,
                        status_code: int = 200) -> Response:
    company, windows = await service.list_windows(db, actor=user, company_id=company_id)
    assets = await _assets(db, user, company.id)
    counts = await service.suppressed_counts(db, company_id=company.id, windows=windows)
    return await page(request, db, user, "correlation/maintenance.html", {
        **_form_context(company, assets), "can_edit": _can_edit(user), "open_form": bool(errors),
        "window_count": len(windows),
        "rows": mf.rows(windows, now=now, company_timezone=company.timezone, assets=assets, counts=counts),
        "values": values or mf.blank_values(company.timezone), "errors": errors or {},
    }, status_code=status_code, section="companies")


@router.get("/companies/{company_id}/maintenance")
async def list_windows(company_id: str, request: Request, user: CurrentUser, db: SessionDep,
                       clock: ClockDep) -> Response:
    return await _windows_page(request, db, user, company_id, clock.now())


@router.post("/companies/{company_id}/maintenance")
async def create_window(company_id: str, request: Request, user: CurrentUser, db: SessionDep,
                        clock: ClockDep) -> Response:
    company, _ = await service.get_policy(db, actor=user, company_id=company_id)
    user.require_company_admin(company.id, "manage maintenance windows")
    form = await Form.read(request)
    try:
        window = await service.create_window(db, actor=user, clock=clock, company_id=company.id,
                                             data=mf.window_data(form, company_timezone=company.timezone))
    except (Invalid, Conflict) as exc:
        await db.rollback()
        errors = mf.invalid_errors(exc if isinstance(exc, Invalid) else Invalid(exc.message, field="name"))
        return await _windows_page(request, db, user, company_id, clock.now(), values=mf.form_values(form),
                                   errors=errors, status_code=422)
    label = window.name or window.id
    await commit(request, db)
    return redirect(f"/companies/{company_id}/maintenance", f"Maintenance window {label} created.")


async def _edit_page(request: Request, db: AsyncSession, user: Principal, company_id: str, window_id: str, *,
                     values: dict[str, Any] | None = None, errors: FormErrors | None = None,
                     status_code: int = 200) -> Response:
    company, window = await service.get_window(db, actor=user, company_id=company_id, window_id=window_id)
    assets = await _assets(db, user, company.id)
    return await page(request, db, user, "correlation/maintenance_edit.html", {
        **_form_context(company, assets, mf.unknown_refs(window, assets)), "window": window,
        "can_edit": _can_edit(user),
        "values": values or mf.window_values(window, company_timezone=company.timezone, assets=assets),
        "errors": errors or {},
    }, status_code=status_code, section="companies")


@router.get("/companies/{company_id}/maintenance/{window_id}")
async def edit_window(company_id: str, window_id: str, request: Request, user: CurrentUser,
                      db: SessionDep) -> Response:
    return await _edit_page(request, db, user, company_id, window_id)


@router.post("/companies/{company_id}/maintenance/{window_id}")
async def update_window(company_id: str, window_id: str, request: Request, user: CurrentUser, db: SessionDep,
                        clock: ClockDep) -> Response:
    company, _ = await service.get_window(db, actor=user, company_id=company_id, window_id=window_id)
    user.require_company_admin(company.id, "manage maintenance windows")
    form = await Form.read(request)
    try:
        window = await service.update_window(db, actor=user, clock=clock, company_id=company.id,
                                             window_id=window_id,
                                             data=mf.window_data(form, company_timezone=company.timezone))
    except Invalid as exc:
        await db.rollback()
        return await _edit_page(request, db, user, company_id, window_id, values=mf.form_values(form),
                                errors=mf.invalid_errors(exc), status_code=422)
    label = window.name or window.id
    await commit(request, db)
    return redirect(f"/companies/{company_id}/maintenance", f"Maintenance window {label} saved.")


@router.post("/companies/{company_id}/maintenance/{window_id}/delete")
async def delete_window(company_id: str, window_id: str, request: Request, user: CurrentUser, db: SessionDep,
                        clock: ClockDep) -> Response:
    company, _ = await service.get_window(db, actor=user, company_id=company_id, window_id=window_id)
    user.require_company_admin(company.id, "manage maintenance windows")
    window = await service.delete_window(db, actor=user, clock=clock, company_id=company.id, window_id=window_id)
    label = window.name or window.id
    await commit(request, db)
    return redirect(f"/companies/{company_id}/maintenance", f"Maintenance window {label} deleted.")
