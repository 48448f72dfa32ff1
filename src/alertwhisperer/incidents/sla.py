"""SLA timers: deadlines on the incident, warnings and breaches as durable scheduled jobs.

``start`` (incident opened or reopened) sets ``sla_started_at`` and the deadlines from the company's policy and
enqueues four jobs (response warning and breach, resolution warning and breach) whose dedup keys hold the incident
id, the timer and ``sla_started_at``: a repeated start is a no-op, a reopen starts fresh timers, and a key fires
once cluster-wide. The handlers re-read (and lock) the incident in the job's own session and do nothing when the
timer no longer applies — acknowledged (response), resolved/closed/merged (both), or a newer SLA cycle started (a
stale timer) — so a late, repeated or raced job never fires wrongly; ``on_acknowledged`` and ``stop`` also cancel
the pending jobs by key, which only saves the work. Their effects (timeline, audit, notifications, escalation
jobs) commit together with the job's completion: exactly once, also across restarts and several workers.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import structlog
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from alertwhisperer.correlation.models import Incident
from alertwhisperer.db import new_id
from alertwhisperer.incidents import escalation
from alertwhisperer.incidents.models import ACTIVE_STATUSES, NEW
from alertwhisperer.incidents.sla_countdown import sla_status
from alertwhisperer.incidents.sla_policy import LEVELS, Chain, deadlines, warning_lead
from alertwhisperer.incidents.sla_service import policy_for
from alertwhisperer.jobs import service as jobs
from alertwhisperer.jobs.models import Job
from alertwhisperer.jobs.worker import JobContext, PermanentError, Registry

__all__ = ["ESCALATE_JOB", "TIMER_JOB", "on_acknowledged", "register", "sla_status", "start", "status_for", "stop"]

log = structlog.get_logger(__name__)

TIMER_JOB = "sla.timer"
ESCALATE_JOB = escalation.ESCALATE_JOB
CHAINS: tuple[Chain, ...] = ("response", "resolution")
TIMERS: tuple[str, ...] = ("response_warning", "response_breach", "resolution_warning", "resolution_breach")


def timer_key(incident_id: str, timer: str, started: datetime) -> str:
    return f"sla:{incident_id}:{timer}:{started.isoformat()}"


def _due(incident: Incident, chain: str) -> datetime | None:
    return incident.response_due_at if chain == "response" else incident.resolution_due_at


def pending(incident: Incident, chain: str) -> bool:
    """Whether the chain's condition still holds: nobody has responded yet (response) / not resolved yet."""
    if chain == "response":
        return incident.status == NEW
    return incident.status in ACTIVE_STATUSES


def current(incident: Incident, started_iso: str) -> bool:
    """The job belongs to the incident's current SLA cycle (else a reopen made it stale)."""
    return incident.sla_started_at is not None and incident.sla_started_at == datetime.fromisoformat(started_iso)


# --- hooks (called by the lifecycle) ---------------------------------------------------------------------------
async def start(session: AsyncSession, *, incident: Incident, now: datetime) -> None:
    """The incident opened or reopened: a fresh SLA cycle from ``now`` with the company's current targets."""
    if incident.sla_started_at == now:
        return  # the same start again
    policy = await policy_for(session, incident.company_id)
    response_due, resolution_due = deadlines(policy, incident.severity, now)
    incident.sla_started_at = now
    incident.response_due_at, incident.resolution_due_at = response_due, resolution_due
    incident.response_breached_at = incident.resolution_breached_at = None
    incident.escalation_level, incident.escalated_at = 0, None
    await session.flush()
    target = policy.target(incident.severity)
    timers: list[Job] = []
    for chain, due, minutes in (("response", response_due, target.response_minutes),
                                ("resolution", resolution_due, target.resolution_minutes)):
        if due is None or minutes is None:
            continue
        lead = warning_lead(minutes, policy.warning_minutes)
        if lead is not None:
            timers.append(_timer(incident, f"{chain}_warning", due - lead, now))
        timers.append(_timer(incident, f"{chain}_breach", due, now))
    await jobs.enqueue_keyed(session, timers)  # one statement for the cycle's timers


