"""Changes made on a company's Integrations page: the webhook signing secret (shown once) and heartbeats.

Everything goes through the ingest services, which check the role (company admin or MSP admin) and write
the audit entries; the page checks the role first too, so a technician gets 403 before any validation.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import ValidationError

from alertwhisperer.deps import ClockDep, CurrentUser, SessionDep, SettingsDep, commit
from alertwhisperer.errors import Conflict, Invalid
from alertwhisperer.ingest import heartbeats, signing
from alertwhisperer.realtime.hub import Event, emit
from alertwhisperer.tenants import service as tenants
from alertwhisperer.web.forms import Form, domain_errors, validation_errors
from alertwhisperer.web.pages.integrations import index_page
from alertwhisperer.web.templating import origin_tag, redirect

router = APIRouter()


@router.post("/companies/{company_id}/webhook-secret")
async def rotate_secret(company_id: str, request: Request, user: CurrentUser, db: SessionDep, clock: ClockDep,
                        settings: SettingsDep) -> Response:
    company = await tenants.get_company(db, actor=user, company_id=company_id)
    user.require_company_admin(company.id, "manage webhook signing secrets")
    rotated = await signing.rotate(db, actor=user, clock=clock, server_secret=settings.secret(),
                                   company_id=company.id)
    await commit(request, db)
    company = await tenants.get_company(db, actor=user, company_id=company_id)
    return await index_page(request, db, user, settings, company, new_secret=rotated)


@router.post("/companies/{company_id}/webhook-secret/delete")
async def remove_secret(company_id: str, request: Request, user: CurrentUser, db: SessionDep,
                        clock: ClockDep) -> Response:
    company = await tenants.get_company(db, actor=user, company_id=company_id)
    user.require_company_admin(company.id, "manage webhook signing secrets")
    await signing.remove(db, actor=user, clock=clock, company_id=company.id)
    await commit(request, db)
    return redirect(f"/companies/{company.id}/integrations#signing",
                    "Signing secret removed: webhooks are no longer checked for a signature.")


def _heartbeat_payload(form: Form) -> dict[str, Any]:
    data: dict[str, Any] = {"name": form.text("name"), "interval_seconds": form.text("interval_seconds")}
    if form.text("grace_seconds"):
        data["grace_seconds"] = form.text("grace_seconds")
    return data


@router.post("/companies/{company_id}/heartbeats")
async def create_heartbeat(company_id: str, request: Request, user: CurrentUser, db: SessionDep, clock: ClockDep,
                           settings: SettingsDep) -> Response:
    company = await tenants.get_company(db, actor=user, company_id=company_id)
    user.require_company_admin(company.id, "configure heartbeats")
    form = await Form.read(request)
    values = {k: form.text(k) for k in ("name", "interval_seconds", "grace_seconds")}
    try:
        data = heartbeats.HeartbeatIn.model_validate(_heartbeat_payload(form))
        hb = await heartbeats.create(db, actor=user, clock=clock, company_id=company.id, data=data)
    except ValidationError as exc:
        return await index_page(request, db, user, settings, company, hb_values=values,
                                hb_errors=validation_errors(exc), status_code=422)
    except (Invalid, Conflict) as exc:
        await db.rollback()
        company = await tenants.get_company(db, actor=user, company_id=company_id)
        return await index_page(request, db, user, settings, company, hb_values=values,
                                hb_errors=domain_errors(exc, default_field="name"), status_code=422)
    name = hb.name
    emit(db, Event("heartbeat.created", company.id, {"name": name, "origin": origin_tag(user)}))
    await commit(request, db)
    return redirect(f"/companies/{company.id}/integrations#heartbeats",
                    f"Heartbeat {name} created. It turns silent if no ping arrives in time.")


@router.post("/companies/{company_id}/heartbeats/{heartbeat_name}/delete")
async def delete_heartbeat(company_id: str, heartbeat_name: str, request: Request, user: CurrentUser,
                           db: SessionDep, clock: ClockDep) -> Response:
    company = await tenants.get_company(db, actor=user, company_id=company_id)
    user.require_company_admin(company.id, "configure heartbeats")
    await heartbeats.delete(db, actor=user, clock=clock, company_id=company.id, name=heartbeat_name)
    emit(db, Event("heartbeat.deleted", company.id, {"name": heartbeat_name, "origin": origin_tag(user)}))
    await commit(request, db)
    return redirect(f"/companies/{company.id}/integrations#heartbeats", f"Heartbeat {heartbeat_name} deleted.")
