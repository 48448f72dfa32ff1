"""The runner applies the gates at run time (approved runs run; stale or changed ones never do) and keeps what it
stores of a run's output bounded."""

from __future__ import annotations

from pathlib import Path

import httpx
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from alertwhisperer.clock import FakeClock
from alertwhisperer.config import Settings
from alertwhisperer.remediation import gates, states
from alertwhisperer.remediation.executors.base import MAX_OUTPUT
from tests.remediation import runner_world as rw

SM = async_sessionmaker[AsyncSession]


async def _approve(w: rw.World, execution_id: str) -> None:
    async with w.sm() as s:
        await gates.approve(s, actor=w.principal("admin"), clock=w.clock, execution_id=execution_id, note="go")
        await s.commit()


async def test_approved_run_runs_and_a_late_one_expires(app: FastAPI, client: httpx.AsyncClient, sessionmaker: SM,
                                                        settings: Settings, clock: FakeClock,
                                                        tmp_path: Path) -> None:
    w = await rw.build(app, client, sessionmaker, settings, clock)
    marker = tmp_path / "ran"
    _, version = await rw.add_runbook(w, rw.spec_dict("restart-app", [f"echo ran >> {marker}"], risk="medium"))
    first = await rw.request(w, version)
    assert (await rw.execution(w, first)).status == states.PENDING_APPROVAL
    await w.drain()
    assert rw.lines(marker) == []  # nothing runs without the approval
    await _approve(w, first)
    await w.drain()
    assert (await rw.execution(w, first)).status == states.SUCCEEDED and rw.lines(marker) == ["ran"]

    late = await rw.request(w, version)
    clock.advance(minutes=30)
    await _approve(w, late)
    clock.advance(minutes=31)  # approved in time, but the run starts after the request's hour is up
    await w.drain()
    expired = await rw.execution(w, late)
    assert expired.status == states.EXPIRED and "expired" in expired.status_reason
    assert expired.dispatched_at is None and rw.lines(marker) == ["ran"]


async def test_changed_target_cancels_the_run(app: FastAPI, client: httpx.AsyncClient, sessionmaker: SM,
                                              settings: Settings, clock: FakeClock, tmp_path: Path) -> None:
    from alertwhisperer.remediation.models import AssetAccess

    w = await rw.build(app, client, sessionmaker, settings, clock)
    marker = tmp_path / "ran"
    _, version = await rw.add_runbook(w, rw.spec_dict("tidy", [f"echo ran >> {marker}"]))
    execution_id = await rw.request(w, version)
    async with w.sm() as s:  # the asset is now reached differently than when the run was requested
        row = await s.get(AssetAccess, w.asset_id)
        assert row is not None
        row.sudo = True
        await s.commit()
    await w.drain()
    done = await rw.execution(w, execution_id)
    assert done.status == states.CANCELLED and "target" in done.status_reason
    assert rw.lines(marker) == []


async def test_stored_output_is_bounded(app: FastAPI, client: httpx.AsyncClient, sessionmaker: SM,
                                        settings: Settings, clock: FakeClock) -> None:
    w = await rw.build(app, client, sessionmaker, settings, clock)
    _, version = await rw.add_runbook(w, rw.spec_dict("chatty", ["head -c 150000 /dev/zero | tr '\\0' 'a'",
                                                                 "echo; echo done"]))
    execution_id = await rw.request(w, version)
    await w.drain()
    done = await rw.execution(w, execution_id)
    assert done.status == states.SUCCEEDED and done.truncated
    assert len(done.stdout) == MAX_OUTPUT
    pieces = await rw.chunks(w, execution_id)
    stored = sum(len(c.text) for c in pieces if c.stream == "stdout")
    assert stored == MAX_OUTPUT
    assert any(c.stream == "system" and "the rest is not kept" in c.text for c in pieces)
