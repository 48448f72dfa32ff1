"""Audit log routes: filtered listing, CSV/JSON export, chain verification."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query
from fastapi.responses import StreamingResponse

from alertwhisperer.audit import service
from alertwhisperer.audit.schemas import AuditEntryOut, AuditPage, ChainReport
from alertwhisperer.auth.principal import Role
from alertwhisperer.deps import ClockDep, CurrentUser, SessionDep

router = APIRouter(prefix="/api/audit", tags=["audit"])


def audit_filter(actor: str | None = None, action: str | None = None, company_id: str | None = None,
                 since: datetime | None = None, until: datetime | None = None) -> service.AuditFilter:
    return service.AuditFilter(actor=actor or None, action=action or None, company_id=company_id or None,
                               since=since, until=until)


FilterDep = Annotated[service.AuditFilter, Depends(audit_filter)]


@router.get("", response_model=AuditPage)
async def list_audit(user: CurrentUser, db: SessionDep, flt: FilterDep,
                     limit: Annotated[int, Query(ge=1, le=500)] = 50,
                     offset: Annotated[int, Query(ge=0)] = 0) -> AuditPage:
    rows, total = await service.list_entries(db, actor=user, flt=flt, limit=limit, offset=offset)
    return AuditPage(items=[AuditEntryOut.model_validate(r) for r in rows], total=total, limit=limit,
                     offset=offset)


@router.get("/export")
async def export_audit(user: CurrentUser, db: SessionDep, flt: FilterDep, clock: ClockDep,
                       format: Literal["csv", "json"] = "csv") -> StreamingResponse:
    user.require_role(Role.MSP_ADMIN, Role.COMPANY_ADMIN, action="read the audit log")
    stamp = clock.now().strftime("%Y%m%dT%H%M%SZ")
    media = "text/csv; charset=utf-8" if format == "csv" else "application/json"
    return StreamingResponse(
        service.export(db, actor=user, flt=flt, fmt=format), media_type=media,
        headers={"Content-Disposition": f'attachment; filename="audit-{stamp}.{format}"'},
    )


@router.get("/verify", response_model=ChainReport)
async def verify(user: CurrentUser, db: SessionDep) -> ChainReport:
    user.require_role(Role.MSP_ADMIN, action="verify the audit chain")
    return await service.verify_chain(db)
