"""Companies: API key shown once and stored hashed, regeneration, slugs, timezone, settings blob, delete."""

from __future__ import annotations

import hashlib

import httpx
import pytest
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from alertwhisperer.auth.principal import Role
from alertwhisperer.clock import FakeClock
from alertwhisperer.config import Settings
from alertwhisperer.tenants.models import Asset, Company
from alertwhisperer.tenants.service import company_for_api_key
from tests.auth.helpers import audit_entries
from tests.factories import bearer, login, make_asset, make_company, make_user

SM = async_sessionmaker[AsyncSession]


@pytest.fixture
async def msp(client: httpx.AsyncClient, sessionmaker: SM, settings: Settings,
              clock: FakeClock) -> dict[str, str]:
    async with sessionmaker() as s:
        email = await make_user(s, settings, clock, Role.MSP_ADMIN)
    return bearer(await login(client, email))


async def _dump_company_row(sm: SM, company_id: str) -> str:
    async with sm() as s:
        row = (await s.execute(text("SELECT * FROM companies WHERE id = :id"), {"id": company_id})).mappings().one()
    return repr(dict(row))


async def test_api_key_is_shown_once_and_only_its_sha256_is_stored(
        client: httpx.AsyncClient, sessionmaker: SM, msp: dict[str, str]) -> None:
    r = await client.post("/api/companies", json={"name": "Acme Corp"}, headers=msp)
    assert r.status_code == 201, r.text
    created = r.json()
    key = created["api_key"]
    assert key.startswith("aw_") and len(key) > 30
    assert created["api_key_prefix"] == key[:11]

    one = await client.get(f"/api/companies/{created['id']}", headers=msp)
    listing = await client.get("/api/companies", headers=msp)
    for later in (one, listing):
        assert later.status_code == 200
        assert key not in later.text and "api_key\"" not in later.text.replace("api_key_", "")

    row = await _dump_company_row(sessionmaker, created["id"])
    assert key not in row
    async with sessionmaker() as s:
        company = await s.get(Company, created["id"])
        assert company is not None
        assert company.api_key_hash == hashlib.sha256(key.encode()).hexdigest()
        found = await company_for_api_key(s, api_key=key)
        assert found is not None and found.id == created["id"]
        assert await company_for_api_key(s, api_key=key + "x") is None
        assert await company_for_api_key(s, api_key=company.api_key_hash) is None  # the hash is not a key
    for entry in await audit_entries(sessionmaker):
        assert key not in str(entry.details)


async def test_regenerating_the_key_kills_the_old_one_at_once(
        client: httpx.AsyncClient, sessionmaker: SM, msp: dict[str, str], clock: FakeClock) -> None:
    created = (await client.post("/api/companies", json={"name": "Acme"}, headers=msp)).json()
    old = created["api_key"]
    clock.advance(minutes=10)
    r = await client.post(f"/api/companies/{created['id']}/api-key", headers=msp)
    assert r.status_code == 200
    new = r.json()["api_key"]
    assert new != old and new.startswith("aw_")
    async with sessionmaker() as s:
        assert await company_for_api_key(s, api_key=old) is None
        found = await company_for_api_key(s, api_key=new)
        assert found is not None and found.id == created["id"]
        assert found.api_key_rotated_at == clock.now()
    assert new not in (await client.get(f"/api/companies/{created['id']}", headers=msp)).text
    [entry] = await audit_entries(sessionmaker, "company.api_key_regenerated")
    assert entry.company_id == created["id"]
    assert new not in str(entry.details) and old not in str(entry.details)


async def test_only_msp_admin_regenerates_keys(client: httpx.AsyncClient, sessionmaker: SM,
                                               settings: Settings, clock: FakeClock) -> None:
    async with sessionmaker() as s:
        acme = await make_company(s, clock, "Acme")
        admin = await make_user(s, settings, clock, Role.COMPANY_ADMIN, [acme.id])
        tech = await make_user(s, settings, clock, Role.TECHNICIAN, [acme.id])
    for email in (admin, tech):
        r = await client.post(f"/api/companies/{acme.id}/api-key", headers=bearer(await login(client, email)))
        assert r.status_code == 403
        assert "api_key\"" not in r.text
    async with sessionmaker() as s:
        assert (await company_for_api_key(s, api_key=acme.api_key)) is not None  # unchanged


@pytest.mark.parametrize("slug", ["Bad Slug", "-leading", "trailing-", "UPPER", "a" * 64, "ünï"])
async def test_slug_validation(client: httpx.AsyncClient, msp: dict[str, str], slug: str) -> None:
    r = await client.post("/api/companies", json={"name": "X", "slug": slug}, headers=msp)
    assert r.status_code == 422
    assert r.json()["problems"][0]["field"] == "slug"


async def test_slug_conflict_and_generated_slugs(client: httpx.AsyncClient, msp: dict[str, str]) -> None:
    first = await client.post("/api/companies", json={"name": "Acme Corp"}, headers=msp)
    assert first.json()["slug"] == "acme-corp"
    second = await client.post("/api/companies", json={"name": "Acme Corp!"}, headers=msp)
    assert second.json()["slug"] == "acme-corp-2"
    clash = await client.post("/api/companies", json={"name": "Other", "slug": "acme-corp"}, headers=msp)
    assert clash.status_code == 409
    assert "acme-corp" in clash.json()["message"]


