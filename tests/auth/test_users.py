"""User management: role grants, the last MSP admin, deactivation, memberships a company admin cannot see."""

from __future__ import annotations

from dataclasses import dataclass

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from alertwhisperer.auth.models import Membership
from alertwhisperer.auth.principal import Role
from alertwhisperer.clock import FakeClock
from alertwhisperer.config import Settings
from tests.auth.helpers import audit_entries, me_status, refresh, user_id
from tests.factories import bearer, login, make_company, make_user

SM = async_sessionmaker[AsyncSession]


@dataclass
class Org:
    a: str
    b: str
    msp: dict[str, str]
    admin_a: dict[str, str]
    tech_a: dict[str, str]
    shared_tech: str  # user id of a technician of A and B


@pytest.fixture
async def org(client: httpx.AsyncClient, sessionmaker: SM, settings: Settings, clock: FakeClock) -> Org:
    async with sessionmaker() as s:
        a, b = await make_company(s, clock, "Acme"), await make_company(s, clock, "Bravo")
        msp = await make_user(s, settings, clock, Role.MSP_ADMIN)
        admin_a = await make_user(s, settings, clock, Role.COMPANY_ADMIN, [a.id])
        tech_a = await make_user(s, settings, clock, Role.TECHNICIAN, [a.id])
        shared = await make_user(s, settings, clock, Role.TECHNICIAN, [a.id, b.id])
    return Org(a.id, b.id, await login(client, msp), await login(client, admin_a), await login(client, tech_a),
               await user_id(sessionmaker, shared))


def _new(role: str, companies: list[str], email: str = "fresh@msp.example") -> dict[str, object]:
    return {"email": email, "name": "Fresh User", "role": role, "company_ids": companies,
            "password": "Zebra-Mountain-Kettle-9"}


async def test_company_admin_creates_technicians_only_in_its_companies(client: httpx.AsyncClient,
                                                                       org: Org) -> None:
    h = bearer(org.admin_a)
    ok = await client.post("/api/users", json=_new("technician", [org.a]), headers=h)
    assert ok.status_code == 201, ok.text
    assert ok.json()["company_ids"] == [org.a]
    other = await client.post("/api/users", json=_new("technician", [org.b], "x1@msp.example"), headers=h)
    assert other.status_code == 404
    both = await client.post("/api/users", json=_new("technician", [org.a, org.b], "x2@msp.example"), headers=h)
    assert both.status_code == 404
    admin = await client.post("/api/users", json=_new("company_admin", [org.a], "x3@msp.example"), headers=h)
    assert admin.status_code == 403
    msp = await client.post("/api/users", json=_new("msp_admin", [], "x4@msp.example"), headers=h)
    assert msp.status_code == 403
    dup = await client.post("/api/users", json=_new("technician", [org.a]), headers=h)
    assert dup.status_code == 409


async def test_technician_cannot_manage_users(client: httpx.AsyncClient, org: Org) -> None:
    h = bearer(org.tech_a)
    assert (await client.get("/api/users", headers=h)).status_code == 403
    assert (await client.post("/api/users", json=_new("technician", [org.a]), headers=h)).status_code == 403
    assert (await client.patch(f"/api/users/{org.shared_tech}", json={"name": "X"}, headers=h)).status_code in (
        403, 404)
    me = (await client.get("/api/auth/me", headers=h)).json()
    assert (await client.get(f"/api/users/{me['id']}", headers=h)).status_code == 200  # self
    assert (await client.patch(f"/api/users/{me['id']}", json={"role": "msp_admin"}, headers=h)).status_code == 403


async def test_company_admin_cannot_promote(client: httpx.AsyncClient, org: Org) -> None:
    r = await client.patch(f"/api/users/{org.shared_tech}", json={"role": "company_admin"},
                           headers=bearer(org.admin_a))
    assert r.status_code == 403


async def test_last_msp_admin_cannot_be_demoted_or_deactivated(client: httpx.AsyncClient, org: Org) -> None:
    h = bearer(org.msp)
    me = (await client.get("/api/auth/me", headers=h)).json()["id"]
    demote = await client.patch(f"/api/users/{me}", json={"role": "technician", "company_ids": [org.a]},
                                headers=h)
    assert demote.status_code == 422
    assert "last MSP admin" in demote.json()["message"]
    assert (await client.patch(f"/api/users/{me}", json={"is_active": False}, headers=h)).status_code == 422

    second = await client.post("/api/users", json=_new("msp_admin", []), headers=h)
    assert second.status_code == 201
    ok = await client.patch(f"/api/users/{me}", json={"role": "technician", "company_ids": [org.a]}, headers=h)
    assert ok.status_code == 200, ok.text  # no longer the last one
    assert await me_status(client, org.msp) == 401  # a role change ends the user's sessions

    other = await login(client, "fresh@msp.example", "Zebra-Mountain-Kettle-9")
    r = await client.patch(f"/api/users/{second.json()['id']}", json={"is_active": False}, headers=bearer(other))
    assert r.status_code == 422  # yourself, and the last one


