"""SLA settings API on SQLite and PostgreSQL: defaults, changes (audited before/after), 422 naming the field,
roles and scope, and the effect on the next incident's deadlines."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from alertwhisperer.audit.models import AuditEntry
from alertwhisperer.auth.models import User
from alertwhisperer.auth.principal import Role
from alertwhisperer.clock import FakeClock
from alertwhisperer.config import Settings
from alertwhisperer.incidents.sla_policy import SlaPolicy
from alertwhisperer.tenants.models import Company
from tests.auth.helpers import cheap_argon2  # noqa: F401  (autouse fixture)
from tests.factories import bearer, login, make_company, make_user
from tests.incidents.test_sla_timers import get, open_incident

SM = async_sessionmaker[AsyncSession]


@dataclass
class World:
    acme: str
    other: str
    headers: dict[str, dict[str, str]]
    ids: dict[str, str]


@pytest.fixture
async def world(client: httpx.AsyncClient, sessionmaker: SM, settings: Settings, clock: FakeClock) -> World:
    async with sessionmaker() as s:
        acme = await make_company(s, clock, "Acme")
        other = await make_company(s, clock, "Globex")
        emails = {
            "msp": await make_user(s, settings, clock, Role.MSP_ADMIN),
            "admin": await make_user(s, settings, clock, Role.COMPANY_ADMIN, [acme.id]),
            "tech": await make_user(s, settings, clock, Role.TECHNICIAN, [acme.id]),
            "other_admin": await make_user(s, settings, clock, Role.COMPANY_ADMIN, [other.id]),
            "other_tech": await make_user(s, settings, clock, Role.TECHNICIAN, [other.id]),
        }
        by_email = {e: i for e, i in (await s.execute(select(User.email, User.id))).all()}
    headers = {role: bearer(await login(client, email)) for role, email in emails.items()}
    return World(acme.id, other.id, headers, {k: by_email[e] for k, e in emails.items()})


def url(w: World) -> str:
    return f"/api/companies/{w.acme}/sla"


async def stored(sm: SM, company_id: str) -> dict[str, Any]:
    async with sm() as s:
        company = await s.get(Company, company_id)
        assert company is not None
        section: dict[str, Any] = company.settings.get("sla", {})
        return section


async def test_defaults_and_a_change(client: httpx.AsyncClient, sessionmaker: SM, world: World,
                                     clock: FakeClock) -> None:
    h = world.headers["admin"]
    r = await client.get(url(world), headers=h)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body == SlaPolicy().model_dump(mode="json")
    assert body["critical"] == {"response_minutes": 30, "resolution_minutes": 240}
    assert body["high"] == {"response_minutes": 120, "resolution_minutes": 480}
    assert body["medium"] == {"response_minutes": 480, "resolution_minutes": 1440}
    assert body["low"] == {"response_minutes": 1440, "resolution_minutes": 2880}
    assert body["info"] == {"response_minutes": None, "resolution_minutes": None}
    assert body["warning_minutes"] == 30 and body["enabled"] is True
    assert body["escalation"] == {"level1_wait_minutes": 0, "level2_wait_minutes": 15, "level3_wait_minutes": 30,
                                  "level4_wait_minutes": 60, "max_level": 4, "secondary_user_id": None}
    changed = {**body, "critical": {"response_minutes": 15, "resolution_minutes": 120},
               "escalation": {**body["escalation"], "secondary_user_id": world.ids["tech"]}}
    put = await client.put(url(world), headers=h, json=changed)
    assert put.status_code == 200, put.text
    assert put.json()["critical"] == {"response_minutes": 15, "resolution_minutes": 120}
    # stored sparse: only what differs from the defaults
    assert await stored(sessionmaker, world.acme) == {
        "critical": {"response_minutes": 15, "resolution_minutes": 120},
        "escalation": {"secondary_user_id": world.ids["tech"]}}
    async with sessionmaker() as s:
        (entry,) = (await s.execute(select(AuditEntry).where(AuditEntry.action == "sla.policy_changed"))).scalars()
    assert entry.actor_id == world.ids["admin"] and entry.company_id == world.acme
    assert entry.details["before"]["critical"]["response_minutes"] == 30
    assert entry.details["after"]["critical"]["response_minutes"] == 15
    assert set(entry.details["changes"]) == {"critical", "escalation"}
    # the same again changes nothing and writes no audit entry
    assert (await client.put(url(world), headers=h, json=changed)).status_code == 200
    async with sessionmaker() as s:
        assert len((await s.execute(select(AuditEntry).where(AuditEntry.action == "sla.policy_changed"))
                    ).scalars().all()) == 1
    # the next incident gets the new targets
    iid = await open_incident(sessionmaker, clock, world.acme, severity="critical")
    incident = await get(sessionmaker, iid)
    assert incident.response_due_at == clock.now() + timedelta(minutes=15)
    assert incident.resolution_due_at == clock.now() + timedelta(hours=2)
    # the company itself still reads and saves (the settings blob keeps the SLA section)
    company = await client.get(f"/api/companies/{world.acme}", headers=h)
    assert company.status_code == 200, company.text


@pytest.mark.parametrize(("change", "field"), [
    ({"critical": {"response_minutes": "soon"}}, "critical.response_minutes"),
    ({"high": {"response_minutes": 0}}, "high.response_minutes"),
    ({"medium": {"response_minutes": 600, "resolution_minutes": 60}}, "medium.resolution_minutes"),
    ({"warning_minutes": -5}, "warning_minutes"),
    ({"escalation": {"level2_wait_minutes": 40, "level3_wait_minutes": 20}}, "escalation.level3_wait_minutes"),
    ({"escalation": {"max_level": 7}}, "escalation.max_level"),
    ({"escalation": {"secondary_user_id": "nobody-like-this"}}, "escalation.secondary_user_id"),
    ({"urgent": {"response_minutes": 5}}, "urgent"),
])
async def test_422_names_the_field(client: httpx.AsyncClient, sessionmaker: SM, world: World,
                                   change: dict[str, Any], field: str) -> None:
    r = await client.put(url(world), headers=world.headers["admin"], json=change)
    assert r.status_code == 422, r.text
    problems = r.json()["details"]["problems"]
    assert field in [p["field"] for p in problems], problems
    assert await stored(sessionmaker, world.acme) == {}


async def test_secondary_must_cover_the_company(client: httpx.AsyncClient, world: World) -> None:
    r = await client.put(url(world), headers=world.headers["admin"],
                         json={"escalation": {"secondary_user_id": world.ids["other_tech"]}})
    assert r.status_code == 422 and "covers this company" in r.text
    ok = await client.put(url(world), headers=world.headers["admin"],
                          json={"escalation": {"secondary_user_id": world.ids["msp"]}})  # MSP admins cover all
    assert ok.status_code == 200, ok.text


async def test_roles_and_scope(client: httpx.AsyncClient, sessionmaker: SM, world: World) -> None:
    change = {"warning_minutes": 10}
    assert (await client.get(url(world), headers=world.headers["tech"])).status_code == 200
    refused = await client.put(url(world), headers=world.headers["tech"], json=change)
    assert refused.status_code == 403
    for who in ("other_admin", "other_tech"):
        assert (await client.get(url(world), headers=world.headers[who])).status_code == 404
        assert (await client.put(url(world), headers=world.headers[who], json=change)).status_code == 404
    assert (await client.get(url(world))).status_code == 401
    assert await stored(sessionmaker, world.acme) == {}
    r = await client.put(url(world), headers=world.headers["msp"], json=change)
    assert r.status_code == 200 and r.json()["warning_minutes"] == 10
    assert await stored(sessionmaker, world.acme) == {"warning_minutes": 10}
