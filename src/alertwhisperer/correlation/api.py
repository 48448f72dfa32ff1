"""Incident read routes (thin: the queries module scopes everything by company)."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Query
from sqlalchemy.ext.asyncio import AsyncSession

from alertwhisperer.correlation import queries
from alertwhisperer.correlation.models import Incident
from alertwhisperer.correlation.schemas import AssigneeRef, IncidentDetail, IncidentOut, TimelineEntry
from alertwhisperer.deps import CurrentUser, SessionDep

router = APIRouter(prefix="/api", tags=["incidents"])

Severity = Literal["critical", "high", "medium", "low", "info"]
Sort = Literal["priority", "last_seen", "first_seen", "severity"]


def _with_assignee(out: IncidentOut, names: dict[str, tuple[str, str]]) -> IncidentOut:
    if out.assignee_id and out.assignee_id in names:
        name, email = names[out.assignee_id]
        out.assignee = AssigneeRef(id=out.assignee_id, name=name, email=email)
    return out


async def incident_out(db: AsyncSession, incident: Incident) -> IncidentOut:
    """One incident as the API shows it, its assignee named."""
    return _with_assignee(IncidentOut.model_validate(incident), await queries.user_names(db, [incident.assignee_id]))


@router.get("/incidents", response_model=list[IncidentOut])
async def list_incidents(user: CurrentUser, db: SessionDep,
                         status: str | None = Query(None, description="open (new, acknowledged, in progress), or one "
                                                                      "of new, acknowledged, in_progress, resolved, "
                                                                      "closed"),
                         severity: Severity | None = None, company: str | None = None,
                         q: str | None = Query(None, max_length=200, description="search in title and root asset"),
                         mine: bool = Query(False, description="only incidents assigned to me"),
                         assignee: str | None = Query(None, max_length=64,
                                                      description="a user id, or none for unassigned incidents"),
                         sort: Sort = "priority", limit: int = Query(100, ge=1, le=500),
                         offset: int = Query(0, ge=0)) -> list[IncidentOut]:
    """Sorted by ``sort`` (default priority, highest first; dates newest first). ``company`` is a company id."""
    rows = await queries.list_incidents(db, actor=user, status=status, severity=severity, company_id=company,
                                        q=q, sort=sort, limit=limit, offset=offset, mine=mine, assignee=assignee)
    names = await queries.user_names(db, (r.assignee_id for r in rows))
    return [_with_assignee(IncidentOut.model_validate(r), names) for r in rows]


@router.get("/incidents/{incident_id}", response_model=IncidentDetail)
async def get_incident(incident_id: str, user: CurrentUser, db: SessionDep) -> IncidentDetail:
    incident, timeline = await queries.get_incident(db, actor=user, incident_id=incident_id)
    detail = IncidentDetail.model_validate(incident)
    _with_assignee(detail, await queries.user_names(db, [incident.assignee_id]))
    detail.alerts = [TimelineEntry(alert_id=a.id, kind=link.kind, reason=link.reason, explanation=link.explanation,
                                   joined_at=link.joined_at, source=a.source, status=a.status, severity=a.severity,
                                   signature=a.signature, asset_ref=a.asset_ref, message=a.message)
                     for link, a in timeline]
    return detail