async def test_deactivation_revokes_sessions_and_blocks_login(client: httpx.AsyncClient, sessionmaker: SM,
                                                              org: Org) -> None:
    tech = await client.post("/api/users", json=_new("technician", [org.a]), headers=bearer(org.admin_a))
    tokens = await login(client, "fresh@msp.example", "Zebra-Mountain-Kettle-9")
    r = await client.patch(f"/api/users/{tech.json()['id']}", json={"is_active": False},
                           headers=bearer(org.admin_a))
    assert r.status_code == 200
    assert r.json()["is_active"] is False
    assert await me_status(client, tokens) == 401
    assert (await refresh(client, tokens["refresh_token"])).status_code == 401
    relogin = await client.post("/api/auth/login", json={"email": "fresh@msp.example",
                                                         "password": "Zebra-Mountain-Kettle-9"})
    assert relogin.status_code == 401
    [entry] = await audit_entries(sessionmaker, "user.deactivated")
    assert entry.target_id == tech.json()["id"]


async def test_company_admin_membership_edit_keeps_memberships_it_cannot_see(
        client: httpx.AsyncClient, sessionmaker: SM, settings: Settings, clock: FakeClock, org: Org) -> None:
    h = bearer(org.admin_a)
    seen = await client.get(f"/api/users/{org.shared_tech}", headers=h)
    assert seen.json()["company_ids"] == [org.a]  # B is not revealed
    async with sessionmaker() as s:
        c = await make_company(s, clock, "Charlie")
        await make_user(s, settings, clock, Role.COMPANY_ADMIN, [org.a, c.id], email="two@msp.example")
    two = await login(client, "two@msp.example")
    r = await client.patch(f"/api/users/{org.shared_tech}", json={"company_ids": [c.id]}, headers=bearer(two))
    assert r.status_code == 200, r.text
    assert r.json()["company_ids"] == [c.id]
    async with sessionmaker() as s:
        rows = set((await s.execute(select(Membership.company_id)
                                    .where(Membership.user_id == org.shared_tech))).scalars())
    assert rows == {org.b, c.id}  # A removed (visible to the actor), B kept (invisible to it)
    refused = await client.patch(f"/api/users/{org.shared_tech}", json={"company_ids": [org.b]}, headers=h)
    assert refused.status_code == 404


async def test_user_listing_is_scoped(client: httpx.AsyncClient, sessionmaker: SM, settings: Settings,
                                      clock: FakeClock, org: Org) -> None:
    async with sessionmaker() as s:
        b_only = await make_user(s, settings, clock, Role.TECHNICIAN, [org.b], email="b-only@msp.example")
    listed = (await client.get("/api/users", headers=bearer(org.admin_a))).json()
    emails = {u["email"] for u in listed}
    assert b_only not in emails
    assert all(set(u["company_ids"]) <= {org.a} for u in listed)
    assert (await client.get(f"/api/users?company_id={org.b}", headers=bearer(org.admin_a))).status_code == 404
    b_id = await user_id(sessionmaker, b_only)
    assert (await client.get(f"/api/users/{b_id}", headers=bearer(org.admin_a))).status_code == 404
    everyone = {u["email"] for u in (await client.get("/api/users", headers=bearer(org.msp))).json()}
    assert b_only in everyone
    techs = (await client.get("/api/users?role=technician", headers=bearer(org.msp))).json()
    assert {u["role"] for u in techs} == {"technician"}


async def test_user_changes_are_audited(client: httpx.AsyncClient, sessionmaker: SM, org: Org) -> None:
    created = await client.post("/api/users", json=_new("technician", [org.a]), headers=bearer(org.admin_a))
    uid = created.json()["id"]
    await client.patch(f"/api/users/{uid}", json={"skills": ["Linux"], "on_leave": True},
                       headers=bearer(org.admin_a))
    [c] = [e for e in await audit_entries(sessionmaker, "user.created") if e.target_id == uid]
    assert c.target_id == uid and c.company_id == org.a and c.details["role"] == "technician"
    assert "Zebra-Mountain-Kettle-9" not in str(c.details)
    [u] = await audit_entries(sessionmaker, "user.updated")
    assert u.details["changes"] == {"skills": {"from": [], "to": ["Linux"]},
                                    "on_leave": {"from": False, "to": True}}


async def test_anyone_may_rename_themselves_but_nothing_else(client: httpx.AsyncClient, settings: Settings,
                                                             clock: FakeClock,
                                                             sessionmaker: async_sessionmaker[AsyncSession]) -> None:
    async with sessionmaker() as s:
        acme = await make_company(s, clock, "Acme")
        email = await make_user(s, settings, clock, Role.COMPANY_ADMIN, [acme.id])
    tokens = await login(client, email)
    me = (await client.get("/api/auth/me", headers=bearer(tokens))).json()
    ok = await client.patch(f"/api/users/{me['id']}", headers=bearer(tokens), json={"name": "Alex Renamed"})
    assert ok.status_code == 200 and ok.json()["name"] == "Alex Renamed"
    promote = await client.patch(f"/api/users/{me['id']}", headers=bearer(tokens), json={"role": "msp_admin"})
    assert promote.status_code == 403
