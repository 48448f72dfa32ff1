"""An incident's timeline: every change (status, assignment, note, escalation, notification, chat, runbook)
is an ``IncidentEvent`` written in the same transaction as the change, and shown live."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from alertwhisperer.auth.principal import Principal
from alertwhisperer.correlation.models import Incident
from alertwhisperer.incidents.models import IncidentEvent
from alertwhisperer.realtime.hub import Event, emit

SYSTEM = "system"


async def record(session: AsyncSession, *, incident: Incident, kind: str, now: datetime,
                 actor: Principal | None = None, actor_name: str | None = None, body: str = "",
                 data: dict[str, Any] | None = None) -> IncidentEvent:
    """Add a timeline entry in the caller's transaction and queue its live event (sent after commit).

    ``actor`` None: the platform did it (``actor_name`` says what, default "system")."""
    name = actor_name or (actor.email if actor is not None else SYSTEM)
    entry = IncidentEvent(incident_id=incident.id, company_id=incident.company_id, kind=kind,
                          actor_id=actor.user_id if actor is not None else None, actor_name=name[:200],
                          body=body, data=data or {}, at=now)
    session.add(entry)
    await session.flush()
    emit(session, Event("incident.timeline", incident.company_id, {
        "incident_id": incident.id, "id": entry.id, "kind": kind, "actor": name, "body": body[:500],
        "data": entry.data, "at": now.isoformat()}))
    return entry


async def entries(session: AsyncSession, *, incident_id: str, limit: int = 500) -> list[IncidentEvent]:
    """The incident's timeline entries, oldest first (the caller has checked the incident's scope)."""
    rows = await session.execute(select(IncidentEvent).where(IncidentEvent.incident_id == incident_id)
                                 .order_by(IncidentEvent.at, IncidentEvent.id).limit(limit))
    return list(rows.scalars())
