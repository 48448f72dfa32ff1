"""Incident read routes (thin: the queries module scopes everything by company)."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Query

from alertwhisperer.correlation import queries
from alertwhisperer.correlation.schemas import IncidentDetail, IncidentOut, TimelineEntry
from alertwhisperer.deps import CurrentUser, SessionDep

router = APIRouter(prefix="/api", tags=["incidents"])

Severity = Literal["critical", "high", "medium", "low", "info"]
Sort = Literal["priority", "last_seen", "first_seen", "severity"]


@router.get("/incidents", response_model=list[IncidentOut])
async def list_incidents(user: CurrentUser, db: SessionDep, status: str | None = None,
                         severity: Severity | None = None, company: str | None = None,
                         q: str | None = Query(None, max_length=200, description="search in title and root asset"),
                         sort: Sort = "priority", limit: int = Query(100, ge=1, le=500),
                         offset: int = Query(0, ge=0)) -> list[IncidentOut]:
    """Sorted by ``sort`` (default priority, highest first; dates newest first). ``company`` is a company id."""
    rows = await queries.list_incidents(db, actor=user, status=status, severity=severity, company_id=company,
                                        q=q, sort=sort, limit=limit, offset=offset)
    return [IncidentOut.model_validate(r) for r in rows]


@router.get("/incidents/{incident_id}", response_model=IncidentDetail)
async def get_incident(incident_id: str, user: CurrentUser, db: SessionDep) -> IncidentDetail:
    incident, timeline = await queries.get_incident(db, actor=user, incident_id=incident_id)
    detail = IncidentDetail.model_validate(incident)
    detail.alerts = [TimelineEntry(alert_id=a.id, kind=link.kind, reason=link.reason, explanation=link.explanation,
                                   joined_at=link.joined_at, source=a.source, status=a.status, severity=a.severity,
                                   signature=a.signature, asset_ref=a.asset_ref, message=a.message)
                     for link, a in timeline]
    return detail
