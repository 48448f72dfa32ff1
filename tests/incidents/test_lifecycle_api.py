"""Bulk actions (partial success reported per id) and the read API's lifecycle filters and fields, both backends."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI

from alertwhisperer.clock import FakeClock
from alertwhisperer.config import Settings
from tests.auth.helpers import cheap_argon2  # noqa: F401  (autouse fixture)
from tests.incidents.lifecycle_world import SM, World, audit_actions, build, incident, open_incident


@pytest.fixture
async def world(client: httpx.AsyncClient, sessionmaker: SM, settings: Settings, clock: FakeClock) -> World:
    return await build(client, sessionmaker, settings, clock)


async def test_bulk_reports_each_incident_and_applies_the_ones_that_may_change(
        app: FastAPI, client: httpx.AsyncClient, sessionmaker: SM, clock: FakeClock, world: World) -> None:
    a = await open_incident(app, client, sessionmaker, clock, world.acme, "DiskFull", "db-01:9100")
    b = await open_incident(app, client, sessionmaker, clock, world.acme, "NginxDown", "web-01:9100")
    hidden = await open_incident(app, client, sessionmaker, clock, world.globex, "DiskFull", "vault-01:9100")
    tech = world.auth["tech"]
    assert (await client.post(f"/api/incidents/{b}/resolve", headers=tech)).status_code == 200
    assert (await client.post(f"/api/incidents/{b}/close", headers=tech)).status_code == 200

    r = await client.post("/api/incidents/bulk", headers=tech,
                          json={"action": "acknowledge", "incident_ids": [a, b, hidden, a]})
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["succeeded"] == 1 and out["failed"] == 2
    results = {x["incident_id"]: x for x in out["results"]}
    assert list(results) == [a, b, hidden]  # duplicates folded, order kept
    assert results[a] == {"incident_id": a, "ok": True, "status": "acknowledged", "error": ""}
    assert not results[b]["ok"] and "closed" in results[b]["error"]
    assert not results[hidden]["ok"] and results[hidden]["error"] == "incident not found"
    assert (await incident(sessionmaker, a)).status == "acknowledged"
    assert (await incident(sessionmaker, b)).status == "closed"
    assert (await incident(sessionmaker, hidden)).status == "new"
    assert await audit_actions(sessionmaker, hidden) == []

    r = await client.post("/api/incidents/bulk", headers=tech,
                          json={"action": "assign", "incident_ids": [a, b], "user_id": world.ids["tech2"]})
    assert r.json()["succeeded"] == 2 and (await incident(sessionmaker, a)).assignee_id == world.ids["tech2"]
    r = await client.post("/api/incidents/bulk", headers=tech,
                          json={"action": "assign", "incident_ids": [a], "user_id": world.ids["other"]})
    assert r.json()["failed"] == 1 and "does not cover" in r.json()["results"][0]["error"]

    r = await client.post("/api/incidents/bulk", headers=tech,
                          json={"action": "resolve", "incident_ids": [a], "note": "fixed together"})
    assert r.json()["succeeded"] == 1 and (await incident(sessionmaker, a)).status == "resolved"

    no_one = await client.post("/api/incidents/bulk", headers=tech, json={"action": "assign", "incident_ids": [a]})
    assert no_one.status_code == 422 and no_one.json()["field"] == "user_id"
    too_many = await client.post("/api/incidents/bulk", headers=tech,
                                 json={"action": "acknowledge", "incident_ids": [str(i) for i in range(201)]})
    assert too_many.status_code == 422
    unknown = await client.post("/api/incidents/bulk", headers=tech, json={"action": "explode", "incident_ids": [a]})
    assert unknown.status_code == 422


async def test_list_filters_mine_assignee_and_lifecycle_status(app: FastAPI, client: httpx.AsyncClient,
                                                               sessionmaker: SM, clock: FakeClock,
                                                               world: World) -> None:
    a = await open_incident(app, client, sessionmaker, clock, world.acme, "DiskFull", "db-01:9100")
    b = await open_incident(app, client, sessionmaker, clock, world.acme, "NginxDown", "web-01:9100")
    c = await open_incident(app, client, sessionmaker, clock, world.acme, "HighLoad", "app-01:9100")
    tech = world.auth["tech"]
    assert (await client.post(f"/api/incidents/{a}/acknowledge", headers=tech)).status_code == 200
    assert (await client.post(f"/api/incidents/{b}/assign", headers=tech,
                              json={"user_id": world.ids["tech2"]})).status_code == 200
    assert (await client.post(f"/api/incidents/{c}/resolve", headers=tech)).status_code == 200

    async def ids(headers: dict[str, str], **params: str) -> set[str]:
        r = await client.get("/api/incidents", headers=headers, params=params)
        assert r.status_code == 200, r.text
        return {i["id"] for i in r.json()}

    assert await ids(tech, mine="true") == {a}
    assert await ids(world.auth["tech2"], mine="true") == {b}
    assert await ids(tech, assignee=world.ids["tech2"]) == {b}
    assert await ids(tech, assignee="none") == {c}
    assert await ids(tech, status="open") == {a, b}
    assert await ids(tech, status="acknowledged") == {a}
    assert await ids(tech, status="resolved") == {c}
    assert await ids(world.auth["other"], assignee=world.ids["tech2"]) == set()

    listed = {i["id"]: i for i in (await client.get("/api/incidents", headers=tech)).json()}
    assert listed[a]["assignee"] == {"id": world.ids["tech"], "name": world.emails["tech"].split("@")[0],
                                     "email": world.emails["tech"]}
    assert listed[a]["acknowledged_at"] is not None and listed[a]["escalation_level"] == 0
    assert listed[c]["assignee"] is None and listed[c]["resolution_kind"] == "manual"
    for name in ("category", "response_due_at", "resolution_due_at", "response_breached_at",
                 "resolution_breached_at", "sla_started_at"):
        assert name in listed[a]
    detail = (await client.get(f"/api/incidents/{a}", headers=tech)).json()
    assert detail["assignee"]["id"] == world.ids["tech"]
