"""Assignment the platform makes by itself (an incident opened, or an SLA breach found nobody owning it)."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from alertwhisperer.audit import service as audit
from alertwhisperer.auth.models import User
from alertwhisperer.clock import Clock
from alertwhisperer.correlation.models import Incident
from alertwhisperer.incidents import timeline
from alertwhisperer.incidents.assignment import Choice, choose_assignee


async def system_assign(session: AsyncSession, *, clock: Clock, incident: Incident, by: str,
                        actor_name: str) -> Choice:
    """Assign the incident to whom ``choose_assignee`` picks (or record why nobody), on the timeline and in the
    audit log. ``by`` names the cause in the records ("auto_assignment", "sla_escalation"). Notifying the
    assignee is the caller's business (what to say depends on why)."""
    now = clock.now()
    choice = await choose_assignee(session, incident=incident, now=now)
    previous = incident.assignee_id
    data = {"from": previous, "to": choice.user_id, "reason": choice.reason, "by": by, "auto": True}
    if choice.user_id is None:
        await timeline.record(session, incident=incident, kind="assignment", now=now, actor_name=actor_name,
                              body=f"Not assigned automatically: {choice.reason}", data=data)
        return choice
    user = await session.get(User, choice.user_id)
    name = user.name if user is not None else choice.user_id
    incident.assignee_id, incident.assigned_at, incident.updated_at = choice.user_id, now, now
    await timeline.record(session, incident=incident, kind="assignment", now=now, actor_name=actor_name,
                          body=f"Assigned to {name}: {choice.reason}", data=data)
    await audit.record(session, clock=clock, action="incident.assigned", actor=None, actor_email="system",
                       company_id=incident.company_id, target_type="incident", target_id=incident.id, details=data)
    return choice
