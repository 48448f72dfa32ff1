"""The incident lifecycle end to end: a webhook delivery opens an incident, the lifecycle job gives it a
category, SLA deadlines and timers, assigns the on-call technician and emails them over a real SMTP server;
acknowledging stops the response clock; the alert clearing resolves it by itself (timers cancelled, assignee
told); firing again reopens it with fresh SLA timers. Every job here is run by the real worker and registry."""

from __future__ import annotations

import json
from datetime import timedelta
from email import message_from_bytes

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from alertwhisperer.audit.models import AuditEntry
from alertwhisperer.auth.models import User
from alertwhisperer.auth.principal import Role
from alertwhisperer.clock import FakeClock
from alertwhisperer.config import Settings
from alertwhisperer.correlation.models import Incident
from alertwhisperer.incidents.models import IncidentEvent
from alertwhisperer.jobs.models import CANCELLED, DONE, PENDING, Job
from alertwhisperer.jobs.registry import build_registry
from alertwhisperer.jobs.worker import Worker
from alertwhisperer.notify.models import Notification
from tests.correlation.replay_data import T0, am
from tests.factories import bearer, login, make_company, make_user
from tests.notify.conftest import SmtpSink, smtp_settings
from tests.notify.conftest import smtp_sink as smtp_sink

SM = async_sessionmaker[AsyncSession]


async def _post(client: httpx.AsyncClient, api_key: str, clock: FakeClock, *, status: str = "firing") -> str:
    body = am("PostgresTooManyConnections", "db-01:9187", fingerprint="pg-conn-db-01", status=status,
              at=(clock.now() - T0).total_seconds(), severity="critical")
    r = await client.post("/api/webhooks/alertmanager", content=json.dumps(body),
                          headers={"X-API-Key": api_key, "Content-Type": "application/json"})
    assert r.status_code == 202, r.text
    return str(r.json()["alert_ids"][0])


async def _incident(sm: SM) -> Incident:
    async with sm() as s:
        return (await s.execute(select(Incident))).scalar_one()


async def _timeline(sm: SM, incident_id: str) -> list[tuple[str, str]]:
    async with sm() as s:
        rows = await s.execute(select(IncidentEvent.kind, IncidentEvent.body)
                               .where(IncidentEvent.incident_id == incident_id)
                               .order_by(IncidentEvent.at, IncidentEvent.id))
        return [(k, b) for k, b in rows.all()]


async def _timers(sm: SM) -> dict[str, str]:
    async with sm() as s:
        rows = await s.execute(select(Job.dedup_key, Job.status).where(Job.kind == "sla.timer"))
        return {str(k): st for k, st in rows.all()}


