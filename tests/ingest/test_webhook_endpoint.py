"""POST /api/webhooks/{source}: key auth, durability, idempotency, clear 4xx, the inbox job (both DBs)."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from alertwhisperer.auth.principal import Role
from alertwhisperer.clock import FakeClock
from alertwhisperer.config import Settings
from alertwhisperer.ingest.models import Alert, Delivery, IdempotencyKey
from alertwhisperer.jobs.models import DONE, Job
from alertwhisperer.jobs.registry import build_registry
from alertwhisperer.jobs.worker import Worker
from tests.factories import MadeCompany, bearer, login, make_company, make_user

FIXTURES = Path(__file__).resolve().parent / "fixtures"
AM_FIRING = (FIXTURES / "alertmanager" / "firing.json").read_bytes()


@pytest.fixture
async def acme(sessionmaker: async_sessionmaker[AsyncSession], clock: FakeClock) -> MadeCompany:
    async with sessionmaker() as s:
        return await make_company(s, clock, "Acme")


async def _count(sessionmaker: async_sessionmaker[AsyncSession], model: type) -> int:
    async with sessionmaker() as s:
        return int((await s.execute(select(func.count()).select_from(model))).scalar_one())


async def test_alertmanager_batch_is_stored_before_the_answer(client: httpx.AsyncClient, acme: MadeCompany,
                                                              sessionmaker: async_sessionmaker[AsyncSession],
                                                              ) -> None:
    r = await client.post("/api/webhooks/alertmanager", content=AM_FIRING,
                          headers={"X-API-Key": acme.api_key, "Content-Type": "application/json"})
    assert r.status_code == 202, r.text
    body = r.json()
    expected = len(json.loads(AM_FIRING)["alerts"])
    assert len(body["alert_ids"]) == expected and body["duplicate"] is False
    async with sessionmaker() as s:
        alerts = (await s.execute(select(Alert).order_by(Alert.position))).scalars().all()
        delivery = await s.get(Delivery, body["delivery_id"])
        jobs = (await s.execute(select(Job))).scalars().all()
    assert [a.id for a in alerts] == body["alert_ids"]
    assert all(a.company_id == acme.id and a.source == "alertmanager" for a in alerts)
    assert delivery is not None and delivery.body == AM_FIRING and delivery.status == "accepted"
    assert [(j.kind, j.payload["delivery_id"]) for j in jobs] == [("ingest.process", body["delivery_id"])]


async def test_key_in_query_string_and_bad_keys(client: httpx.AsyncClient, acme: MadeCompany) -> None:
    ok = await client.post(f"/api/webhooks/alertmanager?api_key={acme.api_key}", content=AM_FIRING)
    assert ok.status_code == 202
    missing = await client.post("/api/webhooks/alertmanager", content=AM_FIRING)
    assert missing.status_code == 401 and "X-API-Key" in missing.json()["message"]
    wrong = await client.post("/api/webhooks/alertmanager", content=AM_FIRING,
                              headers={"X-API-Key": "aw_" + "x" * 43})
    assert wrong.status_code == 401
    # Alertmanager's and Grafana's `authorization` settings send the key as a bearer credential.
    bearer_key = await client.post("/api/webhooks/alertmanager", content=AM_FIRING,
                                   headers={"Authorization": f"Bearer {acme.api_key}"})
    assert bearer_key.status_code == 202
    user_token = await client.post("/api/webhooks/alertmanager", content=AM_FIRING,
                                   headers={"Authorization": "Bearer eyJhbGciOi.not-a-company-key"})
    assert user_token.status_code == 401


async def test_regenerated_key_stops_working_immediately(client: httpx.AsyncClient, acme: MadeCompany,
                                                         sessionmaker: async_sessionmaker[AsyncSession],
                                                         settings: Settings, clock: FakeClock) -> None:
    async with sessionmaker() as s:
        admin = await make_user(s, settings, clock, Role.MSP_ADMIN)
    tokens = await login(client, admin)
    r = await client.post(f"/api/companies/{acme.id}/api-key", headers=bearer(tokens))
    new_key = r.json()["api_key"]
    old = await client.post("/api/webhooks/alertmanager", content=AM_FIRING, headers={"X-API-Key": acme.api_key})
    new = await client.post("/api/webhooks/alertmanager", content=AM_FIRING, headers={"X-API-Key": new_key})
    assert (old.status_code, new.status_code) == (401, 202)


@pytest.mark.parametrize(("source", "body", "status", "words"), [
    ("nosuchtool", b"{}", 404, "unknown source"),
    ("alertmanager", b"{not json", 422, "JSON"),
    ("alertmanager", b"", 422, "empty body"),
    ("alertmanager", b"[1, 2]", 422, "alertmanager payload rejected"),
])
async def test_bad_input_is_a_clear_4xx_and_stores_nothing(client: httpx.AsyncClient, acme: MadeCompany,
                                                           sessionmaker: async_sessionmaker[AsyncSession],
                                                           source: str, body: bytes, status: int,
                                                           words: str) -> None:
    r = await client.post(f"/api/webhooks/{source}", content=body, headers={"X-API-Key": acme.api_key})
    assert r.status_code == status, r.text
    assert words in r.json()["message"]
    assert await _count(sessionmaker, Delivery) == 0
    assert await _count(sessionmaker, Alert) == 0


async def test_body_over_one_mib_is_413(client: httpx.AsyncClient, acme: MadeCompany,
                                        sessionmaker: async_sessionmaker[AsyncSession]) -> None:
    big = b'{"alerts": [], "pad": "' + b"x" * (1024 * 1024) + b'"}'
    r = await client.post("/api/webhooks/alertmanager", content=big, headers={"X-API-Key": acme.api_key})
    assert r.status_code == 413
    assert await _count(sessionmaker, Delivery) == 0


async def test_delivery_id_makes_repeats_idempotent_for_24h(client: httpx.AsyncClient, acme: MadeCompany,
                                                            sessionmaker: async_sessionmaker[AsyncSession],
                                                            clock: FakeClock) -> None:
    headers = {"X-API-Key": acme.api_key, "X-Delivery-ID": "delivery-42"}
    first = await client.post("/api/webhooks/alertmanager", content=AM_FIRING, headers=headers)
    again = await client.post("/api/webhooks/alertmanager", content=AM_FIRING, headers=headers)
    assert (first.status_code, again.status_code) == (202, 200)
    assert again.json()["duplicate"] is True
    assert again.json()["alert_ids"] == first.json()["alert_ids"]
    assert await _count(sessionmaker, Delivery) == 1
    clock.advance(hours=24, seconds=1)
    later = await client.post("/api/webhooks/alertmanager", content=AM_FIRING, headers=headers)
    assert later.status_code == 202 and later.json()["alert_ids"] != first.json()["alert_ids"]
    assert await _count(sessionmaker, Delivery) == 2
    assert await _count(sessionmaker, IdempotencyKey) == 1


async def test_same_delivery_id_in_two_companies_is_two_deliveries(
        client: httpx.AsyncClient, acme: MadeCompany, sessionmaker: async_sessionmaker[AsyncSession],
        clock: FakeClock) -> None:
    async with sessionmaker() as s:
        globex = await make_company(s, clock, "Globex")
    for key in (acme.api_key, globex.api_key):
        r = await client.post("/api/webhooks/alertmanager", content=AM_FIRING,
                              headers={"X-API-Key": key, "X-Delivery-ID": "same"})
        assert r.status_code == 202
    async with sessionmaker() as s:
        owners = (await s.execute(select(Delivery.company_id))).scalars().all()
    assert sorted(owners) == sorted([acme.id, globex.id])


async def test_inbox_job_processes_once_and_publishes_live(app: FastAPI, client: httpx.AsyncClient,
                                                           acme: MadeCompany, clock: FakeClock,
                                                           sessionmaker: async_sessionmaker[AsyncSession]) -> None:
    r = await client.post("/api/webhooks/alertmanager", content=AM_FIRING, headers={"X-API-Key": acme.api_key})
    hub = app.state.hub
    received = []

    async def listen() -> None:
        async for event in hub.subscribe():
            received.append(event)
            if len(received) == len(r.json()["alert_ids"]):
                return

    import asyncio

    listener = asyncio.create_task(listen())
    await asyncio.sleep(0)
    worker = Worker(sessionmaker, build_registry(), clock, hub=hub)
    # the inbox job, the lifecycle job of the incident it opened, and the remediation decision it asks for
    assert await worker.run_until_idle() == 3
    await asyncio.wait_for(listener, timeout=5)
    assert {e.data["id"] for e in received} == set(r.json()["alert_ids"])
    assert all(e.type == "alert.received" and e.company_id == acme.id for e in received)
    async with sessionmaker() as s:
        delivery = await s.get(Delivery, r.json()["delivery_id"])
        job = (await s.execute(select(Job).where(Job.kind == "ingest.process"))).scalar_one()
        lifecycle = (await s.execute(select(Job).where(Job.kind == "incident.lifecycle"))).scalar_one()
    assert lifecycle.status == DONE
    assert delivery is not None and delivery.status == "processed" and job.status == DONE
    assert await worker.run_until_idle() == 0


async def test_alerts_list_is_scoped(client: httpx.AsyncClient, acme: MadeCompany,
                                     sessionmaker: async_sessionmaker[AsyncSession], settings: Settings,
                                     clock: FakeClock) -> None:
    async with sessionmaker() as s:
        globex = await make_company(s, clock, "Globex")
        tech = await make_user(s, settings, clock, Role.TECHNICIAN, [globex.id])
    await client.post("/api/webhooks/alertmanager", content=AM_FIRING, headers={"X-API-Key": acme.api_key})
    tokens = await login(client, tech)
    r = await client.get("/api/alerts", headers=bearer(tokens))
    assert r.status_code == 200 and r.json() == []
