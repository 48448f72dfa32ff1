"""An incident's whole history in time order: the alert notifications that joined it and every change
(``IncidentEvent``) people or the platform made, for the API and the console."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from alertwhisperer.auth.principal import Principal
from alertwhisperer.correlation import queries
from alertwhisperer.correlation.models import Incident, IncidentAlert
from alertwhisperer.incidents import timeline
from alertwhisperer.incidents.models import IncidentEvent
from alertwhisperer.ingest.models import Alert


@dataclass(frozen=True)
class HistoryItem:
    type: str  # "alert" | "event"
    at: datetime
    kind: str
    event: IncidentEvent | None = None
    link: IncidentAlert | None = None
    alert: Alert | None = None
    data: dict[str, Any] = field(default_factory=dict)


def merged_history(alerts: list[tuple[IncidentAlert, Alert]], events: list[IncidentEvent]) -> list[HistoryItem]:
    """Alerts and events by time (an alert first when both happened at the same moment)."""
    items = [HistoryItem("alert", link.joined_at, link.kind, link=link, alert=alert) for link, alert in alerts]
    items += [HistoryItem("event", e.at, e.kind, event=e, data=e.data or {}) for e in events]
    return sorted(items, key=lambda i: (i.at, 0 if i.type == "alert" else 1))


async def history(session: AsyncSession, *, actor: Principal, incident_id: str
                  ) -> tuple[Incident, list[HistoryItem]]:
    """The incident (a merged id gives its survivor; out of scope: ``NotFound``) and its history, oldest first."""
    incident, alerts = await queries.get_incident(session, actor=actor, incident_id=incident_id)
    events = await timeline.entries(session, incident_id=incident.id, limit=2000)
    return incident, merged_history(alerts, events)


def as_dict(item: HistoryItem) -> dict[str, Any]:
    """The API's shape of one item (``incidents.schemas.TimelineItemOut``)."""
    if item.event is not None:
        e = item.event
        return {"type": "event", "at": e.at, "kind": e.kind, "actor_id": e.actor_id, "actor_name": e.actor_name,
                "body": e.body, "data": e.data or {}}
    assert item.link is not None and item.alert is not None
    a = item.alert
    return {"type": "alert", "at": item.at, "kind": item.kind, "alert_id": a.id, "source": a.source,
            "severity": a.severity, "status": a.status, "signature": a.signature, "asset_ref": a.asset_ref,
            "reason": item.link.reason, "body": a.message[:2000]}
