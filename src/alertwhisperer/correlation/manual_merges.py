"""Incidents merged by hand (``incidents.merging``): following ``merged_into`` to the surviving incident.

Correlation's state does not learn of a manual merge, so ``correlation.service`` asks here where an incident it
still groups alerts into lives on."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import structlog
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from alertwhisperer.correlation.context import Tenant
from alertwhisperer.correlation.decision import Decision
from alertwhisperer.correlation.models import Incident
from alertwhisperer.correlation.priority import max_severity
from alertwhisperer.correlation.rows import event_data, incident_values, reopen_if_fired
from alertwhisperer.correlation.state import TenantState
from alertwhisperer.incidents.models import MERGED, RESOLVED
from alertwhisperer.realtime.hub import Event, emit

log = structlog.get_logger(__name__)

_MAX_CHAIN = 50


def chain_end(known: dict[str, Incident], absent: set[str], start: str) -> Incident | str | None:
    """The survivor at the end of ``start``'s ``merged_into`` chain, the next id to load, or None (the chain
    breaks, loops or leaves the company)."""
    row, seen = known[start], {start}
    while row.status == MERGED and row.merged_into:
        nxt = row.merged_into
        if nxt in seen or nxt in absent or len(seen) > _MAX_CHAIN:
            return None
        if nxt not in known:
            return nxt
        row = known[nxt]
        seen.add(nxt)
    return None if row.status == MERGED else row


async def survivors(session: AsyncSession, company_id: str, known: dict[str, Incident], starts: list[str]
                     ) -> dict[str, Incident]:
    """Each incident merged by hand -> its surviving row (one query per chain link not yet loaded)."""
    found: dict[str, Incident] = {}
    absent: set[str] = set()
    pending = starts
    while pending:
        ends = {start: chain_end(known, absent, start) for start in pending}
        found.update({start: end for start, end in ends.items() if isinstance(end, Incident)})
        for start in (start for start, end in ends.items() if end is None):
            log.warning("correlation.merged_chain_broken", company_id=company_id, incident_id=start)
        wanted = {end for end in ends.values() if isinstance(end, str)}
        if wanted:
            known.update({r.id: r for r in (await session.execute(select(Incident).where(
                Incident.id.in_(sorted(wanted)), Incident.company_id == company_id))).scalars()})
            absent |= wanted - known.keys()
        pending = [start for start, end in ends.items() if isinstance(end, str)]
    return found


async def carry_over(session: AsyncSession, company_id: str, tenant: Tenant, state: TenantState,
                      found: dict[str, Incident], decisions: Sequence[Decision], folded: dict[str, Incident],
                      now: datetime) -> dict[str, str]:
    """What correlation grouped into incidents merged by hand goes to their survivors; returns source -> survivor.

    The source row is left as it is. The survivor counts what arrived (a new alert: one more alert; a repeat or a
    re-fire: one more repeat; an incident correlation folded into the source: its counts), takes the source's later
    ``last_seen``, worse severity, higher priority, tools/symptoms/assets, and reopens like ``rows.apply_lifecycle``
    reopens a resolved incident when an alert joins or fires again after it was resolved. It never resolves
    because the source's alerts cleared (it resolves with its own alerts, or by hand).
    """
    arrived = {source_id: [0, 0, 0] for source_id in found}  # source -> [new alerts, repeats, fired (0/1)]
    for decision in decisions:
        counts = arrived.get(state.canonical(decision.incident_id)) if decision.incident_id else None
        if counts is None or decision.status == "resolved":
            continue
        alert = state.alerts.get(decision.identity)  # a new alert's state is named after this notification
        new = decision.kind in ("new_incident", "correlated") and alert is not None \
            and alert.alert_id == decision.alert_id
        counts[0 if new else 1] += 1
        if decision.kind != "duplicate":  # joined or fired again (a repeat is not new activity)
            counts[2] = 1
        for row in filter(None, map(folded.get, decision.merged)):  # its alerts move to the survivor too
            counts[0] += row.alert_count
            counts[1] += row.duplicate_count
    for source_id, survivor in found.items():
        new_alerts, repeats, fired = arrived[source_id]
        survivor.alert_count += new_alerts
        survivor.duplicate_count += repeats
        survivor.updated_at = now
        incident = state.incidents.get(source_id)
        if incident is None:  # forgotten by the state (e.g. a repeated resolve): only the link moves
            continue
        values = incident_values(incident, tenant=tenant, now=now)
        survivor.first_seen = min(survivor.first_seen, values["first_seen"])
        survivor.last_seen = max(survivor.last_seen, values["last_seen"])
        survivor.severity = max_severity(survivor.severity, values["severity"])
        if values["priority"] > survivor.priority:
            survivor.priority, survivor.priority_breakdown = values["priority"], values["priority_breakdown"]
        for name in ("tools", "symptoms", "asset_keys"):
            setattr(survivor, name, sorted({*getattr(survivor, name), *values[name]}))
        survivor.flapping = survivor.flapping or values["flapping"]
        if fired:
            await reopen_if_fired(session, survivor, auto_resolved=values["status"] == RESOLVED, now=now)
    for survivor in {s.id: s for s in found.values()}.values():
        emit(session, Event("incident.updated", company_id, event_data(survivor)))
    return {source_id: survivor.id for source_id, survivor in found.items()}
