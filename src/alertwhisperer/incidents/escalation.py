"""What an SLA warning, a breach and each escalation level do (called by ``incidents.sla``'s job handlers, in the
job's transaction, after they checked that the timer still applies).

Level 1 notifies the assignee (auto-assigning first when nobody has the incident), level 2 the on-call technician
for the incident's category (or the company's named secondary), level 3 the company's admins, level 4 the MSP
admins. Each level is its own durable job, due at the breach plus its wait, enqueued by the level before it with a
dedup key (incident, chain, level, SLA cycle): it fires once, and not at all once the condition is gone.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from alertwhisperer.audit import service as audit
from alertwhisperer.auth.models import Membership, User
from alertwhisperer.auth.principal import Role
from alertwhisperer.clock import Clock
from alertwhisperer.correlation.models import Incident
from alertwhisperer.correlation.rows import event_data
from alertwhisperer.incidents import timeline
from alertwhisperer.incidents.autoassign import system_assign
from alertwhisperer.incidents.sla_policy import Chain, SlaPolicy
from alertwhisperer.incidents.sla_service import eligible_secondaries, policy_for
from alertwhisperer.jobs import service as jobs
from alertwhisperer.realtime.hub import Event, emit

ESCALATE_JOB = "sla.escalate"
ACTOR = "SLA"  # the timeline's actor name for what the SLA timers do
WHAT = {"response": "response", "resolution": "resolution"}


def level_key(incident_id: str, chain: str, level: int, started: datetime) -> str:
    return f"sla:{incident_id}:{chain}_level{level}:{started.isoformat()}"


def _minutes(delta: timedelta) -> str:
    total = max(0, round(delta.total_seconds() / 60))
    hours, minutes = divmod(total, 60)
    if hours and minutes:
        return f"{hours} h {minutes} min"
    return f"{hours} h" if hours else f"{minutes} min"


def _due(incident: Incident, chain: Chain) -> datetime:
    due = incident.response_due_at if chain == "response" else incident.resolution_due_at
    assert due is not None
    return due


async def _users(session: AsyncSession, user_ids: list[str]) -> list[User]:
    if not user_ids:
        return []
    rows = (await session.execute(select(User).where(User.id.in_(user_ids), User.is_active.is_(True)))).scalars()
    by_id = {u.id: u for u in rows}
    return [by_id[i] for i in dict.fromkeys(user_ids) if i in by_id]


async def _on_call(session: AsyncSession, incident: Incident, now: datetime, exclude: set[str]) -> list[str]:
    from alertwhisperer.incidents import oncall

    found = await oncall.on_call_now(session, company_id=incident.company_id, category=incident.category or None,
                                     at=now)
    return [o.user_id for o in found if o.user_id not in exclude][:1]


async def _notify(session: AsyncSession, *, clock: Clock, kind: str, users: list[User], incident: Incident,
                  title: str, body: str, context: dict[str, Any]) -> None:
    if not users:
        return
    from alertwhisperer.notify import service as notify_service

    await notify_service.notify(session, clock=clock, kind=kind, user_ids=[u.id for u in users], title=title,
                                body=body, severity=incident.severity, incident=incident,
                                company_id=incident.company_id, url=f"/incidents/{incident.id}", context=context)


def _names(users: list[User]) -> str:
    return ", ".join(u.name or u.email for u in users) or "nobody"


# --- warning ---------------------------------------------------------------------------------------------------
async def warn(session: AsyncSession, *, clock: Clock, incident: Incident, chain: Chain) -> None:
    """Tell the assignee (or, unassigned, the on-call technician for the category) that a deadline is near."""
    now = clock.now()
    due = _due(incident, chain)
    ids = [incident.assignee_id] if incident.assignee_id else await _on_call(session, incident, now, set())
    users = await _users(session, ids)
    verb = "acknowledged" if chain == "response" else "resolved"
    body = (f"The {WHAT[chain]} deadline is in {_minutes(due - now)} (at {due:%H:%M} UTC); "
            f"the incident is not {verb} yet.")
    await timeline.record(session, incident=incident, kind="sla_warning", now=now, actor_name=ACTOR,
                          body=f"{body} Warned: {_names(users)}.",
                          data={"chain": chain, "due": due.isoformat(), "notified": [u.id for u in users]})
    await _notify(session, clock=clock, kind="sla_warning", users=users, incident=incident,
                  title=f"SLA warning: {incident.title}", body=body,
                  context={"chain": chain, "due": due.isoformat()})


# --- breach ----------------------------------------------------------------------------------------------------
async def breach(session: AsyncSession, *, clock: Clock, incident: Incident, chain: Chain) -> None:
    """The deadline passed with the condition still holding: mark it, record it, start the escalation chain."""
    now = clock.now()
    due = _due(incident, chain)
    if chain == "response":
        incident.response_breached_at = due
    else:
        incident.resolution_breached_at = due
    incident.updated_at = now
    late = "nobody acknowledged it" if chain == "response" else "it is not resolved"
    await timeline.record(session, incident=incident, kind="sla_breach", now=now, actor_name=ACTOR,
                          body=f"The {WHAT[chain]} SLA was breached at {due:%Y-%m-%d %H:%M} UTC: {late}.",
                          data={"chain": chain, "due": due.isoformat()})
    await audit.record(session, clock=clock, action="incident.sla_breached", actor=None,
                       company_id=incident.company_id, target_type="incident", target_id=incident.id,
                       details={"chain": chain, "due": due.isoformat(), "title": incident.title[:200],
                                "severity": incident.severity})
    emit(session, Event("incident.updated", incident.company_id, event_data(incident)))
    policy = await policy_for(session, incident.company_id)
    await _next(session, incident=incident, chain=chain, level=1, policy=policy, now=now, clock=clock)


async def _next(session: AsyncSession, *, incident: Incident, chain: Chain, level: int, policy: SlaPolicy,
                now: datetime, clock: Clock) -> None:
    """Run or schedule ``level``: level 1 with no wait runs now, in the breach's transaction; others are jobs."""
    if level > policy.escalation.max_level:
        return
    due_at = _due(incident, chain) + timedelta(minutes=policy.escalation.wait(level))
    if level == 1 and policy.escalation.wait(1) == 0:
        await escalate(session, clock=clock, incident=incident, chain=chain, level=1, policy=policy)
        return
    assert incident.sla_started_at is not None
    await jobs.enqueue(session, kind=ESCALATE_JOB, now=now, company_id=incident.company_id, due_at=due_at,
                       dedup_key=level_key(incident.id, chain, level, incident.sla_started_at),
                       payload={"incident_id": incident.id, "chain": chain, "level": level,
                                "sla_started_at": incident.sla_started_at.isoformat()})


