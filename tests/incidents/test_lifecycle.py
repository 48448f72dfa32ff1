"""The incident lifecycle over the API on both backends: every transition and its refusal, idempotent repeats,
scope, audit and timeline rows, notes, and what happens to the SLA fields on acknowledge / resolve / reopen."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from alertwhisperer.clock import FakeClock
from alertwhisperer.config import Settings
from alertwhisperer.jobs.models import Job
from tests.auth.helpers import cheap_argon2  # noqa: F401  (autouse fixture)
from tests.incidents.lifecycle_world import SM, World, audit_actions, build, events, incident, open_incident, relogin


@pytest.fixture
async def world(client: httpx.AsyncClient, sessionmaker: SM, settings: Settings, clock: FakeClock) -> World:
    return await build(client, sessionmaker, settings, clock)


async def test_walks_every_transition_with_audit_timeline_and_sla(
        app: FastAPI, client: httpx.AsyncClient, sessionmaker: SM, clock: FakeClock, world: World) -> None:
    iid = await open_incident(app, client, sessionmaker, clock, world.acme, "DiskFull", "db-01:9100")
    tech = world.auth["tech"]
    opened = await incident(sessionmaker, iid)
    assert opened.status == "new" and opened.assignee_id is None

    # new -> acknowledged: the first response, and the acknowledger takes it
    clock.advance(minutes=4)
    r = await client.post(f"/api/incidents/{iid}/acknowledge", headers=tech)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["status"] == "acknowledged" and body["assignee_id"] == world.ids["tech"]
    assert body["assignee"]["email"] == world.emails["tech"]
    acked_at = body["acknowledged_at"]
    assert acked_at is not None

    # repeating it changes nothing (no audit, no timeline entry)
    clock.advance(minutes=1)
    before = await audit_actions(sessionmaker, iid)
    again = await client.post(f"/api/incidents/{iid}/acknowledge", headers=world.auth["admin"])
    assert again.status_code == 200 and again.json()["acknowledged_at"] == acked_at
    assert again.json()["assignee_id"] == world.ids["tech"]
    assert await audit_actions(sessionmaker, iid) == before

    # closing an open incident is refused, naming both statuses
    refused = await client.post(f"/api/incidents/{iid}/close", headers=tech)
    assert refused.status_code == 409
    assert refused.json()["details"] == {"status": "acknowledged", "wanted": "closed"}
    assert "acknowledged" in refused.json()["message"] and "resolve it first" in refused.json()["message"]

    r = await client.post(f"/api/incidents/{iid}/start", headers=tech)
    assert r.status_code == 200 and r.json()["status"] == "in_progress" and r.json()["started_at"]
    assert (await client.post(f"/api/incidents/{iid}/start", headers=tech)).json()["status"] == "in_progress"

    clock.advance(minutes=20)
    await relogin(client, world)
    tech = world.auth["tech"]
    r = await client.post(f"/api/incidents/{iid}/resolve", headers=tech, json={"note": "freed 40 GB of old logs"})
    assert r.status_code == 200, r.text
    resolved = r.json()
    assert resolved["status"] == "resolved" and resolved["resolution_kind"] == "manual"
    assert resolved["time_to_resolve_seconds"] == pytest.approx(25 * 60)
    assert (await client.post(f"/api/incidents/{iid}/resolve", headers=tech)).status_code == 200  # repeat: no-op
    assert (await client.post(f"/api/incidents/{iid}/acknowledge", headers=tech)).status_code == 409
    assert (await client.post(f"/api/incidents/{iid}/start", headers=tech)).status_code == 409

    r = await client.post(f"/api/incidents/{iid}/close", headers=world.auth["admin"])
    assert r.status_code == 200 and r.json()["status"] == "closed" and r.json()["closed_at"]
    assert (await client.post(f"/api/incidents/{iid}/resolve", headers=tech)).status_code == 409

    # reopen: back to new, the resolution cleared, the SLA restarted (its timers scheduled again)
    clock.advance(minutes=5)
    r = await client.post(f"/api/incidents/{iid}/reopen", headers=tech, json={"note": "disk filling again"})
    assert r.status_code == 200, r.text
    reopened = r.json()
    assert reopened["status"] == "new" and reopened["resolved_at"] is None and reopened["closed_at"] is None
    assert reopened["resolution_kind"] == "" and reopened["time_to_resolve_seconds"] is None
    assert reopened["assignee_id"] == world.ids["tech"]
    assert (await client.post(f"/api/incidents/{iid}/reopen", headers=tech)).json()["status"] == "new"

    assert await audit_actions(sessionmaker, iid) == [
        "incident.assigned", "incident.acknowledged", "incident.started", "incident.resolved", "incident.closed",
        "incident.reopened"]
    entries = await events(sessionmaker, iid)
    assert [(e.kind, e.data.get("to")) for e in entries] == [
        ("assignment", world.ids["tech"]), ("status", "acknowledged"), ("status", "in_progress"),
        ("status", "resolved"), ("status", "closed"), ("status", "new")]
    assert entries[3].body == "freed 40 GB of old logs" and entries[5].body == "disk filling again"
    assert entries[1].actor_id == world.ids["tech"] and entries[1].actor_name



async def pending_sla_timers(sm: SM, incident_id: str) -> list[str]:
    async with sm() as s:
        rows = await s.execute(select(Job.dedup_key).where(Job.dedup_key.like(f"sla:{incident_id}:%"),
                                                           Job.status == "pending"))
        return sorted(k.split(":")[2] for k in rows.scalars() if k)


async def test_the_sla_hooks_follow_the_lifecycle(app: FastAPI, client: httpx.AsyncClient, sessionmaker: SM,
                                                  clock: FakeClock, world: World) -> None:
    """reopen -> sla.start (fresh timers), acknowledge -> sla.on_acknowledged (response timers cancelled),
    resolve -> sla.stop (all cancelled)."""
    iid = await open_incident(app, client, sessionmaker, clock, world.acme, "DiskFull", "db-01:9100")
    tech = world.auth["tech"]
    assert (await client.post(f"/api/incidents/{iid}/acknowledge", headers=tech)).status_code == 200
    assert (await client.post(f"/api/incidents/{iid}/resolve", headers=tech)).status_code == 200
    clock.advance(minutes=3)
    assert (await client.post(f"/api/incidents/{iid}/reopen", headers=tech)).status_code == 200
    row = await incident(sessionmaker, iid)
    assert row.sla_started_at == clock.now() and row.response_due_at is not None and row.resolution_due_at
    assert await pending_sla_timers(sessionmaker, iid) == [
        "resolution_breach", "resolution_warning", "response_breach", "response_warning"]

    clock.advance(minutes=2)
    r = await client.post(f"/api/incidents/{iid}/acknowledge", headers=tech)
    assert r.status_code == 200
    assert (await incident(sessionmaker, iid)).acknowledged_at == clock.now()  # this cycle's response
    assert await pending_sla_timers(sessionmaker, iid) == ["resolution_breach", "resolution_warning"]

    assert (await client.post(f"/api/incidents/{iid}/resolve", headers=tech)).status_code == 200
    assert await pending_sla_timers(sessionmaker, iid) == []


async def test_start_work_from_new_acknowledges_first(app: FastAPI, client: httpx.AsyncClient, sessionmaker: SM,
                                                      clock: FakeClock, world: World) -> None:
    iid = await open_incident(app, client, sessionmaker, clock, world.acme, "NginxDown", "web-01:9100")
    r = await client.post(f"/api/incidents/{iid}/start", headers=world.auth["admin"])
    assert r.status_code == 200
    assert r.json()["status"] == "in_progress" and r.json()["acknowledged_at"] is not None
    assert r.json()["assignee_id"] == world.ids["admin"]
    assert [e.data.get("to") for e in await events(sessionmaker, iid) if e.kind == "status"] == [
        "acknowledged", "in_progress"]


async def test_resolving_from_new_counts_as_the_response(app: FastAPI, client: httpx.AsyncClient, sessionmaker: SM,
                                                          clock: FakeClock, world: World) -> None:
    iid = await open_incident(app, client, sessionmaker, clock, world.acme, "NginxDown", "web-01:9100")
    clock.advance(minutes=2)
    r = await client.post(f"/api/incidents/{iid}/resolve", headers=world.auth["tech"])
    assert r.status_code == 200 and r.json()["status"] == "resolved"
    assert r.json()["acknowledged_at"] is not None and r.json()["assignee_id"] is None
    assert (await client.post(f"/api/incidents/{iid}/close", headers=world.auth["tech"])).status_code == 200


async def test_scope_other_company_gets_404_and_every_role_of_the_company_may_act(
        app: FastAPI, client: httpx.AsyncClient, sessionmaker: SM, clock: FakeClock, world: World) -> None:
    iid = await open_incident(app, client, sessionmaker, clock, world.acme, "DiskFull", "db-01:9100")
    other = world.auth["other"]
    for action, body in (("acknowledge", None), ("start", None), ("resolve", {}), ("close", None), ("reopen", {}),
                         ("notes", {"body": "hi"}), ("assign", {"user_id": world.ids["other"]}),
                         ("auto-assign", None), ("merge", {"into": iid}), ("split", {"alert_ids": ["x"]})):
        r = await client.post(f"/api/incidents/{iid}/{action}", headers=other, json=body)
        assert r.status_code == 404, (action, r.status_code, r.text)
    assert (await client.get(f"/api/incidents/{iid}/timeline", headers=other)).status_code == 404
    assert (await client.get(f"/api/incidents/{iid}/assignees", headers=other)).status_code == 404
    assert await audit_actions(sessionmaker, iid) == []
    assert (await incident(sessionmaker, iid)).status == "new"

    assert (await client.post(f"/api/incidents/{iid}/acknowledge", headers=world.auth["tech"])).status_code == 200
    assert (await client.post(f"/api/incidents/{iid}/start", headers=world.auth["admin"])).status_code == 200
    assert (await client.post(f"/api/incidents/{iid}/resolve", headers=world.auth["msp"])).status_code == 200
    assert (await client.post("/api/incidents/0000/acknowledge", headers=world.auth["msp"])).status_code == 404


async def test_notes_are_checked_and_land_on_the_timeline(app: FastAPI, client: httpx.AsyncClient,
                                                          sessionmaker: SM, clock: FakeClock, world: World) -> None:
    iid = await open_incident(app, client, sessionmaker, clock, world.acme, "DiskFull", "db-01:9100")
    tech = world.auth["tech"]
    empty = await client.post(f"/api/incidents/{iid}/notes", headers=tech, json={"body": "   "})
    assert empty.status_code == 422 and empty.json()["field"] == "body"
    long = await client.post(f"/api/incidents/{iid}/notes", headers=tech, json={"body": "x" * 10_001})
    assert long.status_code == 422 and "10,000" in long.json()["message"]
    ok = await client.post(f"/api/incidents/{iid}/notes", headers=tech, json={"body": " Called the client. "})
    assert ok.status_code == 201, ok.text
    entries = await events(sessionmaker, iid)
    assert [(e.kind, e.body) for e in entries] == [("note", "Called the client.")]
    assert await audit_actions(sessionmaker, iid) == ["incident.note_added"]
    r = await client.get(f"/api/incidents/{iid}/timeline", headers=tech)
    assert r.status_code == 200
    items = r.json()
    assert [i["type"] for i in items] == ["alert", "event"]
    assert items[0]["signature"] and items[0]["kind"] == "new_incident"
    assert items[1]["kind"] == "note" and items[1]["body"] == "Called the client."
