"""Apprise deliveries to a real local HTTP server (a ``json://`` target), and Apprise URLs kept secret: encrypted at
rest, redacted in the API, the delivery log, the audit log and the application's logs."""

from __future__ import annotations

import logging

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from alertwhisperer.audit.models import AuditEntry
from alertwhisperer.clock import FakeClock
from alertwhisperer.config import Settings
from alertwhisperer.correlation.models import Incident
from alertwhisperer.incidents.models import IncidentEvent
from alertwhisperer.jobs.models import Job
from alertwhisperer.notify import service
from alertwhisperer.notify.models import NotificationDelivery, NotificationPreference
from tests.factories import bearer, login
from tests.notify.conftest import HookSink, World, free_port, worker

SM = async_sessionmaker[AsyncSession]
SECRET = "s3cretHookPass"


async def test_apprise_json_webhook_delivery_and_redaction(client: httpx.AsyncClient, sessionmaker: SM,
                                                           settings: Settings, clock: FakeClock, world: World,
                                                           hook_sink: HookSink,
                                                           caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    url = f"json://hook:{SECRET}@127.0.0.1:{hook_sink.port}/hook"
    dead_url = f"json://hook:{SECRET}@127.0.0.1:{free_port()}/gone"
    h = bearer(await login(client, world.emails["tech"]))
    bad = await client.put("/api/notifications/preferences", headers=h,
                           json={"apprise_urls": ["nosuchservice://abc/def"]})
    assert bad.status_code == 422 and "not valid" in bad.text and "abc" not in bad.text
    r = await client.put("/api/notifications/preferences", headers=h, json={
        "channels": {"critical": ["inapp", "apprise"]}, "apprise_urls": [url, dead_url]})
    assert r.status_code == 200, r.text
    prefs = r.json()
    assert [t["label"] for t in prefs["apprise_targets"]] == ["json://127.0.0.1", "json://127.0.0.1"]
    assert prefs["channels"]["critical"] == ["inapp", "apprise"]
    assert SECRET not in r.text and SECRET not in (await client.get("/api/notifications/preferences",
                                                                    headers=h)).text
    async with sessionmaker() as s:
        row = await s.get(NotificationPreference, world.users["tech"])
        assert row is not None and SECRET not in row.apprise_urls_encrypted  # encrypted at rest
        audit = (await s.execute(select(AuditEntry).where(AuditEntry.action == "notify.preferences_changed")
                                 )).scalars().one()
        assert audit.details["apprise_added"] == ["json://127.0.0.1", "json://127.0.0.1"]
        assert SECRET not in str(audit.details)
        incident = await s.get(Incident, world.incident_id)
        await service.notify(s, clock=clock, kind="escalation", user_ids=[world.users["tech"]], severity="critical",
                             title="Escalated: disk on db-01", incident=incident, context={"level": 2})
        await s.commit()

    await worker(sessionmaker, clock, settings).run_until_idle()
    assert len(hook_sink.received) == 1
    got = hook_sink.received[0]
    assert got["title"] == "[CRITICAL] Escalated: disk on db-01"
    assert "escalated to level 2" in got["message"]
    assert f"http://127.0.0.1:8000/incidents/{world.incident_id}" in got["message"]  # the default public URL
    assert got["type"] == "failure"
    assert hook_sink.headers[0]["Authorization"].startswith("Basic ")  # the credentials went where they belong

    async with sessionmaker() as s:
        rows = list((await s.execute(select(NotificationDelivery).order_by(NotificationDelivery.target))).scalars())
        by_status = sorted((d.status, d.attempts) for d in rows)
        assert by_status == [("failed", 1), ("sent", 1)]
        failed = next(d for d in rows if d.status == "failed")
        assert failed.error is not None and failed.error.startswith("json://127.0.0.1 failed")
        job = (await s.execute(select(Job).where(Job.status == "pending"))).scalars().one()
        assert job.due_at > clock.now()
        entries = list((await s.execute(select(IncidentEvent).where(IncidentEvent.kind == "notification"))).scalars())
        assert [e.body for e in entries] == ["Notification sent to tina (json://127.0.0.1) by Apprise"]

    log = await client.get(f"/api/incidents/{world.incident_id}/notifications", headers=h)
    assert log.status_code == 200
    assert sorted(d["status"] for d in log.json()) == ["failed", "sent"]
    # what reaches the application's log handlers (Apprise's own logger does not propagate: pytest's capture
    # attaches to it directly, so its records are left out here)
    app_logs = " ".join(r.getMessage() + str(r.args) for r in caplog.records if not r.name.startswith("apprise"))
    assert not logging.getLogger("apprise").propagate
    everything = " ".join([log.text, app_logs, *(str(d.context) + str(d.error) for d in rows),
                           *(e.body + str(e.data) for e in entries)])
    assert SECRET not in everything and "/gone" not in everything and "/hook" not in log.text

    # removing a target: its pending retry is dropped, not sent
    target_ids = [t["id"] for t in prefs["apprise_targets"]]
    r = await client.put("/api/notifications/preferences", headers=h, json={
        "channels": {"critical": ["inapp", "apprise"]}, "remove_apprise_ids": [target_ids[1]]})
    assert [t["id"] for t in r.json()["apprise_targets"]] == target_ids[:1]
    clock.advance(hours=1)
    await worker(sessionmaker, clock, settings).run_until_idle()
    async with sessionmaker() as s:
        gone = await s.get(NotificationDelivery, failed.id)
        assert gone is not None and gone.status == "suppressed" and "removed" in (gone.error or "")
    assert len(hook_sink.received) == 1
