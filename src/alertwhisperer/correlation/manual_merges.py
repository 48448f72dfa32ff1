"""Incidents merged by hand (``incidents.merging``): following ``merged_into`` to the surviving incident.

Correlation's state does not learn of a manual merge, so ``correlation.service`` asks here where an incident it
still groups alerts into lives on."""

from __future__ import annotations

import structlog
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from alertwhisperer.correlation.models import Incident
from alertwhisperer.incidents.models import MERGED

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
