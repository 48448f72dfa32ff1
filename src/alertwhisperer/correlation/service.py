"""Correlation as a service: a delivery's alerts -> decisions, incidents and their links, in the caller's transaction.

The company's ``TenantState`` comes from ``store`` (in-process cache, snapshot + log in the database; the
multi-process rules are described there). Idempotent: alerts that already have an outcome are skipped.

Incidents merged by hand (``incidents.merging``) change only rows; the state still groups alerts into the merged
source. When persisting, such an incident (row ``merged``, still its own incident in the state) is followed along
``merged_into`` to its survivor: the alert is linked there, the survivor takes the source's new alert facts and
reopens like any resolved incident when one fires, and the source row stays merged (no live event for it).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

import structlog
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from alertwhisperer.correlation import manual_merges, snapshot, store
from alertwhisperer.correlation.context import Tenant
from alertwhisperer.correlation.decision import Decision
from alertwhisperer.correlation.models import Incident, IncidentAlert
from alertwhisperer.correlation.rows import (
    apply_lifecycle,
    event_data,
    explanation_dict,
    incident_values,
    opening_values,
)
from alertwhisperer.correlation.state import TenantState
from alertwhisperer.correlation.store import build_tenant, clear_cache, load_assets, policy_of
from alertwhisperer.incidents import hooks
from alertwhisperer.incidents.models import ACTIVE_STATUSES, MERGED, RESOLVED
from alertwhisperer.ingest.models import Alert
from alertwhisperer.jobs import service as jobs
from alertwhisperer.jobs.models import Job
from alertwhisperer.jobs.worker import JobContext, PermanentError
from alertwhisperer.realtime.hub import Event, emit
from alertwhisperer.tenants.models import Asset, Company

log = structlog.get_logger(__name__)

RESOLVE_JOB = "incident.resolve_due"
__all__ = ["RESOLVE_JOB", "build_tenant", "clear_cache", "correlate_deliveries", "explanation_dict",
           "incident_values", "load_assets", "opening_values", "policy_of", "resolve_due", "resolve_due_job"]


# --- processing ------------------------------------------------------------------------------------------------
async def correlate_deliveries(session: AsyncSession, *, now: datetime, delivery_ids: Sequence[str],
                               reader: AsyncSession | None = None,
                               alerts: Sequence[Alert] | None = None) -> list[Decision]:
    """Correlate the not-yet-correlated alerts of these deliveries, in order; persist everything it decided.

    Idempotent: an alert that already has an outcome is skipped, so a retried inbox job changes nothing.

    With ``reader`` (``db.read_session``), the engine runs on what the reader saw *before* ``session``
    touches the database, and the write transaction only stores the decisions: on SQLite the write lock is
    then held for milliseconds, not for the whole computation, so webhooks keep committing during a storm.
    If another process correlated the same company in between (its log moved), the cached state is
    dropped and the company is redone inside the write transaction, as without a reader.
    ``alerts``: the deliveries' alert rows, already read through ``reader`` (else read here).
    """
    decisions: list[Decision] = []
    by_company = await _pending(reader or session, delivery_ids, alerts)
    for company_id, todo in by_company.items():
        async with store.lock(company_id):
            try:
                done = await _correlate_planned(session, reader, company_id, todo, now) if reader else None
                if done is None:
                    company = await session.get(Company, company_id)
                    if company is None:
                        continue
                    if reader is not None:  # the log moved: redo from the database, under the lock
                        store.forget(company_id)
                        todo = (await _pending(session, delivery_ids)).get(company_id, [])
                    done = await _correlate_company(session, company, todo, now)
                decisions += done
            except BaseException:
                store.forget(company_id)  # its state may hold work this transaction will not commit
                raise
    return decisions


async def _pending(session: AsyncSession, delivery_ids: Sequence[str],
                   rows: Sequence[Alert] | None = None) -> dict[str, list[Alert]]:
    """The deliveries' alerts without an outcome, per company, in acceptance order (``rows``: the deliveries'
    alerts as the caller already read them through ``session``)."""
    order = {d: i for i, d in enumerate(delivery_ids)}
    if rows is None:
        rows = (await session.execute(select(Alert).where(Alert.delivery_id.in_(list(delivery_ids)),
                                                          Alert.outcome.is_(None)))).scalars().all()
    by_company: dict[str, list[Alert]] = {}
    for row in sorted((r for r in rows if r.outcome is None), key=lambda r: (order[r.delivery_id], r.position)):
        by_company.setdefault(row.company_id, []).append(row)
    return by_company


async def _correlate_planned(session: AsyncSession, reader: AsyncSession, company_id: str, alerts: list[Alert],
                             now: datetime) -> list[Decision] | None:
    """Decide on the reader's snapshot, then store in ``session`` if the log has not moved (else None)."""
    company = await reader.get(Company, company_id)
    if company is None:
        return []
    entry = await store.checkout(reader, company, read_only=True)
    base = entry.state.calls
    decisions = [entry.correlate(row) for row in alerts]
    dump = snapshot.dump(entry.state) if store.snapshot_due(entry) else None  # not under the write lock
    if await store.claim(session, company_id) != base:
        return None
    await _persist(session, company_id, entry, alerts, decisions, now, bulk=True, snapshot_data=dump)
    return decisions


