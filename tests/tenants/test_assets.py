"""Assets: CRUD, IP/FQDN validation, dependencies within one company, cycles, delete unlinks dependents."""

from __future__ import annotations

from dataclasses import dataclass

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from alertwhisperer.auth.principal import Role
from alertwhisperer.clock import FakeClock
from alertwhisperer.config import Settings
from tests.auth.helpers import audit_entries
from tests.factories import bearer, login, make_asset, make_company, make_user

SM = async_sessionmaker[AsyncSession]


@dataclass
class World:
    a: str
    b: str
    admin: dict[str, str]  # company admin of A


@pytest.fixture
async def world(client: httpx.AsyncClient, sessionmaker: SM, settings: Settings, clock: FakeClock) -> World:
    async with sessionmaker() as s:
        a, b = await make_company(s, clock, "Acme"), await make_company(s, clock, "Bravo")
        await make_asset(s, clock, b.id, "bravo-db")
        admin = await make_user(s, settings, clock, Role.COMPANY_ADMIN, [a.id])
    return World(a.id, b.id, bearer(await login(client, admin)))


async def _create(client: httpx.AsyncClient, w: World, name: str, **fields: object) -> httpx.Response:
    return await client.post(f"/api/companies/{w.a}/assets", json={"name": name, **fields}, headers=w.admin)


async def test_asset_crud(client: httpx.AsyncClient, sessionmaker: SM, world: World) -> None:
    r = await _create(client, world, "acme-db-01", type="database", ip="10.1.0.5",
                      fqdn="ACME-DB-01.acme.internal.", instance_id="i-0abc123", critical=True,
                      tags={"env": "prod"})
    assert r.status_code == 201, r.text
    asset = r.json()
    assert asset["fqdn"] == "acme-db-01.acme.internal"
    assert asset["company_id"] == world.a and asset["critical"] is True and asset["tags"] == {"env": "prod"}
    url = f"/api/assets/{asset['id']}"
    assert (await client.get(url, headers=world.admin)).json()["ip"] == "10.1.0.5"
    listing = (await client.get(f"/api/companies/{world.a}/assets", headers=world.admin)).json()
    assert [x["name"] for x in listing] == ["acme-db-01"]

    patched = await client.patch(url, json={"ip": "2001:0db8::0001", "tags": {"env": "dev"}}, headers=world.admin)
    assert patched.status_code == 200
    assert patched.json()["ip"] == "2001:db8::1"
    dup = await _create(client, world, "acme-db-01")
    assert dup.status_code == 409
    other = await _create(client, world, "acme-app-01")
    rename = await client.patch(f"/api/assets/{other.json()['id']}", json={"name": "acme-db-01"},
                                headers=world.admin)
    assert rename.status_code == 409

    assert (await client.delete(url, headers=world.admin)).status_code == 204
    assert (await client.get(url, headers=world.admin)).status_code == 404
    actions = [e.action for e in await audit_entries(sessionmaker)
               if e.company_id == world.a and e.target_type == "asset"]
    assert actions == ["asset.created", "asset.updated", "asset.created", "asset.deleted"]


@pytest.mark.parametrize(("field", "value"), [
    ("ip", "10.0.0.300"), ("ip", "not-an-ip"), ("ip", "10.0.0"),
    ("fqdn", "bad_host!.example"), ("fqdn", "-leading.example"), ("fqdn", "a" * 64 + ".example"),
    ("type", "toaster"),
])
async def test_invalid_fields_are_refused_with_the_field_named(client: httpx.AsyncClient, world: World,
                                                               field: str, value: str) -> None:
    r = await _create(client, world, "x-01", **{field: value})
    assert r.status_code == 422
    assert r.json()["problems"][0]["field"] == field
    assert (await client.get(f"/api/companies/{world.a}/assets", headers=world.admin)).json() == []


async def test_depends_on_must_name_assets_of_the_same_company(client: httpx.AsyncClient, world: World) -> None:
    r = await _create(client, world, "acme-app-01", depends_on=["bravo-db"])
    assert r.status_code == 422
    assert "unknown asset(s) in depends_on: bravo-db" in r.json()["message"]
    assert (await client.get(f"/api/companies/{world.a}/assets", headers=world.admin)).json() == []
    self_dep = await _create(client, world, "loop", depends_on=["loop"])
    assert self_dep.status_code == 422
    assert "cannot depend on itself" in self_dep.json()["message"]


async def test_cycles_are_refused_with_the_path(client: httpx.AsyncClient, world: World) -> None:
    db = (await _create(client, world, "db")).json()
    await _create(client, world, "app", depends_on=["db"])
    await _create(client, world, "web", depends_on=["app"])
    r = await client.patch(f"/api/assets/{db['id']}", json={"depends_on": ["web"]}, headers=world.admin)
    assert r.status_code == 422
    assert r.json()["message"] == "dependency cycle: db -> web -> app -> db"
    assert r.json()["field"] == "depends_on"
    assert (await client.get(f"/api/assets/{db['id']}", headers=world.admin)).json()["depends_on"] == []


async def test_delete_unlinks_dependents(client: httpx.AsyncClient, sessionmaker: SM, world: World) -> None:
    db = (await _create(client, world, "db")).json()
    await _create(client, world, "cache")
    app = (await _create(client, world, "app", depends_on=["db", "cache"])).json()
    assert app["depends_on"] == ["cache", "db"]
    assert (await client.delete(f"/api/assets/{db['id']}", headers=world.admin)).status_code == 204
    after = (await client.get(f"/api/assets/{app['id']}", headers=world.admin)).json()
    assert after["depends_on"] == ["cache"]
    [entry] = await audit_entries(sessionmaker, "asset.deleted")
    assert entry.details == {"name": "db", "dependents_unlinked": ["app"]}


async def test_technician_reads_but_does_not_write_assets(client: httpx.AsyncClient, sessionmaker: SM,
                                                          settings: Settings, clock: FakeClock,
                                                          world: World) -> None:
    asset = (await _create(client, world, "db")).json()
    async with sessionmaker() as s:
        tech = bearer(await login(client, await make_user(s, settings, clock, Role.TECHNICIAN, [world.a])))
    assert (await client.get(f"/api/companies/{world.a}/assets", headers=tech)).status_code == 200
    assert (await client.get(f"/api/assets/{asset['id']}", headers=tech)).status_code == 200
    assert (await client.post(f"/api/companies/{world.a}/assets", json={"name": "t"}, headers=tech)).status_code == 403
    assert (await client.patch(f"/api/assets/{asset['id']}", json={"critical": True},
                               headers=tech)).status_code == 403
    assert (await client.delete(f"/api/assets/{asset['id']}", headers=tech)).status_code == 403
