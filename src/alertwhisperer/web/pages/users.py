"""Users and technicians: list, create (initial password shown once), edit, deactivate."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from alertwhisperer.auth import users
from alertwhisperer.auth.principal import Principal, Role
from alertwhisperer.auth.schemas import UserCreate, UserOut, UserUpdate
from alertwhisperer.clock import Clock
from alertwhisperer.deps import ClockDep, CurrentUser, SessionDep, SettingsDep, commit
from alertwhisperer.errors import Conflict, Forbidden, Invalid
from alertwhisperer.realtime.hub import Event, emit
from alertwhisperer.tenants import service as tenants
from alertwhisperer.web.forms import Form, FormErrors, domain_errors, validation_errors
from alertwhisperer.web.templating import origin_tag, page, redirect, selected_company

router = APIRouter()
_ADMINS = (Role.MSP_ADMIN, Role.COMPANY_ADMIN)


def _grantable(user: Principal) -> list[Role]:
    return list(Role) if user.is_msp_admin else [Role.TECHNICIAN]


def _event(db: AsyncSession, user: Principal, kind: str, out: UserOut) -> None:
    data = {"id": out.id, "name": out.name, "origin": origin_tag(user)}
    targets: list[str | None] = list(out.company_ids) or [None]
    for company_id in targets:  # one event per company, so each tenant's users see it
        emit(db, Event(kind, company_id, data))


def _values(out: UserOut | None) -> dict[str, Any]:
    if out is None:
        return {"role": Role.TECHNICIAN.value, "company_ids": [], "max_concurrent_incidents": 5, "skills": ""}
    return {"name": out.name, "email": out.email, "role": out.role.value, "company_ids": out.company_ids,
            "category": out.category or "", "skills": ", ".join(out.skills),
            "max_concurrent_incidents": out.max_concurrent_incidents, "on_leave": out.on_leave}


def _form_values(form: Form) -> dict[str, Any]:
    return {**form.values(), "company_ids": form.many("company_ids"), "on_leave": form.checked("on_leave")}


@router.get("/users")
async def list_users(request: Request, user: CurrentUser, db: SessionDep) -> Response:
    user.require_role(*_ADMINS, action="list users")
    role_param = request.query_params.get("role", "")
    role = Role(role_param) if role_param in {r.value for r in Role} else None
    companies = await tenants.list_companies(db, actor=user)
    current = selected_company(request, user, companies)
    rows = await users.list_users(db, actor=user, role=role, company_id=current.id if current else None)
    return await page(request, db, user, "users/list.html", {
        "rows": await users.to_out(db, rows, user), "role_filter": role_param if role else "",
    }, section="users")


async def _new_page(request: Request, db: AsyncSession, user: Principal, *, values: dict[str, Any],
                    errors: FormErrors | None = None, status_code: int = 200) -> Response:
    return await page(request, db, user, "users/new.html", {
        "values": values, "errors": errors or {}, "roles": _grantable(user),
    }, status_code=status_code, section="users")


@router.get("/users/new")
async def new_user(request: Request, user: CurrentUser, db: SessionDep) -> Response:
    user.require_role(*_ADMINS, action="manage users")
    values = _values(None)
    companies = await tenants.list_companies(db, actor=user)
    current = selected_company(request, user, companies)
    if current:
        values["company_ids"] = [current.id]
    return await _new_page(request, db, user, values=values)


@router.post("/users")
async def create_user(request: Request, user: CurrentUser, db: SessionDep, settings: SettingsDep,
                      clock: ClockDep) -> Response:
    user.require_role(*_ADMINS, action="manage users")
    form = await Form.read(request)
    try:
        data = UserCreate.model_validate({
            "email": form.text("email"), "name": form.text("name"), "role": form.text("role") or "technician",
            "company_ids": form.many("company_ids"), "category": form.opt("category"),
            "skills": form.split("skills"),
            "max_concurrent_incidents": form.text("max_concurrent_incidents") or 5})
        created, generated = await users.create_user(db, actor=user, settings=settings, clock=clock, data=data)
    except ValidationError as exc:
        return await _new_page(request, db, user, values=_form_values(form), errors=validation_errors(exc),
                               status_code=422)
    except (Invalid, Conflict, Forbidden) as exc:
        await db.rollback()
        field = "role" if isinstance(exc, Forbidden) else "email"
        return await _new_page(request, db, user, values=_form_values(form),
                               errors=domain_errors(exc, default_field=field), status_code=422)
    out = (await users.to_out(db, [created], user))[0]
    _event(db, user, "user.created", out)
    await commit(request, db)
    return await _edit_page(request, db, user, out, initial_password=generated)


async def _edit_page(request: Request, db: AsyncSession, user: Principal, out: UserOut, *,
                     values: dict[str, Any] | None = None, errors: FormErrors | None = None,
                     initial_password: str | None = None, status_code: int = 200) -> Response:
    return await page(request, db, user, "users/edit.html", {
        "person": out, "values": values or _values(out), "errors": errors or {},
        "roles": _grantable(user) if out.role in _grantable(user) else [out.role],
        "initial_password": initial_password,
        "can_manage": user.role in _ADMINS and out.role in _grantable(user) and out.id != user.user_id,
        "is_self": out.id == user.user_id,
    }, status_code=status_code, section="users")


async def _load(db: AsyncSession, user: Principal, user_id: str) -> UserOut:
    row = await users.get_user(db, actor=user, user_id=user_id)
    return (await users.to_out(db, [row], user))[0]


@router.get("/users/{user_id}")
async def edit_user(user_id: str, request: Request, user: CurrentUser, db: SessionDep) -> Response:
    return await _edit_page(request, db, user, await _load(db, user, user_id))


@router.post("/users/{user_id}")
async def update_user(user_id: str, request: Request, user: CurrentUser, db: SessionDep,
                      clock: ClockDep) -> Response:
    out = await _load(db, user, user_id)
    user.require_role(*_ADMINS, action="manage users")
    form = await Form.read(request)
    try:
        data = UserUpdate.model_validate({
            "name": form.text("name"), "role": form.text("role") or out.role.value,
            "company_ids": form.many("company_ids"), "category": form.opt("category"),
            "skills": form.split("skills"), "on_leave": form.checked("on_leave"),
            "max_concurrent_incidents": form.text("max_concurrent_incidents") or out.max_concurrent_incidents})
        row = await users.update_user(db, actor=user, clock=clock, user_id=out.id, data=data)
    except ValidationError as exc:
        return await _edit_page(request, db, user, out, values=_form_values(form),
                                errors=validation_errors(exc), status_code=422)
    except (Invalid, Conflict) as exc:
        await db.rollback()
        return await _edit_page(request, db, user, await _load(db, user, user_id), values=_form_values(form),
                                errors=domain_errors(exc), status_code=422)
    fresh = (await users.to_out(db, [row], user))[0]
    _event(db, user, "user.updated", fresh)
    await commit(request, db)
    return redirect(f"/users/{fresh.id}", f"{fresh.name} saved.")


async def _set_active(request: Request, db: AsyncSession, user: Principal, clock: Clock, user_id: str,
                      active: bool) -> Response:
    out = await _load(db, user, user_id)
    try:
        row = await users.update_user(db, actor=user, clock=clock, user_id=out.id,
                                      data=UserUpdate(is_active=active))
    except Invalid as exc:
        await db.rollback()
        return redirect(f"/users/{out.id}", exc.message, "error")
    fresh = (await users.to_out(db, [row], user))[0]
    _event(db, user, "user.updated", fresh)
    await commit(request, db)
    verb = "reactivated" if active else "deactivated; their sessions were ended"
    return redirect(f"/users/{fresh.id}", f"{fresh.name} was {verb}.")


@router.post("/users/{user_id}/deactivate")
async def deactivate_user(user_id: str, request: Request, user: CurrentUser, db: SessionDep,
                          clock: ClockDep) -> Response:
    return await _set_active(request, db, user, clock, user_id, False)


@router.post("/users/{user_id}/reactivate")
async def reactivate_user(user_id: str, request: Request, user: CurrentUser, db: SessionDep,
                          clock: ClockDep) -> Response:
    return await _set_active(request, db, user, clock, user_id, True)

