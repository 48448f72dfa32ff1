"""Auto-assignment on SQLite and PostgreSQL: skill, on-call first, load limit, leave, scope, round-robin, exclude."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from alertwhisperer.auth.models import User
from alertwhisperer.clock import FakeClock
from alertwhisperer.config import Settings
from alertwhisperer.correlation.models import Incident
from alertwhisperer.incidents import oncall
from alertwhisperer.incidents.assignment import choose_assignee
from tests.auth.helpers import cheap_argon2  # noqa: F401  (autouse fixture)
from tests.incidents.test_oncall_service import NOW, World, build, layer

_n = iter(range(10_000))


@pytest.fixture
async def world(db: AsyncSession, settings: Settings, clock: FakeClock) -> World:
    return await build(db, settings, clock)


async def incident(db: AsyncSession, company_id: str, symptom: str = "db_connections", *, category: str = "",
                   assignee: str | None = None, status: str = "new", assigned_minutes_ago: int | None = None
                   ) -> Incident:
    row = Incident(company_id=company_id, title=f"incident {next(_n)}", symptom=symptom, severity="high",
                   key=f"k{next(_n)}", first_seen=NOW, last_seen=NOW, category=category, assignee_id=assignee,
                   status=status,
                   assigned_at=None if assigned_minutes_ago is None else NOW - timedelta(minutes=assigned_minutes_ago))
    db.add(row)
    await db.commit()
    return row


async def set_user(db: AsyncSession, user_id: str, **fields: Any) -> None:
    user = await db.get(User, user_id)
    assert user is not None
    for key, value in fields.items():
        setattr(user, key, value)
    await db.commit()


async def test_skill_and_least_loaded_with_round_robin_ties(db: AsyncSession, world: World) -> None:
    u = world.users
    target = await incident(db, world.acme, "db_slow")  # Database: ana (primary) and ben (a skill) qualify
    first = await choose_assignee(db, incident=target, now=NOW)
    # equal load (0) and neither assigned before: a stable order by name
    assert (first.user_id, first.reason) == (u["ana"], "least loaded Database technician (0 open)")
    await incident(db, world.acme, assignee=u["ana"], assigned_minutes_ago=5)  # ana: 1 open
    second = await choose_assignee(db, incident=target, now=NOW)
    assert second.user_id == u["ben"] and second.reason == "least loaded Database technician (0 open)"
    # both at one open incident: the one whose latest assignment is older gets the next (round-robin)
    await incident(db, world.acme, assignee=u["ben"], assigned_minutes_ago=60)
    assert (await choose_assignee(db, incident=target, now=NOW)).user_id == u["ben"]
    await incident(db, world.acme, assignee=u["ana"], status="resolved", assigned_minutes_ago=90)  # not counted
    await incident(db, world.acme, assignee=u["ben"], assigned_minutes_ago=1)  # ben: 2 open
    assert (await choose_assignee(db, incident=target, now=NOW)).user_id == u["ana"]
    # Server incident: only cem (primary Server) has the skill
    server = await incident(db, world.acme, "service_down:nginx")
    assert (await choose_assignee(db, incident=server, now=NOW)).user_id == u["cem"]
    # the incident's own category column wins over its symptom
    labelled = await incident(db, world.acme, "service_down:nginx", category="Network")
    assert (await choose_assignee(db, incident=labelled, now=NOW)).user_id == u["ben"]


async def test_on_call_technician_is_preferred_if_qualified(db: AsyncSession, clock: FakeClock,
                                                            world: World) -> None:
    u, a = world.users, world.actors
    await oncall.create_schedule(db, actor=a["acme_admin"], clock=clock, data={
        "company_id": world.acme, "name": "Primary DB", "category": "Database", "layers": [layer([u["ben"]])]})
    await db.commit()
    await incident(db, world.acme, assignee=u["ben"], assigned_minutes_ago=5)  # ben busier than ana
    target = await incident(db, world.acme, "replication")
    choice = await choose_assignee(db, incident=target, now=NOW)
    assert choice.user_id == u["ben"] and choice.reason == "on call for Database (Primary DB, Weekly)"
    # on call but without the skill: not chosen (cem is on call for Acme in general)
    await oncall.create_schedule(db, actor=a["acme_admin"], clock=clock, data={
        "company_id": world.acme, "name": "Acme general", "layers": [layer([u["cem"]])]})
    await db.commit()
    await set_user(db, u["ben"], max_concurrent_incidents=1)  # ben now at his limit
    fallback = await choose_assignee(db, incident=target, now=NOW)
    assert fallback.user_id == u["ana"] and fallback.reason.startswith("least loaded Database")
    # exclude (a reassignment away from ana) with ben at his limit: nobody
    none = await choose_assignee(db, incident=target, now=NOW, exclude=frozenset({u["ana"]}))
    assert none.user_id is None
    assert none.reason == "nobody with skill Database is available (1 at their incident limit, 1 excluded)"


async def test_leave_inactive_scope_and_roles(db: AsyncSession, world: World) -> None:
    u = world.users
    target = await incident(db, world.acme, "db_connections")
    await set_user(db, u["ana"], on_leave=True)
    await set_user(db, u["ben"], is_active=False)
    none = await choose_assignee(db, incident=target, now=NOW)
    # gus has Database but covers Globex only; admins are never auto-assigned
    assert none.user_id is None and none.reason == "nobody with skill Database is available (1 on leave)"
    globex = await incident(db, world.globex, "db_connections")
    assert (await choose_assignee(db, incident=globex, now=NOW)).user_id == u["gus"]
    # General (unknown symptom): any technician covering the company
    other = await incident(db, world.globex, "other")
    await incident(db, world.globex, assignee=u["gus"], assigned_minutes_ago=3)
    chosen = await choose_assignee(db, incident=other, now=NOW)
    assert chosen.user_id == u["cem"] and chosen.reason == "least loaded technician (0 open)"


async def test_the_incident_itself_does_not_count_towards_its_assignees_load(db: AsyncSession,
                                                                              world: World) -> None:
    u = world.users
    await set_user(db, u["ana"], max_concurrent_incidents=1)
    await set_user(db, u["ben"], on_leave=True)
    mine = await incident(db, world.acme, "db_slow", assignee=u["ana"], assigned_minutes_ago=1)
    assert (await choose_assignee(db, incident=mine, now=NOW)).user_id == u["ana"]
