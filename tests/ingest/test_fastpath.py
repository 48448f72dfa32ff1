"""The webhook fast path (outside the middleware stack) still does what the skipped layers did:
request ids, metrics under the route, domain errors through the app's handler, a clean 500 on a bug."""

from __future__ import annotations

import json

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from alertwhisperer.clock import FakeClock
from alertwhisperer.ingest import service
from alertwhisperer.ingest.fastpath import Front
from tests.factories import make_company

BODY = json.dumps({"asset_name": "db-01", "signature": "disk_full", "severity": "high", "message": "disk 95%",
                   "tool_source": "script"})


async def test_request_id_and_metrics(app: FastAPI, client: httpx.AsyncClient,
                                      sessionmaker: async_sessionmaker[AsyncSession], clock: FakeClock) -> None:
    async with sessionmaker() as s:
        acme = await make_company(s, clock, "Acme")
        await s.commit()
    r = await client.post("/api/webhooks/generic", content=BODY, headers={"X-API-Key": acme.api_key,
                                                                            "X-Request-ID": "trace-77"})
    assert r.status_code == 202 and r.headers["x-request-id"] == "trace-77"
    r = await client.post("/api/webhooks/generic", content=BODY, headers={"X-API-Key": "aw_wrong"})
    assert r.status_code == 401 and r.json()["error"] == "unauthenticated" and len(r.headers["x-request-id"]) == 32
    metrics = (await client.get("/metrics")).text
    route = 'route="/api/webhooks/{source}"'
    assert f'alertwhisperer_http_requests_total{{method="POST",{route},status="202"}} 1.0' in metrics
    assert f'alertwhisperer_http_requests_total{{method="POST",{route},status="401"}} 1.0' in metrics


async def test_a_bug_answers_500_json_and_is_counted(app: FastAPI, client: httpx.AsyncClient,
                                                     sessionmaker: async_sessionmaker[AsyncSession],
                                                     clock: FakeClock, monkeypatch: pytest.MonkeyPatch) -> None:
    async with sessionmaker() as s:
        acme = await make_company(s, clock, "Acme")
        await s.commit()

    def broken(*_: object, **__: object) -> None:
        raise RuntimeError("adapter bug")

    monkeypatch.setattr(service, "parse", broken)
    r = await client.post("/api/webhooks/generic", content=BODY, headers={"X-API-Key": acme.api_key})
    assert r.status_code == 500 and r.json() == {"error": "internal", "message": "internal server error"}
    assert r.headers["x-request-id"]
    metrics = (await client.get("/metrics")).text
    assert 'alertwhisperer_http_errors_total{method="POST",route="/api/webhooks/{source}"} 1.0' in metrics


async def test_other_requests_still_go_through_the_stack(client: httpx.AsyncClient) -> None:
    r = await client.get("/api/webhooks/sources")
    assert r.status_code == 401  # the normal route (auth dependency), not the fast path
    r = await client.post("/api/webhooks/generic/extra", content=BODY)
    assert r.status_code in (404, 405)


async def test_the_servers_front_door(app: FastAPI, sessionmaker: async_sessionmaker[AsyncSession],
                                      clock: FakeClock) -> None:
    """``serve`` runs ``Front(app)``: webhooks bypass the whole application object, the rest goes through it."""
    async with sessionmaker() as s:
        acme = await make_company(s, clock, "Acme")
        await s.commit()
    transport = httpx.ASGITransport(app=Front(app), client=("127.0.0.1", 50000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as front:
        r = await front.post("/api/webhooks/generic", content=BODY, headers={"X-API-Key": acme.api_key})
        assert r.status_code == 202 and r.headers["x-request-id"]
        assert (await front.get("/healthz")).status_code == 200
        assert (await front.get("/api/webhooks/sources")).status_code == 401
        metrics = (await front.get("/metrics")).text
    counted = 'alertwhisperer_http_requests_total{method="POST",route="/api/webhooks/{source}",status="202"} 1.0'
    assert counted in metrics
