"""Reads of incidents for the API and the console, always scoped to the companies the caller sees."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from alertwhisperer.auth.principal import Principal
from alertwhisperer.correlation.models import Incident, IncidentAlert
from alertwhisperer.errors import NotFound
from alertwhisperer.ingest.models import Alert

SEVERITY_ORDER = ("critical", "high", "medium", "low", "info")


async def list_incidents(session: AsyncSession, *, actor: Principal, status: str | None = None,
                         severity: str | None = None, company_id: str | None = None, limit: int = 100,
                         offset: int = 0) -> list[Incident]:
    """Highest priority first, then the most recent. Merged incidents are never listed."""
    query = select(Incident).where(Incident.status != "merged")
    if company_id is not None:
        if not actor.sees_company(company_id):
            return []
        query = query.where(Incident.company_id == company_id)
    elif not actor.is_msp_admin:
        query = query.where(Incident.company_id.in_(sorted(actor.company_ids)))
    if status is not None:
        query = query.where(Incident.status == status)
    if severity is not None:
        query = query.where(Incident.severity == severity)
    query = query.order_by(Incident.priority.desc(), Incident.last_seen.desc(), Incident.id)
    return list((await session.execute(query.limit(limit).offset(offset))).scalars())


async def get_incident(session: AsyncSession, *, actor: Principal, incident_id: str
                       ) -> tuple[Incident, list[tuple[IncidentAlert, Alert]]]:
    """The incident (a merged id gives its survivor) and its alert timeline, oldest first."""
    incident = await session.get(Incident, incident_id)
    seen = 0
    while incident is not None and incident.merged_into and seen < 100:
        incident, seen = await session.get(Incident, incident.merged_into), seen + 1
    if incident is None or not actor.sees_company(incident.company_id):
        raise NotFound("incident not found")
    rows = (await session.execute(
        select(IncidentAlert, Alert).join(Alert, Alert.id == IncidentAlert.alert_id)
        .where(IncidentAlert.incident_id == incident.id, IncidentAlert.company_id == incident.company_id)
        .order_by(IncidentAlert.joined_at, Alert.position, Alert.id))).all()
    return incident, [(link, alert) for link, alert in rows]
