"""Incident lifecycle routes (thin: validate, call ``incidents.service``, commit). Reads live in correlation/api.py.

Every action answers with the incident as it is afterwards (``IncidentOut``); repeating an action that already
happened answers 200 with nothing changed; a move the lifecycle does not allow is 409 with the current status.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from sqlalchemy.ext.asyncio import AsyncSession

from alertwhisperer.correlation import queries
from alertwhisperer.correlation.api import incident_out
from alertwhisperer.correlation.models import Incident
from alertwhisperer.correlation.schemas import IncidentOut
from alertwhisperer.deps import ClockDep, CurrentUser, SessionDep, commit
from alertwhisperer.errors import Invalid
from alertwhisperer.incidents import history as hist
from alertwhisperer.incidents import service
from alertwhisperer.incidents.schemas import (
    AssigneeOut,
    AssignIn,
    AutoAssignOut,
    BulkIn,
    BulkItemOut,
    BulkOut,
    MergeIn,
    NoteIn,
    ReopenIn,
    ResolveIn,
    SplitIn,
    TimelineItemOut,
)

router = APIRouter(prefix="/api/incidents", tags=["incident lifecycle"])


async def _done(request: Request, db: AsyncSession, incident: Incident) -> IncidentOut:
    out = await incident_out(db, incident)
    await commit(request, db)
    return out


@router.post("/bulk", response_model=BulkOut)
async def bulk(body: BulkIn, request: Request, user: CurrentUser, db: SessionDep, clock: ClockDep) -> BulkOut:
    """Acknowledge, resolve or assign up to 200 incidents; each is checked by itself and the answer says which
    went through (partial success is normal: 200 with ``failed`` > 0)."""
    if body.action == "assign" and "user_id" not in body.model_fields_set:
        raise Invalid("say whom to assign to: user_id (null unassigns)", field="user_id")
    results = await service.bulk(db, actor=user, clock=clock, action=body.action, incident_ids=body.incident_ids,
                                 user_id=body.user_id, note=body.note)
    await commit(request, db)
    items = [BulkItemOut(incident_id=r.incident_id, ok=r.ok, status=r.status, error=r.error) for r in results]
    ok = sum(1 for r in results if r.ok)
    return BulkOut(action=body.action, succeeded=ok, failed=len(results) - ok, results=items)


@router.post("/{incident_id}/acknowledge", response_model=IncidentOut)
async def acknowledge(incident_id: str, request: Request, user: CurrentUser, db: SessionDep,
                      clock: ClockDep) -> IncidentOut:
    return await _done(request, db, await service.acknowledge(db, actor=user, clock=clock, incident_id=incident_id))


@router.post("/{incident_id}/start", response_model=IncidentOut)
async def start(incident_id: str, request: Request, user: CurrentUser, db: SessionDep,
                clock: ClockDep) -> IncidentOut:
    return await _done(request, db, await service.start_work(db, actor=user, clock=clock, incident_id=incident_id))


@router.post("/{incident_id}/resolve", response_model=IncidentOut)
async def resolve(incident_id: str, request: Request, user: CurrentUser, db: SessionDep, clock: ClockDep,
                  body: ResolveIn | None = None) -> IncidentOut:
    incident = await service.resolve(db, actor=user, clock=clock, incident_id=incident_id,
                                     note=body.note if body else None)
    return await _done(request, db, incident)


@router.post("/{incident_id}/close", response_model=IncidentOut)
async def close(incident_id: str, request: Request, user: CurrentUser, db: SessionDep,
                clock: ClockDep) -> IncidentOut:
    return await _done(request, db, await service.close(db, actor=user, clock=clock, incident_id=incident_id))


@router.post("/{incident_id}/reopen", response_model=IncidentOut)
async def reopen(incident_id: str, request: Request, user: CurrentUser, db: SessionDep, clock: ClockDep,
                 body: ReopenIn | None = None) -> IncidentOut:
    incident = await service.reopen(db, actor=user, clock=clock, incident_id=incident_id,
                                    note=body.note if body else None)
    return await _done(request, db, incident)


@router.post("/{incident_id}/notes", response_model=IncidentOut, status_code=201)
async def add_note(incident_id: str, body: NoteIn, request: Request, user: CurrentUser, db: SessionDep,
                   clock: ClockDep) -> IncidentOut:
    incident = await service.add_note(db, actor=user, clock=clock, incident_id=incident_id, body=body.body)
    return await _done(request, db, incident)


@router.post("/{incident_id}/assign", response_model=IncidentOut)
async def assign(incident_id: str, body: AssignIn, request: Request, user: CurrentUser, db: SessionDep,
                 clock: ClockDep) -> IncidentOut:
    """Assign to ``user_id`` (an active user covering the incident's company), or unassign with null."""
    incident = await service.assign(db, actor=user, clock=clock, incident_id=incident_id, user_id=body.user_id)
    return await _done(request, db, incident)


@router.post("/{incident_id}/auto-assign", response_model=AutoAssignOut)
async def auto_assign(incident_id: str, request: Request, user: CurrentUser, db: SessionDep,
                      clock: ClockDep) -> AutoAssignOut:
    """Run automatic assignment again (on-call, skill, load); ``assigned`` false when nobody fits (``reason``)."""
    result = await service.auto_assign(db, actor=user, clock=clock, incident_id=incident_id)
    await commit(request, db)
    return AutoAssignOut(assigned=result.assigned, user_id=result.user_id, reason=result.reason)


@router.get("/{incident_id}/assignees", response_model=list[AssigneeOut])
async def assignees(incident_id: str, user: CurrentUser, db: SessionDep) -> list[AssigneeOut]:
    """Who this incident can be assigned to: active users covering its company, available ones first."""
    incident, _ = await queries.get_incident(db, actor=user, incident_id=incident_id)
    people = await service.eligible_assignees(db, actor=user, company_id=incident.company_id)
    return [AssigneeOut(id=p.id, name=p.name, email=p.email, role=p.role, category=p.category, skills=p.skills,
                        on_leave=p.on_leave, load=p.load, max_load=p.max_load, warnings=p.warnings) for p in people]


@router.post("/{incident_id}/merge", response_model=IncidentOut)
async def merge(incident_id: str, body: MergeIn, request: Request, user: CurrentUser, db: SessionDep,
                clock: ClockDep) -> IncidentOut:
    """Merge this incident into ``into`` (same company); answers with the surviving incident."""
    target = await service.merge(db, actor=user, clock=clock, incident_id=incident_id, into=body.into)
    return await _done(request, db, target)


@router.post("/{incident_id}/split", response_model=IncidentOut, status_code=201)
async def split(incident_id: str, body: SplitIn, request: Request, user: CurrentUser, db: SessionDep,
                clock: ClockDep) -> IncidentOut:
    """Move the chosen alerts of this incident into a new incident; answers with the new incident."""
    new = await service.split(db, actor=user, clock=clock, incident_id=incident_id, alert_ids=body.alert_ids,
                              title=body.title)
    return await _done(request, db, new)


@router.get("/{incident_id}/timeline", response_model=list[TimelineItemOut])
async def timeline(incident_id: str, user: CurrentUser, db: SessionDep) -> list[TimelineItemOut]:
    """The alerts that joined and every change, oldest first."""
    _, items = await hist.history(db, actor=user, incident_id=incident_id)
    return [TimelineItemOut.model_validate(hist.as_dict(i)) for i in items]
