"""What a replay run writes: result rows and database rows, prepared from the run (pure), then inserted in bulk.

Preparing is separate from inserting so that a worker process (``replay_split``) prepares the rows of its
companies and the parent inserts everything in its one transaction.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import structlog
from sqlalchemy import Dialect, select
from sqlalchemy.ext.asyncio import AsyncSession

from alertwhisperer.correlation import replay_io, replay_state, snapshot
from alertwhisperer.correlation.decision import Decision
from alertwhisperer.correlation.models import CorrelationState, Incident, IncidentAlert
from alertwhisperer.correlation.service import explanation_dict, incident_values, opening_values
from alertwhisperer.correlation.state import TenantState
from alertwhisperer.db import new_id
from alertwhisperer.ingest.models import Alert, Delivery
from alertwhisperer.tenants.models import Asset

if TYPE_CHECKING:
    from alertwhisperer.correlation.replay import _Company, _Run

log = structlog.get_logger(__name__)

# (line, index, alert id, incident id after merges, outcome, reason): one RESULT.jsonl row
ResultRow = tuple[int, int, str, str | None, str, str]
TABLES = {"deliveries": Delivery.__table__, "alerts": Alert.__table__, "incidents": Incident.__table__,
          "incident_alerts": IncidentAlert.__table__, "correlation_states": CorrelationState.__table__}


@dataclass
class Prepared:
    rows: list[ResultRow] = field(default_factory=list)
    tables: dict[str, list[dict[str, Any]]] = field(default_factory=lambda: {name: [] for name in TABLES})
    bound: dict[str, list[tuple[Any, ...]]] = field(default_factory=lambda: {name: [] for name in TABLES})
    discovered: dict[tuple[str, str], None] = field(default_factory=dict)  # (company id, asset name)
    snapshot: bool = True  # every company's state could be translated (else no snapshot is written at all)
    lines: int = 0
    rejected: int = 0
    retried: int = 0
    engine_seconds: float = 0.0
    processes: int = 1

    def merge(self, other: Prepared) -> Prepared:
        """Both halves of a split run (their companies never overlap); result rows stay in line order."""
        out = Prepared(rows=list(heapq.merge(self.rows, other.rows, key=lambda r: (r[0], r[1]))),
                       tables={name: self.tables[name] + other.tables[name] for name in TABLES},
                       bound={name: self.bound[name] + other.bound[name] for name in TABLES},
                       discovered=self.discovered | other.discovered, snapshot=self.snapshot and other.snapshot,
                       lines=self.lines + other.lines, rejected=self.rejected + other.rejected,
                       retried=self.retried + other.retried, engine_seconds=self.engine_seconds + other.engine_seconds,
                       processes=self.processes + other.processes)
        if not out.snapshot:
            out.tables["correlation_states"], out.bound["correlation_states"] = [], []
        return out

    def bind(self, dialect: Dialect) -> None:
        """Turn the rows into the driver's parameters where that is possible (``replay_io.bindable``): a worker
        does it for its half, which also makes the hand-over (pickle) much cheaper than dictionaries."""
        for name, table in TABLES.items():
            rows = self.tables[name]
            if replay_io.bindable(dialect, table, rows):  # type: ignore[arg-type]
                self.bound[name] += replay_io.bind(dialect, table, rows)  # type: ignore[arg-type]
                self.tables[name] = []


def prepare(run: _Run, companies: Iterable[_Company]) -> Prepared:
    """Everything ``run`` decided for these companies (all it processed), as rows."""
    companies = list(companies)
    states = {c.id: c.state for c in companies}
    out = Prepared(lines=run.summary.lines, rejected=run.summary.rejected, retried=run.summary.retried,
                   engine_seconds=run.summary.engine_seconds)
    out.rows = [(line, index, alert_id, states[company_id].canonical(incident_id) if incident_id and company_id
                 else None, outcome, reason)
                for line, index, alert_id, company_id, incident_id, outcome, reason in run.rows]
    links = out.tables["incident_alerts"]
    for (company_id, decision), alert in zip(run.decisions, run.alerts, strict=True):
        incident_id = states[company_id].canonical(decision.incident_id) if decision.incident_id else None
        alert.update(outcome=decision.outcome, incident_id=incident_id, decision_reason=decision.reason)
        if incident_id is not None:
            links.append({"incident_id": incident_id, "alert_id": decision.alert_id, "company_id": company_id,
                          "kind": decision.kind, "reason": decision.reason,
                          "explanation": explanation_dict(decision.explanation), "joined_at": alert["received_at"]})
        if decision.asset.discovered and decision.asset.key.startswith("discovered:"):
            out.discovered[(company_id, decision.asset.key.removeprefix("discovered:")[:255])] = None
    out.tables["deliveries"] = run.deliveries
    out.tables["alerts"] = run.alerts
    out.tables["incidents"] = _incident_rows(companies)
    out.snapshot, out.tables["correlation_states"] = _snapshots(run, companies)
    return out


def _incident_rows(companies: list[_Company]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for company in companies:
        state, now = company.state, company.state.latest or datetime.now(UTC)
        for incident_id, (incident, opening) in company.opened.items():
            values = incident_values(incident, tenant=company.tenant, now=now) | opening_values(opening)
            values["root_asset_key"] = company.asset_ids.get(incident.root, incident.root)
            values["asset_keys"] = sorted(company.asset_ids.get(k, k) for k in values["asset_keys"])
            canonical = state.canonical(incident_id)
            values["merged_into"] = None  # every row has every key: one executemany statement
            if canonical != incident_id:
                values |= {"status": "merged", "merged_into": canonical}
            out.append({"id": incident_id, "company_id": company.id, "created_at": opening.at, "updated_at": now,
                        **values})
    return out


def _snapshots(run: _Run, companies: list[_Company]) -> tuple[bool, list[dict[str, Any]]]:
    """Each company's state, id-keyed (``replay_state``), as a ``correlation_states`` row; (False, []) when one
    cannot be translated (a server then rebuilds the states from the alerts' ``correlation_seq`` log)."""
    hashed: dict[str, dict[str, tuple[Decision, dict[str, Any]]]] = {c.id: {} for c in companies}
    for (company_id, decision), alert in zip(run.decisions, run.alerts, strict=True):
        if decision.identity.startswith("h:"):
            hashed[company_id].setdefault(decision.identity, (decision, alert))
    rows: list[dict[str, Any]] = []
    try:
        for company in companies:
            identities = replay_state.hashed_identities(hashed[company.id].values(), company.asset_ids)
            state: TenantState = replay_state.translate(company.state, ids=company.asset_ids, identities=identities)
            rows.append({"company_id": company.id, "calls": state.calls, "data": snapshot.dump(state),
                         "updated_at": state.latest or datetime.now(UTC)})
    except replay_state.Untranslatable as exc:
        log.warning("replay.snapshot_skipped", error=str(exc))
        return False, []
    return True, rows


async def insert(session: AsyncSession, prepared: Prepared) -> None:
    """All rows, in the caller's transaction."""
    taken = {(r.company_id, r.name) for r in (await session.execute(select(Asset.company_id, Asset.name))).all()}
    now = datetime.now(UTC)
    await replay_io.bulk_insert(session, Asset.__table__, [  # type: ignore[arg-type]
        {"id": new_id(), "company_id": c, "name": n, "discovered": True, "created_at": now, "updated_at": now}
        for c, n in prepared.discovered if (c, n) not in taken])
    for name, table in TABLES.items():
        await replay_io.bulk_insert(session, table, prepared.tables[name])  # type: ignore[arg-type]
        await replay_io.insert_bound(session, table, prepared.bound[name])  # type: ignore[arg-type]
