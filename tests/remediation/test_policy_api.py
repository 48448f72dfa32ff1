"""A company's remediation policy over the API and its console page: roles, scope, validation, sparse storage,
audit with before/after. Both backends."""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from alertwhisperer.audit.models import AuditEntry
from alertwhisperer.auth.principal import Role
from alertwhisperer.clock import FakeClock
from alertwhisperer.config import Settings
from alertwhisperer.tenants.models import Company
from tests.factories import MadeCompany, bearer, login, make_company, make_user

SM = async_sessionmaker[AsyncSession]
DEFAULTS = {"enabled": True, "auto_run": True, "max_runs_per_hour": 3}


@dataclass
class World:
    acme: MadeCompany
    other: MadeCompany
    emails: dict[str, str]


@pytest.fixture
async def world(sessionmaker: SM, settings: Settings, clock: FakeClock) -> World:
    async with sessionmaker() as s:
        acme = await make_company(s, clock, "Acme")
        other = await make_company(s, clock, "Globex")
        emails = {
            "admin": await make_user(s, settings, clock, Role.COMPANY_ADMIN, [acme.id]),
            "tech": await make_user(s, settings, clock, Role.TECHNICIAN, [acme.id]),
            "msp": await make_user(s, settings, clock, Role.MSP_ADMIN),
            "other_admin": await make_user(s, settings, clock, Role.COMPANY_ADMIN, [other.id]),
        }
    return World(acme, other, emails)


async def as_(client: httpx.AsyncClient, w: World, role: str) -> dict[str, str]:
    return bearer(await login(client, w.emails[role]))


async def stored(sm: SM, company_id: str) -> dict[str, Any]:
    async with sm() as s:
        company = await s.get(Company, company_id)
        assert company is not None
        return dict(company.settings or {})


async def audits(sm: SM) -> list[AuditEntry]:
    async with sm() as s:
        return list(
            (
                await s.execute(
                    select(AuditEntry).where(AuditEntry.action == "remediation.policy_updated").order_by(AuditEntry.seq)
                )
            ).scalars()
        )


async def test_read_and_replace_by_a_company_admin(client: httpx.AsyncClient, sessionmaker: SM, world: World) -> None:
    url = f"/api/companies/{world.acme.id}/remediation-policy"
    tech = await as_(client, world, "tech")
    r = await client.get(url, headers=tech)
    assert r.status_code == 200 and r.json() == DEFAULTS
    admin = await as_(client, world, "admin")
    r = await client.put(url, headers=admin, json={"auto_run": False, "max_runs_per_hour": 5})
    assert r.status_code == 200 and r.json() == {"enabled": True, "auto_run": False, "max_runs_per_hour": 5}
    assert (await stored(sessionmaker, world.acme.id))["remediation"] == {"auto_run": False, "max_runs_per_hour": 5}
    assert (await client.get(url, headers=tech)).json()["auto_run"] is False
    [entry] = await audits(sessionmaker)
    assert entry.actor_email == world.emails["admin"] and entry.company_id == world.acme.id
    assert entry.details["before"] == DEFAULTS
    assert entry.details["after"] == {"enabled": True, "auto_run": False, "max_runs_per_hour": 5}
    assert entry.details["changes"] == {
        "auto_run": {"from": True, "to": False},
        "max_runs_per_hour": {"from": 3, "to": 5},
    }
    # back to the defaults: nothing stored (later improvements of the defaults apply), audited again
    r = await client.put(url, headers=admin, json=DEFAULTS)
    assert r.status_code == 200 and (await stored(sessionmaker, world.acme.id)).get("remediation", {}) == {}
    assert len(await audits(sessionmaker)) == 2
    # the same again changes nothing and writes no audit entry
    assert (await client.put(url, headers=admin, json={})).status_code == 200
    assert len(await audits(sessionmaker)) == 2


