"""What the audit log records, how it is filtered and scoped, and its CSV/JSON export."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from datetime import timedelta

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from alertwhisperer.auth.principal import Role
from alertwhisperer.clock import FakeClock
from alertwhisperer.config import Settings
from tests.auth.helpers import audit_actions, audit_entries
from tests.factories import PASSWORD, bearer, login, make_company, make_user

SM = async_sessionmaker[AsyncSession]
NEW_PASSWORD = "Quartz-Lantern-Orbit-77"


@dataclass
class World:
    a: str
    b: str
    msp_email: str
    msp: dict[str, str]
    admin_a: dict[str, str]
    tech_a: dict[str, str]


@pytest.fixture
async def world(client: httpx.AsyncClient, sessionmaker: SM, settings: Settings, clock: FakeClock) -> World:
    async with sessionmaker() as s:
        a, b = await make_company(s, clock, "Acme"), await make_company(s, clock, "Bravo")
        msp = await make_user(s, settings, clock, Role.MSP_ADMIN)
        admin_a = await make_user(s, settings, clock, Role.COMPANY_ADMIN, [a.id])
        tech_a = await make_user(s, settings, clock, Role.TECHNICIAN, [a.id])
    return World(a.id, b.id, msp, await login(client, msp), await login(client, admin_a),
                 await login(client, tech_a))


async def test_every_state_change_writes_an_entry(client: httpx.AsyncClient, sessionmaker: SM,
                                                  world: World) -> None:
    h = bearer(world.msp)
    before = len(await audit_actions(sessionmaker))
    cid = (await client.post("/api/companies", json={"name": "Delta"}, headers=h)).json()["id"]
    steps: list[tuple[str, str, str, dict[str, object] | None]] = [
        ("PATCH", f"/api/companies/{cid}", "company.updated", {"name": "Delta 2"}),
        ("PATCH", f"/api/companies/{cid}", "company.settings_changed", {"settings": {"notes": "vip"}}),
        ("POST", f"/api/companies/{cid}/api-key", "company.api_key_regenerated", None),
        ("POST", f"/api/companies/{cid}/assets", "asset.created", {"name": "d-db"}),
        ("POST", "/api/users", "user.created", {"email": "t@msp.example", "name": "T", "role": "technician",
                                                "company_ids": [cid], "password": NEW_PASSWORD}),
        ("POST", "/api/auth/password", "user.password_changed",
         {"current_password": PASSWORD, "new_password": NEW_PASSWORD}),
    ]
    actions = ["company.created"]
    for method, url, action, body in steps:
        r = await client.request(method, url, json=body, headers=h)
        assert r.status_code < 300, (url, r.text)
        actions.append(action)
    asset = (await client.get(f"/api/companies/{cid}/assets", headers=h)).json()[0]
    user = next(u for u in (await client.get("/api/users", headers=h)).json() if u["email"] == "t@msp.example")
    more: list[tuple[str, str, str, dict[str, object] | None]] = [
        ("PATCH", f"/api/assets/{asset['id']}", "asset.updated", {"critical": True}),
        ("DELETE", f"/api/assets/{asset['id']}", "asset.deleted", None),
        ("PATCH", f"/api/users/{user['id']}", "user.updated", {"name": "Tee"}),
        ("PATCH", f"/api/users/{user['id']}", "user.deactivated", {"is_active": False}),
        ("DELETE", f"/api/companies/{cid}", "company.deleted", {"confirm_slug": "delta"}),
        ("POST", "/api/auth/logout", "auth.logout", None),
    ]
    for method, url, action, payload in more:
        r = await client.request(method, url, json=payload, headers=h)
        assert r.status_code < 300, (url, r.text)
        actions.append(action)
    assert (await audit_actions(sessionmaker))[before:] == actions
    await login(client, world.msp_email, NEW_PASSWORD)
    assert (await audit_actions(sessionmaker))[-1] == "auth.login"
    chain = await client.get("/api/audit/verify", headers=bearer(await login(client, world.msp_email, NEW_PASSWORD)))
    assert chain.json()["ok"] is True


async def test_entries_carry_actor_role_company_target_ip_and_agent(client: httpx.AsyncClient,
                                                                    sessionmaker: SM, world: World) -> None:
    r = await client.patch(f"/api/companies/{world.a}", json={"name": "Acme 2"},
                           headers={**bearer(world.admin_a), "User-Agent": "audit-test/2"})
    assert r.status_code == 200
    [e] = await audit_entries(sessionmaker, "company.updated")
    assert (e.actor_role, e.company_id, e.target_type, e.target_id) == ("company_admin", world.a, "company", world.a)
    assert e.actor_email and e.actor_id and e.ip == "127.0.0.1" and e.user_agent == "audit-test/2"
    assert e.at is not None and len(e.hash) == 64 and len(e.prev_hash) == 64


async def test_filters(client: httpx.AsyncClient, clock: FakeClock, world: World) -> None:
    h = bearer(world.msp)
    start = clock.now()
    clock.advance(minutes=5)
    await client.patch(f"/api/companies/{world.a}", json={"name": "Acme 2"}, headers=h)
    clock.advance(minutes=5)
    await client.patch(f"/api/companies/{world.b}", json={"name": "Bravo 2"}, headers=h)

    async def items(query: str) -> list[dict[str, object]]:
        r = await client.get(f"/api/audit?{query}", headers=h)
        assert r.status_code == 200, r.text
        data: list[dict[str, object]] = r.json()["items"]
        return data

    by_action = await items("action=company.updated")
    assert [i["company_id"] for i in by_action] == [world.b, world.a]  # newest first
    assert {i["action"] for i in await items("action=company.")} == {"company.created", "company.updated"}
    assert [i["company_id"] for i in await items(f"action=company.updated&company_id={world.a}")] == [world.a]
    mine = await items(f"actor={world.msp_email}")
    assert {i["action"] for i in mine} == {"auth.login", "company.updated"}
    assert {i["actor_email"] for i in mine} == {world.msp_email}
    since = (start + timedelta(minutes=7)).isoformat().replace("+00:00", "Z")  # between the two updates
    assert [i["company_id"] for i in await items(f"action=company.updated&since={since}")] == [world.b]
    assert [i["company_id"] for i in await items(f"action=company.updated&until={since}")] == [world.a]
    page = (await client.get("/api/audit?limit=2&offset=1", headers=h)).json()
    assert len(page["items"]) == 2 and page["total"] > 2 and page["offset"] == 1


async def test_scoping(client: httpx.AsyncClient, world: World) -> None:
    await client.patch(f"/api/companies/{world.b}", json={"name": "Bravo 2"}, headers=bearer(world.msp))
    r = await client.get("/api/audit?limit=500", headers=bearer(world.admin_a))
    assert r.status_code == 200
    companies = {i["company_id"] for i in r.json()["items"]}
    assert companies == {world.a}
    assert world.b not in r.text and "Bravo" not in r.text
    assert (await client.get(f"/api/audit?company_id={world.b}", headers=bearer(world.admin_a))).status_code == 404
    export = await client.get("/api/audit/export?format=json", headers=bearer(world.admin_a))
    assert world.b not in export.text and {e["company_id"] for e in export.json()} == {world.a}
    assert (await client.get("/api/audit/verify", headers=bearer(world.admin_a))).status_code == 403
    for url in ("/api/audit", "/api/audit/export", "/api/audit/verify"):
        assert (await client.get(url, headers=bearer(world.tech_a))).status_code == 403


async def test_csv_and_json_export(client: httpx.AsyncClient, sessionmaker: SM, world: World) -> None:
    h = bearer(world.msp)
    await client.patch(f"/api/companies/{world.a}", json={"name": "=HYPERLINK(\"http://x\")"}, headers=h)
    entries = await audit_entries(sessionmaker)
    r = await client.get("/api/audit/export?format=json", headers=h)
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("application/json")
    assert "attachment" in r.headers["content-disposition"] and ".json" in r.headers["content-disposition"]
    data = r.json()
    assert [d["seq"] for d in data] == [e.seq for e in entries]  # oldest first, all of them
    assert [d["hash"] for d in data] == [e.hash for e in entries]

    r = await client.get("/api/audit/export?format=csv&action=company.updated", headers=h)
    assert r.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert len(rows) == 1
    assert rows[0]["action"] == "company.updated" and rows[0]["company_id"] == world.a
    details = json.loads(rows[0]["details"])
    assert details["changes"]["name"]["to"].startswith("=HYPERLINK")
    assert "'=" not in rows[0]["details"] or rows[0]["details"].startswith("{")


async def test_no_secret_reaches_the_audit_log(client: httpx.AsyncClient, sessionmaker: SM,
                                               world: World) -> None:
    h = bearer(world.msp)
    created = (await client.post("/api/companies", json={"name": "Echo"}, headers=h)).json()
    rotated = (await client.post(f"/api/companies/{created['id']}/api-key", headers=h)).json()
    generated = (await client.post("/api/users", headers=h, json={
        "email": "g@msp.example", "name": "G", "role": "technician", "company_ids": [world.a]})).json()
    await client.post("/api/users", headers=h, json={"email": "p@msp.example", "name": "P", "role": "technician",
                                                     "company_ids": [world.a], "password": NEW_PASSWORD})
    await client.post("/api/auth/login", json={"email": "p@msp.example", "password": "Typo-" + NEW_PASSWORD})
    tokens = await login(client, "p@msp.example", NEW_PASSWORD)
    await client.post("/api/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    await client.post("/api/auth/password", headers=bearer(tokens),
                      json={"current_password": NEW_PASSWORD, "new_password": "Zebra-Mountain-Kettle-9"})
    secrets = [created["api_key"], rotated["api_key"], generated["initial_password"], NEW_PASSWORD, PASSWORD,
               "Typo-" + NEW_PASSWORD, "Zebra-Mountain-Kettle-9", tokens["refresh_token"], tokens["access_token"]]
    dump = json.dumps((await client.get("/api/audit/export?format=json", headers=h)).json())
    for secret in secrets:
        assert secret and secret not in dump
