"""At most once: a worker that dies mid-run never gets its run started again by the next worker."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from alertwhisperer.clock import FakeClock
from alertwhisperer.config import Settings
from alertwhisperer.incidents.models import IncidentEvent
from alertwhisperer.jobs.models import DONE, RUNNING, Job
from alertwhisperer.remediation import hooks, states
from alertwhisperer.remediation.runner import INTERRUPTED
from tests.remediation import runner_world as rw


async def _wait_for_line(path: Path) -> None:
    for _ in range(400):  # the script appends as its first act; wait for the real process (not a timed assertion)
        if rw.lines(path):
            return
        await asyncio.sleep(0.025)
    raise AssertionError("the script never started")


async def test_worker_dies_after_dispatch_run_is_not_started_again(
    app: FastAPI,
    client: httpx.AsyncClient,
    sessionmaker: async_sessionmaker[AsyncSession],
    settings: Settings,
    clock: FakeClock,
    tmp_path: Path,
) -> None:
    w = await rw.build(app, client, sessionmaker, settings, clock)
    incident_id = await rw.open_incident(w)
    await w.drain()
    counter = tmp_path / "count"
    _, version = await rw.add_runbook(w, rw.spec_dict("slow-fix", [f"echo ran >> {counter}", "sleep 20"]))
    execution_id = await rw.request(w, version, incident_id=incident_id)

    doomed = w.worker()
    first = asyncio.create_task(doomed.run_until_idle())
    await _wait_for_line(counter)
    first.cancel()  # the worker process dies mid-run: no completion, the job's lease simply stays
    await doomed.stop()
    await asyncio.gather(first, return_exceptions=True)
    async with w.sm() as s:
        job = (await s.execute(select(Job).where(Job.dedup_key == f"execute:{execution_id}"))).scalar_one()
        assert job.status == RUNNING and job.lease_owner == doomed.name
    assert (await rw.execution(w, execution_id)).status in states.IN_FLIGHT

    await w.drain()  # a fresh worker while the lease still holds: nothing to claim
    assert (await rw.execution(w, execution_id)).status in states.IN_FLIGHT

    clock.advance(minutes=6)  # the dead worker's lease lapses; a fresh worker claims the job again
    await w.drain()
    done = await rw.execution(w, execution_id)
    assert rw.lines(counter) == ["ran"]  # the script ran exactly once
    assert done.status == states.FAILED and done.status_reason == INTERRUPTED
    assert done.outcome == "escalated"
    async with w.sm() as s:
        job = (await s.execute(select(Job).where(Job.dedup_key == f"execute:{execution_id}"))).scalar_one()
        assert job.status == DONE
        notes = list(
            (
                await s.execute(
                    select(IncidentEvent).where(
                        IncidentEvent.incident_id == incident_id, IncidentEvent.kind == "runbook"
                    )
                )
            ).scalars()
        )
    assert any("interrupted" in n.body for n in notes)

    clock.advance(minutes=1)  # asking again for the same execution is a no-op (one job per execution)
    async with w.sm() as s:
        await hooks.request_execution(s, company_id=w.acme.id, execution_id=execution_id, now=clock.now())
        await s.commit()
    await w.drain()
    assert rw.lines(counter) == ["ran"]
    assert (await rw.execution(w, execution_id)).status == states.FAILED


async def test_worker_dies_during_the_health_check_run_is_escalated_not_repeated(
        app: FastAPI, client: httpx.AsyncClient, sessionmaker: async_sessionmaker[AsyncSession], settings: Settings,
        clock: FakeClock, tmp_path: Path) -> None:
    w = await rw.build(app, client, sessionmaker, settings, clock)
    incident_id = await rw.open_incident(w)
    await w.drain()
    counter, checking = tmp_path / "count", tmp_path / "checking"
    _, version = await rw.add_runbook(w, rw.spec_dict(
        "fix-then-check", [f"echo ran >> {counter}"],
        health_check={"kind": "command", "command": f"echo checking >> {checking}; sleep 20"}))
    execution_id = await rw.request(w, version, incident_id=incident_id)
    doomed = w.worker()
    first = asyncio.create_task(doomed.run_until_idle())
    await _wait_for_line(checking)
    first.cancel()
    await doomed.stop()
    await asyncio.gather(first, return_exceptions=True)
    assert (await rw.execution(w, execution_id)).status == states.SUCCEEDED  # the run itself had finished

    clock.advance(minutes=6)
    await w.drain()
    done = await rw.execution(w, execution_id)
    assert rw.lines(counter) == ["ran"] and rw.lines(checking) == ["checking"]  # neither started again
    assert done.health["status"] == "failed" and "worker stopped" in done.health["detail"]
    assert done.outcome == "escalated"
