"""Issue #6 end to end: an alert arrives → incident → decision → approval → the SSH executor runs a runbook against
a real OpenSSH sshd and changes real state (a file and a process) → the health check passes → the incident is
self-healed. Every job is the product's own (the full registry), on both backends; only time is driven by the test.
"""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import httpx
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from alertwhisperer.audit.models import AuditEntry
from alertwhisperer.auth.principal import Role
from alertwhisperer.clock import FakeClock
from alertwhisperer.config import Settings
from alertwhisperer.correlation.models import Incident
from alertwhisperer.incidents.models import IncidentEvent
from alertwhisperer.ingest.models import Alert
from alertwhisperer.jobs.models import Job
from alertwhisperer.jobs.registry import build_registry
from alertwhisperer.jobs.worker import Worker
from alertwhisperer.notify.models import Notification
from alertwhisperer.remediation import states
from alertwhisperer.remediation.models import Decision, Execution, ExecutionChunk
from tests.correlation.replay_data import T0, am
from tests.factories import bearer, login, make_asset, make_company, make_user

SM = async_sessionmaker[AsyncSession]

RUNBOOK = """\
name: restart-billing-worker
title: Restart the billing worker
description: Starts the billing worker again and records that it runs.
category: application
risk: medium
trigger:
  symptoms: ["other"]
  signature_pattern: '(?i)billing ?worker'
parameters:
  - name: workdir
    description: where the worker keeps its state
    default: "{workdir}"
    pattern: '^/[A-Za-z0-9_./-]+$'
steps:
  linux:
    - name: Start the worker
      run: |
        cd {{ workdir }}
        nohup sleep 300 >/dev/null 2>&1 &
        echo $! > worker.pid
        echo "started worker $(cat worker.pid)"
    - name: Record the state
      run: echo running > {{ workdir }}/worker.state && echo "state recorded"
health_check:
  kind: command
  command: test "$(cat {{ workdir }}/worker.state)" = running && kill -0 "$(cat {{ workdir }}/worker.pid)"
timeout_seconds: 60
"""


async def test_alert_to_self_healed_over_real_ssh(app: FastAPI, client: httpx.AsyncClient, sessionmaker: SM,
                                                  settings: Settings, clock: FakeClock, sshd) -> None:  # type: ignore[no-untyped-def]
    async with sessionmaker() as s:
        acme = await make_company(s, clock, "Acme Dental")
        admin = await make_user(s, settings, clock, Role.COMPANY_ADMIN, [acme.id])
        await make_user(s, settings, clock, Role.TECHNICIAN, [acme.id])
        asset = await make_asset(s, clock, acme.id, "app-01")
        await sshd.configure(s, settings=settings, clock=clock, company_id=acme.id, asset_id=asset.id)
    admin_auth = bearer(await login(client, admin))
    made = await client.post("/api/runbooks", headers=admin_auth, json={
        "yaml": RUNBOOK.replace("{workdir}", str(sshd.workdir)), "company_id": acme.id, "note": "e2e"})
    assert made.status_code == 201, made.text
    worker = Worker(sessionmaker, build_registry(), clock, hub=app.state.hub, settings=settings)

    # 1. The alert arrives and becomes an incident; the decision engine asks for an approval (medium risk).
    body = am("BillingWorkerDown", "app-01", fingerprint="billing-app-01", at=(clock.now() - T0).total_seconds())
    sent = await client.post("/api/webhooks/alertmanager", content=json.dumps(body),
                             headers={"X-API-Key": acme.api_key, "Content-Type": "application/json"})
    assert sent.status_code == 202, sent.text
    await worker.run_until_idle()
    async with sessionmaker() as s:
        alert = await s.get(Alert, sent.json()["alert_ids"][0])
        assert alert is not None and alert.incident_id
        incident_id = alert.incident_id
        decision = (await s.execute(select(Decision).where(Decision.incident_id == incident_id))).scalar_one()
        assert decision.action == "request_approval", decision.reasons
        execution = (await s.execute(select(Execution).where(Execution.incident_id == incident_id))).scalar_one()
        assert execution.status == states.PENDING_APPROVAL
        assert execution.runbook_slug == "restart-billing-worker" and execution.target["executor"] == "ssh"
        asked = (await s.execute(select(Notification).where(Notification.kind == "approval"))).scalars().all()
        assert asked, "the company admin is asked to approve"
    assert not (Path(sshd.workdir) / "worker.state").exists()  # nothing ran before the approval

    # 2. The company admin approves; the worker runs it over SSH; the health check passes.
    approved = await client.post(f"/api/approvals/{execution.id}/approve", headers=admin_auth,
                                 json={"note": "go ahead"})
    assert approved.status_code == 200, approved.text
    clock.advance(seconds=5)
    await worker.run_until_idle()

    state = Path(sshd.workdir) / "worker.state"
    pid = int((Path(sshd.workdir) / "worker.pid").read_text().strip())
    try:
        assert state.read_text().strip() == "running"  # a real file written on the SSH target
        os.kill(pid, 0)  # and a real process started there, still alive
        async with sessionmaker() as s:
            done = await s.get(Execution, execution.id)
            assert done is not None
            assert done.status == states.SUCCEEDED, (done.status, done.status_reason, done.stderr)
            assert done.exit_code == 0 and done.health.get("status") == "passed", done.health
            assert done.outcome == "self_healed"
            output = "".join(c.text for c in (await s.execute(
                select(ExecutionChunk).where(ExecutionChunk.execution_id == done.id)
                .order_by(ExecutionChunk.seq))).scalars())
            assert "state recorded" in output and f"started worker {pid}" in output
            incident = await s.get(Incident, incident_id)
            assert incident is not None
            assert (incident.status, incident.resolution_kind) == ("resolved", "self_healed")
            assert incident.time_to_resolve_seconds is not None
            timeline = [(e.kind, e.body) for e in (await s.execute(
                select(IncidentEvent).where(IncidentEvent.incident_id == incident_id)
                .order_by(IncidentEvent.at, IncidentEvent.id))).scalars()]
            said = " | ".join(b for _, b in timeline).lower()
            for step in ("decided to run", "approved", "running", "succeeded", "self-healed by"):
                assert step in said, (step, timeline)
            actions = set((await s.execute(select(AuditEntry.action).where(
                AuditEntry.company_id == acme.id))).scalars())
            assert {"remediation.decided", "execution.requested", "execution.approved",
                    "incident.resolved"} <= actions, actions
            dead = (await s.execute(select(Job.kind, Job.last_error).where(Job.status == "dead"))).all()
            assert not dead, dead
    finally:
        os.kill(pid, signal.SIGKILL)
