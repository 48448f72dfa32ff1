"""Patch compliance API: per-asset rows, per-company summary, and asking for scans (202: they run as jobs).

Every user sees the companies in their scope (others answer 404); any of them may ask for a scan.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict

from alertwhisperer.deps import ClockDep, CurrentUser, SessionDep, commit
from alertwhisperer.jobs.worker import wake_workers
from alertwhisperer.remediation import patches
from alertwhisperer.remediation.patch_scan import state_data

router = APIRouter(prefix="/api", tags=["remediation"])


class PatchRowOut(BaseModel):
    asset_id: str
    asset_name: str
    asset_type: str
    company_id: str
    executor: str | None  # how the asset is reached (local | ssh | ssm); None: no remote access configured
    source: str | None  # ssm | apt | dnf (None: never scanned)
    installed: int | None
    missing: int | None
    critical: int | None
    security: int | None
    failed: int | None
    severity_reported: bool  # false: the source has no severities (apt), so ``critical`` means nothing
    scanned: bool  # a scan has succeeded at least once (counts are from it)
    compliant: bool
    scanned_at: datetime | None
    checked_at: str | None  # the last attempt (successful or not)
    error: str
    scanning: bool
    details: dict[str, Any]


class SummaryOut(BaseModel):
    company_id: str
    name: str
    assets: int
    assets_with_access: int
    assets_scanned: int
    compliant: int
    percent: float | None
    missing: int
    critical: int
    security: int
    failed: int
    errors: int
    scanning: int
    last_scan: datetime | None


class ScanIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    asset_id: str | None = None
    company_id: str | None = None


class SkippedOut(BaseModel):
    asset_id: str
    asset_name: str
    reason: str


class ScanOut(BaseModel):
    company_id: str
    queued: list[str]
    skipped: list[SkippedOut]
    next_at: datetime | None


LISTS = ("packages", "advisories")  # per-package detail: only on the single-asset route


def row_out(row: patches.PatchRow, *, full: bool = False) -> PatchRowOut:
    base: dict[str, Any] = {
        "asset_id": row.asset.id, "asset_name": row.asset.name, "asset_type": row.asset.type,
        "company_id": row.asset.company_id, "executor": row.access.executor if row.access else None,
        "scanning": row.scanning, "details": {},
    }
    if row.state is None:
        return PatchRowOut(**base, source=None, installed=None, missing=None, critical=None, security=None,
                           failed=None, severity_reported=True, scanned=False, compliant=False, scanned_at=None,
                           checked_at=None, error="")
    data = state_data(row.state)
    data.pop("asset_id"), data.pop("company_id")
    data["scanned_at"] = row.state.scanned_at if data["scanned"] else None
    data["checked_at"] = row.state.details.get("checked_at")
    base["details"] = {k: v for k, v in row.state.details.items()
                       if k not in ("scanned", "checked_at") and (full or k not in LISTS)}
    return PatchRowOut(**base, **data)


@router.get("/patches", response_model=list[PatchRowOut])
async def list_patches(user: CurrentUser, db: SessionDep, company_id: str | None = None) -> list[PatchRowOut]:
    """Per asset with remote access or a patch state: counts, last scan, last error, scan under way (package lists:
    ``GET /api/assets/{asset_id}/patches``)."""
    return [row_out(r) for r in await patches.list_rows(db, actor=user, company_id=company_id)]


@router.get("/assets/{asset_id}/patches", response_model=PatchRowOut)
async def asset_patches(asset_id: str, user: CurrentUser, db: SessionDep) -> PatchRowOut:
    """One asset's patch state with its missing packages (and security advisories, dnf) as last scanned."""
    return row_out(await patches.get_row(db, actor=user, asset_id=asset_id), full=True)


@router.get("/patches/summary", response_model=list[SummaryOut])
async def summary(user: CurrentUser, db: SessionDep, company_id: str | None = None) -> list[SummaryOut]:
    """Compliance per company: compliant / scanned assets, missing critical and security patches, last scan."""
    return [SummaryOut(**c) for c in await patches.compliance_by_company(db, actor=user, company_id=company_id)]


@router.post("/patches/scan", response_model=ScanOut, status_code=202)
async def scan(body: ScanIn, request: Request, user: CurrentUser, db: SessionDep, clock: ClockDep) -> ScanOut:
    """Scan one asset (``asset_id``) or every asset of a company with remote access (``company_id``)."""
    result = await patches.request_scan(db, actor=user, clock=clock, asset_id=body.asset_id,
                                        company_id=body.company_id)
    await commit(request, db)
    if result.queued:
        wake_workers(getattr(request.app.state, "hub", None))
    return ScanOut(company_id=result.company_id, queued=result.queued,
                   skipped=[SkippedOut(**s) for s in result.skipped], next_at=result.next_at)
