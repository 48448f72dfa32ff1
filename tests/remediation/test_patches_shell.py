"""The apt/dnf scan over a shell: against the real sshd (this machine is Debian, so the real apt path runs) and
over the local executor; the counts must equal what apt and dpkg say here. An unreachable host is an error on the
row, never a crashed job."""

from __future__ import annotations

import subprocess

import httpx
from fastapi import FastAPI

from alertwhisperer.clock import FakeClock
from alertwhisperer.config import Settings
from alertwhisperer.jobs.models import DONE, Job
from alertwhisperer.remediation import access
from alertwhisperer.remediation.access_schemas import AccessIn
from alertwhisperer.remediation.models import AssetAccess, PatchState
from tests.factories import make_asset
from tests.remediation.patches_world import SM, build, local_access, run_scans
from tests.remediation.sshd import Sshd


def local_truth() -> tuple[int, int, int]:
    """(installed, upgradable, security) as apt and dpkg report them on this host, counted without our parser."""
    status = subprocess.run(["dpkg-query", "-W", "-f=${Status}\n"], capture_output=True, text=True, check=True)
    installed = sum(1 for line in status.stdout.splitlines() if line.endswith(" installed"))
    listing = subprocess.run(
        ["apt", "list", "--upgradable"],
        capture_output=True,
        text=True,
        check=True,
        env={"LC_ALL": "C", "PATH": "/usr/bin:/bin:/usr/sbin:/sbin"},
    )
    rows = [line for line in listing.stdout.splitlines() if "[upgradable from:" in line]
    security = sum(1 for line in rows if "-security" in line.split()[0])
    return installed, len(rows), security


async def _scan(
    app: FastAPI,
    client: httpx.AsyncClient,
    sm: SM,
    settings: Settings,
    clock: FakeClock,
    headers: dict[str, str],
    asset_id: str,
) -> PatchState:
    r = await client.post("/api/patches/scan", json={"asset_id": asset_id}, headers=headers)
    assert r.status_code == 202, r.text
    assert r.json()["queued"] == [asset_id]
    rows = (await client.get("/api/patches", headers=headers)).json()
    assert [row["scanning"] for row in rows if row["asset_id"] == asset_id] == [True]
    await run_scans(app, sm, clock, settings)
    async with sm() as s:
        state = await s.get(PatchState, asset_id)
        jobs = (await s.execute(Job.__table__.select().where(Job.kind == "remediation.patch_scan"))).all()
    assert [j.status for j in jobs] == [DONE]
    assert state is not None
    return state


async def test_ssh_scan_against_real_sshd_counts_what_apt_says(
    app: FastAPI, client: httpx.AsyncClient, sessionmaker: SM, settings: Settings, clock: FakeClock, sshd: Sshd
) -> None:
    w = await build(client, sessionmaker, settings, clock)
    async with sessionmaker() as s:
        host = await make_asset(s, clock, w.acme.id, "debian-01", ip="127.0.0.1")
        await sshd.configure(s, settings=settings, clock=clock, company_id=w.acme.id, asset_id=host.id)
    state = await _scan(app, client, sessionmaker, settings, clock, w.auth["tech"], host.id)
    assert state.error == ""
    installed, upgradable, security = local_truth()
    assert (state.source, state.installed, state.missing, state.security, state.critical) == (
        "apt",
        installed,
        upgradable,
        security,
        0,
    )
    assert state.details["os_id"] == "debian" and state.details["severity_reported"] is False
    assert len(state.details["packages"]) == min(upgradable, 500)
    row = next(r for r in (await client.get("/api/patches", headers=w.auth["tech"])).json() if r["asset_id"] == host.id)
    assert (row["executor"], row["scanning"], row["compliant"]) == ("ssh", False, upgradable == 0)
    assert "packages" not in row["details"] and row["details"]["os_id"] == "debian"  # the list stays light
    one = (await client.get(f"/api/assets/{host.id}/patches", headers=w.auth["tech"])).json()
    assert (one["missing"], one["security"]) == (upgradable, security)
    assert sum(1 for p in one["details"]["packages"] if p["security"]) == min(security, 500)
    assert (await client.get(f"/api/assets/{host.id}/patches", headers=w.auth["other"])).status_code == 404


async def test_local_executor_scan_gives_the_same_counts(
    app: FastAPI, client: httpx.AsyncClient, sessionmaker: SM, settings: Settings, clock: FakeClock
) -> None:
    w = await build(client, sessionmaker, settings, clock)
    async with sessionmaker() as s:
        here = await make_asset(s, clock, w.acme.id, "aw-host")
        await local_access(s, settings, clock, here.id)
    state = await _scan(app, client, sessionmaker, settings, clock, w.auth["admin"], here.id)
    installed, upgradable, security = local_truth()
    assert (state.source, state.installed, state.missing, state.security, state.error) == (
        "apt",
        installed,
        upgradable,
        security,
        "",
    )


async def test_unreachable_host_is_an_error_on_the_row(
    app: FastAPI, client: httpx.AsyncClient, sessionmaker: SM, settings: Settings, clock: FakeClock, sshd: Sshd
) -> None:
    w = await build(client, sessionmaker, settings, clock)
    async with sessionmaker() as s:
        host = await make_asset(s, clock, w.acme.id, "gone-01", ip="127.0.0.1")
        await sshd.configure(s, settings=settings, clock=clock, company_id=w.acme.id, asset_id=host.id)
        row = await s.get(AssetAccess, host.id)
        assert row is not None
        await access.set_access(
            s,
            actor=None,
            settings=settings,
            clock=clock,
            asset_id=host.id,
            data=AccessIn(executor="ssh", host="127.0.0.1", port=1, credential_id=row.credential_id),
        )
        await s.commit()
    state = await _scan(app, client, sessionmaker, settings, clock, w.auth["tech"], host.id)
    assert state.error.startswith("could not reach the host")
    assert (state.details["scanned"], state.missing) == (False, 0)
    listed = next(
        r for r in (await client.get("/api/patches", headers=w.auth["tech"])).json() if r["asset_id"] == host.id
    )
    assert listed["error"] == state.error and listed["compliant"] is False and listed["scanned_at"] is None
