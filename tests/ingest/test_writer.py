"""The group-commit writer and the webhook caches (both databases)."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from alertwhisperer.auth.principal import Role
from alertwhisperer.clock import FakeClock
from alertwhisperer.config import Settings
from alertwhisperer.ingest import writer as writer_module
from alertwhisperer.ingest.models import Alert, Delivery, IdempotencyKey
from alertwhisperer.jobs.models import Job
from alertwhisperer.jobs.registry import build_registry
from alertwhisperer.jobs.worker import Worker
from tests.factories import MadeCompany, bearer, login, make_company, make_user


def _generic(n: int) -> bytes:
    return json.dumps({"asset_name": f"srv-{n}", "signature": f"check_{n}", "severity": "high",
                       "message": f"alert {n}", "tool_source": "test"}).encode()


@pytest.fixture
async def acme(sessionmaker: async_sessionmaker[AsyncSession], clock: FakeClock) -> MadeCompany:
    async with sessionmaker() as s:
        company = await make_company(s, clock, "Acme")
    return company


async def _count(sessionmaker: async_sessionmaker[AsyncSession], model: type) -> int:
    async with sessionmaker() as s:
        return int((await s.execute(select(func.count()).select_from(model))).scalar_one())


async def test_concurrent_requests_share_transactions_and_each_is_stored_once(
        app: FastAPI, client: httpx.AsyncClient, acme: MadeCompany,
        sessionmaker: async_sessionmaker[AsyncSession], clock: FakeClock) -> None:
    before = app.state.ingest_writer.batches
    replies = await asyncio.gather(*(
        client.post("/api/webhooks/generic", content=_generic(n),
                    headers={"X-API-Key": acme.api_key, "X-Delivery-ID": f"d-{n}"}) for n in range(40)))
    assert {r.status_code for r in replies} == {202}
    ids = {r.json()["delivery_id"] for r in replies}
    assert len(ids) == 40
    assert await _count(sessionmaker, Delivery) == 40 and await _count(sessionmaker, Alert) == 40
    assert app.state.ingest_writer.batches - before < 40  # grouped into fewer transactions
    worker = Worker(sessionmaker, build_registry(), clock)
    await worker.run_until_idle()
    async with sessionmaker() as s:
        statuses = set((await s.execute(select(Delivery.status))).scalars().all())
    assert statuses == {"processed"}  # every batched inbox job processed all its deliveries


async def test_concurrent_repeats_of_one_delivery_id_create_one_delivery(
        client: httpx.AsyncClient, acme: MadeCompany, sessionmaker: async_sessionmaker[AsyncSession]) -> None:
    headers = {"X-API-Key": acme.api_key, "X-Delivery-ID": "same-one"}
    replies = await asyncio.gather(*(client.post("/api/webhooks/generic", content=_generic(1), headers=headers)
                                     for _ in range(25)))
    codes = sorted(r.status_code for r in replies)
    assert codes == [200] * 24 + [202]
    assert len({r.json()["delivery_id"] for r in replies}) == 1
    assert len({tuple(r.json()["alert_ids"]) for r in replies}) == 1
    assert await _count(sessionmaker, Delivery) == 1
    assert await _count(sessionmaker, IdempotencyKey) == 1


async def test_a_failing_batch_answers_503_to_everyone_and_stores_nothing(
        app: FastAPI, client: httpx.AsyncClient, acme: MadeCompany,
        sessionmaker: async_sessionmaker[AsyncSession], monkeypatch: pytest.MonkeyPatch) -> None:
    real_store = writer_module._store
    calls = 0

    def failing_store(conn, batch):  # type: ignore[no-untyped-def]
        nonlocal calls
        calls += 1
        real_store(conn, batch)  # the rows are written inside the transaction...
        raise RuntimeError("disk I/O error")  # ...which then fails before the commit

    monkeypatch.setattr(writer_module, "_store", failing_store)
    replies = await asyncio.gather(*(
        client.post("/api/webhooks/alertmanager" if n % 2 else "/api/webhooks/generic",
                    content=_am(n) if n % 2 else _generic(n), headers={"X-API-Key": acme.api_key})
        for n in range(12)))
    assert calls >= 1
    assert {r.status_code for r in replies} == {503}
    assert all(r.headers["Retry-After"] for r in replies)
    assert all(r.json()["error"] == "unavailable" for r in replies)
    for model in (Delivery, Alert, IdempotencyKey, Job):
        assert await _count(sessionmaker, model) == 0
    monkeypatch.setattr(writer_module, "_store", real_store)
    again = await client.post("/api/webhooks/generic", content=_generic(1), headers={"X-API-Key": acme.api_key})
    assert again.status_code == 202  # the sender's retry succeeds


def _am(n: int) -> bytes:
    return json.dumps({"version": "4", "status": "firing", "receiver": "r", "alerts": [
        {"status": "firing", "labels": {"alertname": f"A{n}", "instance": "h:9100"}, "annotations": {},
         "startsAt": "2026-03-02T09:00:00Z", "fingerprint": f"{n:016x}"}]}).encode()


async def test_settings_change_and_key_regeneration_reach_the_cache_at_once(
        client: httpx.AsyncClient, acme: MadeCompany, sessionmaker: async_sessionmaker[AsyncSession],
        settings: Settings, clock: FakeClock, app: FastAPI) -> None:
    async with sessionmaker() as s:
        admin = await make_user(s, settings, clock, Role.MSP_ADMIN)
    auth = bearer(await login(client, admin))
    ok = await client.post("/api/webhooks/generic", content=_generic(1), headers={"X-API-Key": acme.api_key})
    assert ok.status_code == 202  # the key is now cached
    r = await client.patch(f"/api/companies/{acme.id}", headers=auth,
                           json={"settings": {"ingest": {"rate_limit_per_minute": 1, "burst": 100}}})
    assert r.status_code == 200
    await app.state.limiter.reset()
    codes = [(await client.post("/api/webhooks/generic", content=_generic(n),
                                headers={"X-API-Key": acme.api_key})).status_code for n in range(2)]
    assert codes == [202, 429]  # the new limit applies to the very next request
    new_key = (await client.post(f"/api/companies/{acme.id}/api-key", headers=auth)).json()["api_key"]
    old = await client.post("/api/webhooks/generic", content=_generic(9), headers={"X-API-Key": acme.api_key})
    assert old.status_code == 401
    assert new_key != acme.api_key
