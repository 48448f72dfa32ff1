"""Incident rows from correlation's state: their column values, the live event's data, and how a stored incident
follows its state without undoing what people did to it (the lifecycle rules)."""

from __future__ import annotations

from dataclasses import fields
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from alertwhisperer.correlation.context import Tenant
from alertwhisperer.correlation.decision import Decision, Explanation
from alertwhisperer.correlation.models import Incident
from alertwhisperer.correlation.state import IncidentState
from alertwhisperer.incidents import hooks
from alertwhisperer.incidents.categories import category_for
from alertwhisperer.incidents.models import ACTIVE_STATUSES, CLOSED, NEW, RESOLVED


def incident_values(incident: IncidentState, *, tenant: Tenant, now: datetime) -> dict[str, Any]:
    """The columns of an incident row that follow from its state (not id/company/title/symptom/key)."""
    resolved = incident.status_at(now) == "resolved"
    score = incident.priority(now)
    return {
        "status": RESOLVED if resolved else NEW, "resolution_kind": "auto" if resolved else "",
        "severity": incident.severity,
        "symptoms": sorted(incident.symptoms), "root_asset_key": incident.root,
        "root_asset_name": tenant.assets.display_name(incident.root) if incident.root else "",
        "asset_keys": sorted(incident.asset_symptoms), "tools": sorted(incident.tools),
        "first_seen": incident.opened_at, "last_seen": incident.last_seen,
        "resolves_at": None if incident.firing else incident.resolve_at,
        "resolved_at": incident.resolve_at if resolved else None,
        "time_to_resolve_seconds": (incident.resolve_at - incident.opened_at).total_seconds()
        if resolved and incident.resolve_at else None,
        "alert_count": len(incident.alerts), "duplicate_count": max(incident.notifications - len(incident.alerts), 0),
        "reopen_count": incident.reopen_count, "flapping": incident.flapping, "priority": score.total,
        "priority_breakdown": [{"name": n, "points": p, "detail": d} for n, p, d in score.as_list()],
    }


_EXPLANATION_FIELDS = tuple(f.name for f in fields(Explanation))


def explanation_dict(explanation: Explanation) -> dict[str, Any]:
    """``Explanation.as_dict()`` without ``dataclasses.asdict``'s deep copies (its values are flat)."""
    data = {name: getattr(explanation, name) for name in _EXPLANATION_FIELDS}
    for name in ("topology_path", "merged", "notes"):
        data[name] = list(data[name])
    if explanation.topology_path:
        data["topology_path_text"] = explanation.path_text
    return data


def opening_values(decision: Decision) -> dict[str, Any]:
    """Columns fixed when an incident opens: what it is about and why it opened."""
    symptom = decision.symptom
    return {"symptom": symptom, "category": category_for(symptom),
            "title": f"{symptom.replace('_', ' ')} on {decision.asset.name}"[:500],
            "key": decision.explanation.key[:600], "explanation": explanation_dict(decision.explanation)}


def event_data(row: Incident) -> dict[str, Any]:
    """The data of an incident's live events (``incident.created``, ``.updated``, ``.resolved``), everywhere."""
    return {"id": row.id, "title": row.title, "status": row.status, "severity": row.severity,
            "priority": row.priority, "alert_count": row.alert_count, "root_asset": row.root_asset_name,
            "assignee_id": row.assignee_id, "escalation_level": row.escalation_level, "category": row.category}


_LIFECYCLE_COLUMNS = ("status", "resolution_kind", "resolved_at", "time_to_resolve_seconds")


async def apply_lifecycle(session: AsyncSession, row: Incident, values: dict[str, Any], now: datetime) -> str:
    """Update a stored incident from its correlation state without undoing what people did to it.

    Alert facts always follow the state. The status follows it only where the lifecycle allows: an active
    incident (new, acknowledged, in progress) resolves by itself when its alerts clear; a resolved or closed
    one reopens when an alert fires again after it was resolved (a technician resolving it while its alerts
    still fire keeps it resolved until the tool reports again). Returns the live event's type.
    """
    for name, value in values.items():
        if name not in _LIFECYCLE_COLUMNS:
            setattr(row, name, value)
    row.updated_at = now
    auto_resolved = values["status"] == RESOLVED
    if row.status in ACTIVE_STATUSES and auto_resolved:
        row.status, row.resolution_kind = RESOLVED, "auto"
        row.resolved_at, row.time_to_resolve_seconds = values["resolved_at"], values["time_to_resolve_seconds"]
        await hooks.notify(session, company_id=row.company_id, incident_id=row.id, event=hooks.AUTO_RESOLVED,
                           now=now)
        return "incident.resolved"
    reopened = await reopen_if_fired(session, row, auto_resolved=auto_resolved, now=now)
    if not reopened and row.status in (RESOLVED, CLOSED) and auto_resolved and row.resolution_kind == "auto":
        # the resolve hold moved: keep the state's time
        row.resolved_at, row.time_to_resolve_seconds = values["resolved_at"], values["time_to_resolve_seconds"]
    return "incident.updated"


async def reopen_if_fired(session: AsyncSession, row: Incident, *, auto_resolved: bool, now: datetime) -> bool:
    """Reopen a resolved or closed incident when its alerts fire (``auto_resolved``: the state says resolved)
    and something arrived after it was resolved. True when it reopened."""
    if row.status not in (RESOLVED, CLOSED) or auto_resolved:
        return False
    if row.resolved_at is not None and row.last_seen <= row.resolved_at:
        return False
    row.status, row.resolution_kind, row.closed_at = NEW, "", None
    row.resolved_at = row.time_to_resolve_seconds = None
    await hooks.notify(session, company_id=row.company_id, incident_id=row.id, event=hooks.REOPENED, now=now)
    return True
