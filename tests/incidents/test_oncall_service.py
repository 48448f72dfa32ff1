"""The on-call service on SQLite and PostgreSQL: rights, member validation, audit, overrides, on_call_now order."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from alertwhisperer.audit.models import AuditEntry
from alertwhisperer.auth.models import User
from alertwhisperer.auth.principal import Principal, Role
from alertwhisperer.clock import FakeClock
from alertwhisperer.config import Settings
from alertwhisperer.errors import Forbidden, Invalid, NotFound
from alertwhisperer.incidents import oncall
from alertwhisperer.incidents.models import ScheduleOverride
from tests.auth.helpers import cheap_argon2  # noqa: F401  (autouse fixture)
from tests.factories import make_company, make_user

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)  # the clock fixture's time, a Monday


@dataclass
class World:
    acme: str
    globex: str
    users: dict[str, str]  # name -> user id
    actors: dict[str, Principal]


async def _uid(db: AsyncSession, email: str) -> str:
    return str((await db.execute(select(User.id).where(User.email == email))).scalar_one())


async def build(db: AsyncSession, settings: Settings, clock: FakeClock) -> World:
    acme = (await make_company(db, clock, "Acme")).id
    globex = (await make_company(db, clock, "Globex")).id
    spec: dict[str, tuple[Role, list[str], dict[str, Any]]] = {
        "msp": (Role.MSP_ADMIN, [], {}),
        "acme_admin": (Role.COMPANY_ADMIN, [acme], {}),
        "globex_admin": (Role.COMPANY_ADMIN, [globex], {}),
        "ana": (Role.TECHNICIAN, [acme], {"category": "Database"}),
        "ben": (Role.TECHNICIAN, [acme], {"category": "Network", "skills": ["Database"]}),
        "cem": (Role.TECHNICIAN, [acme, globex], {"category": "Server"}),
        "gus": (Role.TECHNICIAN, [globex], {"category": "Database"}),
    }
    users: dict[str, str] = {}
    actors: dict[str, Principal] = {}
    for name, (role, companies, fields) in spec.items():
        email = await make_user(db, settings, clock, role, companies, email=f"{name}@msp.example", **fields)
        users[name] = await _uid(db, email)
        actors[name] = Principal(users[name], email, role, frozenset(companies))
    return World(acme, globex, users, actors)


@pytest.fixture
async def world(db: AsyncSession, settings: Settings, clock: FakeClock) -> World:
    return await build(db, settings, clock)


def layer(members: list[str], name: str = "Weekly", **kw: Any) -> dict[str, Any]:
    return {"name": name, "rotation": "weekly", "handoff_time": "09:00", "handoff_weekday": 0,
            "starts_on": "2026-02-23", "members": members, **kw}


async def test_rights_company_admin_edits_own_company_technician_reads_others_404(
        db: AsyncSession, clock: FakeClock, world: World) -> None:
    u, a = world.users, world.actors
    body = {"company_id": world.acme, "name": "Acme DB", "category": "database", "timezone": "Europe/Berlin",
            "layers": [layer([u["ana"], u["ben"]])]}
    row = await oncall.create_schedule(db, actor=a["acme_admin"], clock=clock, data=body)
    await db.commit()
    assert row.category == "Database"  # spelled as in CATEGORIES
    with pytest.raises(Forbidden):
        await oncall.create_schedule(db, actor=a["ana"], clock=clock, data=body)
    with pytest.raises(Forbidden):
        await oncall.update_schedule(db, actor=a["ana"], clock=clock, schedule_id=row.id, data={"name": "x"})
    with pytest.raises(NotFound):
        await oncall.create_schedule(db, actor=a["globex_admin"], clock=clock, data=body)
    with pytest.raises(NotFound):
        await oncall.get_schedule(db, actor=a["gus"], schedule_id=row.id)
    with pytest.raises(NotFound):
        await oncall.update_schedule(db, actor=a["globex_admin"], clock=clock, schedule_id=row.id,
                                     data={"name": "x"})
    with pytest.raises(NotFound):
        await oncall.delete_schedule(db, actor=a["globex_admin"], clock=clock, schedule_id=row.id)
    assert (await oncall.get_schedule(db, actor=a["ana"], schedule_id=row.id)).name == "Acme DB"
    assert [r.id for r in await oncall.list_schedules(db, actor=a["gus"])] == []
    # MSP-wide teams: MSP admins only; everyone reads them
    team = {"company_id": None, "name": "Night team", "layers": [layer([u["cem"]])]}
    with pytest.raises(Forbidden):
        await oncall.create_schedule(db, actor=a["acme_admin"], clock=clock, data=team)
    made = await oncall.create_schedule(db, actor=a["msp"], clock=clock, data=team)
    await db.commit()
    assert {r.name for r in await oncall.list_schedules(db, actor=a["gus"])} == {"Night team"}
    with pytest.raises(Forbidden):
        await oncall.update_schedule(db, actor=a["acme_admin"], clock=clock, schedule_id=made.id, data={"name": "x"})
    await db.rollback()
    entries = (await db.execute(select(AuditEntry).where(AuditEntry.action.like("schedule.%"))
                                .order_by(AuditEntry.seq))).scalars().all()
    assert [e.action for e in entries] == ["schedule.created", "schedule.created"]
    assert entries[0].details["before"] is None and entries[0].details["after"]["name"] == "Acme DB"


async def test_members_must_be_active_and_cover_the_company(db: AsyncSession, clock: FakeClock,
                                                             world: World) -> None:
    u, a = world.users, world.actors
    body = {"company_id": world.acme, "name": "Acme", "layers": [layer([u["ana"]]), layer([u["gus"]], "Two")]}
    with pytest.raises(Invalid) as exc:
        await oncall.create_schedule(db, actor=a["acme_admin"], clock=clock, data=body)
    assert exc.value.field == "layers.1.members" and "gus" in exc.value.message
    await db.rollback()
    body["layers"] = [layer([u["msp"], u["cem"]])]  # an MSP admin covers every company
    row = await oncall.create_schedule(db, actor=a["acme_admin"], clock=clock, data=body)
    await db.commit()
    (await db.get(User, u["cem"])).is_active = False  # type: ignore[union-attr]
    await db.commit()
    with pytest.raises(Invalid, match="cem"):
        await oncall.update_schedule(db, actor=a["acme_admin"], clock=clock, schedule_id=row.id,
                                     data={"layers": [layer([u["cem"]])]})


async def test_validation_names_the_field(db: AsyncSession, clock: FakeClock, world: World) -> None:
    u, a = world.users, world.actors
    cases: list[tuple[dict[str, Any], str]] = [
        ({"layers": [layer([u["ana"]], handoff_time="25:00")]}, "layers.0.handoff_time"),
        ({"layers": [layer([])]}, "layers.0.members"),
        ({"layers": [layer([u["ana"]], rotation="monthly")]}, "layers.0.rotation"),
        ({"layers": [layer([u["ana"]], hours_from="18:00")]}, "layers.0.hours_to"),
        ({"timezone": "Mars/Olympus"}, "timezone"),
        ({"name": ""}, "name"),
    ]
    for extra, field in cases:
        with pytest.raises(Invalid) as exc:
            await oncall.create_schedule(db, actor=a["acme_admin"], clock=clock,
                                         data={"company_id": world.acme, "name": "S", **extra})
        assert exc.value.field == field, (extra, exc.value.message)


async def test_update_keeps_unnamed_fields_and_audits_before_after(db: AsyncSession, clock: FakeClock,
                                                                    world: World) -> None:
    u, a = world.users, world.actors
    row = await oncall.create_schedule(db, actor=a["acme_admin"], clock=clock, data={
        "company_id": world.acme, "name": "Acme", "category": "Network", "layers": [layer([u["ana"]])]})
    await db.commit()
    await oncall.update_schedule(db, actor=a["msp"], clock=clock, schedule_id=row.id,
                                 data={"name": "Acme primary", "layers": [layer([u["ben"], u["ana"]])]})
    await db.commit()
    assert (row.name, row.category, row.layers[0]["members"]) == ("Acme primary", "Network", [u["ben"], u["ana"]])
    entry = (await db.execute(select(AuditEntry).where(AuditEntry.action == "schedule.updated"))).scalar_one()
    assert entry.details["before"]["name"] == "Acme" and entry.details["after"]["name"] == "Acme primary"
    await oncall.delete_schedule(db, actor=a["acme_admin"], clock=clock, schedule_id=row.id)
    await db.commit()
    with pytest.raises(NotFound):
        await oncall.get_schedule(db, actor=a["msp"], schedule_id=row.id)


async def test_overrides_win_and_are_scoped(db: AsyncSession, clock: FakeClock, world: World) -> None:
    u, a = world.users, world.actors
    row = await oncall.create_schedule(db, actor=a["acme_admin"], clock=clock, data={
        "company_id": world.acme, "name": "Acme", "layers": [layer([u["ana"]])]})
    await db.commit()
    sid = row.id
    body = {"user_id": u["ben"], "starts_at": (NOW - timedelta(hours=1)).isoformat(),
            "ends_at": (NOW + timedelta(hours=3)).isoformat(), "reason": "swap"}
    with pytest.raises(Forbidden):
        await oncall.create_override(db, actor=a["ana"], clock=clock, schedule_id=sid, data=body)
    with pytest.raises(NotFound):
        await oncall.create_override(db, actor=a["globex_admin"], clock=clock, schedule_id=sid, data=body)
    with pytest.raises(Invalid) as exc:
        await oncall.create_override(db, actor=a["acme_admin"], clock=clock, schedule_id=sid,
                                     data={**body, "ends_at": body["starts_at"]})
    assert exc.value.field == "ends_at"
    with pytest.raises(Invalid) as exc:
        await oncall.create_override(db, actor=a["acme_admin"], clock=clock, schedule_id=sid,
                                     data={**body, "user_id": u["gus"]})
    assert exc.value.field == "user_id"
    await db.rollback()
    # a technician may put themselves on call, and take it back; not someone else's override
    own = await oncall.create_override(db, actor=a["ana"], clock=clock, schedule_id=sid,
                                       data={**body, "user_id": u["ana"], "starts_at": "2026-03-05T09:00:00+00:00",
                                             "ends_at": "2026-03-05T10:00:00+00:00"})
    await db.commit()
    assert own.created_by == u["ana"]
    with pytest.raises(Forbidden):
        await oncall.delete_override(db, actor=a["ben"], clock=clock, schedule_id=sid, override_id=own.id)
    await oncall.delete_override(db, actor=a["ana"], clock=clock, schedule_id=sid, override_id=own.id)
    await db.commit()
    override = await oncall.create_override(db, actor=a["acme_admin"], clock=clock, schedule_id=sid, data=body)
    await db.commit()
    now = await oncall.on_call_now(db, company_id=world.acme, category=None, at=NOW)
    assert [(o.user_id, o.source) for o in now] == [(u["ben"], "override")]
    later = await oncall.on_call_now(db, company_id=world.acme, category=None, at=NOW + timedelta(hours=3))
    assert [(o.user_id, o.source) for o in later] == [(u["ana"], "Weekly")]
    with pytest.raises(NotFound):
        await oncall.delete_override(db, actor=a["globex_admin"], clock=clock, schedule_id=sid,
                                     override_id=override.id)
    await oncall.delete_override(db, actor=a["acme_admin"], clock=clock, schedule_id=sid,
                                 override_id=override.id)
    await db.commit()
    assert (await db.execute(select(ScheduleOverride))).scalars().all() == []
    actions = (await db.execute(select(AuditEntry.action).where(AuditEntry.action.like("schedule.override%"))
                                .order_by(AuditEntry.seq))).scalars().all()
    assert actions == ["schedule.override_created", "schedule.override_deleted"] * 2


async def test_on_call_now_orders_company_category_general_then_teams(db: AsyncSession, clock: FakeClock,
                                                                      world: World) -> None:
    u, a = world.users, world.actors
    make = oncall.create_schedule
    await make(db, actor=a["msp"], clock=clock, data={"name": "Team general", "layers": [layer([u["msp"]])]})
    await make(db, actor=a["msp"], clock=clock, data={"name": "Team DB", "category": "Database",
                                                         "layers": [layer([u["cem"]])]})
    await make(db, actor=a["acme_admin"], clock=clock, data={"company_id": world.acme, "name": "Acme general",
                                                                "layers": [layer([u["ben"]])]})
    await make(db, actor=a["acme_admin"], clock=clock, data={"company_id": world.acme, "name": "Acme DB",
                                                                "category": "Database", "layers": [layer([u["ana"]])]})
    await make(db, actor=a["acme_admin"], clock=clock, data={"company_id": world.acme, "name": "Acme Net",
                                                                "category": "Network", "layers": [layer([u["cem"]])]})
    await make(db, actor=a["globex_admin"], clock=clock, data={
        "company_id": world.globex, "name": "Globex DB", "category": "Database", "layers": [layer([u["gus"]])]})
    await make(db, actor=a["msp"], clock=clock, data={"name": "Team Net", "category": "Network",
                                                         "layers": [layer([u["gus"]])]})
    await db.commit()
    found = await oncall.on_call_now(db, company_id=world.acme, category="Database", at=NOW)
    assert [(o.user_id, o.schedule_name) for o in found] == [
        (u["ana"], "Acme DB"), (u["ben"], "Acme general"), (u["cem"], "Team DB"), (u["msp"], "Team general")]
    # a team member who does not cover the company is not on call for it (gus covers Globex only)
    net = await oncall.on_call_now(db, company_id=world.acme, category="Network", at=NOW)
    assert [o.schedule_name for o in net] == ["Acme Net", "Acme general", "Team general"]
    # one entry per person: cem is on call for Globex through the DB team only once
    globex = await oncall.on_call_now(db, company_id=world.globex, category="database", at=NOW)
    assert [(o.user_id, o.schedule_name) for o in globex] == [
        (u["gus"], "Globex DB"), (u["cem"], "Team DB"), (u["msp"], "Team general")]
    with pytest.raises(NotFound):
        await oncall.who_is_on_call(db, actor=a["gus"], company_id=world.acme, category=None, at=NOW)
