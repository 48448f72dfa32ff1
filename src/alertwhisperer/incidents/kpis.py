"""SLA compliance and MTTR over a window, overall, by severity and by company, scoped to the actor's companies.

**Compliance** counts only incidents with a deadline whose outcome is known, among those whose SLA cycle started
in the window: response *met* = acknowledged (or resolved) by the response deadline, *breached* = marked breached
or acknowledged late or still unacknowledged past the deadline; resolution likewise with resolved/closed. Targets
still running and incidents merged before their outcome are left out (``running`` says how many).

**MTTR** (mean time to resolve) over incidents resolved in the window: from ``sla_started_at`` (the current cycle;
a reopened incident is measured from its reopen) or ``first_seen`` when no SLA ran, to ``resolved_at``; shown apart
for manual resolutions and automatic ones (``auto``: the alerts cleared or a runbook fixed it; ``self_healed``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import load_only

from alertwhisperer.auth.principal import Principal
from alertwhisperer.correlation.models import Incident
from alertwhisperer.incidents.models import ACTIVE_STATUSES, CLOSED, MERGED, NEW, RESOLVED
from alertwhisperer.incidents.sla_policy import SEVERITIES
from alertwhisperer.tenants.models import Company

DEFAULT_DAYS = 30
AUTO_KINDS = ("auto", "self_healed")


@dataclass
class Group:
    response_met: int = 0
    response_breached: int = 0
    resolution_met: int = 0
    resolution_breached: int = 0
    running: int = 0  # targets whose outcome is not known yet
    resolved: int = 0
    _total: float = 0.0
    _by_kind: dict[str, list[float]] = field(default_factory=dict)

    @staticmethod
    def _pct(met: int, breached: int) -> float | None:
        return round(100 * met / (met + breached), 1) if met + breached else None

    @property
    def response_compliance(self) -> float | None:
        return self._pct(self.response_met, self.response_breached)

    @property
    def resolution_compliance(self) -> float | None:
        return self._pct(self.resolution_met, self.resolution_breached)

    @property
    def compliance(self) -> float | None:
        """Both targets together: met ÷ (met + breached)."""
        return self._pct(self.response_met + self.resolution_met, self.response_breached + self.resolution_breached)

    @property
    def mttr_seconds(self) -> float | None:
        return self._total / self.resolved if self.resolved else None

    def mttr_of(self, kinds: tuple[str, ...]) -> tuple[int, float | None]:
        values = [v for k in kinds for v in self._by_kind.get(k, [])]
        return len(values), (sum(values) / len(values) if values else None)

    def as_dict(self) -> dict[str, Any]:
        manual_n, manual = self.mttr_of(("manual", ""))
        auto_n, auto = self.mttr_of(AUTO_KINDS)
        return {"compliance_pct": self.compliance,
                "response": {"met": self.response_met, "breached": self.response_breached,
                             "compliance_pct": self.response_compliance},
                "resolution": {"met": self.resolution_met, "breached": self.resolution_breached,
                               "compliance_pct": self.resolution_compliance},
                "running": self.running, "resolved": self.resolved, "mttr_seconds": self.mttr_seconds,
                "mttr_manual_seconds": manual, "resolved_manual": manual_n,
                "mttr_auto_seconds": auto, "resolved_auto": auto_n}


@dataclass
class SlaKpis:
    days: int
    since: datetime
    overall: Group = field(default_factory=Group)
    by_severity: dict[str, Group] = field(default_factory=dict)
    by_company: dict[str, Group] = field(default_factory=dict)
    company_names: dict[str, str] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"days": self.days, "since": self.since.isoformat(), "overall": self.overall.as_dict(),
                "by_severity": {s: g.as_dict() for s, g in self.by_severity.items()},
                "by_company": [{"company_id": cid, "name": self.company_names.get(cid, ""), **g.as_dict()}
                               for cid, g in self.by_company.items()],
                "counting": "Compliance counts only targets whose outcome is known (met or breached) among "
                            "incidents whose SLA started in the window; MTTR averages incidents resolved in it."}


def response_outcome(i: Incident, now: datetime) -> str | None:
    """met | breached | None (no target, still running, or never decided)."""
    due, started = i.response_due_at, i.sla_started_at
    if due is None or started is None:
        return None
    if i.response_breached_at is not None:
        return "breached"
    ack = i.acknowledged_at if i.acknowledged_at is not None and i.acknowledged_at >= started else None
    done = ack or (i.resolved_at if i.status in (RESOLVED, CLOSED) and i.resolved_at is not None else None)
    if done is not None:
        return "met" if done <= due else "breached"
    if i.status == NEW and now > due:
        return "breached"
    return None


def resolution_outcome(i: Incident, now: datetime) -> str | None:
    due = i.resolution_due_at
    if due is None or i.sla_started_at is None:
        return None
    if i.resolution_breached_at is not None:
        return "breached"
    if i.status in (RESOLVED, CLOSED):
        done = i.resolved_at or i.closed_at
        return None if done is None else ("met" if done <= due else "breached")
    if i.status in ACTIVE_STATUSES and now > due:
        return "breached"
    return None


def _count(group: Group, i: Incident, now: datetime, since: datetime) -> None:
    started = i.sla_started_at
    if started is not None and started >= since:
        for outcome, attr in ((response_outcome(i, now), "response"), (resolution_outcome(i, now), "resolution")):
            if outcome is not None:
                setattr(group, f"{attr}_{outcome}", getattr(group, f"{attr}_{outcome}") + 1)
        if (i.response_due_at and response_outcome(i, now) is None and i.status != MERGED) or (
                i.resolution_due_at and resolution_outcome(i, now) is None and i.status != MERGED):
            group.running += 1
    if i.status in (RESOLVED, CLOSED) and i.resolved_at is not None and i.resolved_at >= since:
        begin = started if started is not None and started <= i.resolved_at else i.first_seen
        seconds = max(0.0, (i.resolved_at - begin).total_seconds())
        group.resolved += 1
        group._total += seconds
        group._by_kind.setdefault(i.resolution_kind or "", []).append(seconds)


async def sla_kpis(session: AsyncSession, *, actor: Principal, now: datetime, company_id: str = "",
                   days: int = DEFAULT_DAYS) -> SlaKpis:
    """The KPIs for one company (``company_id``; outside the actor's scope: empty) or all the actor's companies."""
    since = now - timedelta(days=days)
    result = SlaKpis(days=days, since=since)
    if company_id:
        if not actor.sees_company(company_id):
            return result
        scope = [Incident.company_id == company_id]
    else:
        scope = [] if actor.is_msp_admin else [Incident.company_id.in_(sorted(actor.company_ids))]
    columns = load_only(Incident.company_id, Incident.status, Incident.severity, Incident.first_seen,
                        Incident.sla_started_at, Incident.response_due_at, Incident.resolution_due_at,
                        Incident.response_breached_at, Incident.resolution_breached_at, Incident.acknowledged_at,
                        Incident.resolved_at, Incident.closed_at, Incident.resolution_kind)
    rows = (await session.execute(select(Incident).options(columns).where(
        *scope, or_(Incident.sla_started_at >= since, Incident.resolved_at >= since)))).scalars()
    for i in rows:
        for group in (result.overall, result.by_severity.setdefault(i.severity, Group()),
                      result.by_company.setdefault(i.company_id, Group())):
            _count(group, i, now, since)
    order = {s: n for n, s in enumerate(SEVERITIES)}
    result.by_severity = dict(sorted(result.by_severity.items(), key=lambda kv: order.get(kv[0], 99)))
    if result.by_company:
        names = (await session.execute(select(Company.id, Company.name).where(
            Company.id.in_(list(result.by_company))))).all()
        result.company_names = {str(cid): str(name) for cid, name in names}
        result.by_company = dict(sorted(result.by_company.items(),
                                        key=lambda kv: result.company_names.get(kv[0], "").lower()))
    return result
