"""Rate limits and live events shared through a real Redis (the scale-out shape: serve --workers N)."""

from __future__ import annotations

import asyncio
import json
import os

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from alertwhisperer.clock import FakeClock
from alertwhisperer.ingest.limiter import LimiterUnavailable, WebhookLimiter
from alertwhisperer.realtime.hub import Event, RedisHub
from alertwhisperer.tenants.schemas import IngestSettings
from tests.factories import make_company

REDIS = os.environ.get("AW_TEST_REDIS_URL", "redis://127.0.0.1:6379/5")
UNREACHABLE = "redis://127.0.0.1:1/0"


async def test_two_processes_share_one_budget() -> None:
    company = os.urandom(8).hex()
    cfg = IngestSettings(rate_limit_per_minute=1000, burst=3)
    first, second = WebhookLimiter(REDIS), WebhookLimiter(REDIS)
    verdicts = [await first.hit(company, cfg), await second.hit(company, cfg), await first.hit(company, cfg)]
    assert all(v.allowed for v in verdicts)
    refused = await second.hit(company, cfg)
    assert not refused.allowed and refused.retry_after >= 1 and "second" in refused.limit


async def test_an_unreachable_redis_is_reported_not_raised_raw() -> None:
    with pytest.raises(LimiterUnavailable):
        await WebhookLimiter(UNREACHABLE).hit("c1", IngestSettings())


async def test_the_webhook_answers_503_when_the_limiter_is_down(app: FastAPI, client: httpx.AsyncClient,
                                                                 sessionmaker: async_sessionmaker[AsyncSession],
                                                                 clock: FakeClock) -> None:
    async with sessionmaker() as s:
        acme = await make_company(s, clock, "Acme")
        await s.commit()
    app.state.limiter = WebhookLimiter(UNREACHABLE)
    body = json.dumps({"asset_name": "db-01", "signature": "disk", "severity": "high", "message": "m",
                       "tool_source": "t"})
    r = await client.post("/api/webhooks/generic", content=body, headers={"X-API-Key": acme.api_key})
    assert r.status_code == 503 and r.headers["retry-after"] and "rate limiter unavailable" in r.json()["message"]


async def test_redis_hub_carries_events_and_signals() -> None:
    a, b = RedisHub(REDIS), RedisHub(REDIS)
    await a.start()
    await b.start()
    try:
        sub = b.listen()
        woken = asyncio.Event()
        b.on_signal("jobs", woken.set)
        marker = os.urandom(6).hex()
        await a.publish(Event("alert.received", "c1", {"id": marker}))
        while True:  # other test runs may share this Redis: skip their events
            event = await asyncio.wait_for(sub.__anext__(), 10)
            if event.data.get("id") == marker:
                break
        a.signal("jobs")
        await asyncio.wait_for(woken.wait(), 10)
    finally:
        await a.stop()
        await b.stop()
