"""The runner with the real local executor: a run's life, its output, failures, rollback and timeouts."""

from __future__ import annotations

from pathlib import Path

import httpx
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from alertwhisperer.audit.models import AuditEntry
from alertwhisperer.clock import FakeClock
from alertwhisperer.config import Settings
from alertwhisperer.incidents.models import IncidentEvent
from alertwhisperer.realtime.hub import Event, Subscription
from alertwhisperer.remediation import states
from tests.remediation import runner_world as rw


def _drain_events(subscription: Subscription) -> list[Event]:
    """The events published since the subscription started (what a browser would have received)."""
    events: list[Event] = []
    queue = subscription._queue
    while not queue.empty():
        events.append(queue.get_nowait())
    subscription.close()
    return events


async def _world(
    app: FastAPI,
    client: httpx.AsyncClient,
    sessionmaker: async_sessionmaker[AsyncSession],
    settings: Settings,
    clock: FakeClock,
) -> rw.World:
    return await rw.build(app, client, sessionmaker, settings, clock)


async def _audit(w: rw.World, target_id: str) -> list[str]:
    async with w.sm() as s:
        rows = await s.execute(
            select(AuditEntry.action).where(AuditEntry.target_id == target_id).order_by(AuditEntry.seq)
        )
        return list(rows.scalars())


async def test_queued_run_succeeds_with_ordered_output_and_live_events(
    app: FastAPI,
    client: httpx.AsyncClient,
    sessionmaker: async_sessionmaker[AsyncSession],
    settings: Settings,
    clock: FakeClock,
    tmp_path: Path,
) -> None:
    w = await _world(app, client, sessionmaker, settings, clock)
    marker = tmp_path / "ran.txt"
    _, version = await rw.add_runbook(
        w,
        rw.spec_dict(
            "say-hello",
            ["echo first line", "echo to stderr >&2", f"echo {{{{ word }}}} >> {marker}", "echo last line"],
            parameters=[{"name": "word", "type": "string", "default": "hi there; rm -rf /"}],
        ),
    )
    subscription = app.state.hub.listen()
    execution_id = await rw.request(w, version)
    assert (await rw.execution(w, execution_id)).status == states.QUEUED
    await w.drain()
    done = await rw.execution(w, execution_id)
    assert done.status == states.SUCCEEDED, done.status_reason
    assert done.exit_code == 0 and "first line" in done.stdout and "last line" in done.stdout
    assert "to stderr" in done.stderr
    assert done.dispatched_at is not None and done.started_at is not None and done.finished_at is not None
    assert done.duration_ms is not None and done.duration_ms >= 0
    assert done.health["status"] == "skipped" and done.outcome == ""  # no incident: no incident effects
    assert rw.lines(marker) == ["hi there; rm -rf /"]  # the parameter was quoted, not executed
    pieces = await rw.chunks(w, execution_id)
    assert [c.seq for c in pieces] == list(range(1, len(pieces) + 1))
    text = "".join(c.text for c in pieces if c.stream == "stdout")
    assert text.index("first line") < text.index("last line")
    assert any(c.stream == "system" and "local executor" in c.text for c in pieces)
    assert any(c.stream == "stderr" and "to stderr" in c.text for c in pieces)
    actions = await _audit(w, execution_id)
    assert actions[:3] == ["execution.requested", "execution.dispatched", "execution.finished"]
    seen = _drain_events(subscription)
    outputs = [e.data for e in seen if e.type == "execution.output" and e.data["execution_id"] == execution_id]
    assert [o["seq"] for o in outputs] == [c.seq for c in pieces]  # every stored piece went out live, in order
    updates = [e.data["status"] for e in seen if e.type == "execution.updated" and e.data["id"] == execution_id]
    assert updates[0] == states.QUEUED and updates[-1] == states.SUCCEEDED and states.DISPATCHED in updates


