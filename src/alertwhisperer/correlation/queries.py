"""Reads of incidents for the API and the console, always scoped to the companies the caller sees.

A company outside the caller's scope has no incidents for them: lists come back empty, counts zero, and one
incident of it is ``NotFound``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, case, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from alertwhisperer.auth.models import User
from alertwhisperer.auth.principal import Principal
from alertwhisperer.correlation.models import Incident, IncidentAlert
from alertwhisperer.errors import NotFound
from alertwhisperer.incidents.models import ACTIVE_STATUSES, CLOSED, RESOLVED
from alertwhisperer.ingest.models import Alert
from alertwhisperer.tenants.models import Asset

SEVERITY_ORDER = ("critical", "high", "medium", "low", "info")
# A listed incident's statuses (merged ones are never listed); "open" filters the active ones.
STATUSES = ("open", *ACTIVE_STATUSES, RESOLVED, CLOSED)
SORTS = ("priority", "last_seen", "first_seen", "severity")
UNASSIGNED = "none"  # the assignee filter's value for incidents nobody owns
MAX_LIMIT = 500
_SEVERITY_RANK = case({s: len(SEVERITY_ORDER) - i for i, s in enumerate(SEVERITY_ORDER)}, value=Incident.severity,
                      else_=0)


@dataclass(frozen=True)
class IncidentFilter:
    """Empty strings mean "any". ``company_id`` narrows to one company; ``q`` searches title and root asset."""

    company_id: str = ""
    status: str = ""
    severity: str = ""
    q: str = ""
    sort: str = "priority"
    assignee: str = ""  # a user id, or UNASSIGNED

    def cleaned(self) -> IncidentFilter:
        return replace(self, severity=self.severity if self.severity in SEVERITY_ORDER else "",
                       status=self.status.strip()[:20], q=self.q.strip()[:200],
                       sort=self.sort if self.sort in SORTS else "priority", assignee=self.assignee.strip()[:64])

    @property
    def active(self) -> bool:
        return any((self.status, self.severity, self.q, self.assignee))


def _conditions(actor: Principal, flt: IncidentFilter) -> list[ColumnElement[bool]] | None:
    """The WHERE clause, or None when the filter names a company outside the caller's scope."""
    out: list[ColumnElement[bool]] = [Incident.status != "merged"]
    if flt.company_id:
        if not actor.sees_company(flt.company_id):
            return None
        out.append(Incident.company_id == flt.company_id)
    elif not actor.is_msp_admin:
        out.append(Incident.company_id.in_(sorted(actor.company_ids)))
    if flt.status == "open":
        out.append(Incident.status.in_(ACTIVE_STATUSES))
    elif flt.status:
        out.append(Incident.status == flt.status)
    if flt.severity:
        out.append(Incident.severity == flt.severity)
    if flt.assignee == UNASSIGNED:
        out.append(Incident.assignee_id.is_(None))
    elif flt.assignee:
        out.append(Incident.assignee_id == flt.assignee)
    if flt.q:
        out.append(or_(Incident.title.icontains(flt.q, autoescape=True),
                       Incident.root_asset_name.icontains(flt.q, autoescape=True)))
    return out


def _ordered(query: Select[Incident], sort: str) -> Select[Incident]:
    if sort == "last_seen":
        return query.order_by(Incident.last_seen.desc(), Incident.priority.desc(), Incident.id)
    if sort == "first_seen":
        return query.order_by(Incident.first_seen.desc(), Incident.priority.desc(), Incident.id)
    if sort == "severity":
        return query.order_by(_SEVERITY_RANK.desc(), Incident.priority.desc(), Incident.last_seen.desc(), Incident.id)
    return query.order_by(Incident.priority.desc(), Incident.last_seen.desc(), Incident.id)


async def search_incidents(session: AsyncSession, *, actor: Principal, flt: IncidentFilter, limit: int = 50,
                           offset: int = 0) -> list[Incident]:
    """Incidents matching ``flt`` in its sort order (default: highest priority first, then the most recent)."""
    flt = flt.cleaned()
    conditions = _conditions(actor, flt)
    if conditions is None:
        return []
    query = _ordered(select(Incident).where(*conditions), flt.sort)
    limit = max(1, min(limit, MAX_LIMIT))
    return list((await session.execute(query.limit(limit).offset(max(offset, 0)))).scalars())


async def count_incidents(session: AsyncSession, *, actor: Principal, flt: IncidentFilter) -> int:
    conditions = _conditions(actor, flt.cleaned())
    if conditions is None:
        return 0
    return int((await session.execute(select(func.count()).select_from(Incident).where(*conditions))).scalar_one())


