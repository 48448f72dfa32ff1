"""The incident lifecycle as people drive it: acknowledge, start work, resolve, close, reopen, notes, assignment,
bulk actions, merge and split.

Statuses move new → acknowledged → in_progress → resolved → closed (reopen: resolved/closed → new). A wrong move
is a ``Conflict`` naming the current and the wanted status; repeating a move that already happened (acknowledging
an acknowledged incident) changes nothing and is not an error. Every change is audited (``incident.<verb>``), on
the incident's timeline and announced live (``incident.updated``) in the caller's transaction, and tells the SLA
timers (``incidents.sla``): acknowledge → ``on_acknowledged``, resolve/close/merge → ``stop``, reopen → ``start``.

Correlation interplay (``correlation.rows.apply_lifecycle``): correlation resolves an *active* incident by
itself when its alerts clear, and reopens a resolved or closed one when one of its alerts fires after
``resolved_at``. A manual resolve does not touch correlation's in-memory state: if the tool reports the alert
again, the incident reopens.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from alertwhisperer.auth.principal import Principal
from alertwhisperer.clock import Clock
from alertwhisperer.correlation.models import Incident
from alertwhisperer.errors import Conflict, DomainError, Invalid
from alertwhisperer.incidents import changes
from alertwhisperer.incidents.changes import sla_hook
from alertwhisperer.incidents.merging import merge, split
from alertwhisperer.incidents.models import ACKNOWLEDGED, ACTIVE_STATUSES, CLOSED, IN_PROGRESS, NEW, RESOLVED
from alertwhisperer.incidents.reassign import assign, assign_user, auto_assign, eligible_assignees

__all__ = ["BULK_ACTIONS", "MAX_BULK", "MAX_NOTE", "BulkResult", "acknowledge", "add_note", "assign", "auto_assign",
           "bulk", "close", "eligible_assignees", "merge", "reopen", "resolve", "split", "start_work"]

MAX_NOTE = 10_000
MAX_BULK = 200
BULK_ACTIONS = ("acknowledge", "resolve", "assign")


def _refuse(incident: Incident, wanted: str, hint: str = "") -> Conflict:
    return Conflict(f"incident is {incident.status.replace('_', ' ')}; it cannot become {wanted.replace('_', ' ')}"
                    + (f" ({hint})" if hint else ""), details={"status": incident.status, "wanted": wanted})


async def _acknowledge(session: AsyncSession, *, actor: Principal, clock: Clock, incident: Incident) -> None:
    now = clock.now()
    first = incident.acknowledged_at is None
    if first:
        incident.acknowledged_at = now
    took_it = incident.assignee_id is None
    if took_it:
        await assign_user(session, actor=actor, clock=clock, incident=incident, user_id=actor.user_id,
                          reason="took it by acknowledging", notify_user=False)
    incident.status = ACKNOWLEDGED
    await changes.record(session, actor=actor, clock=clock, incident=incident, action="acknowledged", kind="status",
                         body="Acknowledged", data={"from": NEW, "to": ACKNOWLEDGED, "first_response": first})
    await sla_hook("on_acknowledged", session, incident, now)


async def acknowledge(session: AsyncSession, *, actor: Principal, clock: Clock, incident_id: str) -> Incident:
    """new → acknowledged (the SLA response; ``acknowledged_at`` is set once). The acknowledger becomes the
    assignee when nobody is. Acknowledged or in progress already: no change."""
    incident = await changes.load(session, actor=actor, incident_id=incident_id)
    if incident.status in (ACKNOWLEDGED, IN_PROGRESS):
        return incident
    if incident.status != NEW:
        raise _refuse(incident, ACKNOWLEDGED, "reopen it first")
    await _acknowledge(session, actor=actor, clock=clock, incident=incident)
    return incident


async def start_work(session: AsyncSession, *, actor: Principal, clock: Clock, incident_id: str) -> Incident:
    """new/acknowledged → in_progress (acknowledging first when new). In progress already: no change."""
    incident = await changes.load(session, actor=actor, incident_id=incident_id)
    if incident.status == IN_PROGRESS:
        return incident
    if incident.status not in (NEW, ACKNOWLEDGED):
        raise _refuse(incident, IN_PROGRESS, "reopen it first")
    if incident.status == NEW:
        await _acknowledge(session, actor=actor, clock=clock, incident=incident)
    incident.status, incident.started_at = IN_PROGRESS, clock.now()
    await changes.record(session, actor=actor, clock=clock, incident=incident, action="started", kind="status",
                         body="Work started", data={"from": ACKNOWLEDGED, "to": IN_PROGRESS})
    return incident


def _note(note: str | None, *, required: bool) -> str:
    text = (note or "").strip()
    if required and not text:
        raise Invalid("write a note (1 to 10,000 characters)", field="body")
    if len(text) > MAX_NOTE:
        raise Invalid(f"a note has at most {MAX_NOTE:,} characters ({len(text):,} given)", field="body")
    return text


def mark_resolved(incident: Incident, *, kind: str, now: datetime) -> None:
    """The resolution columns of an active incident resolved now (``kind``: manual | self_healed); resolving is a
    response too. The caller records it (audit, timeline, live event) and stops the SLA timers."""
    incident.status, incident.resolution_kind, incident.resolved_at = RESOLVED, kind, now
    incident.time_to_resolve_seconds = max((now - incident.first_seen).total_seconds(), 0.0)
    if incident.acknowledged_at is None:
        incident.acknowledged_at = now


async def resolve(session: AsyncSession, *, actor: Principal, clock: Clock, incident_id: str,
                  note: str | None = None) -> Incident:
    """An active incident → resolved by hand (``resolution_kind`` manual), with an optional note. Resolved
    already: no change; closed: ``Conflict``."""
    incident = await changes.load(session, actor=actor, incident_id=incident_id)
    text = _note(note, required=False)
    if incident.status == RESOLVED:
        return incident
    if incident.status not in ACTIVE_STATUSES:
        raise _refuse(incident, RESOLVED)
    now = clock.now()
    before = incident.status
    mark_resolved(incident, kind="manual", now=now)
    await changes.record(session, actor=actor, clock=clock, incident=incident, action="resolved", kind="status",
                         body=text or "Resolved", data={"from": before, "to": RESOLVED, "note": bool(text)},
                         audit_details={"from": before, "to": RESOLVED, "note": text[:500]})
    await sla_hook("stop", session, incident, now)
    return incident


async def close(session: AsyncSession, *, actor: Principal, clock: Clock, incident_id: str) -> Incident:
    """resolved → closed. Closed already: no change; any other status: ``Conflict`` (resolve it first)."""
    incident = await changes.load(session, actor=actor, incident_id=incident_id)
    if incident.status == CLOSED:
        return incident
    if incident.status != RESOLVED:
        raise _refuse(incident, CLOSED, "resolve it first")
    now = clock.now()
    incident.status, incident.closed_at = CLOSED, now
    await changes.record(session, actor=actor, clock=clock, incident=incident, action="closed", kind="status",
                         body="Closed", data={"from": RESOLVED, "to": CLOSED})
    await sla_hook("stop", session, incident, now)
    return incident


async def reopen(session: AsyncSession, *, actor: Principal, clock: Clock, incident_id: str,
                 note: str | None = None) -> Incident:
    """resolved/closed → new: the resolution is cleared and the SLA restarts. Open already: no change."""
    incident = await changes.load(session, actor=actor, incident_id=incident_id)
    text = _note(note, required=False)
    if incident.status in ACTIVE_STATUSES:
        return incident
    before = incident.status
    now = clock.now()
    incident.status, incident.resolution_kind, incident.closed_at = NEW, "", None
    incident.resolved_at = incident.time_to_resolve_seconds = None
    incident.started_at = None
    await changes.record(session, actor=actor, clock=clock, incident=incident, action="reopened", kind="status",
                         body=text or "Reopened", data={"from": before, "to": NEW},
                         audit_details={"from": before, "to": NEW, "note": text[:500]})
    await sla_hook("start", session, incident, now)
    return incident


async def add_note(session: AsyncSession, *, actor: Principal, clock: Clock, incident_id: str, body: str) -> Incident:
    """A note on the timeline (1 to 10,000 characters), on an incident of any status but merged."""
    incident = await changes.load(session, actor=actor, incident_id=incident_id)
    text = _note(body, required=True)
    await changes.record(session, actor=actor, clock=clock, incident=incident, action="note_added", kind="note",
                         body=text, data={"length": len(text)}, audit_details={"note": text[:500]})
    return incident


# --- bulk ------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class BulkResult:
    incident_id: str
    ok: bool
    error: str = ""
    status: str = ""  # the incident's status afterwards (ok only)


async def bulk(session: AsyncSession, *, actor: Principal, clock: Clock, action: str, incident_ids: Sequence[str],
               user_id: str | None = None, note: str | None = None) -> list[BulkResult]:
    """``action`` (acknowledge | resolve | assign) on each incident by itself: one that fails (out of scope,
    wrong status, ...) is reported and rolled back alone, the others go through. At most 200 ids."""
    if action not in BULK_ACTIONS:
        raise Invalid(f"action must be one of {', '.join(BULK_ACTIONS)}", field="action")
    ids = list(dict.fromkeys(i.strip() for i in incident_ids if i and i.strip()))
    if not ids:
        raise Invalid("choose at least one incident", field="incident_ids")
    if len(ids) > MAX_BULK:
        raise Invalid(f"at most {MAX_BULK} incidents at a time ({len(ids)} given)", field="incident_ids")
    out: list[BulkResult] = []
    for incident_id in ids:
        pending: list[Any] = session.info.setdefault("pending_events", [])
        mark = len(pending)
        try:
            async with session.begin_nested():
                incident = await _bulk_one(session, actor=actor, clock=clock, action=action,
                                           incident_id=incident_id, user_id=user_id, note=note)
            out.append(BulkResult(incident_id, True, status=incident.status))
        except DomainError as exc:
            del session.info.setdefault("pending_events", [])[mark:]  # its live events never happened
            out.append(BulkResult(incident_id, False, error=exc.message))
    return out


async def _bulk_one(session: AsyncSession, *, actor: Principal, clock: Clock, action: str, incident_id: str,
                    user_id: str | None, note: str | None) -> Incident:
    if action == "acknowledge":
        return await acknowledge(session, actor=actor, clock=clock, incident_id=incident_id)
    if action == "resolve":
        return await resolve(session, actor=actor, clock=clock, incident_id=incident_id, note=note)
    return await assign(session, actor=actor, clock=clock, incident_id=incident_id, user_id=user_id)
