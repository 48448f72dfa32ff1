"""The remote access console page over HTTP: credentials card, asset form, host key fetch/trust, connection test."""

from __future__ import annotations

import html

import httpx
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from alertwhisperer.auth.principal import Role
from alertwhisperer.clock import FakeClock
from alertwhisperer.config import Settings
from alertwhisperer.remediation.models import AssetAccess, Credential
from tests.factories import bearer, login, make_asset, make_company, make_user
from tests.remediation.sshd import Sshd


async def test_remote_access_console_flow(
    client: httpx.AsyncClient,
    settings: Settings,
    clock: FakeClock,
    sessionmaker: async_sessionmaker[AsyncSession],
    sshd: Sshd,
) -> None:
    async with sessionmaker() as db:
        co = await make_company(db, clock, "Acme")
        other = await make_company(db, clock, "Globex")
        asset = await make_asset(db, clock, co.id, "web-1", ip="127.0.0.1")
        admin = bearer(await login(client, await make_user(db, settings, clock, Role.COMPANY_ADMIN, [co.id])))
        tech = bearer(await login(client, await make_user(db, settings, clock, Role.TECHNICIAN, [co.id])))
    base = f"/companies/{co.id}/remote-access"

    r = await client.get(base, headers=admin)
    assert r.status_code == 200
    assert 'data-testid="credentials-empty"' in r.text and 'data-testid="access-row"' in r.text
    assert (await client.get(f"/companies/{other.id}/remote-access", headers=admin)).status_code == 404

    # a bad key: 422 with the message inline, the secret not echoed back
    r = await client.post(
        f"{base}/credentials",
        headers=admin,
        data={"name": "ops", "kind": "ssh_key", "username": sshd.username, "private_key": "not a key"},
    )
    assert r.status_code == 422 and "Not a valid private key" in html.unescape(r.text)
    assert "not a key" not in r.text
    r = await client.post(
        f"{base}/credentials",
        headers=admin,
        data={"name": "ops", "kind": "ssh_key", "username": sshd.username, "private_key": sshd.private_key},
    )
    assert r.status_code == 303
    r = await client.get(base, headers=admin)
    assert 'data-credential="ops"' in r.text and "PRIVATE KEY-----\n" not in r.text
    async with sessionmaker() as db:
        cred_id = (await db.execute(Credential.__table__.select())).first().id  # type: ignore[union-attr]

    # the technician reads but cannot change anything
    r = await client.get(base, headers=tech)
    assert r.status_code == 200 and 'data-testid="credential-form"' not in r.text
    r = await client.post(
        f"{base}/credentials",
        headers=tech,
        data={"name": "x", "kind": "ssh_password", "username": "u", "password": "p"},
    )
    assert r.status_code == 403

    asset_url = f"{base}/assets/{asset.id}"
    r = await client.post(
        asset_url, headers=admin, data={"executor": "ssh", "os": "linux", "host": "", "port": "22", "credential_id": ""}
    )
    assert r.status_code == 422 and "SSH needs an SSH key or password credential" in html.unescape(r.text)
    r = await client.post(
        asset_url,
        headers=admin,
        data={"executor": "ssh", "os": "linux", "host": sshd.host, "port": str(sshd.port), "credential_id": cred_id},
    )
    assert r.status_code == 303
    r = await client.get(asset_url, headers=admin)
    assert 'data-testid="fetch-host-key"' in r.text and 'badge-red">missing' in r.text

    r = await client.post(f"{asset_url}/test", headers=admin)
    assert 'data-status="undeliverable"' in r.text and "no host key stored" in r.text

    r = await client.post(f"{asset_url}/host-key", headers=admin)
    assert r.status_code == 200 and sshd.host_fingerprint in r.text and 'data-testid="trust-host-key"' in r.text
    async with sessionmaker() as db:
        row = await db.get(AssetAccess, asset.id)
        assert row is not None and row.known_hosts == ""  # fetching stores nothing
    r = await client.post(f"{asset_url}/host-key/confirm", headers=admin, data={"lines": sshd.known_hosts})
    assert r.status_code == 303
    r = await client.get(asset_url, headers=admin)
    assert 'data-testid="stored-keys"' in r.text and sshd.host_fingerprint in r.text

    r = await client.post(f"{asset_url}/test", headers=admin)
    assert 'data-status="succeeded"' in r.text and "ok" in r.text
    r = await client.post(f"{asset_url}/test", headers=tech)
    assert r.status_code == 403

    r = await client.get(base, headers=tech)
    assert "confirmed" in r.text and f"{sshd.username}@{sshd.host}" in r.text

    r = await client.post(f"{base}/credentials/{cred_id}/delete", headers=admin)
    assert r.status_code == 303 and "used+by+1" in r.headers.get("set-cookie", "").replace("%20", "+")
