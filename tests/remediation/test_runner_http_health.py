"""The http health check against a real HTTP server on a loopback port (parameters percent-encoded in the URL)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from alertwhisperer.clock import FakeClock
from alertwhisperer.config import Settings
from alertwhisperer.correlation.models import Incident
from alertwhisperer.remediation import states
from tests.remediation import runner_world as rw

SM = async_sessionmaker[AsyncSession]


@dataclass
class Site:
    port: int
    status: int = 200
    paths: list[str] = field(default_factory=list)


@pytest.fixture
async def site() -> AsyncIterator[Site]:
    """A minimal HTTP/1.0 server answering every GET with ``site.status`` and remembering the paths asked for."""
    state = Site(port=0)

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        request = await reader.readuntil(b"\r\n\r\n")
        state.paths.append(request.split(b" ")[1].decode())
        writer.write(f"HTTP/1.0 {state.status} X\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok".encode())
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    state.port = server.sockets[0].getsockname()[1]
    try:
        yield state
    finally:
        server.close()
        await server.wait_closed()


async def test_http_check_passes_and_fails(app: FastAPI, client: httpx.AsyncClient, sessionmaker: SM,
                                           settings: Settings, clock: FakeClock, site: Site) -> None:
    w = await rw.build(app, client, sessionmaker, settings, clock)
    incident_id = await rw.open_incident(w)
    await w.drain()
    _, version = await rw.add_runbook(w, rw.spec_dict(
        "restart-web", ["echo restarted"],
        parameters=[{"name": "page", "type": "string", "default": "a b/c"}],
        health_check={"kind": "http", "url": f"http://127.0.0.1:{site.port}/health/{{{{ page }}}}",
                      "expect_status": 204, "timeout_seconds": 5}))
    site.status = 500
    failing = await rw.request(w, version, incident_id=incident_id)
    await w.drain()
    failed = await rw.execution(w, failing)
    assert failed.health["status"] == "failed" and "answered 500 (expected 204)" in failed.health["detail"]
    assert failed.outcome == "escalated" and failed.status == states.SUCCEEDED
    assert site.paths == ["/health/a%20b%2Fc"]

    site.status = 204
    passing = await rw.request(w, version, incident_id=incident_id)
    await w.drain()
    passed = await rw.execution(w, passing)
    assert passed.health["status"] == "passed" and passed.outcome == "self_healed"
    async with w.sm() as s:
        incident = await s.get(Incident, incident_id)
        assert incident is not None and incident.resolution_kind == "self_healed"
