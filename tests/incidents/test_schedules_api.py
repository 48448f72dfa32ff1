"""The on-call schedule API on SQLite and PostgreSQL: CRUD, 422 naming the field, scoping, overrides, shifts with
gaps, iCal export and who is on call now."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import httpx
import icalendar
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from alertwhisperer.audit.models import AuditEntry
from alertwhisperer.auth.principal import Role
from alertwhisperer.clock import FakeClock
from alertwhisperer.config import Settings
from tests.auth.helpers import cheap_argon2, user_id  # noqa: F401  (cheap_argon2: autouse fixture)
from tests.factories import bearer, login, make_company, make_user

SM = async_sessionmaker[AsyncSession]


@dataclass
class World:
    acme: str
    globex: str
    ids: dict[str, str]
    emails: dict[str, str]


async def build_world(sessionmaker: SM, settings: Settings, clock: FakeClock) -> World:
    async with sessionmaker() as s:
        acme = (await make_company(s, clock, "Acme")).id
        globex = (await make_company(s, clock, "Globex")).id
        emails = {
            "msp": await make_user(s, settings, clock, Role.MSP_ADMIN),
            "admin": await make_user(s, settings, clock, Role.COMPANY_ADMIN, [acme]),
            "ana": await make_user(s, settings, clock, Role.TECHNICIAN, [acme], category="Database",
                                   email="ana@msp.example"),
            "ben": await make_user(s, settings, clock, Role.TECHNICIAN, [acme], category="Network",
                                   email="ben@msp.example"),
            "other_admin": await make_user(s, settings, clock, Role.COMPANY_ADMIN, [globex]),
            "gus": await make_user(s, settings, clock, Role.TECHNICIAN, [globex]),
        }
    ids = {k: await user_id(sessionmaker, v) for k, v in emails.items()}
    return World(acme, globex, ids, emails)


@pytest.fixture
async def world(sessionmaker: SM, settings: Settings, clock: FakeClock) -> World:
    return await build_world(sessionmaker, settings, clock)


async def as_(client: httpx.AsyncClient, w: World, who: str) -> dict[str, str]:
    return bearer(await login(client, w.emails[who]))


def body(w: World, **extra: object) -> dict[str, object]:
    return {"company_id": w.acme, "name": "Acme DB", "category": "Database", "timezone": "Europe/Berlin",
            "layers": [{"name": "Office hours", "rotation": "weekly", "handoff_time": "00:00",
                        "handoff_weekday": 0, "starts_on": "2026-03-02", "members": [w.ids["ana"], w.ids["ben"]],
                        "days": [0, 1, 2, 3, 4], "hours_from": "08:00", "hours_to": "18:00"}], **extra}


async def test_crud_validation_and_scope(client: httpx.AsyncClient, sessionmaker: SM, world: World) -> None:
    admin = await as_(client, world, "admin")
    bad = await client.post("/api/schedules", headers=admin, json=body(world, layers=[
        {"name": "L", "rotation": "weekly", "handoff_time": "9h", "starts_on": "2026-03-02",
         "members": [world.ids["ana"]]}]))
    assert bad.status_code == 422 and "layers.0.handoff_time" in bad.text
    outsider = await client.post("/api/schedules", headers=admin, json=body(world, layers=[
        {"name": "L", "starts_on": "2026-03-02", "members": [world.ids["gus"]]}]))
    assert outsider.status_code == 422 and "layers.0.members" in outsider.text
    r = await client.post("/api/schedules", headers=admin, json=body(world))
    assert r.status_code == 201, r.text
    sid = r.json()["id"]
    assert r.json()["layers"][0]["members"] == [world.ids["ana"], world.ids["ben"]]
    tech = await as_(client, world, "ana")
    assert (await client.get(f"/api/schedules/{sid}", headers=tech)).status_code == 200
    assert (await client.patch(f"/api/schedules/{sid}", headers=tech, json={"name": "x"})).status_code == 403
    assert (await client.post("/api/schedules", headers=tech, json=body(world))).status_code == 403
    other = await as_(client, world, "other_admin")
    for method in ("GET", "PATCH", "DELETE"):
        assert (await client.request(method, f"/api/schedules/{sid}", headers=other,
                                     json={"name": "x"} if method == "PATCH" else None)).status_code == 404
    assert (await client.get("/api/schedules", headers=other)).json() == []
    assert (await client.get(f"/api/schedules?company_id={world.acme}", headers=other)).status_code == 404
    assert (await client.post("/api/schedules", headers=admin, json=body(world, company_id=None))).status_code == 403
    msp = await as_(client, world, "msp")
    team = await client.post("/api/schedules", headers=msp, json=body(world, company_id=None, name="Night team"))
    assert team.status_code == 201
    listed = await client.get(f"/api/schedules?company_id={world.acme}&include_teams=true", headers=tech)
    assert [s["name"] for s in listed.json()] == ["Acme DB", "Night team"]
    patched = await client.patch(f"/api/schedules/{sid}", headers=admin, json={"name": "Acme database"})
    assert patched.status_code == 200 and patched.json()["category"] == "Database"
    assert (await client.delete(f"/api/schedules/{sid}", headers=admin)).status_code == 204
    assert (await client.get(f"/api/schedules/{sid}", headers=admin)).status_code == 404
    async with sessionmaker() as s:
        actions = (await s.execute(select(AuditEntry.action).where(AuditEntry.action.like("schedule.%"))
                                   .order_by(AuditEntry.seq))).scalars().all()
    assert actions == ["schedule.created", "schedule.created", "schedule.updated", "schedule.deleted"]


async def test_overrides_shifts_gaps_ical_and_on_call_now(client: httpx.AsyncClient, clock: FakeClock,
                                                         world: World) -> None:
    admin = await as_(client, world, "admin")
    sid = (await client.post("/api/schedules", headers=admin, json=body(world))).json()["id"]
    now = clock.now()  # Monday 2 March 2026, 09:00 UTC = 10:00 Berlin
    on_call = await client.get(f"/api/companies/{world.acme}/oncall?category=Database", headers=admin)
    assert [(o["user_name"], o["source"]) for o in on_call.json()] == [("ana", "Office hours")]
    assert on_call.json()[0]["until"] == "2026-03-02T17:00:00Z"  # 18:00 Berlin, the end of office hours
    assert (await client.get(f"/api/companies/{world.acme}/oncall?category=Network", headers=admin)).json() == []
    override = {"user_id": world.ids["ben"], "starts_at": now.isoformat(),
                "ends_at": (now + timedelta(hours=2)).isoformat(), "reason": "dentist swap"}
    tech = await as_(client, world, "ana")
    assert (await client.post(f"/api/schedules/{sid}/overrides", headers=tech, json=override)).status_code == 403
    bad = await client.post(f"/api/schedules/{sid}/overrides", headers=admin,
                            json={**override, "ends_at": now.isoformat()})
    assert bad.status_code == 422 and "ends_at" in bad.text
    made = await client.post(f"/api/schedules/{sid}/overrides", headers=admin, json=override)
    assert made.status_code == 201 and made.json()["user_name"] == "ben"
    oid = made.json()["id"]
    assert [o["id"] for o in (await client.get(f"/api/schedules/{sid}/overrides", headers=tech)).json()] == [oid]
    on_call = await client.get(f"/api/companies/{world.acme}/oncall", headers=tech)
    assert [(o["user_name"], o["source"]) for o in on_call.json()] == [("ben", "override")]
    shifts = await client.get(f"/api/schedules/{sid}/shifts", headers=tech, params={
        "start": "2026-03-02T00:00:00+01:00", "end": "2026-03-03T00:00:00+01:00"})
    assert shifts.status_code == 200, shifts.text
    data = shifts.json()
    assert [(s["user_name"], s["source"], s["start"], s["end"]) for s in data["shifts"]] == [
        ("ana", "Office hours", "2026-03-02T07:00:00Z", "2026-03-02T09:00:00Z"),
        ("ben", "override", "2026-03-02T09:00:00Z", "2026-03-02T11:00:00Z"),
        ("ana", "Office hours", "2026-03-02T11:00:00Z", "2026-03-02T17:00:00Z")]
    assert [(g["start"], g["end"]) for g in data["gaps"]] == [
        ("2026-03-01T23:00:00Z", "2026-03-02T07:00:00Z"), ("2026-03-02T17:00:00Z", "2026-03-02T23:00:00Z")]
    too_long = await client.get(f"/api/schedules/{sid}/shifts", headers=tech, params={
        "start": "2026-03-02T00:00:00+00:00", "end": "2026-06-02T00:00:00+00:00"})
    assert too_long.status_code == 422
    assert (await client.get(f"/api/schedules/{sid}/shifts?start=yesterday", headers=tech)).status_code == 422
    ical = await client.get(f"/api/schedules/{sid}/ical?weeks=1", headers=tech)
    assert ical.status_code == 200 and ical.headers["content-type"].startswith("text/calendar")
    events = list(icalendar.Calendar.from_ical(ical.content).walk("VEVENT"))
    assert str(events[0]["summary"]) == "On call: ben" and events[0].decoded("dtstart") == now
    # the override, office hours Monday (the rest of it) to Friday, then next Monday's first two hours (ben's week)
    assert len(events) == 1 + 5 + 1 and str(events[-1]["summary"]) == "On call: ben"
    assert all(e.decoded("dtend") <= now + timedelta(weeks=1) for e in events)
    other = await as_(client, world, "other_admin")
    for url in (f"/api/schedules/{sid}/shifts", f"/api/schedules/{sid}/ical", f"/api/schedules/{sid}/overrides",
                f"/api/companies/{world.acme}/oncall"):
        assert (await client.get(url, headers=other)).status_code == 404, url
    assert (await client.delete(f"/api/schedules/{sid}/overrides/{oid}", headers=other)).status_code == 404
    assert (await client.delete(f"/api/schedules/{sid}/overrides/{oid}", headers=admin)).status_code == 204
    assert (await client.get(f"/api/schedules/{sid}/overrides", headers=admin)).json() == []
    clock.set(datetime(2026, 3, 2, 20, 0, tzinfo=UTC))
    assert (await client.get(f"/api/companies/{world.acme}/oncall", headers=await as_(client, world, "admin"))
            ).json() == []  # 21:00 Berlin: outside office hours, nobody
