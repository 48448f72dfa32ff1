"""The loop guard (the same runbook on the same asset at most N times an hour) and the runbook's cooldown."""

from __future__ import annotations

from pathlib import Path

import httpx
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from alertwhisperer.clock import FakeClock
from alertwhisperer.config import Settings
from alertwhisperer.incidents.models import IncidentEvent
from alertwhisperer.remediation import states
from tests.remediation import runner_world as rw


async def test_loop_guard_stops_the_n_plus_first_run_within_an_hour(
    app: FastAPI,
    client: httpx.AsyncClient,
    sessionmaker: async_sessionmaker[AsyncSession],
    settings: Settings,
    clock: FakeClock,
    tmp_path: Path,
) -> None:
    w = await rw.build(app, client, sessionmaker, settings, clock)
    await rw.set_policy(w, w.acme.id, max_runs_per_hour=2)
    incident_id = await rw.open_incident(w)
    await w.drain()
    counter = tmp_path / "count"
    _, version = await rw.add_runbook(w, rw.spec_dict("restart-flappy", [f"echo run >> {counter}"]))
    for _ in range(2):
        execution_id = await rw.request(w, version)
        await w.drain()
        assert (await rw.execution(w, execution_id)).status == states.SUCCEEDED
        clock.advance(minutes=10)
    stopped = await rw.request(w, version, incident_id=incident_id)
    await w.drain()
    third = await rw.execution(w, stopped)
    assert third.status == states.CANCELLED
    assert third.status_reason.startswith("loop guard: restart-flappy ran 2 times on web-01 in the last hour")
    assert third.outcome == "escalated" and third.dispatched_at is None
    assert rw.lines(counter) == ["run", "run"]
    async with w.sm() as s:
        notes = list(
            (
                await s.execute(
                    select(IncidentEvent).where(
                        IncidentEvent.incident_id == incident_id, IncidentEvent.kind == "runbook"
                    )
                )
            ).scalars()
        )
    escalated = [n for n in notes if n.data.get("event") == "escalated"]
    assert len(escalated) == 1 and "loop guard" in escalated[0].body  # handed to a technician

    other = await rw.request(w, version, asset_id=w.other_asset_id, company=w.globex)  # another asset: its own count
    await w.drain()
    assert (await rw.execution(w, other)).status == states.SUCCEEDED

    clock.advance(minutes=41)  # the first run is now more than an hour ago: one slot free again
    again = await rw.request(w, version)
    await w.drain()
    assert (await rw.execution(w, again)).status == states.SUCCEEDED
    blocked = await rw.request(w, version)
    await w.drain()
    assert (await rw.execution(w, blocked)).status == states.CANCELLED
    assert rw.lines(counter) == ["run"] * 4


async def test_cooldown_refuses_a_run_too_soon_after_the_last(
    app: FastAPI,
    client: httpx.AsyncClient,
    sessionmaker: async_sessionmaker[AsyncSession],
    settings: Settings,
    clock: FakeClock,
    tmp_path: Path,
) -> None:
    w = await rw.build(app, client, sessionmaker, settings, clock)
    counter = tmp_path / "count"
    _, version = await rw.add_runbook(w, rw.spec_dict("clear-cache", [f"echo run >> {counter}"], cooldown_minutes=15))
    first = await rw.request(w, version)
    await w.drain()
    assert (await rw.execution(w, first)).status == states.SUCCEEDED
    clock.advance(minutes=5)
    second = await rw.request(w, version)
    await w.drain()
    refused = await rw.execution(w, second)
    assert refused.status == states.CANCELLED and refused.status_reason.startswith("cooldown: clear-cache")
    assert refused.outcome == ""  # a cooldown is not a failure: nothing is escalated
    clock.advance(minutes=11)
    third = await rw.request(w, version)
    await w.drain()
    assert (await rw.execution(w, third)).status == states.SUCCEEDED
    assert rw.lines(counter) == ["run", "run"]