async def test_roles_and_scope(client: httpx.AsyncClient, sessionmaker: SM, world: World) -> None:
    url = f"/api/companies/{world.acme.id}/remediation-policy"
    tech = await as_(client, world, "tech")
    assert (await client.put(url, headers=tech, json={"enabled": False})).status_code == 403
    other = await as_(client, world, "other_admin")
    assert (await client.get(url, headers=other)).status_code == 404
    assert (await client.put(url, headers=other, json={"enabled": False})).status_code == 404
    assert (await client.get(url)).status_code == 401
    msp = await as_(client, world, "msp")
    r = await client.put(url, headers=msp, json={"enabled": False})
    assert r.status_code == 200 and r.json()["enabled"] is False
    assert (await stored(sessionmaker, world.acme.id))["remediation"] == {"enabled": False}
    assert (await client.get(f"/api/companies/{world.other.id}/remediation-policy", headers=msp)).json() == DEFAULTS


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"max_runs_per_hour": 0}, "max_runs_per_hour"),
        ({"max_runs_per_hour": 101}, "max_runs_per_hour"),
        ({"auto_approve_everything": True}, "auto_approve_everything"),
        ({"enabled": "maybe"}, "enabled"),
    ],
)
async def test_invalid_bodies_name_the_field(
    client: httpx.AsyncClient, sessionmaker: SM, world: World, body: dict[str, Any], field: str
) -> None:
    admin = await as_(client, world, "admin")
    r = await client.put(f"/api/companies/{world.acme.id}/remediation-policy", headers=admin, json=body)
    assert r.status_code == 422, r.text
    assert field in r.text
    assert (await stored(sessionmaker, world.acme.id)).get("remediation", {}) == {} and await audits(sessionmaker) == []
    not_object = await client.put(f"/api/companies/{world.acme.id}/remediation-policy", headers=admin, json=[1])
    assert not_object.status_code == 422


def field_error(page: str, name: str) -> str | None:
    found = re.search(rf'id="{re.escape(name)}-error"[^>]*>([^<]*)<', page)
    return html.unescape(found.group(1)) if found else None


async def test_console_page_saves_and_shows_errors_inline(
    client: httpx.AsyncClient, sessionmaker: SM, world: World
) -> None:
    admin = await as_(client, world, "admin")
    url = f"/companies/{world.acme.id}/remediation"
    page = await client.get(url, headers=admin)
    assert page.status_code == 200
    assert 'data-testid="remediation-form"' in page.text and 'value="3"' in page.text
    assert "No decisions yet" in page.text and "An MSP admin only" in page.text
    assert "Automatic for low risk" in page.text
    bad = await client.post(url, headers=admin, data={"enabled": "on", "max_runs_per_hour": "0"})
    assert bad.status_code == 422
    assert "greater than or equal to 1" in (field_error(bad.text, "max_runs_per_hour") or "")
    assert 'value="0"' in bad.text and (await stored(sessionmaker, world.acme.id)).get("remediation", {}) == {}
    saved = await client.post(url, headers=admin, data={"enabled": "on", "max_runs_per_hour": "4"})  # auto_run off
    assert saved.status_code == 303 and saved.headers["location"] == url
    assert (await stored(sessionmaker, world.acme.id))["remediation"] == {"auto_run": False, "max_runs_per_hour": 4}
    again = await client.get(url, headers=admin)
    assert "Every run approved" in again.text and "(auto-run is off)" in again.text


async def test_console_page_is_read_only_for_technicians_and_hidden_from_others(
    client: httpx.AsyncClient, sessionmaker: SM, world: World
) -> None:
    url = f"/companies/{world.acme.id}/remediation"
    tech = await as_(client, world, "tech")
    page = await client.get(url, headers=tech)
    assert page.status_code == 200 and "<fieldset disabled" in page.text and "Save policy" not in page.text
    assert (await client.post(url, headers=tech, data={"max_runs_per_hour": "9"})).status_code == 403
    other = await as_(client, world, "other_admin")
    hidden = await client.get(url, headers=other)
    assert hidden.status_code == 404 and "Acme" not in hidden.text
    assert (await client.post(url, headers=other, data={"max_runs_per_hour": "9"})).status_code == 404
    assert (await stored(sessionmaker, world.acme.id)).get("remediation", {}) == {}