def _timer(incident: Incident, timer: str, due_at: datetime, now: datetime) -> Job:
    assert incident.sla_started_at is not None
    return Job(id=new_id(), kind=TIMER_JOB, company_id=incident.company_id, due_at=due_at, created_at=now,
               dedup_key=timer_key(incident.id, timer, incident.sla_started_at), max_attempts=8,
               payload={"incident_id": incident.id, "timer": timer,
                        "sla_started_at": incident.sla_started_at.isoformat()})


async def _cancel(session: AsyncSession, incident: Incident, chains: tuple[Chain, ...], now: datetime) -> None:
    started = incident.sla_started_at
    if started is None:
        return
    keys = [timer_key(incident.id, f"{chain}_{what}", started) for chain in chains for what in ("warning", "breach")]
    keys += [escalation.level_key(incident.id, chain, level, started) for chain in chains for level in LEVELS]
    await jobs.cancel_many(session, dedup_keys=keys, now=now)


async def on_acknowledged(session: AsyncSession, *, incident: Incident, now: datetime) -> None:
    """The response target is met: its warning, breach and escalation jobs are cancelled (their handlers would do
    nothing anyway). After a reopen, ``acknowledged_at`` is moved to this response if it was from the earlier
    cycle, so the new cycle's response can be measured."""
    if incident.sla_started_at is not None and (incident.acknowledged_at is None
                                                or incident.acknowledged_at < incident.sla_started_at):
        incident.acknowledged_at = now
    await _cancel(session, incident, ("response",), now)


async def stop(session: AsyncSession, *, incident: Incident, now: datetime) -> None:
    """Resolved, closed or merged: every pending timer and escalation of the cycle is cancelled."""
    await _cancel(session, incident, CHAINS, now)


# --- job handlers ----------------------------------------------------------------------------------------------
async def locked_incident(session: AsyncSession, incident_id: str) -> Incident | None:
    """The incident, locked until the job's transaction ends (a concurrent acknowledge waits, or makes us wait
    and we then see it) and re-read from the database."""
    stmt = select(Incident).where(Incident.id == incident_id).with_for_update() \
        .execution_options(populate_existing=True)
    return (await session.execute(stmt)).scalar_one_or_none()


def _payload(job: Job, *names: str) -> list[Any]:
    try:
        return [job.payload[name] for name in names]
    except KeyError as exc:
        raise PermanentError(f"{job.kind} job without {exc.args[0]!r}") from exc


async def run_timer(ctx: JobContext, job: Job) -> None:
    """A warning or breach is due: act if it still applies to the incident's current cycle."""
    incident_id, timer, started = _payload(job, "incident_id", "timer", "sla_started_at")
    if timer not in TIMERS:
        raise PermanentError(f"unknown SLA timer {timer!r}")
    chain, what = timer.split("_")
    incident = await locked_incident(ctx.session, incident_id)
    if incident is None or not current(incident, started) or _due(incident, chain) is None \
            or not pending(incident, chain):
        log.info("sla.timer_skipped", incident_id=incident_id, timer=timer)
        return
    if what == "warning":
        await escalation.warn(ctx.session, clock=ctx.clock, incident=incident, chain=chain)
    else:
        await escalation.breach(ctx.session, clock=ctx.clock, incident=incident, chain=chain)


async def run_escalation(ctx: JobContext, job: Job) -> None:
    """An escalation level is due: notify it if the breach's condition still holds in the same cycle."""
    incident_id, chain, level, started = _payload(job, "incident_id", "chain", "level", "sla_started_at")
    if chain not in CHAINS or level not in LEVELS:
        raise PermanentError(f"bad escalation job: chain {chain!r}, level {level!r}")
    incident = await locked_incident(ctx.session, incident_id)
    if incident is None or not current(incident, started) or not pending(incident, chain):
        log.info("sla.escalation_skipped", incident_id=incident_id, chain=chain, level=level)
        return
    await escalation.escalate(ctx.session, clock=ctx.clock, incident=incident, chain=chain, level=level)


def register(registry: Registry) -> None:
    """Add this domain's job handlers to the worker's registry."""
    registry.register(TIMER_JOB, run_timer)
    registry.register(ESCALATE_JOB, run_escalation)


async def status_for(session: AsyncSession, *, incident: Incident, now: datetime) -> dict[str, Any]:
    """``sla_status`` with the company's own warning lead time (for pages that have a session)."""
    policy = await policy_for(session, incident.company_id)
    return sla_status(incident, now, warning=timedelta(minutes=policy.warning_minutes))
