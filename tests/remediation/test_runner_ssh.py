"""The runner over the real SSH executor against a real OpenSSH sshd on a loopback port."""

from __future__ import annotations

import httpx
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from alertwhisperer.clock import FakeClock
from alertwhisperer.config import Settings
from alertwhisperer.correlation.models import Incident
from alertwhisperer.remediation import states
from alertwhisperer.remediation.models import AssetAccess
from tests.factories import make_asset
from tests.remediation import runner_world as rw
from tests.remediation.sshd import Sshd

SM = async_sessionmaker[AsyncSession]


async def _ssh_asset(w: rw.World, sshd: Sshd) -> str:
    async with w.sm() as s:
        asset = await make_asset(s, w.clock, w.acme.id, "app-07")
        await sshd.configure(s, settings=w.settings, clock=w.clock, company_id=w.acme.id, asset_id=asset.id)
        return asset.id


async def test_runs_over_ssh_and_heals_the_incident(
    app: FastAPI, client: httpx.AsyncClient, sessionmaker: SM, settings: Settings, clock: FakeClock, sshd: Sshd
) -> None:
    w = await rw.build(app, client, sessionmaker, settings, clock)
    asset_id = await _ssh_asset(w, sshd)
    incident_id = await rw.open_incident(w, host="app-07")
    await w.drain()
    state = sshd.workdir / "nginx.conf"
    _, version = await rw.add_runbook(
        w,
        rw.spec_dict(
            "repair-config",
            [f"echo repaired > {state}", "echo done on $(hostname)"],
            health_check={"kind": "command", "command": f"grep -q repaired {state}"},
        ),
    )
    execution_id = await rw.request(w, version, incident_id=incident_id, asset_id=asset_id)
    await w.drain()
    done = await rw.execution(w, execution_id)
    assert done.status == states.SUCCEEDED, done.status_reason
    assert state.read_text().strip() == "repaired" and "done on" in done.stdout
    assert done.health["status"] == "passed" and done.outcome == "self_healed"
    pieces = await rw.chunks(w, execution_id)
    assert any(
        c.stream == "system" and f"over ssh as {sshd.username}@{sshd.host}:{sshd.port}" in c.text for c in pieces
    )
    async with w.sm() as s:
        incident = await s.get(Incident, incident_id)
        assert incident is not None and incident.resolution_kind == "self_healed"


async def test_unverified_host_key_is_undeliverable_and_escalated(
    app: FastAPI, client: httpx.AsyncClient, sessionmaker: SM, settings: Settings, clock: FakeClock, sshd: Sshd
) -> None:
    w = await rw.build(app, client, sessionmaker, settings, clock)
    asset_id = await _ssh_asset(w, sshd)
    incident_id = await rw.open_incident(w, host="app-07")
    await w.drain()
    never = sshd.workdir / "never"
    _, version = await rw.add_runbook(
        w,
        rw.spec_dict(
            "touch-it", [f"touch {never}"], rollback={"linux": [{"name": "undo", "run": f"touch {never}.undo"}]}
        ),
    )
    execution_id = await rw.request(w, version, incident_id=incident_id, asset_id=asset_id)
    async with w.sm() as s:  # the host now presents a key nobody confirmed (another machine answered)
        row = await s.get(AssetAccess, asset_id)
        assert row is not None
        row.known_hosts = (
            f"[{sshd.host}]:{sshd.port} ssh-ed25519 "
            "AAAAC3NzaC1lZDI1NTE5AAAAIHZ0J0a1x4S1T4bYc7y0p0QZp2pXkq6Y3n3l1Q2w3e4r\n"
        )
        await s.commit()
    await w.drain()
    done = await rw.execution(w, execution_id)
    assert done.status == states.UNDELIVERABLE, (done.status, done.status_reason)
    assert "host key" in done.status_reason
    assert done.outcome == "escalated"
    assert not never.exists() and not (sshd.workdir / "never.undo").exists()  # not delivered: no rollback either
    assert done.rollback == {}
