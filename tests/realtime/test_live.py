"""The live channel: tenant-scoped delivery over the real /ws endpoint, plus the hub's visibility rule."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import uvicorn
import websockets
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from alertwhisperer.auth.principal import Principal, Role
from alertwhisperer.clock import FakeClock
from alertwhisperer.config import Settings
from alertwhisperer.realtime.hub import Event, LocalHub
from tests.factories import bearer, login, make_company, make_user

SM = async_sessionmaker[AsyncSession]
RECV_LIMIT = 20  # seconds; a safety net against hanging, never an assertion about speed


@pytest.fixture
async def ws_url(app: FastAPI) -> AsyncIterator[str]:
    """Serve the test app with uvicorn on a free loopback port (the app's lifespan already ran)."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, lifespan="off", log_level="warning", ws="websockets-sansio"))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:
        await asyncio.sleep(0.01)
    try:
        yield f"ws://127.0.0.1:{port}/ws"
    finally:
        server.should_exit = True
        await task
        sock.close()


async def _recv(ws: Any) -> dict[str, Any]:
    message: dict[str, Any] = json.loads(await asyncio.wait_for(ws.recv(), RECV_LIMIT))
    return message


async def test_events_reach_only_users_who_see_the_company(ws_url: str, client: httpx.AsyncClient,
                                                           sessionmaker: SM, settings: Settings,
                                                           clock: FakeClock) -> None:
    async with sessionmaker() as s:
        a, b = await make_company(s, clock, "Acme"), await make_company(s, clock, "Bravo")
        msp = await make_user(s, settings, clock, Role.MSP_ADMIN)
        tech_a = await make_user(s, settings, clock, Role.TECHNICIAN, [a.id])
    msp_tokens, tech_tokens = await login(client, msp), await login(client, tech_a)
    async with websockets.connect(ws_url, additional_headers=bearer(tech_tokens)) as scoped, \
            websockets.connect(ws_url, additional_headers=bearer(msp_tokens)) as wide:
        hello = await _recv(scoped)
        assert hello["type"] == "connected" and hello["data"]["companies"] == [a.id]
        assert (await _recv(wide))["data"]["role"] == "msp_admin"
        h = bearer(msp_tokens)
        r_b = await client.post(f"/api/companies/{b.id}/assets", json={"name": "bravo-secret-db"}, headers=h)
        r_a = await client.post(f"/api/companies/{a.id}/assets", json={"name": "acme-db"}, headers=h)
        assert r_b.status_code == r_a.status_code == 201
        # events arrive in publish order: had B's event been delivered to the scoped user, it would come first
        first = await _recv(scoped)
        assert (first["type"], first["company_id"], first["data"]["name"]) == ("asset.created", a.id, "acme-db")
        seen = [await _recv(wide), await _recv(wide)]
        assert [(e["company_id"], e["data"]["name"]) for e in seen] == [(b.id, "bravo-secret-db"), (a.id, "acme-db")]
        await scoped.send("ping")
        assert (await _recv(scoped))["type"] == "pong"  # and nothing of B was queued before it


async def test_unauthenticated_and_cross_origin_connections_are_closed(ws_url: str, client: httpx.AsyncClient,
                                                                       sessionmaker: SM, settings: Settings,
                                                                       clock: FakeClock) -> None:
    for headers in ({}, {"Authorization": "Bearer not-a-token"}):
        with pytest.raises(websockets.exceptions.ConnectionClosed) as closed:
            async with websockets.connect(ws_url, additional_headers=headers) as ws:
                await asyncio.wait_for(ws.recv(), RECV_LIMIT)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 4401
    async with sessionmaker() as s:
        msp = await make_user(s, settings, clock, Role.MSP_ADMIN)
    tokens = await login(client, msp)
    with pytest.raises(websockets.exceptions.ConnectionClosed) as closed:
        async with websockets.connect(ws_url, additional_headers={**bearer(tokens),
                                                                  "Origin": "https://evil.example"}) as ws:
            await asyncio.wait_for(ws.recv(), RECV_LIMIT)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4403
    await client.post("/api/auth/logout", headers=bearer(tokens))
    with pytest.raises(websockets.exceptions.ConnectionClosed) as closed:
        async with websockets.connect(ws_url, additional_headers=bearer(tokens)) as ws:
            await asyncio.wait_for(ws.recv(), RECV_LIMIT)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4401  # a revoked session


def test_visibility_rule() -> None:
    msp = Principal("u1", "m@x", Role.MSP_ADMIN)
    scoped = Principal("u2", "a@x", Role.COMPANY_ADMIN, frozenset({"A"}))
    tech = Principal("u3", "t@x", Role.TECHNICIAN, frozenset({"A"}))
    assert Event("x", "A").visible_to(scoped) and Event("x", "A").visible_to(tech) and Event("x", "A").visible_to(msp)
    assert not Event("x", "B").visible_to(scoped) and not Event("x", "B").visible_to(tech)
    assert Event("x", "B").visible_to(msp)
    assert not Event("x", None).visible_to(scoped) and Event("x", None).visible_to(msp)


async def test_hub_subscription_receives_from_the_moment_it_listens() -> None:
    hub = LocalHub()
    hub.deliver(Event("before", "A"))  # nobody listens yet
    subscription = hub.listen()
    hub.deliver(Event("after", "A"))  # published before the subscriber first iterates: still delivered
    assert (await asyncio.wait_for(anext(subscription), RECV_LIMIT)).type == "after"
    subscription.close()
    assert hub.subscriber_count == 0
    with contextlib.suppress(Exception):
        await hub.stop()
