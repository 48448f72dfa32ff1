"""Health checks decide: passed → the incident is self-healed and resolved; failed → escalated with the output."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from alertwhisperer.audit.models import AuditEntry
from alertwhisperer.clock import FakeClock
from alertwhisperer.config import Settings
from alertwhisperer.correlation.models import Incident
from alertwhisperer.incidents.models import IncidentEvent
from alertwhisperer.jobs.models import CANCELLED, PENDING, Job
from alertwhisperer.notify.models import Notification
from alertwhisperer.remediation import states
from tests.correlation.replay_data import T0, am
from tests.remediation import runner_world as rw

SM = async_sessionmaker[AsyncSession]


async def _incident(w: rw.World, incident_id: str) -> Incident:
    async with w.sm() as s:
        row = await s.get(Incident, incident_id)
        assert row is not None
        return row


async def _timeline(w: rw.World, incident_id: str) -> list[IncidentEvent]:
    async with w.sm() as s:
        return list(
            (
                await s.execute(
                    select(IncidentEvent)
                    .where(IncidentEvent.incident_id == incident_id)
                    .order_by(IncidentEvent.at, IncidentEvent.id)
                )
            ).scalars()
        )


async def _sla_jobs(w: rw.World, incident_id: str) -> list[Job]:
    async with w.sm() as s:
        return list((await s.execute(select(Job).where(Job.dedup_key.like(f"sla:{incident_id}:%")))).scalars())


async def _resolve_alert(w: rw.World) -> None:
    """The monitoring tool reports the alert resolved (a real webhook delivery, correlated by the real job)."""
    body = am(
        "HighDiskUsage",
        "web-01",
        fingerprint="HighDiskUsage-web-01",
        status="resolved",
        at=(w.clock.now() - T0).total_seconds(),
    )
    r = await w.client.post(
        "/api/webhooks/alertmanager",
        content=json.dumps(body),
        headers={"X-API-Key": w.acme.api_key, "Content-Type": "application/json"},
    )
    assert r.status_code == 202, r.text
    await w.drain()


async def test_command_check_passes_incident_self_healed(
    app: FastAPI, client: httpx.AsyncClient, sessionmaker: SM, settings: Settings, clock: FakeClock, tmp_path: Path
) -> None:
    w = await rw.build(app, client, sessionmaker, settings, clock)
    incident_id = await rw.open_incident(w)
    await w.drain()
    assert any(j.status == PENDING for j in await _sla_jobs(w, incident_id))
    fixed = tmp_path / "fixed"
    _, version = await rw.add_runbook(
        w, rw.spec_dict("fix-disk", [f"touch {fixed}"], health_check={"kind": "command", "command": f"test -f {fixed}"})
    )
    clock.advance(minutes=4)
    execution_id = await rw.request(w, version, incident_id=incident_id)
    await w.drain()
    done = await rw.execution(w, execution_id)
    assert done.status == states.SUCCEEDED and done.outcome == "self_healed"
    assert done.health["status"] == "passed" and done.health["kind"] == "command"
    incident = await _incident(w, incident_id)
    assert incident.status == "resolved" and incident.resolution_kind == "self_healed"
    assert incident.resolved_at == clock.now() and incident.acknowledged_at is not None
    assert incident.time_to_resolve_seconds == (clock.now() - incident.first_seen).total_seconds()
    sla = await _sla_jobs(w, incident_id)
    assert sla and all(j.status == CANCELLED for j in sla)  # the SLA clock stopped
    entries = await _timeline(w, incident_id)
    healed = [e for e in entries if e.kind == "status" and e.data.get("resolution_kind") == "self_healed"]
    assert len(healed) == 1 and healed[0].body == "Self-healed by Fix Disk v1 on web-01"
    async with w.sm() as s:
        audit = (
            await s.execute(
                select(AuditEntry).where(AuditEntry.target_id == incident_id, AuditEntry.action == "incident.resolved")
            )
        ).scalar_one()
    assert audit.details["resolution_kind"] == "self_healed" and audit.details["execution_id"] == execution_id
    pieces = await rw.chunks(w, execution_id)
    assert any(c.stream == "system" and c.text.startswith("health check passed") for c in pieces)


async def test_command_check_fails_escalated_with_output(
    app: FastAPI, client: httpx.AsyncClient, sessionmaker: SM, settings: Settings, clock: FakeClock, tmp_path: Path
) -> None:
    w = await rw.build(app, client, sessionmaker, settings, clock)
    incident_id = await rw.open_incident(w)
    await w.drain()
    async with w.sm() as s:  # someone owns the incident: they are the one told
        row = await s.get(Incident, incident_id)
        assert row is not None
        row.assignee_id = w.ids["tech"]
        await s.commit()
    rolled = tmp_path / "rolled"
    _, version = await rw.add_runbook(
        w,
        rw.spec_dict(
            "restart-nginx",
            ["echo restarting nginx", "echo nginx: bind failed >&2"],
            health_check={"kind": "command", "command": "echo still down; exit 3"},
            rollback={"linux": [{"name": "undo", "run": f"touch {rolled}"}]},
        ),
    )
    execution_id = await rw.request(w, version, incident_id=incident_id)
    await w.drain()
    done = await rw.execution(w, execution_id)
    assert done.status == states.SUCCEEDED and done.outcome == "escalated"
    assert done.health["status"] == "failed" and "exited 3 (expected 0)" in done.health["detail"]
    assert rolled.exists() and done.rollback["status"] == "succeeded"  # health failed: the rollback ran
    incident = await _incident(w, incident_id)
    assert incident.status == "new" and incident.resolution_kind == ""
    escalated = [e for e in await _timeline(w, incident_id) if e.data.get("event") == "escalated"]
    assert len(escalated) == 1 and "health check failed" in escalated[0].body
    assert "bind failed" in escalated[0].data["output_tail"]["stderr"]
    async with w.sm() as s:
        told = list(
            (
                await s.execute(
                    select(Notification).where(
                        Notification.kind == "escalation", Notification.incident_id == incident_id
                    )
                )
            ).scalars()
        )
    assert [n.user_id for n in told] == [w.ids["tech"]] and f"/executions/{execution_id}" in told[0].body


async def test_alert_resolved_check_passes_when_the_alert_clears(
    app: FastAPI, client: httpx.AsyncClient, sessionmaker: SM, settings: Settings, clock: FakeClock
) -> None:
    w = await rw.build(app, client, sessionmaker, settings, clock)
    incident_id = await rw.open_incident(w)
    await w.drain()
    _, version = await rw.add_runbook(
        w, rw.spec_dict("rotate-logs", ["echo rotated"], health_check={"kind": "alert_resolved", "within_minutes": 10})
    )
    execution_id = await rw.request(w, version, incident_id=incident_id)
    await w.drain()
    waiting = await rw.execution(w, execution_id)
    assert waiting.status == states.SUCCEEDED and waiting.health["status"] == "pending" and waiting.outcome == ""
    clock.advance(minutes=2)
    await _resolve_alert(w)
    clock.advance(minutes=9)  # the verify job is due; correlation's resolve hold has run out too
    await w.drain()
    done = await rw.execution(w, execution_id)
    assert done.health["status"] == "passed" and done.outcome == "self_healed"
    incident = await _incident(w, incident_id)
    assert incident.status == "resolved" and incident.resolution_kind == "self_healed"


async def test_alert_resolved_check_fails_when_the_alert_keeps_firing(
    app: FastAPI, client: httpx.AsyncClient, sessionmaker: SM, settings: Settings, clock: FakeClock
) -> None:
    w = await rw.build(app, client, sessionmaker, settings, clock)
    incident_id = await rw.open_incident(w)
    await w.drain()
    _, version = await rw.add_runbook(
        w, rw.spec_dict("rotate-logs", ["echo rotated"], health_check={"kind": "alert_resolved", "within_minutes": 10})
    )
    execution_id = await rw.request(w, version, incident_id=incident_id)
    await w.drain()
    clock.advance(minutes=9)
    await w.drain()
    assert (await rw.execution(w, execution_id)).health["status"] == "pending"  # not due yet
    clock.advance(minutes=2)
    await w.drain()
    done = await rw.execution(w, execution_id)
    assert done.health["status"] == "failed" and done.outcome == "escalated"
    assert "still firing" in done.health["detail"]
    incident = await _incident(w, incident_id)
    assert incident.status in ("new", "acknowledged") and incident.resolution_kind == ""


async def test_a_run_without_health_check_never_self_heals(
    app: FastAPI, client: httpx.AsyncClient, sessionmaker: SM, settings: Settings, clock: FakeClock, tmp_path: Path
) -> None:
    """A read-only report (or any runbook without a check) succeeds, but nothing proves the incident is fixed."""
    w = await rw.build(app, client, sessionmaker, settings, clock)
    incident_id = await rw.open_incident(w)
    await w.drain()
    _, version = await rw.add_runbook(w, rw.spec_dict("disk-report", ["df -k /"]))
    run_id = await rw.request(w, version, incident_id=incident_id)
    await w.drain()
    run = await rw.execution(w, run_id)
    assert run.status == states.SUCCEEDED and run.health["status"] == "skipped" and run.outcome == ""
    incident = await _incident(w, incident_id)
    assert incident.status == "new" and incident.resolution_kind == ""
    said = [e.body for e in await _timeline(w, incident_id) if e.kind == "runbook"]
    assert any("without a health check" in body and "stays open" in body for body in said), said