async def test_webhook_to_assignment_email_acknowledge_auto_resolve_and_reopen(
        client: httpx.AsyncClient, sessionmaker: SM, settings: Settings, clock: FakeClock,
        smtp_sink: SmtpSink) -> None:
    smtp_sink.start()
    async with sessionmaker() as s:
        acme = await make_company(s, clock, "Acme Dental")
        admin = await make_user(s, settings, clock, Role.COMPANY_ADMIN, [acme.id])
        dana = await make_user(s, settings, clock, Role.TECHNICIAN, [acme.id], email="dana@acme.example",
                               category="Database", skills=["Database"])
        await make_user(s, settings, clock, Role.TECHNICIAN, [acme.id], email="sam@acme.example",
                        category="Server", skills=["Server"])
        dana_id = (await s.execute(select(User.id).where(User.email == dana))).scalar_one()
    schedule = await client.post("/api/schedules", headers=bearer(await login(client, admin)), json={
        "company_id": acme.id, "name": "DB rota", "category": "Database",
        "layers": [{"name": "Primary", "rotation": "weekly", "starts_on": "2026-01-05", "members": [dana_id]}]})
    assert schedule.status_code == 201, schedule.text
    worker = Worker(sessionmaker, build_registry(), clock, settings=smtp_settings(settings, smtp_sink.port))

    # 1. An alert opens an incident; the lifecycle job categorises, starts the SLA, assigns and emails.
    await _post(client, acme.api_key, clock)
    await worker.run_until_idle()
    incident = await _incident(sessionmaker)
    assert incident.status == "new" and incident.category == "Database"
    assert incident.assignee_id == dana_id
    assert incident.sla_started_at == clock.now()
    assert incident.response_due_at == clock.now() + timedelta(minutes=30)  # critical: 30 min response
    assert incident.resolution_due_at == clock.now() + timedelta(hours=4)
    timeline = await _timeline(sessionmaker, incident.id)
    assert [k for k, _ in timeline if k == "assignment"] == ["assignment"]
    assert "on call for Database" in next(b for k, b in timeline if k == "assignment")
    assert any(k == "notification" and "dana@acme.example" in b for k, b in timeline)
    assert len(smtp_sink.messages) == 1
    mail = message_from_bytes(smtp_sink.messages[0].content)  # type: ignore[arg-type]
    assert smtp_sink.messages[0].rcpt_tos == ["dana@acme.example"]
    assert "Assigned to you" in str(mail["Subject"]) and "CRITICAL" in str(mail["Subject"])
    text = "".join(part.get_payload(decode=True).decode() for part in mail.walk()  # type: ignore[union-attr]
                   if part.get_content_maintype() == "text")
    assert f"/incidents/{incident.id}" in text
    async with sessionmaker() as s:
        bell = (await s.execute(select(Notification).where(Notification.user_id == dana_id))).scalars().all()
        assigned = (await s.execute(select(AuditEntry).where(AuditEntry.action == "incident.assigned",
                                                             AuditEntry.target_id == incident.id))).scalars().all()
        lifecycle = (await s.execute(select(Job.status).where(Job.kind == "incident.lifecycle"))).scalars().all()
    assert [n.kind for n in bell] == ["assignment"] and len(assigned) == 1 and lifecycle == [DONE]
    timers = await _timers(sessionmaker)
    assert len(timers) == 4 and set(timers.values()) == {PENDING}

    # 2. Dana acknowledges: the response is met, its timers go; passing the response deadline breaches nothing.
    clock.advance(minutes=10)
    ack = await client.post(f"/api/incidents/{incident.id}/acknowledge", headers=bearer(await login(client, dana)))
    assert ack.status_code == 200, ack.text
    timers = await _timers(sessionmaker)
    assert sorted(st for k, st in timers.items() if ":response" in k) == [CANCELLED, CANCELLED]
    clock.advance(minutes=30)
    await worker.run_until_idle()
    incident = await _incident(sessionmaker)
    assert incident.status == "acknowledged" and incident.response_breached_at is None
    assert not [k for k, _ in await _timeline(sessionmaker, incident.id) if k in ("sla_breach", "escalation")]

    # 3. The alert clears: after the resolve hold the incident resolves by itself; the rest of its clock stops.
    await _post(client, acme.api_key, clock, status="resolved")
    await worker.run_until_idle()
    clock.advance(minutes=6)  # past the 5-minute resolve hold
    await worker.run_until_idle()
    incident = await _incident(sessionmaker)
    assert incident.status == "resolved" and incident.resolution_kind == "auto"
    assert ("status", "Resolved automatically: all its alerts cleared") in await _timeline(sessionmaker, incident.id)
    assert set((await _timers(sessionmaker)).values()) == {CANCELLED}
    async with sessionmaker() as s:
        kinds = (await s.execute(select(Notification.kind).where(Notification.user_id == dana_id)
                                 .order_by(Notification.created_at))).scalars().all()
    assert kinds == ["assignment", "resolved"]

    # 4. It fires again: reopened, fresh SLA timers from now, still Dana's.
    clock.advance(minutes=20)
    await _post(client, acme.api_key, clock)
    await worker.run_until_idle()
    incident = await _incident(sessionmaker)
    assert incident.status == "new" and incident.assignee_id == dana_id
    assert incident.sla_started_at == clock.now() and incident.resolved_at is None
    assert any(k == "reopened" for k, _ in await _timeline(sessionmaker, incident.id))
    fresh = {k: st for k, st in (await _timers(sessionmaker)).items() if st == PENDING}
    assert len(fresh) == 4 and all(str(int(clock.now().timestamp())) in k or clock.now().isoformat() in k
                                   for k in fresh)


async def test_nobody_with_the_skill_is_recorded_and_nobody_is_notified(
        client: httpx.AsyncClient, sessionmaker: SM, settings: Settings, clock: FakeClock) -> None:
    async with sessionmaker() as s:
        acme = await make_company(s, clock, "Acme Dental")
        await make_user(s, settings, clock, Role.TECHNICIAN, [acme.id], category="Network", skills=["Network"])
    await _post(client, acme.api_key, clock)
    await Worker(sessionmaker, build_registry(), clock, settings=settings).run_until_idle()
    incident = await _incident(sessionmaker)
    assert incident.assignee_id is None and incident.response_due_at is not None
    bodies = [b for k, b in await _timeline(sessionmaker, incident.id) if k == "assignment"]
    assert len(bodies) == 1 and bodies[0].startswith("Not assigned automatically: nobody with skill Database")
    async with sessionmaker() as s:
        assert (await s.execute(select(Notification))).scalars().all() == []
