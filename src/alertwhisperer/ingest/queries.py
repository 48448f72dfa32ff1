"""Read-side queries over stored alerts for the console: filtered, scoped to the caller's companies.

Scope is enforced here, not in the page: an alert of a company outside the caller's scope does not exist
for them (NotFound), and a list never contains one.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from sqlalchemy import ColumnElement, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from alertwhisperer.auth.principal import Principal
from alertwhisperer.errors import NotFound
from alertwhisperer.ingest.models import Alert, Delivery

SEVERITIES = ("critical", "high", "medium", "low", "info")
STATUSES = ("firing", "acknowledged", "resolved")
MAX_LIMIT = 500


@dataclass(frozen=True)
class AlertFilter:
    """Empty strings mean "any". ``company_id`` narrows to one company (it must be in scope)."""

    company_id: str = ""
    severity: str = ""
    status: str = ""
    source: str = ""
    asset: str = ""  # substring of the asset reference
    q: str = ""  # substring of signature, message or asset reference

    def cleaned(self) -> AlertFilter:
        return replace(self, severity=self.severity if self.severity in SEVERITIES else "",
                       status=self.status if self.status in STATUSES else "",
                       source=self.source.strip()[:40], asset=self.asset.strip()[:200], q=self.q.strip()[:200])

    @property
    def active(self) -> bool:
        return any((self.severity, self.status, self.source, self.asset, self.q))


def _scope(actor: Principal, company_id: str) -> list[str] | None:
    """Company ids the query may read (None: every company, MSP admins only)."""
    if company_id:
        actor.require_company(company_id)
        return [company_id]
    return None if actor.is_msp_admin else sorted(actor.company_ids)


def _conditions(actor: Principal, flt: AlertFilter) -> list[ColumnElement[bool]]:
    out: list[ColumnElement[bool]] = []
    scope = _scope(actor, flt.company_id)
    if scope is not None:
        out.append(Alert.company_id.in_(scope))
    if flt.severity:
        out.append(Alert.severity == flt.severity)
    if flt.status:
        out.append(Alert.status == flt.status)
    if flt.source:
        out.append(Alert.source == flt.source)
    if flt.asset:
        out.append(Alert.asset_ref.icontains(flt.asset, autoescape=True))
    if flt.q:
        out.append(or_(Alert.signature.icontains(flt.q, autoescape=True),
                       Alert.message.icontains(flt.q, autoescape=True),
                       Alert.asset_ref.icontains(flt.q, autoescape=True)))
    return out


async def list_alerts(session: AsyncSession, *, actor: Principal, flt: AlertFilter,
                      limit: int = 50) -> list[Alert]:
    """Newest first (alerts of one delivery in their original order)."""
    stmt = (select(Alert).where(*_conditions(actor, flt.cleaned()))
            .order_by(Alert.received_at.desc(), Alert.delivery_id.desc(), Alert.position))
    return list((await session.execute(stmt.limit(max(1, min(limit, MAX_LIMIT))))).scalars().all())


async def count_alerts(session: AsyncSession, *, actor: Principal, flt: AlertFilter,
                       since: datetime | None = None) -> int:
    conditions = _conditions(actor, flt.cleaned())
    if since is not None:
        conditions.append(Alert.received_at >= since)
    stmt = select(func.count()).select_from(Alert).where(*conditions)
    return int((await session.execute(stmt)).scalar_one())


@dataclass(frozen=True)
class AlertDetail:
    alert: Alert
    delivery: Delivery | None


async def get_alert(session: AsyncSession, *, actor: Principal, alert_id: str) -> AlertDetail:
    alert = await session.get(Alert, alert_id)
    if alert is None or not actor.sees_company(alert.company_id):
        raise NotFound("alert not found")
    return AlertDetail(alert, await session.get(Delivery, alert.delivery_id))


@dataclass(frozen=True)
class SourceActivity:
    alerts: int
    last_received_at: datetime


async def source_activity(session: AsyncSession, *, actor: Principal, company_id: str) -> dict[str, SourceActivity]:
    """Per tool: how many alerts this company received from it, and when the last one came."""
    actor.require_company(company_id)
    stmt = (select(Alert.source, func.count(), func.max(Alert.received_at))
            .where(Alert.company_id == company_id).group_by(Alert.source))
    return {source: SourceActivity(int(n), last) for source, n, last in (await session.execute(stmt)).all()}