async def _correlate_company(session: AsyncSession, company: Company, alerts: list[Alert], now: datetime
                             ) -> list[Decision]:
    entry = await store.checkout(session, company)
    decisions = [entry.correlate(row) for row in alerts]
    await _persist(session, company.id, entry, alerts, decisions, now, bulk=False)
    return decisions


async def _persist(session: AsyncSession, company_id: str, entry: store.Entry, alerts: list[Alert],
                   decisions: list[Decision], now: datetime, *, bulk: bool,
                   snapshot_data: dict[str, Any] | None = None) -> None:
    """Store what was decided. ``bulk``: the alert rows belong to another session (UPDATE them by id)."""
    opened: dict[str, Decision] = {}
    touched: dict[str, None] = {}
    merged: dict[str, None] = {}
    for decision in decisions:
        if decision.kind == "new_incident" and decision.incident_id:
            opened[decision.incident_id] = decision
        touched.update(dict.fromkeys(decision.touched))
        if decision.incident_id:
            touched[decision.incident_id] = None
        merged.update(dict.fromkeys(decision.merged))
    state, tenant = entry.state, entry.tenant
    await _register_discovered(session, company_id, decisions, now)
    survivors = await _write_incidents(session, company_id, tenant, state, opened, list(touched), list(merged), now,
                                       decisions=decisions)
    await _write_alerts(session, company_id, state, alerts, decisions, survivors, bulk=bulk)
    await _schedule_holds(session, company_id, state, decisions, now)
    await store.save(session, entry, now, data=snapshot_data)


async def _register_discovered(session: AsyncSession, company_id: str, decisions: Iterable[Decision],
                               now: datetime) -> None:
    names = sorted({d.asset.key.removeprefix("discovered:") for d in decisions
                    if d.asset.discovered and d.asset.key.startswith("discovered:")})
    if not names:
        return
    taken = set((await session.execute(select(Asset.name).where(Asset.company_id == company_id,
                                                                Asset.name.in_(names)))).scalars())
    for name in names:
        if name not in taken and len(name) <= 255:
            session.add(Asset(company_id=company_id, name=name, discovered=True, created_at=now, updated_at=now))
    await session.flush()


async def _write_incidents(session: AsyncSession, company_id: str, tenant: Tenant, state: TenantState,
                           opened: dict[str, Decision], touched: list[str], merged: list[str], now: datetime,
                           *, decisions: Sequence[Decision] = ()) -> dict[str, str]:
    """Write the incidents these decisions touched; returns incidents merged by hand -> their survivors' ids."""
    ids = list(dict.fromkeys([*touched, *merged]))
    existing = {r.id: r for r in (await session.execute(
        select(Incident).where(Incident.id.in_(ids), Incident.company_id == company_id))).scalars()} if ids else {}
    # merged by hand: the row says merged while the state still has it as its own incident
    by_hand = [i for i in ids if existing.get(i) is not None and existing[i].status == MERGED
               and state.canonical(i) == i]
    known = dict(existing)
    found = await manual_merges.survivors(session, company_id, known, by_hand) if by_hand else {}
    folded: dict[str, Incident] = {}  # folded by correlation in this batch
    for incident_id in ids:
        row = existing.get(incident_id)
        canonical = state.canonical(incident_id)
        if canonical != incident_id:  # folded into another incident
            end = found.get(canonical)  # (folded into one merged by hand: into its survivor, unless it is this one)
            if row is not None and row.status != MERGED and row is not end:  # (merged by hand: keeps its survivor)
                row.status, row.merged_into, row.updated_at = MERGED, end.id if end else canonical, now
                emit(session, Event("incident.updated", company_id, event_data(row)))
                folded[incident_id] = row
            continue
        incident = state.incidents.get(incident_id)
        if incident is None or incident_id in by_hand:
            continue
        values = incident_values(incident, tenant=tenant, now=now)
        if row is None:
            opening = opened.get(incident_id)
            if opening is None:  # unknown to the database (should not happen): describe it from its state
                values |= {"symptom": sorted(incident.symptoms)[0] if incident.symptoms else "other",
                           "title": f"incident on {values['root_asset_name']}", "key": incident.key[:600],
                           "explanation": {}}
            else:
                values |= opening_values(opening)
            row = Incident(id=incident_id, company_id=company_id, created_at=now, updated_at=now, **values)
            session.add(row)
            emit(session, Event("incident.created", company_id, event_data(row)))
            await hooks.notify(session, company_id=company_id, incident_id=incident_id, event=hooks.OPENED, now=now)
            continue
        kind = await apply_lifecycle(session, row, values, now)
        emit(session, Event(kind, company_id, event_data(row)))
    if any(end.id in folded for end in found.values()):  # a survivor was folded just now: follow it further
        found = await manual_merges.survivors(session, company_id, known, by_hand)
    survivors = (await manual_merges.carry_over(session, company_id, tenant, state, found, decisions, folded, now)
                 if found else {})
    await session.flush()
    if merged:
        pairs = {m: state.canonical(m) for m in merged}
        for old, new in pairs.items():
            new = survivors.get(new, new)
            if new == old:  # kept as the survivor of a manual merge
                continue
            await session.execute(update(Alert).where(Alert.company_id == company_id, Alert.incident_id == old)
                                  .values(incident_id=new).execution_options(synchronize_session=False))
            await session.execute(update(IncidentAlert).where(IncidentAlert.incident_id == old)
                                  .values(incident_id=new).execution_options(synchronize_session=False))
    return survivors


