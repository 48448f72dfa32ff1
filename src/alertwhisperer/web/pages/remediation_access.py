"""A company's remote access page: its credentials, and how each of its assets is reached.

Everything goes through ``remediation.credentials`` / ``remediation.access`` (scope, roles, validation, audit).
Secrets are write-only: the forms take them, the page never shows them back. Technicians see the page read-only.
Fetching a host key only shows it; trusting it is a separate button (a POST that stores exactly those lines).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from alertwhisperer.auth.principal import Principal
from alertwhisperer.config import Settings
from alertwhisperer.deps import ClockDep, CurrentUser, SessionDep, SettingsDep, commit
from alertwhisperer.errors import Conflict, DomainError, Invalid, NotFound
from alertwhisperer.remediation import access, credentials
from alertwhisperer.remediation.access_schemas import AccessIn, AccessOut, CredentialIn, CredentialUpdate
from alertwhisperer.remediation.executors import local_refusal
from alertwhisperer.tenants import service as tenants
from alertwhisperer.tenants.models import Company
from alertwhisperer.web.forms import Form, FormErrors
from alertwhisperer.web.templating import page, redirect, templates

router = APIRouter()

KIND_LABELS = {
    "ssh_key": "SSH key",
    "ssh_password": "SSH password",
    "aws_keys": "AWS access keys",
    "aws_role": "AWS role (STS)",
}
EXECUTOR_LABELS = {"ssh": "SSH", "ssm": "AWS Systems Manager", "local": "Local (this server)"}
CRED_FIELDS = (
    "name",
    "kind",
    "username",
    "private_key",
    "passphrase",
    "password",
    "access_key_id",
    "secret_access_key",
    "role_arn",
    "external_id",
    "region",
)
SECRET_FIELDS = ("private_key", "passphrase", "password", "secret_access_key")


def _can_edit(user: Principal) -> bool:
    return user.role.value in ("msp_admin", "company_admin")


def _pydantic_errors(exc: ValidationError) -> FormErrors:
    errors: FormErrors = {}
    for err in exc.errors():
        field = str(err["loc"][-1]) if err["loc"] else "__all__"
        message = str(err["msg"]).removeprefix("Value error, ")
        errors.setdefault(field, message[:1].upper() + message[1:])
    return errors


def _domain_errors(exc: DomainError) -> FormErrors:
    field = getattr(exc, "field", None) or "__all__"
    return {field: exc.message[:1].upper() + exc.message[1:]}


async def _index(
    request: Request,
    db: AsyncSession,
    user: Principal,
    company: Company,
    settings: Settings,
    *,
    cred_values: dict[str, Any] | None = None,
    cred_errors: FormErrors | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    creds = await credentials.list_credentials(db, actor=user, company_id=company.id)
    assets = await access.list_access(db, actor=user, company_id=company.id)
    return await page(
        request,
        db,
        user,
        "remediation_access/index.html",
        {
            "company": company,
            "credentials": creds,
            "assets": assets,
            "kind_labels": KIND_LABELS,
            "executor_labels": EXECUTOR_LABELS,
            "can_edit": _can_edit(user),
            "cred_values": cred_values or {"kind": "ssh_key"},
            "cred_errors": cred_errors or {},
            "configured": sum(1 for a in assets if a.configured),
            "missing_keys": sum(1 for a in assets if a.host_key_status == "missing"),
            "local_refused": local_refusal(settings),
        },
        status_code=status_code,
        section="companies",
    )


@router.get("/companies/{company_id}/remote-access")
async def index(
    company_id: str, request: Request, user: CurrentUser, db: SessionDep, settings: SettingsDep
) -> Response:
    company = await tenants.get_company(db, actor=user, company_id=company_id)
    return await _index(request, db, user, company, settings)


@router.post("/companies/{company_id}/remote-access/credentials")
async def add_credential(
    company_id: str, request: Request, user: CurrentUser, db: SessionDep, clock: ClockDep, settings: SettingsDep
) -> Response:
    company = await tenants.get_company(db, actor=user, company_id=company_id)
    user.require_company_admin(company.id, "manage credentials")
    form = await Form.read(request)
    values = {k: form.raw(k) if k in SECRET_FIELDS else form.text(k) for k in CRED_FIELDS}
    errors: FormErrors = {}
    try:
        data = CredentialIn(**values)
        out = await credentials.create_credential(
            db, actor=user, settings=settings, clock=clock, company_id=company.id, data=data
        )
    except ValidationError as exc:
        errors = _pydantic_errors(exc)
    except (Invalid, Conflict) as exc:
        errors = _domain_errors(exc) if isinstance(exc, Invalid) else {"name": exc.message}
    if errors:
        await db.rollback()
        company = await tenants.get_company(db, actor=user, company_id=company_id)
        shown = {k: v for k, v in values.items() if k not in SECRET_FIELDS}  # secrets are never echoed back
        return await _index(
            request, db, user, company, settings, cred_values=shown, cred_errors=errors, status_code=422
        )
    await commit(request, db)
    extra = f" Fingerprint {out.public['fingerprint']}." if out.public.get("fingerprint") else ""
    return redirect(f"/companies/{company_id}/remote-access", f"Credential “{out.name}” saved.{extra}")


@router.post("/companies/{company_id}/remote-access/credentials/{credential_id}/rotate")
async def rotate_credential(
    company_id: str,
    credential_id: str,
    request: Request,
    user: CurrentUser,
    db: SessionDep,
    clock: ClockDep,
    settings: SettingsDep,
) -> Response:
    form = await Form.read(request)
    given = {k: form.raw(k) for k in SECRET_FIELDS if form.raw(k)}
    back = f"/companies/{company_id}/remote-access"
    if not given:
        return redirect(back, "Enter the new secret to rotate the credential.", "error")
    try:
        out = await credentials.update_credential(
            db, actor=user, settings=settings, clock=clock, credential_id=credential_id, data=CredentialUpdate(**given)
        )
    except (Invalid, Conflict) as exc:
        await db.rollback()
        return redirect(back, f"Not rotated: {exc.message}", "error")
    await commit(request, db)
    return redirect(back, f"Credential “{out.name}” rotated: the new secret is used from the next run.")


@router.post("/companies/{company_id}/remote-access/credentials/{credential_id}/delete")
async def delete_credential(
    company_id: str, credential_id: str, request: Request, user: CurrentUser, db: SessionDep, clock: ClockDep
) -> Response:
    back = f"/companies/{company_id}/remote-access"
    try:
        await credentials.delete_credential(db, actor=user, clock=clock, credential_id=credential_id)
    except Conflict as exc:
        await db.rollback()
        return redirect(back, f"Not deleted: {exc.message}.", "error")
    await commit(request, db)
    return redirect(back, "Credential deleted.")


def _access_values(out: AccessOut) -> dict[str, Any]:
    return {
        "executor": out.executor or "ssh",
        "os": out.os,
        "host": out.host,
        "port": str(out.port),
        "credential_id": out.credential_id or "",
        "sudo": out.sudo,
        "region": out.region,
    }


async def _asset_page(
    request: Request,
    db: AsyncSession,
    user: Principal,
    company: Company,
    settings: Settings,
    asset_id: str,
    *,
    values: dict[str, Any] | None = None,
    errors: FormErrors | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    out = await access.get_access(db, actor=user, asset_id=asset_id)
    if out.company_id != company.id:
        raise NotFound("asset not found")
    creds = await credentials.list_credentials(db, actor=user, company_id=company.id)
    return await page(
        request,
        db,
        user,
        "remediation_access/asset.html",
        {
            "company": company,
            "a": out,
            "credentials": creds,
            "kind_labels": KIND_LABELS,
            "executor_labels": EXECUTOR_LABELS,
            "can_edit": _can_edit(user),
            "values": values or _access_values(out),
            "errors": errors or {},
            "local_refused": local_refusal(settings),
        },
        status_code=status_code,
        section="companies",
    )


@router.get("/companies/{company_id}/remote-access/assets/{asset_id}")
async def asset_form(
    company_id: str, asset_id: str, request: Request, user: CurrentUser, db: SessionDep, settings: SettingsDep
) -> Response:
    company = await tenants.get_company(db, actor=user, company_id=company_id)
    return await _asset_page(request, db, user, company, settings, asset_id)


@router.post("/companies/{company_id}/remote-access/assets/{asset_id}")
async def save_asset(
    company_id: str,
    asset_id: str,
    request: Request,
    user: CurrentUser,
    db: SessionDep,
    clock: ClockDep,
    settings: SettingsDep,
) -> Response:
    company = await tenants.get_company(db, actor=user, company_id=company_id)
    user.require_company_admin(company.id, "change how assets are reached")
    form = await Form.read(request)
    values: dict[str, Any] = {k: form.text(k) for k in ("executor", "os", "host", "port", "credential_id", "region")}
    values["sudo"] = form.checked("sudo")
    errors: FormErrors = {}
    try:
        data = AccessIn(**{**values, "credential_id": values["credential_id"] or None, "port": values["port"] or "22"})
        await access.set_access(db, actor=user, settings=settings, clock=clock, asset_id=asset_id, data=data)
    except ValidationError as exc:
        errors = _pydantic_errors(exc)
    except Invalid as exc:
        errors = _domain_errors(exc)
    if errors:
        await db.rollback()
        company = await tenants.get_company(db, actor=user, company_id=company_id)
        return await _asset_page(
            request, db, user, company, settings, asset_id, values=values, errors=errors, status_code=422
        )
    await commit(request, db)
    return redirect(f"/companies/{company_id}/remote-access/assets/{asset_id}", "Remote access saved.")


@router.post("/companies/{company_id}/remote-access/assets/{asset_id}/delete")
async def remove_asset_access(
    company_id: str, asset_id: str, request: Request, user: CurrentUser, db: SessionDep, clock: ClockDep
) -> Response:
    await access.delete_access(db, actor=user, clock=clock, asset_id=asset_id)
    await commit(request, db)
    return redirect(f"/companies/{company_id}/remote-access", "Remote access removed from the asset.")


@router.post("/companies/{company_id}/remote-access/assets/{asset_id}/host-key")
async def fetch_host_key(
    company_id: str, asset_id: str, request: Request, user: CurrentUser, db: SessionDep
) -> Response:
    """HTMX: what the host presents now, with a "Trust this key" button. Stores nothing."""
    ctx: dict[str, Any] = {"company_id": company_id, "asset_id": asset_id, "keys": [], "error": ""}
    try:
        keys = await access.fetch_for_asset(db, actor=user, asset_id=asset_id)
        ctx["keys"] = keys
        ctx["lines"] = "\n".join(k.line for k in keys)
    except Conflict as exc:
        ctx["error"] = exc.message
    return templates.TemplateResponse(request, "remediation_access/_host_keys.html", ctx)


@router.post("/companies/{company_id}/remote-access/assets/{asset_id}/host-key/confirm")
async def trust_host_key(
    company_id: str, asset_id: str, request: Request, user: CurrentUser, db: SessionDep, clock: ClockDep
) -> Response:
    form = await Form.read(request)
    back = f"/companies/{company_id}/remote-access/assets/{asset_id}"
    try:
        out = await access.confirm_host_key(db, actor=user, clock=clock, asset_id=asset_id, lines=form.raw("lines"))
    except (Invalid, Conflict) as exc:
        await db.rollback()
        return redirect(back, f"Host key not stored: {exc.message}", "error")
    await commit(request, db)
    prints = ", ".join(k.fingerprint for k in out.host_keys)
    return redirect(back, f"Host key trusted for {out.asset_name}: {prints}.")


@router.post("/companies/{company_id}/remote-access/assets/{asset_id}/test")
async def run_connection_test(
    company_id: str,
    asset_id: str,
    request: Request,
    user: CurrentUser,
    db: SessionDep,
    clock: ClockDep,
    settings: SettingsDep,
) -> Response:
    """HTMX: run ``echo ok`` through the configured executor and show the result inline."""
    ctx: dict[str, Any] = {"result": None, "error": ""}
    try:
        ctx["result"] = await access.check_connection(db, actor=user, clock=clock, settings=settings, asset_id=asset_id)
        await commit(request, db)
    except Conflict as exc:
        await db.rollback()
        ctx["error"] = exc.message
    return templates.TemplateResponse(request, "remediation_access/_test_result.html", ctx)
