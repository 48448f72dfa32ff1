"""Manual assignment over the API on both backends: who may be assigned, warnings for leave and load, reassign
notifies the new assignee, unassign, repeats, and the eligible-assignee list."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from alertwhisperer.auth.models import User
from alertwhisperer.clock import FakeClock
from alertwhisperer.config import Settings
from alertwhisperer.notify.models import Notification
from tests.auth.helpers import cheap_argon2  # noqa: F401  (autouse fixture)
from tests.incidents.lifecycle_world import SM, World, audit_actions, build, events, incident, open_incident


@pytest.fixture
async def world(client: httpx.AsyncClient, sessionmaker: SM, settings: Settings, clock: FakeClock) -> World:
    return await build(client, sessionmaker, settings, clock)


async def _set_user(sm: SM, user_id: str, **values: object) -> None:
    async with sm() as s:
        user = await s.get(User, user_id)
        assert user is not None
        for name, value in values.items():
            setattr(user, name, value)
        await s.commit()


async def test_assign_reassign_unassign_with_rules_and_notification(
        app: FastAPI, client: httpx.AsyncClient, sessionmaker: SM, clock: FakeClock, world: World) -> None:
    iid = await open_incident(app, client, sessionmaker, clock, world.acme, "DiskFull", "db-01:9100")
    admin = world.auth["admin"]
    url = f"/api/incidents/{iid}/assign"

    # not someone who covers Acme: another company's technician, an unknown id, a deactivated user
    for user_id in (world.ids["other"], "0" * 32):
        r = await client.post(url, headers=admin, json={"user_id": user_id})
        assert r.status_code == 422 and r.json()["field"] == "user_id", r.text
    await _set_user(sessionmaker, world.ids["tech2"], is_active=False)
    assert (await client.post(url, headers=admin, json={"user_id": world.ids["tech2"]})).status_code == 422
    await _set_user(sessionmaker, world.ids["tech2"], is_active=True)
    assert (await incident(sessionmaker, iid)).assignee_id is None

    r = await client.post(url, headers=admin, json={"user_id": world.ids["tech"]})
    assert r.status_code == 200 and r.json()["assignee"]["id"] == world.ids["tech"]
    assert r.json()["assigned_at"] is not None
    # the same again: nothing happens
    assert (await client.post(url, headers=admin, json={"user_id": world.ids["tech"]})).status_code == 200
    # an MSP admin covers every company
    assert (await client.post(url, headers=admin, json={"user_id": world.ids["msp"]})).status_code == 200
    # someone on leave may still be chosen by a person: the timeline says so
    await _set_user(sessionmaker, world.ids["tech2"], on_leave=True)
    r = await client.post(url, headers=world.auth["tech"], json={"user_id": world.ids["tech2"]})
    assert r.status_code == 200 and r.json()["assignee_id"] == world.ids["tech2"]
    r = await client.post(url, headers=admin, json={"user_id": None})
    assert r.status_code == 200 and r.json()["assignee_id"] is None and r.json()["assigned_at"] is None

    entries = [e for e in await events(sessionmaker, iid) if e.kind == "assignment"]
    assert [e.data["to"] for e in entries] == [world.ids["tech"], world.ids["msp"], world.ids["tech2"], None]
    assert entries[1].data["from"] == world.ids["tech"] and "was" in entries[1].body
    assert entries[2].data["warnings"] == ["on leave"] and "on leave" in entries[2].body
    assert entries[3].body.startswith("Unassigned")
    assert await audit_actions(sessionmaker, iid) == ["incident.assigned"] * 4

    # each new assignee got an assignment notification (not the one who unassigned)
    async with sessionmaker() as s:
        notes = list((await s.execute(select(Notification).where(Notification.incident_id == iid)
                                      .order_by(Notification.created_at))).scalars())
    assert sorted(n.user_id for n in notes if n.kind == "assignment") == sorted(
        [world.ids["tech"], world.ids["msp"], world.ids["tech2"]])


async def test_over_maximum_load_is_allowed_with_a_warning(app: FastAPI, client: httpx.AsyncClient,
                                                           sessionmaker: SM, clock: FakeClock, world: World) -> None:
    await _set_user(sessionmaker, world.ids["tech2"], max_concurrent_incidents=1)
    first = await open_incident(app, client, sessionmaker, clock, world.acme, "DiskFull", "db-01:9100")
    second = await open_incident(app, client, sessionmaker, clock, world.acme, "NginxDown", "web-01:9100")
    assert first != second
    admin = world.auth["admin"]
    assert (await client.post(f"/api/incidents/{first}/assign", headers=admin,
                              json={"user_id": world.ids["tech2"]})).status_code == 200
    people = (await client.get(f"/api/incidents/{second}/assignees", headers=admin)).json()
    by_id = {p["id"]: p for p in people}
    assert set(by_id) == {world.ids["admin"], world.ids["tech"], world.ids["tech2"], world.ids["msp"]}
    assert by_id[world.ids["tech2"]]["load"] == 1 and by_id[world.ids["tech2"]]["warnings"]
    assert people[-1]["id"] == world.ids["tech2"]  # the busy one last
    r = await client.post(f"/api/incidents/{second}/assign", headers=admin, json={"user_id": world.ids["tech2"]})
    assert r.status_code == 200
    entry = next(e for e in await events(sessionmaker, second) if e.kind == "assignment")
    assert "maximum 1" in entry.body


async def test_auto_assign_runs_the_assignment_rules_on_demand(app: FastAPI, client: httpx.AsyncClient,
                                                               sessionmaker: SM, clock: FakeClock,
                                                               world: World) -> None:
    iid = await open_incident(app, client, sessionmaker, clock, world.acme, "DiskFull", "db-01:9100")
    r = await client.post(f"/api/incidents/{iid}/auto-assign", headers=world.auth["admin"])
    assert r.status_code == 200, r.text
    result = r.json()
    row = await incident(sessionmaker, iid)
    assert row.assignee_id == result["user_id"]
    assert result["reason"]
    if result["assigned"]:
        assert await audit_actions(sessionmaker, iid) == ["incident.auto_assigned"]
    else:
        assert row.assignee_id is None and await audit_actions(sessionmaker, iid) == []