async def test_timezone_validation(client: httpx.AsyncClient, msp: dict[str, str]) -> None:
    bad = await client.post("/api/companies", json={"name": "X", "timezone": "Mars/Olympus"}, headers=msp)
    assert bad.status_code == 422
    assert "unknown timezone 'Mars/Olympus'" in bad.json()["message"]
    ok = await client.post("/api/companies", json={"name": "X", "timezone": "Europe/Berlin"}, headers=msp)
    assert ok.json()["timezone"] == "Europe/Berlin"
    patch = await client.patch(f"/api/companies/{ok.json()['id']}", json={"timezone": "Nowhere/City"},
                               headers=msp)
    assert patch.status_code == 422
    assert "unknown timezone" in patch.json()["message"]


async def test_settings_blob_is_validated(client: httpx.AsyncClient, sessionmaker: SM,
                                          msp: dict[str, str]) -> None:
    cid = (await client.post("/api/companies", json={"name": "Acme"}, headers=msp)).json()["id"]
    unknown = await client.patch(f"/api/companies/{cid}", json={"settings": {"colour": "red"}}, headers=msp)
    assert unknown.status_code == 422
    assert unknown.json()["message"] == "settings.colour: Extra inputs are not permitted"
    nested = await client.patch(f"/api/companies/{cid}", json={"settings": {"ingest": {"rate_limit": 5}}},
                                headers=msp)
    assert nested.status_code == 422
    assert "settings.ingest.rate_limit" in nested.json()["message"]
    bad_email = await client.patch(f"/api/companies/{cid}", json={"settings": {"contact_email": "nope"}},
                                   headers=msp)
    assert bad_email.status_code == 422
    assert "settings.contact_email" in bad_email.json()["message"]

    ok = await client.patch(f"/api/companies/{cid}", headers=msp, json={
        "settings": {"contact_email": "ops@acme.example", "ingest": {"rate_limit_per_minute": 100}},
        "policy": {"auto_approve_low_risk": False}})
    assert ok.status_code == 200, ok.text
    assert ok.json()["settings"]["ingest"]["rate_limit_per_minute"] == 100
    assert ok.json()["policy"]["auto_approve_low_risk"] is False
    [entry] = await audit_entries(sessionmaker, "company.settings_changed")
    assert entry.company_id == cid
    assert entry.details["changes"]["settings"]["to"]["contact_email"] == "ops@acme.example"
    renamed = await client.patch(f"/api/companies/{cid}", json={"name": "Acme Two"}, headers=msp)
    assert renamed.status_code == 200
    [upd] = await audit_entries(sessionmaker, "company.updated")
    assert upd.details == {"changes": {"name": {"from": "Acme", "to": "Acme Two"}}}
    # PATCH keeps the sections it does not mention (the grouping policy survives an ingest change)
    grouping = await client.patch(f"/api/companies/{cid}", headers=msp,
                                  json={"settings": {"correlation": {"window_minutes": 10}}})
    assert grouping.status_code == 200, grouping.text
    limits = await client.patch(f"/api/companies/{cid}", headers=msp,
                                json={"settings": {"ingest": {"rate_limit_per_minute": 300}}})
    kept = limits.json()["settings"]
    assert kept["ingest"]["rate_limit_per_minute"] == 300 and kept["contact_email"] == "ops@acme.example"
    assert kept["correlation"]["window_minutes"] == 10


async def test_unknown_fields_in_company_create_are_refused(client: httpx.AsyncClient,
                                                            msp: dict[str, str]) -> None:
    r = await client.post("/api/companies", json={"name": "X", "api_key_hash": "0" * 64}, headers=msp)
    assert r.status_code == 422


async def test_delete_needs_the_slug_and_removes_assets(client: httpx.AsyncClient, sessionmaker: SM,
                                                        msp: dict[str, str], clock: FakeClock) -> None:
    created = (await client.post("/api/companies", json={"name": "Acme"}, headers=msp)).json()
    async with sessionmaker() as s:
        await make_asset(s, clock, created["id"], "acme-db")
    url = f"/api/companies/{created['id']}"
    wrong = await client.request("DELETE", url, json={"confirm_slug": "nope"}, headers=msp)
    assert wrong.status_code == 422
    ok = await client.request("DELETE", url, json={"confirm_slug": "acme"}, headers=msp)
    assert ok.status_code == 204
    assert (await client.get(url, headers=msp)).status_code == 404
    async with sessionmaker() as s:
        assert (await s.execute(select(Asset).where(Asset.company_id == created["id"]))).first() is None
    [entry] = await audit_entries(sessionmaker, "company.deleted")
    assert entry.details == {"name": "Acme", "slug": "acme"}


async def test_company_admin_may_change_its_company_but_not_create_or_delete(
        client: httpx.AsyncClient, sessionmaker: SM, settings: Settings, clock: FakeClock) -> None:
    async with sessionmaker() as s:
        acme = await make_company(s, clock, "Acme", slug="acme")
        admin = bearer(await login(client, await make_user(s, settings, clock, Role.COMPANY_ADMIN, [acme.id])))
    assert (await client.patch(f"/api/companies/{acme.id}", json={"name": "Acme 2"}, headers=admin)).status_code == 200
    assert (await client.post("/api/companies", json={"name": "Mine"}, headers=admin)).status_code == 403
    r = await client.request("DELETE", f"/api/companies/{acme.id}", json={"confirm_slug": "acme"}, headers=admin)
    assert r.status_code == 403
