"""The incident lifecycle job: what happens when correlation opens, reopens or resolves an incident by itself.

Correlation enqueues ``incident.lifecycle`` jobs in its own transaction (``incidents.hooks``); this handler
runs them in the job's transaction, so its effects (category, SLA deadlines and timers, the automatic
assignment, timeline, audit, notifications) commit exactly once together with the job's completion.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from alertwhisperer.audit import service as audit
from alertwhisperer.auth.models import User
from alertwhisperer.clock import Clock
from alertwhisperer.correlation.models import Incident
from alertwhisperer.correlation.rows import event_data
from alertwhisperer.incidents import hooks, sla, timeline
from alertwhisperer.incidents.autoassign import system_assign
from alertwhisperer.incidents.categories import category_for
from alertwhisperer.incidents.models import ACTIVE_STATUSES, RESOLVED
from alertwhisperer.jobs.models import Job
from alertwhisperer.jobs.worker import JobContext, PermanentError, Registry
from alertwhisperer.notify import service as notify
from alertwhisperer.realtime.hub import Event, emit
from alertwhisperer.remediation import hooks as remediation_hooks

SYSTEM_ACTOR = "system (auto-assignment)"


def register(registry: Registry) -> None:
    """Add this domain's job handlers to the worker's registry."""
    registry.register(hooks.LIFECYCLE_JOB, lifecycle_job)


async def lifecycle_job(ctx: JobContext, job: Job) -> None:
    incident_id, event = job.payload.get("incident_id"), job.payload.get("event")
    if not isinstance(incident_id, str) or event not in hooks.EVENTS:
        raise PermanentError(f"lifecycle job with incident_id={incident_id!r} event={event!r}")
    incident = await ctx.session.get(Incident, incident_id)
    if incident is None:
        return  # deleted with its company
    if event == hooks.AUTO_RESOLVED:
        await _resolved_by_alerts(ctx.session, ctx.clock, incident)
    else:
        await _opened(ctx.session, ctx.clock, incident, reopened=event == hooks.REOPENED)


async def _opened(session: AsyncSession, clock: Clock, incident: Incident, *, reopened: bool) -> None:
    now = clock.now()
    if incident.status not in ACTIVE_STATUSES:
        return  # resolved (or merged) before this job ran: nothing to own, no clock to start
    if not incident.category:
        incident.category = category_for(incident.symptom)
    if reopened:
        await timeline.record(session, incident=incident, kind="reopened", now=now,
                              body="Reopened: an alert fired again after it was resolved",
                              data={"reopen_count": incident.reopen_count})
    await sla.start(session, incident=incident, now=now)
    await remediation_hooks.request_decision(session, company_id=incident.company_id, incident_id=incident.id,
                                             opening=incident.sla_started_at or now, now=now)
    if incident.assignee_id is not None and await _available(session, incident.assignee_id):
        if reopened:
            await notify.notify(session, clock=clock, kind="assignment", user_ids=[incident.assignee_id],
                                title=f"Reopened: {incident.title}", severity=incident.severity, incident=incident,
                                company_id=incident.company_id,
                                body="An incident assigned to you fired again after it was resolved.")
        emit(session, Event("incident.updated", incident.company_id, event_data(incident)))
        return
    await auto_assign(session, clock, incident)


async def auto_assign(session: AsyncSession, clock: Clock, incident: Incident) -> str | None:
    """Assign the incident to the best available technician (or record why nobody) and tell them."""
    choice = await system_assign(session, clock=clock, incident=incident, by="auto_assignment",
                                 actor_name=SYSTEM_ACTOR)
    emit(session, Event("incident.updated", incident.company_id, event_data(incident)))
    if choice.user_id is None:
        return None
    await notify.notify(session, clock=clock, kind="assignment", user_ids=[choice.user_id],
                        title=f"Assigned to you: {incident.title}", severity=incident.severity, incident=incident,
                        company_id=incident.company_id, body=choice.reason, context={"reason": choice.reason})
    return choice.user_id


async def _available(session: AsyncSession, user_id: str) -> bool:
    user = await session.get(User, user_id)
    return user is not None and user.is_active and not user.on_leave


async def _resolved_by_alerts(session: AsyncSession, clock: Clock, incident: Incident) -> None:
    now = clock.now()
    if incident.status != RESOLVED or incident.resolution_kind != "auto":
        return  # reopened again, or resolved by a person (who recorded it) before this job ran
    await sla.stop(session, incident=incident, now=now)
    await timeline.record(session, incident=incident, kind="status", now=now, actor_name="system (alerts cleared)",
                          body="Resolved automatically: all its alerts cleared",
                          data={"to": RESOLVED, "resolution_kind": "auto"})
    await audit.record(session, clock=clock, action="incident.resolved", actor=None, actor_email="system",
                       company_id=incident.company_id, target_type="incident", target_id=incident.id,
                       details={"resolution_kind": "auto", "resolved_at": incident.resolved_at.isoformat()
                                if incident.resolved_at else None})
    if incident.assignee_id is not None:
        await notify.notify(session, clock=clock, kind="resolved", user_ids=[incident.assignee_id],
                            title=f"Resolved: {incident.title}", severity=incident.severity, incident=incident,
                            company_id=incident.company_id, body="Its alerts cleared; it resolved by itself.")
