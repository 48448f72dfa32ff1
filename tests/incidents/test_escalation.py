"""The escalation chain on SQLite and PostgreSQL: auto-assignment at level 1, on-call or the named secondary at
level 2, company admins at 3, MSP admins at 4, custom waits and the last level; live events."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from sqlalchemy import select

from alertwhisperer.auth.models import User
from alertwhisperer.clock import FakeClock
from alertwhisperer.config import Settings
from alertwhisperer.correlation.models import Incident
from alertwhisperer.incidents import escalation
from alertwhisperer.incidents.models import IncidentEvent
from alertwhisperer.tenants.models import Company
from tests.auth.helpers import cheap_argon2  # noqa: F401  (autouse fixture)
from tests.incidents.test_sla_timers import (
    Process,
    World,
    audits,
    get,
    kinds,
    levels,
    make_world,
    notifications,
    open_incident,
    timeline,
)


@pytest.fixture
async def proc(db_url: str, clock: FakeClock) -> AsyncIterator[Process]:
    p = Process(db_url, clock, "worker-a")
    yield p
    await p.close()


@pytest.fixture
async def world(proc: Process, settings: Settings, clock: FakeClock) -> World:
    return await make_world(proc.sessionmaker, settings, clock)


async def set_policy(proc: Process, company_id: str, sla: dict[str, object]) -> None:
    async with proc.sessionmaker() as s:
        company = await s.get(Company, company_id)
        assert company is not None
        company.settings = {**company.settings, "sla": sla}
        await s.commit()


async def test_unassigned_incident_is_assigned_at_level_1(proc: Process, world: World, clock: FakeClock) -> None:
    iid = await open_incident(proc.sessionmaker, clock, world.company_id, symptom="cpu", title="CPU at 100% on app-01")
    clock.advance(minutes=16)
    await proc.run()
    (warning,) = await timeline(proc.sessionmaker, iid)
    assert warning.kind == "sla_warning" and warning.data["notified"] == [world.ids["oncall"]]  # nobody has it yet
    assert [n.user_id for n in await notifications(proc.sessionmaker, iid, "sla_warning")] == [world.ids["oncall"]]
    clock.advance(minutes=15)
    await proc.run()
    incident = await get(proc.sessionmaker, iid)
    assert incident.assignee_id == world.ids["oncall"]  # choose_assignee: the on-call Server technician
    (assigned,) = await timeline(proc.sessionmaker, iid, "assignment")
    assert assigned.data["to"] == world.ids["oncall"] and assigned.data["by"] == "sla_escalation"
    (entry,) = await audits(proc.sessionmaker, "incident.assigned", iid)
    assert entry.actor_id is None and entry.details["to"] == world.ids["oncall"]
    clock.advance(minutes=16)
    await proc.run()
    entries = await timeline(proc.sessionmaker, iid)
    level1, level2 = (e for e in entries if e.kind == "escalation")
    assert [n["id"] for n in level1.data["notified"]] == [world.ids["oncall"]]
    # level 2: the on-call technician is the assignee already, so nobody else is on call
    assert level2.data["notified"] == [] and "nobody to notify" in level2.body


async def test_named_secondary_custom_waits_and_last_level(proc: Process, world: World, clock: FakeClock) -> None:
    await set_policy(proc, world.company_id, {"escalation": {
        "level2_wait_minutes": 5, "level3_wait_minutes": 10, "level4_wait_minutes": 20, "max_level": 3,
        "secondary_user_id": world.ids["spare"]}})
    t0 = clock.now()
    iid = await open_incident(proc.sessionmaker, clock, world.company_id, assignee_id=world.ids["assignee"])
    clock.set(t0 + timedelta(minutes=30, seconds=1))
    await proc.run()
    assert levels(await timeline(proc.sessionmaker, iid)) == [1]
    clock.set(t0 + timedelta(minutes=35, seconds=1))
    await proc.run()
    assert levels(await timeline(proc.sessionmaker, iid)) == [1, 2]
    clock.advance(hours=3)
    await proc.run()
    entries = await timeline(proc.sessionmaker, iid)
    assert levels(entries) == [1, 2, 3]  # max_level 3: the MSP admins are not called
    level2 = next(e for e in entries if e.kind == "escalation" and e.data["level"] == 2)
    assert [n["id"] for n in level2.data["notified"]] == [world.ids["spare"]]
    assert (await get(proc.sessionmaker, iid)).escalation_level == 3
    assert world.ids["msp"] not in {n.user_id for n in await notifications(proc.sessionmaker, iid)}


async def test_nobody_to_assign_still_escalates_to_admins(proc: Process, world: World, clock: FakeClock) -> None:
    async with proc.sessionmaker() as s:  # every technician is away
        for user in (await s.execute(select(User).where(User.role == "technician"))).scalars():
            user.on_leave = True
        await s.commit()
    iid = await open_incident(proc.sessionmaker, clock, world.company_id, symptom="cpu", title="CPU at 100%")
    clock.advance(hours=2)
    await proc.run()
    incident = await get(proc.sessionmaker, iid)
    assert incident.assignee_id is None
    entries = await timeline(proc.sessionmaker, iid)
    assert levels(entries) == [1, 2, 3, 4]
    by_level = {e.data["level"]: [n["id"] for n in e.data["notified"]] for e in entries if e.kind == "escalation"}
    assert by_level[1] == [] and by_level[3] == [world.ids["admin"]] and by_level[4] == [world.ids["msp"]]
    assert world.ids["other_admin"] not in {n.user_id for n in await notifications(proc.sessionmaker, iid)}
    assert kinds(await timeline(proc.sessionmaker, iid, "assignment")) == {"assignment": 1}  # "found nobody"


async def test_a_level_records_itself_everywhere(proc: Process, world: World, clock: FakeClock) -> None:
    iid = await open_incident(proc.sessionmaker, clock, world.company_id, assignee_id=world.ids["assignee"])
    clock.advance(minutes=31)
    async with proc.sessionmaker() as s:  # a level run by hand, as its job handler does, in one transaction
        incident = await s.get(Incident, iid)
        assert incident is not None
        incident.response_breached_at = incident.response_due_at
        await escalation.escalate(s, clock=clock, incident=incident, chain="response", level=3)
        events = [e for e in s.info.get("pending_events", []) if e.type == "incident.updated"]
        assert events and events[-1].data["escalation_level"] == 3 and events[-1].company_id == world.company_id
        await s.commit()
    incident = await get(proc.sessionmaker, iid)
    assert incident.escalation_level == 3 and incident.escalated_at == clock.now()
    (entry,) = await audits(proc.sessionmaker, "incident.escalated", iid)
    assert entry.actor_id is None and entry.details == {"chain": "response", "level": 3,
                                                        "notified": [world.ids["admin"]]}
    async with proc.sessionmaker() as s:
        (event,) = (await s.execute(select(IncidentEvent).where(IncidentEvent.kind == "escalation"))).scalars()
    assert event.actor_name == "SLA" and "level 3" in event.body
    (note,) = await notifications(proc.sessionmaker, iid, "escalation")
    assert note.user_id == world.ids["admin"] and note.severity == "critical" and "level 3" in note.title


async def test_level_1_with_a_wait_is_its_own_job(proc: Process, world: World, clock: FakeClock) -> None:
    await set_policy(proc, world.company_id, {"escalation": {"level1_wait_minutes": 5, "level2_wait_minutes": 5,
                                                             "max_level": 2}})
    t0 = clock.now()
    iid = await open_incident(proc.sessionmaker, clock, world.company_id, assignee_id=world.ids["assignee"])
    clock.set(t0 + timedelta(minutes=31))
    await proc.run()
    entries = await timeline(proc.sessionmaker, iid)
    assert kinds(entries) == {"sla_warning": 1, "sla_breach": 1}  # level 1 waits 5 minutes after the breach
    clock.set(t0 + timedelta(minutes=35, seconds=1))
    await proc.run()  # levels 1 and 2 are both due now: each runs once, in order
    assert levels(await timeline(proc.sessionmaker, iid)) == [1, 2]
    clock.advance(hours=2)
    await proc.run()
    assert levels(await timeline(proc.sessionmaker, iid)) == [1, 2]
