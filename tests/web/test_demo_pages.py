"""The console's "Play demo storm" button: who may start one, one per company at a time, audited, cancelled on
shutdown."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from alertwhisperer.audit.models import AuditEntry
from alertwhisperer.auth.principal import Role
from alertwhisperer.clock import FakeClock
from alertwhisperer.config import Settings
from alertwhisperer.demo import DEMO_TENANTS
from alertwhisperer.ingest.models import Alert
from alertwhisperer.main import create_app
from alertwhisperer.tenants.importer import import_tenants
from alertwhisperer.tenants.models import Company
from alertwhisperer.web.pages.demo import storms
from tests.auth.helpers import cheap_argon2  # noqa: F401  (autouse fixture)
from tests.factories import PASSWORD, bearer, login, make_company, make_user

SM = async_sessionmaker[AsyncSession]


@pytest.fixture
async def demo_app(settings: Settings, clock: FakeClock) -> AsyncIterator[FastAPI]:
    """The app in demo mode (the default of a fresh install)."""
    application = create_app(settings.model_copy(update={"demo": True}), clock=clock)
    async with LifespanManager(application):
        yield application


@pytest.fixture
async def demo_client(demo_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=demo_app, client=("127.0.0.1", 50000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c


async def _companies(sm: SM, clock: FakeClock) -> dict[str, str]:
    async with sm() as s:
        await import_tenants(s, clock=clock, data=DEMO_TENANTS)
        await s.commit()
        return {c.slug: c.id for c in (await s.execute(select(Company))).scalars()}


async def _user(sm: SM, settings: Settings, clock: FakeClock, role: Role, company_ids: list[str]) -> str:
    async with sm() as s:
        return await make_user(s, settings, clock, role, company_ids)


async def _count(sm: SM, model: type, *where: object) -> int:
    async with sm() as s:
        return int((await s.execute(select(func.count()).select_from(model).where(*where))).scalar_one())  # type: ignore[arg-type]


async def _finish(app: FastAPI, company_id: str) -> None:
    task = storms(app).tasks.get(company_id)
    assert task is not None, "no storm is running"
    await asyncio.wait_for(task, timeout=30)


async def test_a_company_admin_starts_one_storm_at_a_time_in_demo_mode(
        demo_app: FastAPI, demo_client: httpx.AsyncClient, settings: Settings, clock: FakeClock) -> None:
    sm: SM = demo_app.state.sessionmaker
    ids = await _companies(sm, clock)
    acme = ids["acme-dental"]
    admin = await _user(sm, settings, clock, Role.COMPANY_ADMIN, [acme])
    tech = await _user(sm, settings, clock, Role.TECHNICIAN, [acme])
    outsider = await _user(sm, settings, clock, Role.COMPANY_ADMIN, [ids["globex"]])
    c = demo_client

    as_tech = bearer(await login(c, tech))
    refused = await c.post("/demo/storm", data={"company_id": acme}, headers=as_tech)
    assert refused.status_code == 403 and "may not start a demo storm" in refused.text
    assert (await c.get("/demo/storm", headers=as_tech)).text.strip() == ""  # no button for technicians
    assert "demo-storm" not in (await c.get("/", headers=as_tech)).text
    hidden = await c.post("/demo/storm", data={"company_id": acme}, headers=bearer(await login(c, outsider)))
    assert hidden.status_code == 404 and "Acme" not in hidden.text

    r = await c.post("/login", data={"email": admin, "password": PASSWORD, "next": "/"})  # a browser session
    assert r.status_code == 303
    dashboard = await c.get("/")  # the dashboard includes the button with its own context
    assert dashboard.status_code == 200 and 'data-testid="start-storm"' in dashboard.text
    button = await c.get("/demo/storm")
    assert 'data-testid="start-storm"' in button.text and f'value="{acme}"' in button.text
    assert f'name="csrf_token" value="{c.cookies["aw_csrf"]}"' in button.text
    form = {"company_id": acme, "duration": "1", "csrf_token": c.cookies["aw_csrf"]}
    started = await c.post("/demo/storm", data=form, headers={"HX-Request": "true"})
    assert started.status_code == 200 and "Storm running…" in started.text and 'hx-trigger="every 2s"' in started.text
    again = await c.post("/demo/storm", data={"company_id": acme, "csrf_token": c.cookies["aw_csrf"]})
    assert again.status_code == 409 and "already running for Acme Dental Group" in again.text
    async with sm() as s:
        entries = list((await s.execute(select(AuditEntry).where(AuditEntry.action == "demo.storm_started")))
                       .scalars())
        assert [(e.company_id, e.actor_email, e.details["via"]) for e in entries] == [(acme, admin, "console")]
    await _finish(demo_app, acme)
    assert await _count(sm, Alert, Alert.company_id == acme) >= 25
    assert await _count(sm, Alert, Alert.company_id == ids["globex"]) == 0
    after = await c.get(f"/demo/storm?company_id={acme}")
    assert 'data-testid="start-storm"' in after.text and "Last storm on Acme Dental Group" in after.text


async def test_outside_demo_mode_only_an_msp_admin_may_start_a_storm(
        app: FastAPI, client: httpx.AsyncClient, sessionmaker: SM, settings: Settings, clock: FakeClock) -> None:
    ids = await _companies(sessionmaker, clock)
    globex = ids["globex"]
    company_admin = await _user(sessionmaker, settings, clock, Role.COMPANY_ADMIN, [globex])
    refused = await client.post("/demo/storm", data={"company_id": globex},
                                headers=bearer(await login(client, company_admin)))
    assert refused.status_code == 403 and "demo mode" in refused.text
    assert await _count(sessionmaker, AuditEntry, AuditEntry.action == "demo.storm_started") == 0

    msp = bearer(await login(client, await _user(sessionmaker, settings, clock, Role.MSP_ADMIN, [])))
    started = await client.post("/demo/storm", data={"duration": "1"}, headers=msp)  # no company chosen
    assert started.status_code == 303 and started.headers["location"] == "/"
    assert storms(app).running(ids["acme-dental"])  # the first demo company
    await _finish(app, ids["acme-dental"])
    assert await _count(sessionmaker, Alert, Alert.company_id == ids["acme-dental"]) >= 25

    async with sessionmaker() as s:
        empty = await make_company(s, clock, "Empty Co")
    no_assets = await client.post("/demo/storm", data={"company_id": empty.id}, headers=msp)
    assert no_assets.status_code == 422 and "has no assets" in no_assets.text
    bad = await client.post("/demo/storm", data={"company_id": globex, "duration": "1e9"}, headers=msp)
    assert bad.status_code == 422 and "duration" in bad.text


async def test_a_running_storm_is_cancelled_when_the_app_stops(settings: Settings, clock: FakeClock) -> None:
    application = create_app(settings, clock=clock)
    async with LifespanManager(application):
        sm: SM = application.state.sessionmaker
        ids = await _companies(sm, clock)
        transport = httpx.ASGITransport(app=application, client=("127.0.0.1", 50000))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
            msp = bearer(await login(c, await _user(sm, settings, clock, Role.MSP_ADMIN, [])))
            r = await c.post("/demo/storm", data={"company_id": ids["globex"], "duration": "600"}, headers=msp)
            assert r.status_code == 303
        task = storms(application).tasks[ids["globex"]]
        await asyncio.sleep(0.1)
        assert not task.done()
    assert task.cancelled()
    progress = storms(application).progress[ids["globex"]]
    assert progress.finished and progress.error == "cancelled" and progress.sent < progress.total