async def list_incidents(session: AsyncSession, *, actor: Principal, status: str | None = None,
                         severity: str | None = None, company_id: str | None = None, q: str | None = None,
                         sort: str = "priority", limit: int = 100, offset: int = 0, mine: bool = False,
                         assignee: str | None = None) -> list[Incident]:
    """The API's list: ``search_incidents`` with optional arguments. Merged incidents are never listed.
    ``mine``: assigned to the caller; ``assignee``: a user id, or "none" for unassigned ones."""
    flt = IncidentFilter(company_id=company_id or "", status=status or "", severity=severity or "", q=q or "",
                         sort=sort, assignee=actor.user_id if mine else (assignee or ""))
    return await search_incidents(session, actor=actor, flt=flt, limit=limit, offset=offset)


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


async def user_names(session: AsyncSession, user_ids: Iterable[str | None]) -> dict[str, tuple[str, str]]:
    """user id -> (name, email) for the given ids (assignees shown next to incidents)."""
    ids = sorted({i for i in user_ids if i})
    if not ids:
        return {}
    rows = await session.execute(select(User.id, User.name, User.email).where(User.id.in_(ids)))
    return {str(uid): (str(name), str(email)) for uid, name, email in rows.all()}


@dataclass(frozen=True)
class InvolvedAsset:
    key: str  # asset id, or "discovered:<host>" for a reference not (yet) in the inventory
    name: str
    asset_id: str | None
    critical: bool
    discovered: bool
    root: bool


async def involved_assets(session: AsyncSession, *, incident: Incident) -> list[InvolvedAsset]:
    """The incident's assets by name, the probable root cause first. (The caller has read the incident.)"""
    keys = list(dict.fromkeys([k for k in (incident.root_asset_key, *incident.asset_keys) if k]))
    ids = [k for k in keys if not k.startswith("discovered:")]
    rows = {a.id: a for a in (await session.execute(
        select(Asset).where(Asset.company_id == incident.company_id, Asset.id.in_(ids)))).scalars()} if ids else {}
    out = []
    for key in keys:
        row = rows.get(key)
        if row is not None:
            out.append(InvolvedAsset(key, row.name, row.id, row.critical, row.discovered,
                                     key == incident.root_asset_key))
        else:
            name = key.removeprefix("discovered:") if key.startswith("discovered:") else (
                incident.root_asset_name if key == incident.root_asset_key else key)
            out.append(InvolvedAsset(key, name, None, False, True, key == incident.root_asset_key))
    return out


@dataclass(frozen=True)
class IncidentKpis:
    """Figures for the dashboard. ``noise_reduction`` is 1 - incidents opened / alerts received over the period
    (None without alerts); ``incidents_opened`` counts incidents still standing on their own (not merged)."""

    open: int
    open_by_severity: dict[str, int]
    alerts_received: int
    incidents_opened: int
    noise_reduction: float | None

    @property
    def open_critical(self) -> int:
        return self.open_by_severity.get("critical", 0)

    @property
    def open_high(self) -> int:
        return self.open_by_severity.get("high", 0)


def _scope(actor: Principal, company_id: str, column: Any) -> list[ColumnElement[bool]] | None:
    if company_id:
        return [column == company_id] if actor.sees_company(company_id) else None
    return [] if actor.is_msp_admin else [column.in_(sorted(actor.company_ids))]


async def incident_kpis(session: AsyncSession, *, actor: Principal, company_id: str, since: datetime
                        ) -> IncidentKpis:
    """Open incidents (by severity) now, and the noise reduction since ``since``, for one company or all in scope."""
    inc_scope = _scope(actor, company_id, Incident.company_id)
    alert_scope = _scope(actor, company_id, Alert.company_id)
    if inc_scope is None or alert_scope is None:
        return IncidentKpis(0, {}, 0, 0, None)
    by_severity = {str(s): int(n) for s, n in (await session.execute(
        select(Incident.severity, func.count()).where(Incident.status.in_(ACTIVE_STATUSES), *inc_scope)
        .group_by(Incident.severity))).all()}
    alerts = int((await session.execute(select(func.count()).select_from(Alert).where(
        Alert.received_at >= since, *alert_scope))).scalar_one())
    opened = int((await session.execute(select(func.count()).select_from(Incident).where(
        Incident.created_at >= since, Incident.status != "merged", *inc_scope))).scalar_one())
    reduction = max(0.0, 1 - opened / alerts) if alerts else None
    return IncidentKpis(sum(by_severity.values()), by_severity, alerts, opened, reduction)
