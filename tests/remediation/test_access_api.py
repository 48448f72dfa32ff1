"""The credentials and remote-access API: who may do what, secrets never returned, host keys, connection test."""

from __future__ import annotations

import asyncssh
import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from alertwhisperer.audit.models import AuditEntry
from alertwhisperer.auth.principal import Role
from alertwhisperer.clock import FakeClock
from alertwhisperer.config import Settings
from tests.factories import bearer, login, make_asset, make_company, make_user
from tests.remediation.sshd import Sshd


async def _world(
    sessionmaker: async_sessionmaker[AsyncSession], settings: Settings, clock: FakeClock, client: httpx.AsyncClient
) -> dict[str, object]:
    async with sessionmaker() as db:
        co, other = await make_company(db, clock), await make_company(db, clock)
        asset = await make_asset(db, clock, co.id, "web-1", ip="127.0.0.1")
        theirs = await make_asset(db, clock, other.id, "their-1", ip="127.0.0.1")
        admin = await make_user(db, settings, clock, Role.COMPANY_ADMIN, [co.id])
        tech = await make_user(db, settings, clock, Role.TECHNICIAN, [co.id])
        msp = await make_user(db, settings, clock, Role.MSP_ADMIN)
    return {
        "co": co.id,
        "other": other.id,
        "asset": asset.id,
        "theirs": theirs.id,
        "admin": bearer(await login(client, admin)),
        "tech": bearer(await login(client, tech)),
        "msp": bearer(await login(client, msp)),
    }


async def test_credentials_rbac_and_no_secret_in_answers(
    client: httpx.AsyncClient, settings: Settings, clock: FakeClock, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    w = await _world(sessionmaker, settings, clock, client)
    pem = asyncssh.generate_private_key("ssh-ed25519").export_private_key().decode()
    body = {"name": "ops", "kind": "ssh_key", "username": "ops", "private_key": pem}
    r = await client.post(f"/api/companies/{w['co']}/credentials", json=body, headers=w["tech"])
    assert r.status_code == 403
    r = await client.post(f"/api/companies/{w['other']}/credentials", json=body, headers=w["admin"])
    assert r.status_code == 404
    r = await client.post(
        f"/api/companies/{w['co']}/credentials", json={**body, "private_key": "junk"}, headers=w["admin"]
    )
    assert r.status_code == 422 and "not a valid private key" in r.text
    r = await client.post(f"/api/companies/{w['co']}/credentials", json=body, headers=w["admin"])
    assert r.status_code == 201, r.text
    cred = r.json()
    assert "PRIVATE KEY" not in r.text and cred["public"]["fingerprint"].startswith("SHA256:")
    r = await client.post(f"/api/companies/{w['co']}/credentials", json=body, headers=w["admin"])
    assert r.status_code == 409
    r = await client.get(f"/api/companies/{w['co']}/credentials", headers=w["tech"])
    assert r.status_code == 200 and [c["name"] for c in r.json()] == ["ops"] and "PRIVATE" not in r.text
    r = await client.get(f"/api/companies/{w['co']}/credentials", headers=w["msp"])
    assert r.status_code == 200
    r = await client.put(f"/api/credentials/{cred['id']}", json={"password": "x"}, headers=w["tech"])
    assert r.status_code == 403
    r = await client.put(f"/api/credentials/{cred['id']}", json={"name": "ops key"}, headers=w["admin"])
    assert r.status_code == 200 and r.json()["name"] == "ops key"
    r = await client.delete(f"/api/credentials/{cred['id']}", headers=w["tech"])
    assert r.status_code == 403
    r = await client.delete(f"/api/credentials/{cred['id']}", headers=w["admin"])
    assert r.status_code == 204
    async with sessionmaker() as db:
        actions = list(
            (
                await db.execute(
                    select(AuditEntry.action)
                    .where(AuditEntry.action.startswith("credential."))
                    .order_by(AuditEntry.seq)
                )
            ).scalars()
        )
    assert actions == ["credential.created", "credential.updated", "credential.deleted"]


async def test_access_host_key_and_connection_test_over_the_api(
    client: httpx.AsyncClient,
    settings: Settings,
    clock: FakeClock,
    sessionmaker: async_sessionmaker[AsyncSession],
    sshd: Sshd,
) -> None:
    w = await _world(sessionmaker, settings, clock, client)
    r = await client.post(
        f"/api/companies/{w['co']}/credentials",
        headers=w["admin"],
        json={"name": "k", "kind": "ssh_key", "username": sshd.username, "private_key": sshd.private_key},
    )
    cred_id = r.json()["id"]
    asset = w["asset"]
    r = await client.get(f"/api/assets/{asset}/access", headers=w["tech"])
    assert r.status_code == 200 and r.json()["configured"] is False
    access = {"executor": "ssh", "host": sshd.host, "port": sshd.port, "credential_id": cred_id}
    r = await client.put(f"/api/assets/{asset}/access", json=access, headers=w["tech"])
    assert r.status_code == 403
    r = await client.put(f"/api/assets/{w['theirs']}/access", json=access, headers=w["admin"])
    assert r.status_code == 404
    r = await client.put(f"/api/assets/{asset}/access", json=access, headers=w["admin"])
    assert r.status_code == 200 and r.json()["host_key_status"] == "missing"
    # no host key yet: the test run is refused, never auto-accepted
    r = await client.post(f"/api/assets/{asset}/access/test", headers=w["admin"])
    assert r.status_code == 200 and r.json()["status"] == "undeliverable"
    assert "no host key stored" in r.json()["error"]
    r = await client.post(f"/api/assets/{asset}/access/host-key", headers=w["tech"])
    assert r.status_code == 403
    r = await client.post(f"/api/assets/{asset}/access/host-key", headers=w["admin"])
    assert r.status_code == 200, r.text
    [key] = r.json()
    assert key["fingerprint"] == sshd.host_fingerprint
    r = await client.get(f"/api/assets/{asset}/access", headers=w["admin"])
    assert r.json()["host_key_status"] == "missing"  # fetching stored nothing
    r = await client.post(
        f"/api/assets/{asset}/access/host-key/confirm", json={"lines": key["line"]}, headers=w["admin"]
    )
    assert r.status_code == 200 and r.json()["host_key_status"] == "stored"
    r = await client.post(f"/api/assets/{asset}/access/test", headers=w["tech"])
    assert r.status_code == 403
    r = await client.post(f"/api/assets/{asset}/access/test", headers=w["admin"])
    assert r.status_code == 200 and r.json()["status"] == "succeeded" and r.json()["stdout"] == "ok\n"
    r = await client.get(f"/api/companies/{w['co']}/remote-access", headers=w["tech"])
    rows = {a["asset_name"]: a for a in r.json()}
    assert rows["web-1"]["username"] == sshd.username and rows["web-1"]["host_keys"][0]["fingerprint"]
    async with sessionmaker() as db:
        actions = list(
            (
                await db.execute(
                    select(AuditEntry.action)
                    .where(AuditEntry.action.startswith("asset_access."))
                    .order_by(AuditEntry.seq)
                )
            ).scalars()
        )
    assert actions == [
        "asset_access.created",
        "asset_access.tested",
        "asset_access.host_key_confirmed",
        "asset_access.tested",
    ]
    r = await client.delete(f"/api/assets/{asset}/access", headers=w["admin"])
    assert r.status_code == 204
    r = await client.get(f"/api/assets/{asset}/access", headers=w["admin"])
    assert r.json()["configured"] is False
