"""Property tests on the core: determinism, duplicates, tenancy and order of simultaneous alerts."""

from __future__ import annotations

import itertools
import os
from collections import defaultdict
from dataclasses import dataclass
from datetime import timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from alertwhisperer.correlation import CorrelationPolicy, Decision, Tenant, TenantState, correlate
from alertwhisperer.ingest.schemas import AlertIn
from tests.correlation.helpers import ACME_ASSETS, T0

REFS = ["acme-db-01", "10.1.0.5:9100", "i-0abc123def4567890", "acme-app-01", "acme-app-02.acme.internal",
        "acme-lb-01", "https://acme-web-01/", "10.1.0.20", "acme-mail-01", "192.0.2.1", "192.0.2.2", "192.0.2.3",
        "192.0.2.4", "unknown-host", None]
SIGNATURES = ["NodeFilesystemAlmostOutOfSpace", "Free disk space is less than 5% on volume /", "Host down",
              "High CPU utilization", "Memory high", "HostOomKillDetected", "Service nginx is down",
              "HTTP 5xx error rate high", "Slow responses", "PostgresqlTooManyConnections", "TLS certificate expiring",
              "backup_failed", "Interface eth0: Link down", "Watchdog", "ReplicaLag"]
SOURCES = ["alertmanager", "zabbix", "datadog", "nagios", "generic"]
# AW_HYPOTHESIS_EXAMPLES=2000 for a deeper search; the default keeps the suite fast.
SETTINGS = settings(max_examples=int(os.environ.get("AW_HYPOTHESIS_EXAMPLES", "60")), deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])


@dataclass(frozen=True)
class Spec:
    company: str
    seconds: int
    source: str
    ref: str | None
    signature: str
    status: str
    external_id: str | None

    def alert(self) -> AlertIn:
        # a tool's own id always names the same alert (same host, same check): derive it from both
        tool_id = f"{self.ref}/{self.signature}/{self.external_id}" if self.external_id else None
        return AlertIn(source=self.source, asset_ref=self.ref, signature=self.signature,
                       status=self.status,
                       external_id=tool_id, occurred_at=T0 + timedelta(seconds=self.seconds))


def specs(*, companies: tuple[str, ...] = ("acme",), statuses: tuple[str, ...] = ("firing", "firing", "resolved"),
          max_seconds: int = 7200) -> st.SearchStrategy[Spec]:
    return st.builds(Spec, company=st.sampled_from(companies), seconds=st.integers(0, max_seconds),
                     source=st.sampled_from(SOURCES), ref=st.sampled_from(REFS), signature=st.sampled_from(SIGNATURES),
                     status=st.sampled_from(statuses),
                     external_id=st.one_of(st.none(), st.sampled_from(["e1", "e2", "e3", "e4"])))


def sorted_stream(items: list[Spec]) -> list[Spec]:
    return sorted(items, key=lambda s: s.seconds)  # arrival order = event order (stable for equal times)


def replay(stream: list[Spec], policy: CorrelationPolicy | None = None
           ) -> tuple[list[Decision], dict[str, TenantState]]:
    counter = itertools.count(1)
    tenants = {c: Tenant.build(c, assets=ACME_ASSETS, policy=policy) for c in {s.company for s in stream}}
    states = {c: TenantState(c, id_factory=lambda: f"inc-{next(counter)}") for c in tenants}
    decisions = []
    for i, spec in enumerate(stream):
        decisions.append(correlate(spec.alert(), states[spec.company], tenant=tenants[spec.company],
                                   now=T0 + timedelta(seconds=spec.seconds), alert_id=f"n{i}"))
    return decisions, states


def partition(decisions: list[Decision], state: TenantState, indexes: list[int]) -> set[frozenset[int]]:
    groups: dict[str, set[int]] = defaultdict(set)
    for i in indexes:
        incident_id = decisions[i].incident_id
        if incident_id is not None:
            groups[state.canonical(incident_id)].add(i)
    return {frozenset(g) for g in groups.values()}


@SETTINGS
@given(st.lists(specs(companies=("acme", "globex")), max_size=40))
def test_replay_is_deterministic(items: list[Spec]) -> None:
    stream = sorted_stream(items)
    first, _ = replay(stream)
    second, _ = replay(stream)
    assert [d.as_dict() for d in first] == [d.as_dict() for d in second]


@SETTINGS
@given(st.lists(specs(), max_size=40))
def test_a_duplicate_never_opens_an_incident(items: list[Spec]) -> None:
    stream = sorted_stream(items)
    tenant = Tenant.build("acme", assets=ACME_ASSETS)
    state = TenantState("acme")
    for spec in stream:
        firing = {k for k, a in state.alerts.items() if a.status == "firing" and a.incident_id is not None}
        before = set(state.incidents)
        decision = correlate(spec.alert(), state, tenant=tenant, now=T0 + timedelta(seconds=spec.seconds))
        if decision.identity in firing and spec.status != "resolved":
            assert decision.kind == "duplicate"
        if decision.kind == "duplicate":
            assert set(state.incidents) <= before
            assert decision.incident_id is not None


@SETTINGS
@given(st.lists(specs(companies=("acme", "globex", "initech")), max_size=50))
def test_no_incident_ever_spans_two_companies(items: list[Spec]) -> None:
    stream = sorted_stream(items)
    decisions, states = replay(stream)
    companies: dict[str, set[str]] = defaultdict(set)
    for spec, decision in zip(stream, decisions, strict=True):
        if decision.incident_id is not None:
            companies[states[spec.company].canonical(decision.incident_id)].add(spec.company)
    assert all(len(c) == 1 for c in companies.values())
    for company, state in states.items():
        assert all(i.company_id == company for i in state.incidents.values())
        owned = {d.identity for s, d in zip(stream, decisions, strict=True) if s.company == company}
        assert all(i.alerts <= owned for i in state.incidents.values())


@SETTINGS
@given(prefix=st.lists(specs(statuses=("firing", "resolved"), max_seconds=1800), max_size=15),
       batch=st.lists(specs(statuses=("firing",)), min_size=2, max_size=12),
       data=st.data())
def test_order_of_simultaneous_alerts_does_not_change_the_grouping(prefix: list[Spec], batch: list[Spec],
                                                                   data: st.DataObject) -> None:
    at = 1800 + 60
    simultaneous = [Spec(s.company, at, s.source, s.ref, s.signature, s.status, s.external_id) for s in batch]
    shuffled = data.draw(st.permutations(simultaneous))
    head = sorted_stream(prefix)
    one, states_one = replay(head + simultaneous)
    two, states_two = replay(head + list(shuffled))
    positions = {id(s): i for i, s in enumerate(simultaneous)}
    # map each shuffled notification back to its index in the first order (equal specs are interchangeable)
    order = [len(head) + positions[id(s)] for s in shuffled]
    remapped: list[Decision | None] = [None] * len(one)
    for i in range(len(head)):
        remapped[i] = two[i]
    for j, original in enumerate(order):
        remapped[original] = two[len(head) + j]
    indexes = list(range(len(one)))
    assert partition(one, states_one["acme"], indexes) == partition(
        [d for d in remapped if d is not None], states_two["acme"], indexes)
