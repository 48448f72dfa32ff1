"""What every lifecycle change shares: loading the incident in the actor's scope (locked for the change), and
writing the change down (audit entry, timeline entry, live ``incident.updated`` event) in one transaction."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from alertwhisperer.audit import service as audit
from alertwhisperer.auth.models import User
from alertwhisperer.auth.principal import Principal
from alertwhisperer.clock import Clock
from alertwhisperer.correlation.models import Incident
from alertwhisperer.correlation.rows import event_data
from alertwhisperer.errors import Conflict, NotFound
from alertwhisperer.incidents import sla, timeline
from alertwhisperer.incidents.models import MERGED
from alertwhisperer.realtime.hub import Event, emit


async def load(session: AsyncSession, *, actor: Principal, incident_id: str, allow_merged: bool = False) -> Incident:
    """The incident, locked until the transaction ends (PostgreSQL; SQLite has one writer anyway).

    Outside the actor's companies: ``NotFound``. A merged incident: ``Conflict`` naming its survivor. Every role
    that sees the company may act on its incidents (technicians, company admins, MSP admins)."""
    incident = (await session.execute(select(Incident).where(Incident.id == incident_id).with_for_update()
                                      .execution_options(populate_existing=True))).scalar_one_or_none()
    if incident is None or not actor.sees_company(incident.company_id):
        raise NotFound("incident not found")
    if incident.status == MERGED and not allow_merged:
        raise Conflict(f"incident was merged into {incident.merged_into}; act on that incident instead",
                       details={"merged_into": incident.merged_into})
    return incident


async def record(session: AsyncSession, *, actor: Principal, clock: Clock, incident: Incident, action: str,
                 kind: str, body: str = "", data: dict[str, Any] | None = None,
                 audit_details: dict[str, Any] | None = None) -> None:
    """Audit (``incident.<action>``), timeline entry of ``kind`` and the live ``incident.updated`` event."""
    now = clock.now()
    incident.updated_at = now
    await audit.record(session, clock=clock, action=f"incident.{action}", actor=actor,
                       company_id=incident.company_id, target_type="incident", target_id=incident.id,
                       details=audit_details if audit_details is not None else dict(data or {}))
    user = await session.get(User, actor.user_id)
    await timeline.record(session, incident=incident, kind=kind, now=now, actor=actor, body=body, data=data,
                          actor_name=user.name if user is not None and user.name else None)
    emit(session, Event("incident.updated", incident.company_id, event_data(incident)))


async def sla_hook(name: str, session: AsyncSession, incident: Incident, now: datetime) -> None:
    """Call ``incidents.sla.<name>``: start | on_acknowledged | stop."""
    hooks = {"start": sla.start, "on_acknowledged": sla.on_acknowledged, "stop": sla.stop}
    await hooks[name](session, incident=incident, now=now)
