"""SLA timers as durable jobs on SQLite and PostgreSQL, driven by a FakeClock: deadlines, warnings, breaches,
exactly once across a process restart and between racing workers; acknowledge/resolve/reopen."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from alertwhisperer.audit.models import AuditEntry
from alertwhisperer.auth.models import User
from alertwhisperer.auth.principal import Principal, Role
from alertwhisperer.clock import FakeClock
from alertwhisperer.config import Settings
from alertwhisperer.correlation.models import Incident
from alertwhisperer.db import make_engine, make_sessionmaker
from alertwhisperer.incidents import sla
from alertwhisperer.incidents.models import IncidentEvent, OnCallSchedule
from alertwhisperer.jobs import service as jobs
from alertwhisperer.jobs.models import CANCELLED, PENDING, Job
from alertwhisperer.jobs.registry import build_registry
from alertwhisperer.jobs.worker import Worker
from alertwhisperer.notify.models import Notification
from alertwhisperer.tenants.models import Company
from tests.auth.helpers import cheap_argon2  # noqa: F401  (autouse fixture)
from tests.factories import make_company, make_user

SM = async_sessionmaker[AsyncSession]
SLA_KINDS = ("sla_warning", "sla_breach", "escalation")


# --- a small world shared by the SLA tests ---------------------------------------------------------------------
@dataclass
class World:
    company_id: str
    other_company_id: str
    ids: dict[str, str]  # role name -> user id: assignee, oncall, admin, msp, other_admin
    emails: dict[str, str]

    def principal(self, who: str) -> Principal:
        role = {"msp": Role.MSP_ADMIN, "admin": Role.COMPANY_ADMIN}.get(who, Role.TECHNICIAN)
        return Principal(self.ids[who], self.emails[who], role, frozenset({self.company_id}))


class Process:
    """One "process": its own engine, sessionmaker and worker on the shared database (restart = a new one)."""

    def __init__(self, db_url: str, clock: FakeClock, name: str) -> None:
        self.engine: AsyncEngine = make_engine(db_url)
        self.sessionmaker: SM = make_sessionmaker(self.engine)
        self.worker = Worker(self.sessionmaker, build_registry(), clock, name=name)

    async def run(self) -> int:
        return await self.worker.run_until_idle()

    async def close(self) -> None:
        await self.engine.dispose()


@pytest.fixture
async def proc(db_url: str, clock: FakeClock) -> AsyncIterator[Process]:
    p = Process(db_url, clock, "worker-a")
    yield p
    await p.close()


async def make_world(sm: SM, settings: Settings, clock: FakeClock) -> World:
    async with sm() as s:
        acme = await make_company(s, clock, "Acme")
        other = await make_company(s, clock, "Globex")
        emails = {
            "assignee": await make_user(s, settings, clock, Role.TECHNICIAN, [acme.id], category="Server"),
            "oncall": await make_user(s, settings, clock, Role.TECHNICIAN, [acme.id], category="Server"),
            "spare": await make_user(s, settings, clock, Role.TECHNICIAN, [acme.id], category="Server"),
            "admin": await make_user(s, settings, clock, Role.COMPANY_ADMIN, [acme.id]),
            "msp": await make_user(s, settings, clock, Role.MSP_ADMIN),
            "other_admin": await make_user(s, settings, clock, Role.COMPANY_ADMIN, [other.id]),
        }
        rows = (await s.execute(select(User.email, User.id))).all()
        by_email = {e: i for e, i in rows}
        ids = {k: by_email[e] for k, e in emails.items()}
        s.add(OnCallSchedule(company_id=acme.id, name="Acme primary", timezone="UTC", layers=[{
            "name": "Primary", "rotation": "weekly", "handoff_time": "09:00", "handoff_weekday": 0,
            "starts_on": "2026-01-05", "members": [ids["oncall"]]}]))
        await s.commit()
    return World(acme.id, other.id, ids, emails)


@pytest.fixture
async def world(proc: Process, settings: Settings, clock: FakeClock) -> World:
    return await make_world(proc.sessionmaker, settings, clock)


async def open_incident(sm: SM, clock: FakeClock, company_id: str, *, severity: str = "critical",
                        assignee_id: str | None = None, title: str = "Disk full on db-01",
                        symptom: str = "disk", start: bool = True) -> str:
    """An incident as correlation opens it, then the SLA start the lifecycle job does."""
    now = clock.now()
    async with sm() as s:
        incident = Incident(company_id=company_id, title=title, symptom=symptom, severity=severity,
                            key=f"{title}:{now.isoformat()}", first_seen=now, last_seen=now, status="new",
                            assignee_id=assignee_id, assigned_at=now if assignee_id else None,
                            root_asset_name="db-01", created_at=now, updated_at=now)
        s.add(incident)
        await s.flush()
        if start:
            await sla.start(s, incident=incident, now=now)
        await s.commit()
        return incident.id


async def get(sm: SM, incident_id: str) -> Incident:
    async with sm() as s:
        incident = await s.get(Incident, incident_id)
        assert incident is not None
        return incident


async def timeline(sm: SM, incident_id: str, *kinds: str) -> list[IncidentEvent]:
    async with sm() as s:
        rows = await s.execute(select(IncidentEvent).where(IncidentEvent.incident_id == incident_id,
                                                           IncidentEvent.kind.in_(kinds or SLA_KINDS))
                               .order_by(IncidentEvent.at, IncidentEvent.id))
        return list(rows.scalars())


async def notifications(sm: SM, incident_id: str, kind: str | None = None) -> list[Notification]:
    async with sm() as s:
        stmt = select(Notification).where(Notification.incident_id == incident_id)
        if kind:
            stmt = stmt.where(Notification.kind == kind)
        return list((await s.execute(stmt.order_by(Notification.created_at, Notification.id))).scalars())


async def audits(sm: SM, action: str, incident_id: str | None = None) -> list[AuditEntry]:
    async with sm() as s:
        stmt = select(AuditEntry).where(AuditEntry.action == action)
        if incident_id:
            stmt = stmt.where(AuditEntry.target_id == incident_id)
        return list((await s.execute(stmt.order_by(AuditEntry.seq))).scalars())


async def sla_jobs(sm: SM, incident_id: str) -> dict[str, Job]:
    async with sm() as s:
        rows = await s.execute(select(Job).where(Job.dedup_key.like(f"sla:{incident_id}:%")))
        return {str(j.dedup_key): j for j in rows.scalars()}


def levels(entries: list[IncidentEvent], chain: str = "response") -> list[int]:
    return [e.data["level"] for e in entries if e.kind == "escalation" and e.data.get("chain") == chain]


def kinds(entries: list[IncidentEvent]) -> Counter[str]:
    return Counter(e.kind for e in entries)


async def set_fields(sm: SM, incident_id: str, **fields: Any) -> None:
    async with sm() as s:
        incident = await s.get(Incident, incident_id)
        assert incident is not None
        for k, v in fields.items():
            setattr(incident, k, v)
        await s.commit()


# --- deadlines and keys ----------------------------------------------------------------------------------------
async def test_start_sets_deadlines_and_keyed_timers(proc: Process, world: World, clock: FakeClock) -> None:
    t0 = clock.now()
    iid = await open_incident(proc.sessionmaker, clock, world.company_id, severity="critical")
    incident = await get(proc.sessionmaker, iid)
    assert incident.sla_started_at == t0
    assert incident.response_due_at == t0 + timedelta(minutes=30)
    assert incident.resolution_due_at == t0 + timedelta(hours=4)
    timers = await sla_jobs(proc.sessionmaker, iid)
    due = {k.split(":")[2]: j.due_at for k, j in timers.items()}
    assert due == {"response_warning": t0 + timedelta(minutes=15),  # 30 min warning, at most half the target
                   "response_breach": t0 + timedelta(minutes=30),
                   "resolution_warning": t0 + timedelta(hours=3, minutes=30),
                   "resolution_breach": t0 + timedelta(hours=4)}
    assert all(k.endswith(t0.isoformat()) and iid in k for k in timers)
    # the same start again is a no-op: no new jobs, same deadlines
    async with proc.sessionmaker() as s:
        again = await s.get(Incident, iid)
        assert again is not None
        await sla.start(s, incident=again, now=t0)
        await s.commit()
    assert len(await sla_jobs(proc.sessionmaker, iid)) == 4
    # medium: 8 h / 24 h; info: no targets, no timers
    mid = await open_incident(proc.sessionmaker, clock, world.company_id, severity="medium")
    m = await get(proc.sessionmaker, mid)
    assert (m.response_due_at, m.resolution_due_at) == (t0 + timedelta(hours=8), t0 + timedelta(hours=24))
    info = await open_incident(proc.sessionmaker, clock, world.company_id, severity="info")
    i = await get(proc.sessionmaker, info)
    assert i.sla_started_at == t0 and i.response_due_at is None and i.resolution_due_at is None
    assert await sla_jobs(proc.sessionmaker, info) == {}


async def test_disabled_sla_sets_no_deadlines(proc: Process, world: World, clock: FakeClock) -> None:
    async with proc.sessionmaker() as s:
        company = await s.get(Company, world.company_id)
        assert company is not None
        company.settings = {**company.settings, "sla": {"enabled": False}}
        await s.commit()
    iid = await open_incident(proc.sessionmaker, clock, world.company_id)
    incident = await get(proc.sessionmaker, iid)
    assert incident.response_due_at is None and incident.resolution_due_at is None
    assert await sla_jobs(proc.sessionmaker, iid) == {}
    clock.advance(hours=10)
    await proc.run()
    assert await timeline(proc.sessionmaker, iid) == []


# --- exactly once across a restart -----------------------------------------------------------------------------
async def test_warning_breach_and_levels_fire_once_across_a_restart(db_url: str, proc: Process, world: World,
                                                                   clock: FakeClock) -> None:
    t0 = clock.now()
    iid = await open_incident(proc.sessionmaker, clock, world.company_id, assignee_id=world.ids["assignee"])
    clock.advance(minutes=10)
    assert await proc.run() == 0  # nothing due yet
    clock.advance(minutes=6)  # 16 min: past the response warning (15 min)
    await proc.run()
    entries = await timeline(proc.sessionmaker, iid)
    assert kinds(entries) == {"sla_warning": 1}
    assert entries[0].data["chain"] == "response" and entries[0].data["notified"] == [world.ids["assignee"]]
    warned = await notifications(proc.sessionmaker, iid, "sla_warning")
    assert [n.user_id for n in warned] == [world.ids["assignee"]]

    await proc.close()  # the process stops ...
    proc2 = Process(db_url, clock, "worker-b")  # ... and another one starts on the same database
    try:
        clock.advance(minutes=15)  # 31 min: response breached; level 1 (wait 0) fires with it
        await proc2.run()
        incident = await get(proc2.sessionmaker, iid)
        assert incident.response_breached_at == t0 + timedelta(minutes=30)
        assert incident.escalation_level == 1
        entries = await timeline(proc2.sessionmaker, iid)
        assert kinds(entries) == {"sla_warning": 1, "sla_breach": 1, "escalation": 1}
        assert len(await audits(proc2.sessionmaker, "incident.sla_breached", iid)) == 1

        await proc2.close()  # another restart in the middle of the escalation chain
        proc2 = proc3 = Process(db_url, clock, "worker-c")  # (closed by the finally below)
        clock.advance(minutes=61)  # 92 min: levels 2 (15), 3 (30) and 4 (60 min after the breach) are due
        await proc3.run()
        clock.advance(hours=1)
        await proc3.run()  # nothing more for the response chain
        entries = await timeline(proc3.sessionmaker, iid)
        assert levels(entries) == [1, 2, 3, 4]
        assert kinds(entries) == {"sla_warning": 1, "sla_breach": 1, "escalation": 4}
        notified = {e.data["level"]: [n["id"] for n in e.data["notified"]] for e in entries
                    if e.kind == "escalation"}
        assert notified == {1: [world.ids["assignee"]], 2: [world.ids["oncall"]], 3: [world.ids["admin"]],
                            4: [world.ids["msp"]]}
        esc = await notifications(proc3.sessionmaker, iid, "escalation")
        assert sorted(n.user_id for n in esc) == sorted(world.ids[k] for k in ("assignee", "oncall", "admin", "msp"))
        assert len(await audits(proc3.sessionmaker, "incident.escalated", iid)) == 4
        assert len(await audits(proc3.sessionmaker, "incident.sla_breached", iid)) == 1
        assert (await get(proc3.sessionmaker, iid)).escalation_level == 4
        # every job of the response chain ran once; none is left, none failed
        timers = await sla_jobs(proc3.sessionmaker, iid)
        response = {k: j for k, j in timers.items() if ":response_" in k}
        assert sorted(k.split(":")[2] for k in response) == ["response_breach", "response_level2",
                                                             "response_level3", "response_level4",
                                                             "response_warning"]
        assert all(j.status == "done" and j.attempts == 1 for j in response.values())
        # a late duplicate (the same key enqueued again, e.g. by a retried caller) is refused
        async with proc3.sessionmaker() as s:
            assert await jobs.enqueue(s, kind=sla.TIMER_JOB, now=clock.now(), dedup_key=sla.timer_key(
                iid, "response_breach", t0), payload={}) is None
    finally:
        await proc2.close()


async def test_a_worker_that_lost_its_lease_cannot_fire_twice(db_url: str, proc: Process, world: World,
                                                             clock: FakeClock) -> None:
    iid = await open_incident(proc.sessionmaker, clock, world.company_id, assignee_id=world.ids["assignee"])
    clock.advance(minutes=31)
    dead = Worker(proc.sessionmaker, build_registry(), clock, name="dead-worker")
    async with proc.sessionmaker() as s:  # the dead worker claimed the due timers, then hung
        claimed = await jobs.claim(s, worker=dead.name, now=clock.now(), lease=dead.lease)
    assert {j.payload["timer"] for j in claimed} == {"response_warning", "response_breach"}
    clock.advance(minutes=6)  # its lease expired: another worker takes the jobs over
    other = Process(db_url, clock, "worker-b")
    try:
        await other.run()
        for job in claimed:  # the hung worker wakes up and runs what it had claimed
            await dead._run(job)
        entries = await timeline(proc.sessionmaker, iid)
        assert kinds(entries) == {"sla_warning": 1, "sla_breach": 1, "escalation": 1}
        assert len(await notifications(proc.sessionmaker, iid, "escalation")) == 1
    finally:
        await other.close()


async def test_two_workers_racing_fire_each_timer_once(db_url: str, proc: Process, world: World,
                                                       clock: FakeClock) -> None:
    ids = [await open_incident(proc.sessionmaker, clock, world.company_id, assignee_id=world.ids["assignee"],
                               title=f"Disk full on db-{n:02d}") for n in range(6)]
    clock.advance(minutes=31)
    a, b = Process(db_url, clock, "worker-a2"), Process(db_url, clock, "worker-b2")
    try:
        await asyncio.gather(a.run(), b.run(), a.run(), b.run())
        clock.advance(minutes=70)
        await asyncio.gather(a.run(), b.run())
    finally:
        await a.close()
        await b.close()
    for iid in ids:
        entries = await timeline(proc.sessionmaker, iid)
        assert kinds(entries) == {"sla_warning": 1, "sla_breach": 1, "escalation": 4}, iid
        assert levels(entries) == [1, 2, 3, 4]
        assert len(await notifications(proc.sessionmaker, iid, "escalation")) == 4
    assert len(await audits(proc.sessionmaker, "incident.sla_breached")) == len(ids)
    async with proc.sessionmaker() as s:
        dead = (await s.execute(select(func.count()).select_from(Job).where(
            Job.kind.in_([sla.TIMER_JOB, sla.ESCALATE_JOB]), Job.status != "done",
            Job.status != PENDING))).scalar_one()
    assert dead == 0


# --- the condition goes away -----------------------------------------------------------------------------------
async def test_acknowledged_before_the_breach_through_the_lifecycle(proc: Process, world: World,
                                                                   clock: FakeClock) -> None:
    from alertwhisperer.incidents import service as lifecycle

    iid = await open_incident(proc.sessionmaker, clock, world.company_id, assignee_id=world.ids["assignee"])
    clock.advance(minutes=20)  # the response warning fired at 15 min
    await proc.run()
    async with proc.sessionmaker() as s:
        await lifecycle.acknowledge(s, actor=world.principal("assignee"), clock=clock, incident_id=iid)
        await s.commit()
    timers = await sla_jobs(proc.sessionmaker, iid)
    assert timers[sla.timer_key(iid, "response_breach", (await get(proc.sessionmaker, iid)).sla_started_at
                                or clock.now())].status == CANCELLED
    clock.advance(hours=2)
    await proc.run()
    incident = await get(proc.sessionmaker, iid)
    assert incident.response_breached_at is None and incident.escalation_level == 0
    assert kinds(await timeline(proc.sessionmaker, iid)) == {"sla_warning": 1}


async def test_a_timer_that_no_longer_applies_does_nothing_even_if_not_cancelled(proc: Process, world: World,
                                                                                clock: FakeClock) -> None:
    iid = await open_incident(proc.sessionmaker, clock, world.company_id, assignee_id=world.ids["assignee"])
    clock.advance(minutes=5)
    await set_fields(proc.sessionmaker, iid, status="acknowledged", acknowledged_at=clock.now())  # no hook called
    clock.advance(minutes=40)
    await proc.run()  # the response warning and breach run, and skip
    incident = await get(proc.sessionmaker, iid)
    assert incident.response_breached_at is None
    assert await timeline(proc.sessionmaker, iid) == []
    timers = await sla_jobs(proc.sessionmaker, iid)
    assert {k.split(":")[2]: j.status for k, j in timers.items() if ":response_" in k} == {
        "response_warning": "done", "response_breach": "done"}
    # the resolution target still runs: its warning (3 h 30) and breach (4 h) fire
    clock.advance(hours=4)
    await proc.run()
    entries = await timeline(proc.sessionmaker, iid)
    assert [(e.kind, e.data.get("chain")) for e in entries][:3] == [
        ("sla_warning", "resolution"), ("sla_breach", "resolution"), ("escalation", "resolution")]
    assert (await get(proc.sessionmaker, iid)).resolution_breached_at is not None


async def test_resolve_stops_the_escalation_chain(proc: Process, world: World, clock: FakeClock) -> None:
    from alertwhisperer.incidents import service as lifecycle

    iid = await open_incident(proc.sessionmaker, clock, world.company_id, assignee_id=world.ids["assignee"])
    clock.advance(minutes=31)
    await proc.run()  # breach + level 1
    clock.advance(minutes=16)
    await proc.run()  # level 2
    assert levels(await timeline(proc.sessionmaker, iid)) == [1, 2]
    async with proc.sessionmaker() as s:
        await lifecycle.resolve(s, actor=world.principal("assignee"), clock=clock, incident_id=iid)
        await s.commit()
    clock.advance(hours=30)
    await proc.run()
    entries = await timeline(proc.sessionmaker, iid)
    assert levels(entries) == [1, 2] and levels(entries, "resolution") == []
    assert kinds(entries) == {"sla_warning": 1, "sla_breach": 1, "escalation": 2}
    left = [j for j in (await sla_jobs(proc.sessionmaker, iid)).values() if j.status == PENDING]
    assert left == []


async def test_reopen_starts_fresh_timers_and_old_ones_go_stale(proc: Process, world: World,
                                                               clock: FakeClock) -> None:
    t0 = clock.now()
    iid = await open_incident(proc.sessionmaker, clock, world.company_id, assignee_id=world.ids["assignee"])
    clock.advance(minutes=5)
    await set_fields(proc.sessionmaker, iid, status="resolved", resolved_at=clock.now())  # stop() not called
    clock.advance(minutes=5)
    t1 = clock.now()
    async with proc.sessionmaker() as s:  # reopened: a new SLA cycle
        incident = await s.get(Incident, iid)
        assert incident is not None
        incident.status, incident.resolved_at = "new", None
        await sla.start(s, incident=incident, now=t1)
        await s.commit()
    incident = await get(proc.sessionmaker, iid)
    assert incident.sla_started_at == t1 and incident.response_due_at == t1 + timedelta(minutes=30)
    assert len(await sla_jobs(proc.sessionmaker, iid)) == 8  # two cycles' timers, keyed apart
    clock.set(t0 + timedelta(minutes=31))
    await proc.run()  # the first cycle's breach: stale, skipped
    assert kinds(await timeline(proc.sessionmaker, iid)) == {"sla_warning": 1}  # the new cycle's warning (t1+15)
    clock.set(t1 + timedelta(minutes=31))
    await proc.run()
    entries = await timeline(proc.sessionmaker, iid)
    assert kinds(entries) == {"sla_warning": 1, "sla_breach": 1, "escalation": 1}
    breach = next(e for e in entries if e.kind == "sla_breach")
    assert breach.data["due"] == (t1 + timedelta(minutes=30)).isoformat()


async def test_reopen_through_the_lifecycle_measures_the_new_response(proc: Process, world: World,
                                                                      clock: FakeClock) -> None:
    from alertwhisperer.incidents import service as lifecycle

    iid = await open_incident(proc.sessionmaker, clock, world.company_id, assignee_id=world.ids["assignee"])
    tech = world.principal("assignee")
    async with proc.sessionmaker() as s:
        await lifecycle.acknowledge(s, actor=tech, clock=clock, incident_id=iid)
        await lifecycle.resolve(s, actor=tech, clock=clock, incident_id=iid)
        await s.commit()
    clock.advance(hours=1)
    async with proc.sessionmaker() as s:
        await lifecycle.reopen(s, actor=tech, clock=clock, incident_id=iid)
        await s.commit()
    reopened = clock.now()
    incident = await get(proc.sessionmaker, iid)
    assert incident.sla_started_at == reopened and incident.status == "new"
    clock.advance(minutes=10)
    async with proc.sessionmaker() as s:
        await lifecycle.acknowledge(s, actor=tech, clock=clock, incident_id=iid)
        await s.commit()
    incident = await get(proc.sessionmaker, iid)
    assert incident.acknowledged_at == clock.now()  # this cycle's response, not the first one
    clock.advance(hours=1)
    await proc.run()
    assert (await get(proc.sessionmaker, iid)).response_breached_at is None

