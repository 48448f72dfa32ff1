"""Builders for correlation tests: assets, tenants and a tiny driver that feeds alerts at given offsets."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from alertwhisperer.correlation import AssetInfo, CorrelationPolicy, Decision, Tenant, TenantState, correlate
from alertwhisperer.ingest.schemas import AlertIn

T0 = datetime(2024, 3, 1, 8, 0, tzinfo=UTC)

ACME_ASSETS = (
    AssetInfo(id="db", name="acme-db-01", type="database", ip="10.1.0.5", fqdn="acme-db-01.acme.internal",
              instance_id="i-0abc123def4567890", critical=True),
    AssetInfo(id="app", name="acme-app-01", ip="10.1.0.10", fqdn="acme-app-01.acme.internal",
              depends_on=("acme-db-01",)),
    AssetInfo(id="app2", name="acme-app-02", ip="10.1.0.11", depends_on=("acme-db-01",)),
    AssetInfo(id="lb", name="acme-lb-01", depends_on=("acme-app-01", "acme-app-02")),
    AssetInfo(id="web", name="acme-web-01", ip="10.1.0.20", tags={"env": "prod", "role": "web"}),
    AssetInfo(id="mail", name="acme-mail-01", tags={"env": "staging"}),
    AssetInfo(id="v6", name="acme-v6-01", ip="2001:db8::5"),
)


def alert(**kwargs: Any) -> AlertIn:
    kwargs.setdefault("source", "alertmanager")
    kwargs.setdefault("signature", "NodeFilesystemAlmostOutOfSpace")
    return AlertIn(**kwargs)


@dataclass
class Run:
    """One company's correlation, driven by offsets in seconds from T0."""

    company_id: str = "acme"
    policy: CorrelationPolicy = field(default_factory=CorrelationPolicy)
    assets: tuple[AssetInfo, ...] = ACME_ASSETS
    decisions: list[Decision] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.tenant = Tenant.build(self.company_id, assets=self.assets, policy=self.policy)
        self.state = TenantState(self.company_id)

    def send(self, seconds: float, **kwargs: Any) -> Decision:
        now = T0 + timedelta(seconds=seconds)
        if "occurred_at" not in kwargs:
            kwargs["occurred_at"] = now
        decision = correlate(alert(**kwargs), self.state, tenant=self.tenant, now=now,
                             alert_id=f"al-{len(self.decisions)}")
        self.decisions.append(decision)
        return decision

    def incident(self, decision: Decision) -> Any:
        assert decision.incident_id is not None
        return self.state.incidents[self.state.canonical(decision.incident_id)]
