"""The approvals API: inbox per role, one request, approve / reject with the role checks, expiry answered 409
(and kept), the incident's timeline."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI

from alertwhisperer.clock import FakeClock
from alertwhisperer.config import Settings
from alertwhisperer.remediation import states
from tests.incidents.lifecycle_world import events, open_incident
from tests.remediation.test_gates_world import (
    HIGH,
    MEDIUM,
    SM,
    World,
    audit_actions,
    build,
    execution,
    make_request,
    relogin,
)

NGINX = {"service": "nginx"}


@pytest.fixture
async def world(client: httpx.AsyncClient, sessionmaker: SM, settings: Settings, clock: FakeClock) -> World:
    return await build(sessionmaker, settings, clock, client)


async def test_inbox_per_role(
    client: httpx.AsyncClient, sessionmaker: SM, settings: Settings, clock: FakeClock, world: World
) -> None:
    ex = await make_request(sessionmaker, settings, clock, world, MEDIUM, params=NGINX, by="tech")
    r = await client.get("/api/approvals", headers=world.auth["admin"])
    assert r.status_code == 200, r.text
    [item] = r.json()
    assert item["id"] == ex.id and item["status"] == "pending_approval" and item["can_decide"]
    assert item["risk"] == "medium" and item["params"] == ex.params and item["requested_by_id"] == world.ids["tech"]
    assert item["remaining_seconds"] == 3600 and item["expired"] is False and item["answer"] is None
    assert "secret" not in item["target"] and item["target"]["asset_id"] == world.asset_a
    mine = (await client.get("/api/approvals", headers=world.auth["tech"])).json()
    assert [(i["id"], i["mine"], i["can_decide"]) for i in mine] == [(ex.id, True, False)]
    assert (await client.get("/api/approvals", headers=world.auth["admin_b"])).json() == []
    r = await client.get(f"/api/approvals?company_id={world.a.id}", headers=world.auth["admin_b"])
    assert r.status_code == 404
    assert (await client.get(f"/api/approvals/{ex.id}", headers=world.auth["admin_b"])).status_code == 404
    one = await client.get(f"/api/approvals/{ex.id}", headers=world.auth["tech2"])
    assert one.status_code == 200 and one.json()["can_decide"] is False
    assert "may not approve" in one.json()["why_not"]
    assert (await client.get("/api/approvals")).status_code == 401


async def test_approve_and_reject_role_checks(
    client: httpx.AsyncClient, sessionmaker: SM, settings: Settings, clock: FakeClock, world: World
) -> None:
    medium = await make_request(sessionmaker, settings, clock, world, MEDIUM, params=NGINX, by="tech")
    high = await make_request(sessionmaker, settings, clock, world, HIGH, by="admin")
    url = f"/api/approvals/{medium.id}"
    r = await client.post(f"{url}/approve", json={"note": "x"}, headers=world.auth["tech"])
    assert r.status_code == 403 and "own request" in r.json()["message"], r.text
    r = await client.post(f"{url}/approve", json={}, headers=world.auth["tech2"])
    assert r.status_code == 403 and "technician" in r.json()["message"]
    assert (await client.post(f"{url}/approve", headers=world.auth["admin_b"])).status_code == 404
    r = await client.post(f"/api/approvals/{high.id}/approve", headers=world.auth["admin2"])
    assert r.status_code == 403 and "MSP admin" in r.json()["message"]
    r = await client.post(f"/api/approvals/{high.id}/approve", headers=world.auth["admin"])
    assert r.status_code == 403
    r = await client.post(f"{url}/reject", json={"note": ""}, headers=world.auth["admin"])
    assert r.status_code == 422, r.text
    r = await client.post(f"{url}/approve", json={"note": "go ahead"}, headers=world.auth["admin"])
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["status"] == "approved" and body["answer"]["by"] and body["answer"]["note"] == "go ahead"
    assert (await client.post(f"{url}/approve", headers=world.auth["msp"])).status_code == 409
    r = await client.post(
        f"/api/approvals/{high.id}/reject", json={"note": "too risky today"}, headers=world.auth["msp"]
    )
    assert r.status_code == 200 and r.json()["status"] == "cancelled"
    assert r.json()["answer"]["decision"] == "rejected"


async def test_expired_request_answers_409_and_stays_expired(
    client: httpx.AsyncClient, sessionmaker: SM, settings: Settings, clock: FakeClock, world: World
) -> None:
    ex = await make_request(sessionmaker, settings, clock, world, MEDIUM, params=NGINX, by="tech")
    clock.advance(minutes=61)
    await relogin(client, world)
    shown = (await client.get(f"/api/approvals/{ex.id}", headers=world.auth["admin"])).json()
    assert shown["status"] == "expired" and shown["expired"] and not shown["can_decide"]
    r = await client.post(f"/api/approvals/{ex.id}/approve", headers=world.auth["msp"])
    assert r.status_code == 409 and "expired" in r.json()["message"], r.text
    assert (await execution(sessionmaker, ex.id)).status == states.EXPIRED
    assert await audit_actions(sessionmaker, ex.id) == ["execution.requested", "execution.expired"]


async def test_the_incident_timeline_tells_the_story(
    app: FastAPI, client: httpx.AsyncClient, sessionmaker: SM, settings: Settings, clock: FakeClock, world: World
) -> None:
    incident_id = await open_incident(app, client, sessionmaker, clock, world.a, "NginxDown", "web-01")
    ex = await make_request(sessionmaker, settings, clock, world, MEDIUM, params=NGINX, incident_id=incident_id)
    r = await client.post(f"/api/approvals/{ex.id}/approve", json={"note": "ok"}, headers=world.auth["admin"])
    assert r.status_code == 200, r.text
    runbook = [e for e in await events(sessionmaker, incident_id) if e.kind == "runbook"]
    assert [e.data["event"] for e in runbook] == ["requested", "approved"]
    assert "waiting for a company admin" in runbook[0].body and runbook[0].actor_name == "remediation"
    assert runbook[1].actor_id == world.ids["admin"] and "“ok”" in runbook[1].body
    listed = (await client.get("/api/approvals?status=decided", headers=world.auth["admin"])).json()
    assert [(i["id"], i["incident_id"], i["status"]) for i in listed] == [(ex.id, incident_id, "approved")]