async def _write_alerts(session: AsyncSession, company_id: str, state: TenantState, alerts: list[Alert],
                        decisions: list[Decision], survivors: dict[str, str], *, bulk: bool = False) -> None:
    """Each alert's outcome and its link to its incident (``survivors``: merged by hand -> where it lives on)."""
    updates: list[dict[str, Any]] = []
    for row, decision in zip(alerts, decisions, strict=True):
        incident_id = state.canonical(decision.incident_id) if decision.incident_id else None
        if incident_id is not None:
            incident_id = survivors.get(incident_id, incident_id)
        row.outcome, row.incident_id, row.decision_reason = decision.outcome, incident_id, decision.reason
        if bulk:
            updates.append({"id": row.id, "outcome": row.outcome, "incident_id": incident_id,
                            "decision_reason": row.decision_reason, "correlation_seq": row.correlation_seq,
                            "opened_incident_id": row.opened_incident_id})
        if incident_id is not None:
            session.add(IncidentAlert(incident_id=incident_id, alert_id=row.id, company_id=company_id,
                                      kind=decision.kind, reason=decision.reason,
                                      explanation=explanation_dict(decision.explanation), joined_at=row.received_at))
    if updates:
        await session.execute(update(Alert), updates)
    await session.flush()


async def _schedule_holds(session: AsyncSession, company_id: str, state: TenantState, decisions: list[Decision],
                          now: datetime) -> None:
    holds: dict[str, datetime] = {}
    for decision in decisions:
        if decision.resolves_at is not None and decision.incident_id and not decision.incident_resolved:
            holds[state.canonical(decision.incident_id)] = decision.resolves_at
    for incident_id, due in holds.items():
        await jobs.enqueue(session, kind=RESOLVE_JOB, now=now, company_id=company_id, due_at=due,
                           payload={"company_id": company_id, "incident_id": incident_id},
                           dedup_key=f"{RESOLVE_JOB}:{incident_id}:{int(due.timestamp())}")


async def resolve_due(session: AsyncSession, *, now: datetime, company_id: str, incident_id: str) -> bool:
    """A resolve hold ran out: mark the incident resolved unless something fired since. True when it did."""
    company = await session.get(Company, company_id)
    if company is None:
        return False
    async with store.lock(company_id):
        entry = await store.checkout(session, company)
        canonical = entry.state.canonical(incident_id)
        incident = entry.state.incidents.get(canonical)
        row = await session.get(Incident, canonical)
        if row is None or row.company_id != company_id or row.status not in ACTIVE_STATUSES:
            return False
        if incident is not None and incident.status_at(now) != "resolved":
            return False  # fired again, or the hold moved (its own job is scheduled)
        if incident is not None:
            await apply_lifecycle(session, row, incident_values(incident, tenant=entry.tenant, now=now), now)
        else:  # pruned from the state: it resolved long ago
            row.status, row.resolution_kind, row.resolved_at = RESOLVED, "auto", row.resolves_at or now
            row.updated_at = now
            await hooks.notify(session, company_id=company_id, incident_id=row.id, event=hooks.AUTO_RESOLVED,
                               now=now)
        emit(session, Event("incident.resolved", company_id, event_data(row)))
        await session.flush()
        return True


async def resolve_due_job(ctx: JobContext, job: Job) -> None:
    """The ``incident.resolve_due`` job handler."""
    company_id, incident_id = job.payload.get("company_id"), job.payload.get("incident_id")
    if not isinstance(company_id, str) or not isinstance(incident_id, str):
        raise PermanentError("resolve job without company_id/incident_id")
    await resolve_due(ctx.session, now=ctx.clock.now(), company_id=company_id, incident_id=incident_id)
