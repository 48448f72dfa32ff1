"""The dashboard's automation figures: self-healed share, runbook runs, approvals waiting for the viewer, patch
compliance — from a real self-healing run, a real pending request and a real patch scan over the local executor."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from alertwhisperer.clock import FakeClock
from alertwhisperer.config import Settings
from alertwhisperer.remediation import patches, states
from tests.remediation import runner_world as rw
from tests.remediation.patches_world import registry as patch_registry

SM = async_sessionmaker[AsyncSession]


def _kpi(html: str, testid: str) -> str:
    found = re.search(rf'data-testid="{testid}">([^<]*)<', html)
    assert found, testid
    return found.group(1).strip()


async def test_dashboard_shows_self_healed_share_runs_approvals_and_compliance(
        app: FastAPI, client: httpx.AsyncClient, sessionmaker: SM, settings: Settings, clock: FakeClock,
        tmp_path: Path) -> None:
    w = await rw.build(app, client, sessionmaker, settings, clock)
    page = (await client.get("/", headers=w.auth["admin"])).text
    assert _kpi(page, "kpi-self-healed") == "—" and _kpi(page, "kpi-patch-compliance") == "—"

    healed = await rw.open_incident(w)  # a disk incident fixed by a runbook whose health check passes
    await w.drain()
    fixed = tmp_path / "fixed"
    _, version = await rw.add_runbook(w, rw.spec_dict(
        "fix-disk", [f"touch {fixed}"], health_check={"kind": "command", "command": f"test -f {fixed}"}))
    run = await rw.request(w, version, incident_id=healed)
    await w.drain()
    assert (await rw.execution(w, run)).outcome == "self_healed"
    manual = await rw.open_incident(w, "HighCpuUsage", "web-01")  # one resolved by hand
    await w.drain()
    assert (await client.post(f"/api/incidents/{manual}/resolve", headers=w.auth["tech"], json={})).status_code == 200
    _, medium = await rw.add_runbook(w, rw.spec_dict("restart-app", ["true"], risk="medium"))
    waiting = await rw.request(w, medium)  # waits for a company admin
    assert (await rw.execution(w, waiting)).status == states.PENDING_APPROVAL
    async with sessionmaker() as s:
        await patches.request_scan(s, actor=w.principal("admin"), clock=clock, asset_id=w.asset_id)
        await s.commit()
    from alertwhisperer.jobs.worker import Worker

    await Worker(sessionmaker, patch_registry(), clock, hub=app.state.hub, settings=settings).run_until_idle()

    page = (await client.get("/", headers=w.auth["admin"])).text
    assert _kpi(page, "kpi-self-healed") == "50%"  # 1 of 2 resolved incidents
    assert _kpi(page, "kpi-runs") == "2"
    assert _kpi(page, "kpi-pending-approvals") == "1"
    assert re.fullmatch(r"\d+%", _kpi(page, "kpi-patch-compliance"))
    tech_page = (await client.get("/", headers=w.auth["tech"])).text
    assert _kpi(tech_page, "kpi-pending-approvals") == "0"  # technicians approve nothing
