"""Assets of a company: list, create, edit (dependencies chosen from the company's other assets), delete."""

from __future__ import annotations

from typing import Any, get_args

from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from alertwhisperer.auth.principal import Principal
from alertwhisperer.deps import ClockDep, CurrentUser, SessionDep, commit
from alertwhisperer.errors import Conflict, Invalid
from alertwhisperer.realtime.hub import Event, emit
from alertwhisperer.tenants import assets
from alertwhisperer.tenants import service as tenants
from alertwhisperer.tenants.models import Asset, Company
from alertwhisperer.tenants.schemas import AssetCreate, AssetOut, AssetType
from alertwhisperer.web.forms import Form, FormErrors, domain_errors, format_tags, parse_tags, validation_errors
from alertwhisperer.web.templating import origin_tag, page, redirect

router = APIRouter()
ASSET_TYPES = list(get_args(AssetType))


def _event(db: AsyncSession, user: Principal, kind: str, asset_id: str, name: str, company_id: str) -> None:
    emit(db, Event(kind, company_id, {"id": asset_id, "name": name, "origin": origin_tag(user)}))


def _values(out: AssetOut | None) -> dict[str, Any]:
    if out is None:
        return {"type": "server", "depends_on": []}
    return {"name": out.name, "type": out.type, "ip": out.ip or "", "fqdn": out.fqdn or "",
            "instance_id": out.instance_id or "", "tags": format_tags(out.tags), "critical": out.critical,
            "depends_on": out.depends_on}


def _form_values(form: Form) -> dict[str, Any]:
    return {**form.values(), "critical": form.checked("critical"), "depends_on": form.many("depends_on")}


def _payload(form: Form) -> dict[str, Any]:
    return {"name": form.text("name"), "type": form.text("type") or "server", "ip": form.opt("ip"),
            "fqdn": form.opt("fqdn"), "instance_id": form.opt("instance_id"),
            "tags": parse_tags(form.raw("tags")), "critical": form.checked("critical"),
            "depends_on": form.many("depends_on")}


async def _list_page(request: Request, db: AsyncSession, user: Principal, company: Company, *,
                     values: dict[str, Any] | None = None, errors: FormErrors | None = None,
                     status_code: int = 200) -> Response:
    rows = await assets.to_out(db, await assets.list_assets(db, actor=user, company_id=company.id))
    return await page(request, db, user, "assets/list.html", {
        "company": company, "rows": rows, "values": values or _values(None), "errors": errors or {},
        "asset_types": ASSET_TYPES, "candidates": [a.name for a in rows],
        "can_edit": user.role.value in ("msp_admin", "company_admin"), "open_form": bool(errors),
    }, status_code=status_code, section="assets")


@router.get("/companies/{company_id}/assets")
async def list_assets(company_id: str, request: Request, user: CurrentUser, db: SessionDep) -> Response:
    company = await tenants.get_company(db, actor=user, company_id=company_id)
    return await _list_page(request, db, user, company)


@router.post("/companies/{company_id}/assets")
async def create_asset(company_id: str, request: Request, user: CurrentUser, db: SessionDep,
                       clock: ClockDep) -> Response:
    company = await tenants.get_company(db, actor=user, company_id=company_id)
    user.require_company_admin(company.id, "manage assets")
    form = await Form.read(request)
    try:
        data = AssetCreate.model_validate(_payload(form))
        asset = await assets.create_asset(db, actor=user, clock=clock, company_id=company.id, data=data)
    except ValidationError as exc:
        return await _list_page(request, db, user, company, values=_form_values(form),
                                errors=validation_errors(exc), status_code=422)
    except (Invalid, Conflict) as exc:
        await db.rollback()
        company = await tenants.get_company(db, actor=user, company_id=company_id)
        return await _list_page(request, db, user, company, values=_form_values(form),
                                errors=domain_errors(exc, default_field="name"), status_code=422)
    _event(db, user, "asset.created", asset.id, asset.name, company.id)
    name = asset.name
    await commit(request, db)
    return redirect(f"/companies/{company.id}/assets", f"Asset {name} created.")


async def _edit_page(request: Request, db: AsyncSession, user: Principal, asset: Asset, *,
                     values: dict[str, Any] | None = None, errors: FormErrors | None = None,
                     status_code: int = 200) -> Response:
    company = await tenants.get_company(db, actor=user, company_id=asset.company_id)
    others = [a.name for a in await assets.list_assets(db, actor=user, company_id=company.id) if a.id != asset.id]
    out = (await assets.to_out(db, [asset]))[0]
    return await page(request, db, user, "assets/edit.html", {
        "company": company, "asset": out, "values": values or _values(out), "errors": errors or {},
        "asset_types": ASSET_TYPES, "candidates": others,
        "can_edit": user.role.value in ("msp_admin", "company_admin"),
    }, status_code=status_code, section="assets")


@router.get("/assets/{asset_id}")
async def edit_asset(asset_id: str, request: Request, user: CurrentUser, db: SessionDep) -> Response:
    return await _edit_page(request, db, user, await assets.get_asset(db, actor=user, asset_id=asset_id))


@router.post("/assets/{asset_id}")
async def update_asset(asset_id: str, request: Request, user: CurrentUser, db: SessionDep,
                       clock: ClockDep) -> Response:
    asset = await assets.get_asset(db, actor=user, asset_id=asset_id)
    user.require_company_admin(asset.company_id, "manage assets", what="asset")
    form = await Form.read(request)
    try:
        data = AssetCreate.model_validate(_payload(form))
        await assets.update_asset(db, actor=user, clock=clock, asset=asset, data=data)
    except ValidationError as exc:
        return await _edit_page(request, db, user, asset, values=_form_values(form),
                                errors=validation_errors(exc), status_code=422)
    except (Invalid, Conflict) as exc:
        await db.rollback()
        asset = await assets.get_asset(db, actor=user, asset_id=asset_id)
        return await _edit_page(request, db, user, asset, values=_form_values(form),
                                errors=domain_errors(exc, default_field="name"), status_code=422)
    company_id, name = asset.company_id, asset.name
    _event(db, user, "asset.updated", asset.id, name, company_id)
    await commit(request, db)
    return redirect(f"/companies/{company_id}/assets", f"Asset {name} saved.")


@router.post("/assets/{asset_id}/delete")
async def delete_asset(asset_id: str, request: Request, user: CurrentUser, db: SessionDep,
                       clock: ClockDep) -> Response:
    asset = await assets.get_asset(db, actor=user, asset_id=asset_id)
    company_id, name = asset.company_id, asset.name
    await assets.delete_asset(db, actor=user, clock=clock, asset_id=asset.id)
    _event(db, user, "asset.deleted", asset_id, name, company_id)
    await commit(request, db)
    return redirect(f"/companies/{company_id}/assets", f"Asset {name} deleted.")
