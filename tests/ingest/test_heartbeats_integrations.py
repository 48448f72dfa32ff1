"""Heartbeats (silent -> alert, resumed -> resolved, durable timers) and integration guides / test alerts."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from alertwhisperer.auth.principal import Role
from alertwhisperer.clock import FakeClock
from alertwhisperer.config import Settings
from alertwhisperer.ingest import adapters
from alertwhisperer.ingest.integrations import guide_path, sample_path
from alertwhisperer.ingest.models import Alert, Delivery
from alertwhisperer.jobs.registry import build_registry
from alertwhisperer.jobs.worker import Worker
from tests.factories import MadeCompany, bearer, login, make_company, make_user

auth_email: list[str] = []


@pytest.fixture
async def world(client: httpx.AsyncClient, sessionmaker: async_sessionmaker[AsyncSession], settings: Settings,
                clock: FakeClock) -> tuple[MadeCompany, dict[str, str]]:
    async with sessionmaker() as s:
        acme = await make_company(s, clock, "Acme")
        admin = await make_user(s, settings, clock, Role.COMPANY_ADMIN, [acme.id])
    auth_email[:] = [admin]
    return acme, bearer(await login(client, admin))


async def _alerts(sessionmaker: async_sessionmaker[AsyncSession]) -> list[tuple[str, str]]:
    async with sessionmaker() as s:
        rows = (await s.execute(select(Alert).order_by(Alert.received_at))).scalars().all()
    return [(a.signature, a.status) for a in rows]


async def test_heartbeat_silence_raises_and_resume_resolves(client: httpx.AsyncClient,
                                                            world: tuple[MadeCompany, dict[str, str]],
                                                            sessionmaker: async_sessionmaker[AsyncSession],
                                                            clock: FakeClock) -> None:
    acme, auth = world
    r = await client.post(f"/api/companies/{acme.id}/heartbeats", headers=auth,
                          json={"name": "prometheus-watchdog", "interval_seconds": 300, "grace_seconds": 60})
    assert r.status_code == 201, r.text
    worker = Worker(sessionmaker, build_registry(), clock)
    ping = await client.post("/api/heartbeats/prometheus-watchdog", headers={"X-API-Key": acme.api_key})
    assert ping.status_code == 200 and ping.json()["state"] == "ok"
    clock.advance(seconds=300)
    await worker.run_until_idle()
    assert await _alerts(sessionmaker) == []  # within interval + grace
    ping = await client.get(f"/api/heartbeats/prometheus-watchdog?api_key={acme.api_key}")
    assert ping.status_code == 200
    clock.advance(seconds=359)
    await worker.run_until_idle()
    assert await _alerts(sessionmaker) == []  # the newer ping moved the deadline
    clock.advance(seconds=2)
    await worker.run_until_idle()
    assert await _alerts(sessionmaker) == [("monitoring silent: prometheus-watchdog", "firing")]
    # A restarted worker re-running old checks cannot raise a second alert.
    clock.advance(hours=2)
    await Worker(sessionmaker, build_registry(), clock).run_until_idle()
    assert len(await _alerts(sessionmaker)) == 1
    listing = await client.get(f"/api/companies/{acme.id}/heartbeats", headers=auth)
    assert listing.status_code == 401  # two hours later the access token has expired, as it should
    fresh = bearer(await login(client, auth_email[0]))
    state = (await client.get(f"/api/companies/{acme.id}/heartbeats", headers=fresh)).json()
    assert state[0]["state"] == "silent"
    await client.post("/api/heartbeats/prometheus-watchdog", headers={"X-API-Key": acme.api_key})
    assert (await _alerts(sessionmaker))[-1] == ("monitoring silent: prometheus-watchdog", "resolved")


async def test_heartbeat_never_pinged_is_silent_and_errors(client: httpx.AsyncClient,
                                                           world: tuple[MadeCompany, dict[str, str]],
                                                           sessionmaker: async_sessionmaker[AsyncSession],
                                                           clock: FakeClock) -> None:
    acme, auth = world
    await client.post(f"/api/companies/{acme.id}/heartbeats", headers=auth,
                      json={"name": "cron", "interval_seconds": 60, "grace_seconds": 0})
    dup = await client.post(f"/api/companies/{acme.id}/heartbeats", headers=auth,
                            json={"name": "cron", "interval_seconds": 60})
    assert dup.status_code == 409
    bad = await client.post(f"/api/companies/{acme.id}/heartbeats", headers=auth,
                            json={"name": "x y", "interval_seconds": 5})
    assert bad.status_code == 422
    unknown = await client.post("/api/heartbeats/nope", headers={"X-API-Key": acme.api_key})
    assert unknown.status_code == 404
    clock.advance(seconds=61)
    await Worker(sessionmaker, build_registry(), clock).run_until_idle()
    assert await _alerts(sessionmaker) == [("monitoring silent: cron", "firing")]
    gone = await client.delete(f"/api/companies/{acme.id}/heartbeats/cron", headers=auth)
    assert gone.status_code == 204


def test_every_registered_adapter_has_a_guide_and_a_sample() -> None:
    for key in adapters.all_keys():
        assert guide_path(key).exists(), f"adapter {key!r} has no integration guide {guide_path(key)}"
        assert sample_path(key).exists(), f"adapter {key!r} has no test sample {sample_path(key)}"


async def test_guides_carry_the_company_url(client: httpx.AsyncClient,
                                            world: tuple[MadeCompany, dict[str, str]]) -> None:
    acme, auth = world
    listing = await client.get(f"/api/companies/{acme.id}/integrations", headers=auth)
    assert listing.status_code == 200
    assert {i["key"] for i in listing.json()} == set(adapters.all_keys())
    for key in ("alertmanager", "datadog", "zabbix", "cloudwatch"):
        r = await client.get(f"/api/companies/{acme.id}/integrations/{key}", headers=auth)
        assert r.status_code == 200, r.text
        guide = r.json()
        assert f"/api/webhooks/{key}" in guide["guide_markdown"]
        assert acme.api_key not in guide["guide_markdown"]  # the key is never re-shown
        assert "<" in guide["guide_html"]
    assert (await client.get(f"/api/companies/{acme.id}/integrations/nope", headers=auth)).status_code == 404


async def test_send_test_alert_goes_through_the_real_path(client: httpx.AsyncClient,
                                                          world: tuple[MadeCompany, dict[str, str]],
                                                          sessionmaker: async_sessionmaker[AsyncSession],
                                                          clock: FakeClock) -> None:
    acme, auth = world
    for key in adapters.all_keys():
        r = await client.post(f"/api/companies/{acme.id}/integrations/{key}/test", headers=auth)
        assert r.status_code == 202, (key, r.text)
        assert r.json()["alert_ids"], key
    async with sessionmaker() as s:
        deliveries = (await s.execute(select(Delivery))).scalars().all()
        alerts = (await s.execute(select(Alert))).scalars().all()
    assert {d.source for d in deliveries} == set(adapters.all_keys())
    assert all(a.labels.get("aw_test") == "true" and a.company_id == acme.id for a in alerts)
    await Worker(sessionmaker, build_registry(), clock).run_until_idle()
    async with sessionmaker() as s:
        assert {d.status for d in (await s.execute(select(Delivery))).scalars()} == {"processed"}
