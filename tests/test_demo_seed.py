"""The demo data: companies, people and on-call rotations, so the demo storm's incidents get assigned."""

from __future__ import annotations

import json

import httpx
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from alertwhisperer.auth.models import User
from alertwhisperer.clock import FakeClock
from alertwhisperer.config import Settings
from alertwhisperer.correlation.models import Incident
from alertwhisperer.demo import DEMO_ADMIN, DEMO_PASSWORD, seed_demo
from alertwhisperer.incidents.models import OnCallSchedule
from alertwhisperer.incidents.oncall import on_call_now
from alertwhisperer.ingest.models import Alert
from alertwhisperer.jobs.registry import build_registry
from alertwhisperer.jobs.worker import Worker
from alertwhisperer.remediation import runbooks
from alertwhisperer.remediation.models import Execution
from alertwhisperer.tenants.models import Company
from alertwhisperer.tenants.service import regenerate_api_key
from tests.correlation.replay_data import T0, am
from tests.factories import bearer, login


async def test_demo_seeds_once_with_on_call_rotations(sessionmaker: async_sessionmaker[AsyncSession],
                                                      settings: Settings, clock: FakeClock) -> None:
    async with sessionmaker() as s:
        info = await seed_demo(s, settings=settings, clock=clock)
        await s.commit()
    assert info is not None and info.email == DEMO_ADMIN
    async with sessionmaker() as s:
        assert await seed_demo(s, settings=settings, clock=clock) is not None  # already there: nothing added
        names = sorted((await s.execute(select(OnCallSchedule.name))).scalars())
        companies = {c.slug: c.id for c in (await s.execute(select(Company))).scalars()}
        people = {u.id: u.email for u in (await s.execute(select(User))).scalars()}
        database = await on_call_now(s, company_id=companies["acme-dental"], category="Database", at=clock.now())
        anything = await on_call_now(s, company_id=companies["acme-dental"], category="Server", at=clock.now())
    assert names == ["Acme databases", "Globex databases", "Globex network", "MSP on-call team"]
    assert people[database[0].user_id] == "dana@msp-demo.example"
    assert people[anything[0].user_id] in ("sam@msp-demo.example", "dana@msp-demo.example")


async def test_demo_self_heals_in_its_sandbox_and_asks_before_the_medium_run(
        app: FastAPI, client: httpx.AsyncClient, sessionmaker: async_sessionmaker[AsyncSession], settings: Settings,
        clock: FakeClock) -> None:
    """The demo's remediation, end to end with the product's own jobs: a disk alert on acme-db-01 is cleaned up in
    its sandbox and self-heals; HTTP errors on acme-web-01 wait for a company admin, then run and self-heal.
    Nothing outside the data dir's sandbox is touched."""
    async with sessionmaker() as s:
        await seed_demo(s, settings=settings, clock=clock)
        await s.commit()
        acme = (await s.execute(select(Company).where(Company.slug == "acme-dental"))).scalar_one()
        key = (await regenerate_api_key(s, actor=None, clock=clock, company_id=acme.id))[1]
        await s.commit()
    sandbox = settings.data_dir / "demo-hosts"
    async with sessionmaker() as s:  # nothing from the library runs by itself on the demo machine
        automatic = [e for e in await runbooks.effective_for_company(s, company_id=acme.id)
                     if e.spec.risk == "low" and e.spec.auto_approve]
    assert {e.spec.name for e in automatic} == {"disk-cleanup", "disk-usage-report", "database-health-check"}
    assert all(str(sandbox) in e.version.yaml for e in automatic)
    assert sum(f.stat().st_size for f in (sandbox / "acme-db-01").rglob("*") if f.is_file()) > 1024 * 1024
    worker = Worker(sessionmaker, build_registry(), clock, hub=app.state.hub, settings=settings)

    async def alert(name: str, host: str) -> str:
        body = am(name, host, fingerprint=f"{name}-{host}", at=(clock.now() - T0).total_seconds())
        r = await client.post("/api/webhooks/alertmanager", content=json.dumps(body),
                              headers={"X-API-Key": key, "Content-Type": "application/json"})
        assert r.status_code == 202, r.text
        await worker.run_until_idle()
        async with sessionmaker() as s:
            row = await s.get(Alert, r.json()["alert_ids"][0])
            assert row is not None and row.incident_id
            return row.incident_id

    disk = await alert("NodeFilesystemAlmostOutOfSpace", "acme-db-01")
    web = await alert("HighHttpErrorRate", "acme-web-01")
    async with sessionmaker() as s:
        healed = await s.get(Incident, disk)
        assert healed is not None and (healed.status, healed.resolution_kind) == ("resolved", "self_healed")
        waiting = (await s.execute(select(Execution).where(Execution.incident_id == web))).scalar_one()
        assert (waiting.runbook_slug, waiting.status) == ("restart-web-tier", "pending_approval")
    assert not list((sandbox / "acme-db-01" / "var/log").glob("app.log.*"))  # rotated logs gone, app.log kept
    assert (sandbox / "acme-db-01" / "var/log" / "app.log").exists()

    admin = bearer(await login(client, "admin@acme-dental.example", DEMO_PASSWORD))
    approved = await client.post(f"/api/approvals/{waiting.id}/approve", headers=admin, json={"note": "demo"})
    assert approved.status_code == 200, approved.text
    await worker.run_until_idle()
    async with sessionmaker() as s:
        fixed = await s.get(Incident, web)
        assert fixed is not None and fixed.resolution_kind == "self_healed"
    assert (sandbox / "acme-web-01" / "run" / "state").read_text().strip() == "healthy"