async def test_failing_step_fails_escalates_and_rolls_back(
    app: FastAPI,
    client: httpx.AsyncClient,
    sessionmaker: async_sessionmaker[AsyncSession],
    settings: Settings,
    clock: FakeClock,
    tmp_path: Path,
) -> None:
    w = await _world(app, client, sessionmaker, settings, clock)
    incident_id = await rw.open_incident(w)
    await w.drain()  # the lifecycle: SLA timers, automatic assignment
    rolled = tmp_path / "rolled-back"
    never = tmp_path / "never"
    _, version = await rw.add_runbook(
        w,
        rw.spec_dict(
            "break-things",
            ["echo about to fail", "echo boom >&2; exit 7", f"touch {never}"],
            rollback={"linux": [{"name": "undo", "run": f"echo undone > {rolled}"}]},
        ),
    )
    execution_id = await rw.request(w, version, incident_id=incident_id)
    await w.drain()
    done = await rw.execution(w, execution_id)
    assert done.status == states.FAILED and done.exit_code == 7
    assert done.outcome == "escalated"
    assert not never.exists()  # the first failing step stopped the script
    assert rolled.read_text().strip() == "undone"
    assert done.rollback["status"] == "succeeded" and done.rollback["exit_code"] == 0
    pieces = await rw.chunks(w, execution_id)
    assert any(c.stream == "system" and c.text.startswith("rollback") for c in pieces)
    async with w.sm() as s:
        entries = list(
            (
                await s.execute(
                    select(IncidentEvent).where(
                        IncidentEvent.incident_id == incident_id, IncidentEvent.kind == "runbook"
                    )
                )
            ).scalars()
        )
    escalated = [e for e in entries if e.data.get("event") == "escalated"]
    assert len(escalated) == 1 and "boom" in escalated[0].data["output_tail"]["stderr"]
    assert any(e.data.get("event") == "rollback" for e in entries)
    assert "execution.escalated" in await _audit(w, execution_id)


async def test_timeout_is_timed_out(
    app: FastAPI,
    client: httpx.AsyncClient,
    sessionmaker: async_sessionmaker[AsyncSession],
    settings: Settings,
    clock: FakeClock,
) -> None:
    w = await _world(app, client, sessionmaker, settings, clock)
    _, version = await rw.add_runbook(w, rw.spec_dict("hang", ["echo started", "sleep 30"], timeout_seconds=1))
    execution_id = await rw.request(w, version)
    await w.drain()
    done = await rw.execution(w, execution_id)
    assert done.status == states.TIMED_OUT, done.status_reason
    assert "started" in done.stdout and done.exit_code is None
    assert "timeout" in done.status_reason


async def test_retried_job_after_completion_does_nothing(
    app: FastAPI,
    client: httpx.AsyncClient,
    sessionmaker: async_sessionmaker[AsyncSession],
    settings: Settings,
    clock: FakeClock,
    tmp_path: Path,
) -> None:
    from alertwhisperer.jobs.models import Job
    from alertwhisperer.jobs.worker import JobContext
    from alertwhisperer.remediation import runner

    w = await _world(app, client, sessionmaker, settings, clock)
    counter = tmp_path / "count"
    _, version = await rw.add_runbook(w, rw.spec_dict("count-once", [f"echo run >> {counter}"]))
    execution_id = await rw.request(w, version)
    await w.drain()
    assert rw.lines(counter) == ["run"]
    before = await rw.execution(w, execution_id)
    async with w.sm() as s:  # the same job delivered again (e.g. a duplicate claim after completion)
        ctx = JobContext(s, clock, "again", settings, w.sm, app.state.hub)
        await runner.execute_job(ctx, Job(kind="remediation.execute", payload={"execution_id": execution_id}))
    after = await rw.execution(w, execution_id)
    assert rw.lines(counter) == ["run"]
    assert (after.status, after.finished_at, after.updated_at) == (before.status, before.finished_at, before.updated_at)
