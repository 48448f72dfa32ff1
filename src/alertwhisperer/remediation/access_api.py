"""Credentials and asset remote access (thin: validate, call ``credentials`` / ``access``, commit).

Reads: anyone who sees the company (technicians included; secrets are never returned). Changes, host key
fetch/confirm and connection tests: a company admin of that company or an MSP admin. Other companies: 404.
"""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from alertwhisperer.deps import ClockDep, CurrentUser, SessionDep, SettingsDep, commit
from alertwhisperer.remediation import access, credentials
from alertwhisperer.remediation.access_schemas import (
    AccessIn,
    AccessOut,
    CredentialIn,
    CredentialOut,
    CredentialUpdate,
    HostKeyOut,
    HostKeysConfirm,
    TestResultOut,
)

router = APIRouter(prefix="/api", tags=["remediation"])


@router.get("/companies/{company_id}/credentials", response_model=list[CredentialOut])
async def list_credentials(company_id: str, user: CurrentUser, db: SessionDep) -> list[CredentialOut]:
    return await credentials.list_credentials(db, actor=user, company_id=company_id)


@router.post("/companies/{company_id}/credentials", response_model=CredentialOut, status_code=201)
async def create_credential(
    company_id: str,
    body: CredentialIn,
    request: Request,
    user: CurrentUser,
    db: SessionDep,
    clock: ClockDep,
    settings: SettingsDep,
) -> CredentialOut:
    out = await credentials.create_credential(
        db, actor=user, settings=settings, clock=clock, company_id=company_id, data=body
    )
    await commit(request, db)
    return out


@router.get("/credentials/{credential_id}", response_model=CredentialOut)
async def get_credential(credential_id: str, user: CurrentUser, db: SessionDep) -> CredentialOut:
    return await credentials.get_credential(db, actor=user, credential_id=credential_id)


@router.put("/credentials/{credential_id}", response_model=CredentialOut)
async def update_credential(
    credential_id: str,
    body: CredentialUpdate,
    request: Request,
    user: CurrentUser,
    db: SessionDep,
    clock: ClockDep,
    settings: SettingsDep,
) -> CredentialOut:
    out = await credentials.update_credential(
        db, actor=user, settings=settings, clock=clock, credential_id=credential_id, data=body
    )
    await commit(request, db)
    return out


@router.delete("/credentials/{credential_id}", status_code=204)
async def delete_credential(
    credential_id: str, request: Request, user: CurrentUser, db: SessionDep, clock: ClockDep
) -> Response:
    await credentials.delete_credential(db, actor=user, clock=clock, credential_id=credential_id)
    await commit(request, db)
    return Response(status_code=204)


@router.get("/companies/{company_id}/remote-access", response_model=list[AccessOut])
async def list_access(company_id: str, user: CurrentUser, db: SessionDep) -> list[AccessOut]:
    """Every asset of the company with how it is reached (``configured`` false when not set up)."""
    return await access.list_access(db, actor=user, company_id=company_id)


@router.get("/assets/{asset_id}/access", response_model=AccessOut)
async def get_access(asset_id: str, user: CurrentUser, db: SessionDep) -> AccessOut:
    return await access.get_access(db, actor=user, asset_id=asset_id)


@router.put("/assets/{asset_id}/access", response_model=AccessOut)
async def set_access(
    asset_id: str,
    body: AccessIn,
    request: Request,
    user: CurrentUser,
    db: SessionDep,
    clock: ClockDep,
    settings: SettingsDep,
) -> AccessOut:
    out = await access.set_access(db, actor=user, settings=settings, clock=clock, asset_id=asset_id, data=body)
    await commit(request, db)
    return out


@router.delete("/assets/{asset_id}/access", status_code=204)
async def delete_access(
    asset_id: str, request: Request, user: CurrentUser, db: SessionDep, clock: ClockDep
) -> Response:
    await access.delete_access(db, actor=user, clock=clock, asset_id=asset_id)
    await commit(request, db)
    return Response(status_code=204)


@router.post("/assets/{asset_id}/access/host-key", response_model=list[HostKeyOut])
async def fetch_host_key(asset_id: str, user: CurrentUser, db: SessionDep) -> list[HostKeyOut]:
    """What the host presents now, with SHA256 fingerprints to compare out of band. Stores nothing."""
    keys = await access.fetch_for_asset(db, actor=user, asset_id=asset_id)
    return [HostKeyOut(line=k.line, key_type=k.key_type, fingerprint=k.fingerprint) for k in keys]


@router.post("/assets/{asset_id}/access/host-key/confirm", response_model=AccessOut)
async def confirm_host_key(
    asset_id: str, body: HostKeysConfirm, request: Request, user: CurrentUser, db: SessionDep, clock: ClockDep
) -> AccessOut:
    out = await access.confirm_host_key(db, actor=user, clock=clock, asset_id=asset_id, lines=body.lines)
    await commit(request, db)
    return out


@router.post("/assets/{asset_id}/access/test", response_model=TestResultOut)
async def check_connection(
    asset_id: str, request: Request, user: CurrentUser, db: SessionDep, clock: ClockDep, settings: SettingsDep
) -> TestResultOut:
    result = await access.check_connection(db, actor=user, clock=clock, settings=settings, asset_id=asset_id)
    await commit(request, db)
    return TestResultOut(
        status=result.status,
        exit_code=result.exit_code,
        stdout=result.stdout,
        stderr=result.stderr,
        truncated=result.truncated,
        duration_ms=result.duration_ms,
        error=result.error,
    )