# --- escalation levels -----------------------------------------------------------------------------------------
async def _auto_assign(session: AsyncSession, *, clock: Clock, incident: Incident) -> None:
    await system_assign(session, clock=clock, incident=incident, by="sla_escalation", actor_name=ACTOR)


async def recipients(session: AsyncSession, *, clock: Clock, incident: Incident, level: int,
                     policy: SlaPolicy) -> list[User]:
    """Who ``level`` notifies (active users only)."""
    now = clock.now()
    if level == 1:
        if incident.assignee_id is None:
            await _auto_assign(session, clock=clock, incident=incident)
        return await _users(session, [incident.assignee_id] if incident.assignee_id else [])
    if level == 2:
        secondary = policy.escalation.secondary_user_id
        if secondary and secondary in {u.id for u in await eligible_secondaries(session,
                                                                                company_id=incident.company_id)}:
            return await _users(session, [secondary])
        exclude = {incident.assignee_id} if incident.assignee_id else set()
        return await _users(session, await _on_call(session, incident, now, exclude))
    if level == 3:
        members = select(Membership.user_id).where(Membership.company_id == incident.company_id)
        stmt = select(User.id).where(User.role == Role.COMPANY_ADMIN.value, User.id.in_(members))
    else:
        stmt = select(User.id).where(User.role == Role.MSP_ADMIN.value)
    ids = list((await session.execute(stmt.order_by(User.email))).scalars())
    return await _users(session, ids)


async def escalate(session: AsyncSession, *, clock: Clock, incident: Incident, chain: Chain, level: int,
                   policy: SlaPolicy | None = None) -> None:
    """Notify ``level`` about the breached ``chain``, record it everywhere, and schedule the next level."""
    now = clock.now()
    policy = policy or await policy_for(session, incident.company_id)
    users = await recipients(session, clock=clock, incident=incident, level=level, policy=policy)
    incident.escalation_level = max(incident.escalation_level or 0, level)
    incident.escalated_at = incident.updated_at = now
    due = _due(incident, chain)
    late = _minutes(now - due)
    who = _names(users)
    body = (f"Escalation level {level} ({WHAT[chain]} SLA breached {late} ago): notified {who}."
            if users else f"Escalation level {level} ({WHAT[chain]} SLA breached {late} ago): nobody to notify "
                          f"at this level.")
    notified = [{"id": u.id, "name": u.name or u.email} for u in users]
    await timeline.record(session, incident=incident, kind="escalation", now=now, actor_name=ACTOR, body=body,
                          data={"chain": chain, "level": level, "notified": notified})
    await audit.record(session, clock=clock, action="incident.escalated", actor=None, company_id=incident.company_id,
                       target_type="incident", target_id=incident.id,
                       details={"chain": chain, "level": level, "notified": [u.id for u in users]})
    emit(session, Event("incident.updated", incident.company_id, event_data(incident)))
    await _notify(session, clock=clock, kind="escalation", users=users, incident=incident,
                  title=f"Escalated (level {level}): {incident.title}",
                  body=f"The {WHAT[chain]} SLA of this {incident.severity} incident was breached {late} ago.",
                  context={"chain": chain, "level": level, "due": due.isoformat()})
    await _next(session, incident=incident, chain=chain, level=level + 1, policy=policy, now=now, clock=clock)
