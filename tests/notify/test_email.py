"""Email deliveries against a real SMTP server (aiosmtpd) started by the test: content, retry with backoff while
the server is down, exactly one message once it is up, and permanent failures buried at once."""

from __future__ import annotations

import email
import logging
from email.message import Message

import pytest
from pydantic import SecretStr
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from alertwhisperer.auth.principal import Principal, Role
from alertwhisperer.clock import FakeClock
from alertwhisperer.config import Settings
from alertwhisperer.correlation.models import Incident
from alertwhisperer.incidents.models import IncidentEvent
from alertwhisperer.jobs.models import Job
from alertwhisperer.notify import preferences, service
from alertwhisperer.notify.models import NotificationDelivery
from alertwhisperer.notify.schemas import PreferencesIn
from tests.notify.conftest import SmtpSink, World, smtp_settings, worker

SM = async_sessionmaker[AsyncSession]


async def assign(sm: SM, clock: FakeClock, w: World, who: str = "tech", severity: str = "critical") -> str:
    async with sm() as s:
        incident = await s.get(Incident, w.incident_id)
        await service.notify(s, clock=clock, kind="assignment", user_ids=[w.users[who]], severity=severity,
                             title="Assigned to you: disk on db-01", body="Free space on /var is at 3%.",
                             incident=incident, context={"reason": "on call for Storage"})
        await s.commit()
    async with sm() as s:
        return str((await s.execute(select(NotificationDelivery.id))).scalars().one())


async def state(sm: SM, delivery_id: str) -> tuple[NotificationDelivery, Job, list[IncidentEvent]]:
    async with sm() as s:
        delivery = await s.get(NotificationDelivery, delivery_id)
        assert delivery is not None
        job = (await s.execute(select(Job).where(Job.kind == service.SEND_JOB))).scalars().one()
        entries = list((await s.execute(select(IncidentEvent).where(IncidentEvent.kind == "notification"))).scalars())
        return delivery, job, entries


def parts(envelope_content: bytes) -> tuple[Message, str, str]:
    msg = email.message_from_bytes(envelope_content)
    text = html = ""
    for part in msg.walk():
        if part.get_content_type() == "text/plain":
            text = part.get_payload(decode=True).decode()  # type: ignore[union-attr]
        elif part.get_content_type() == "text/html":
            html = part.get_payload(decode=True).decode()  # type: ignore[union-attr]
    return msg, text, html


async def test_email_reaches_a_real_smtp_server(sessionmaker: SM, settings: Settings, clock: FakeClock,
                                                world: World, smtp_sink: SmtpSink) -> None:
    smtp_sink.start()
    delivery_id = await assign(sessionmaker, clock, world)
    assert await worker(sessionmaker, clock, smtp_settings(settings, smtp_sink.port)).run_until_idle() == 1
    assert len(smtp_sink.messages) == 1
    envelope = smtp_sink.messages[0]
    assert envelope.rcpt_tos == [world.emails["tech"]]
    assert envelope.mail_from == "alerts@msp.example"
    msg, text, html = parts(envelope.original_content or b"")
    assert msg["Subject"] == "[CRITICAL] Assigned to you: disk on db-01"
    assert msg["To"] == f"tina <{world.emails['tech']}>"
    assert msg.get_content_type() == "multipart/alternative"
    link = f"https://aw.msp.example/incidents/{world.incident_id}"
    assert link in text and f'href="{link}"' in html
    assert "you have been assigned this incident (on call for Storage)" in text
    assert "Free space on /var is at 3%." in text and "Asset:     db-01" in text and "Acme Dental" in text
    assert "<h1" in html and "Open the incident" in html and "CRITICAL" in html
    delivery, job, entries = await state(sessionmaker, delivery_id)
    assert (delivery.status, delivery.attempts, delivery.error) == ("sent", 1, None)
    assert delivery.sent_at == clock.now() and job.status == "done"
    assert [e.body for e in entries] == [f"Notification sent to tina <{world.emails['tech']}> by email"]


async def test_smtp_down_retries_with_backoff_then_sends_exactly_once(sessionmaker: SM, settings: Settings,
                                                                      clock: FakeClock, world: World,
                                                                      smtp_sink: SmtpSink) -> None:
    configured = smtp_settings(settings, smtp_sink.port)  # nothing listens on the port yet
    delivery_id = await assign(sessionmaker, clock, world)
    assert await worker(sessionmaker, clock, configured).run_until_idle() == 1
    delivery, job, entries = await state(sessionmaker, delivery_id)
    assert (job.status, job.attempts) == ("pending", 1)
    assert job.due_at > clock.now()  # backoff: not before its retry time
    assert (delivery.status, delivery.attempts) == ("failed", 1)
    assert delivery.error is not None and "cannot reach the mail server 127.0.0.1" in delivery.error
    assert entries == []  # no timeline noise while it still retries
    assert await worker(sessionmaker, clock, configured).run_until_idle() == 0  # not due yet

    smtp_sink.start()
    clock.set(job.due_at)
    assert await worker(sessionmaker, clock, configured).run_until_idle() == 1
    delivery, job, entries = await state(sessionmaker, delivery_id)
    assert (delivery.status, delivery.attempts, delivery.error, job.status) == ("sent", 2, None, "done")
    assert len(smtp_sink.messages) == 1
    assert len(entries) == 1

    # the same delivery run again (a job re-claimed after a crash, say) is not sent twice
    async with sessionmaker() as s:
        stored = await s.get(Job, job.id)
        assert stored is not None
        stored.status, stored.due_at = "pending", clock.now()
        await s.commit()
    assert await worker(sessionmaker, clock, configured).run_until_idle() == 1
    assert len(smtp_sink.messages) == 1
    delivery, _, entries = await state(sessionmaker, delivery_id)
    assert delivery.attempts == 2 and len(entries) == 1


async def test_a_delivery_that_keeps_failing_is_given_up_on_the_timeline(sessionmaker: SM, settings: Settings,
                                                                         clock: FakeClock, world: World,
                                                                         smtp_sink: SmtpSink) -> None:
    configured = smtp_settings(settings, smtp_sink.port)
    delivery_id = await assign(sessionmaker, clock, world)
    for _ in range(service.SEND_ATTEMPTS):
        await worker(sessionmaker, clock, configured).run_until_idle()
        clock.advance(hours=2)
    delivery, job, entries = await state(sessionmaker, delivery_id)
    assert (job.status, job.attempts) == ("dead", service.SEND_ATTEMPTS)
    assert (delivery.status, delivery.attempts) == ("dead", service.SEND_ATTEMPTS)
    assert len(entries) == 1 and entries[0].body.startswith(f"Notification to tina <{world.emails['tech']}> by "
                                                            "email failed: cannot reach the mail server")


async def test_no_smtp_configured(sessionmaker: SM, settings: Settings, clock: FakeClock, world: World) -> None:
    # the defaults of a server without email: suppressed quietly, no timeline entry
    delivery_id = await assign(sessionmaker, clock, world)
    assert await worker(sessionmaker, clock, settings).run_until_idle() == 1
    delivery, job, entries = await state(sessionmaker, delivery_id)
    assert (delivery.status, job.status, entries) == ("suppressed", "done", [])
    assert delivery.error is not None and "ALERTWHISPERER_SMTP_HOST" in delivery.error
    # someone who chose email on purpose hears that it cannot work: buried at once, on the incident's timeline
    async with sessionmaker() as s:
        await preferences.update(s, actor=Principal(user_id=world.users["tech2"], email=world.emails["tech2"],
                                                    role=Role.TECHNICIAN, company_ids=frozenset({world.company_id})),
                                 clock=clock, server_secret=settings.secret(),
                                 data=PreferencesIn(channels={"critical": ["email"]}))
        await s.commit()
    async with sessionmaker() as s:
        incident = await s.get(Incident, world.incident_id)
        await service.notify(s, clock=clock, kind="escalation", user_ids=[world.users["tech2"]], severity="critical",
                             title="Escalated: disk on db-01", incident=incident)
        await s.commit()
    await worker(sessionmaker, clock, settings).run_until_idle()
    async with sessionmaker() as s:
        chosen = (await s.execute(select(NotificationDelivery).where(
            NotificationDelivery.user_id == world.users["tech2"]))).scalars().one()
        dead = (await s.execute(select(Job).where(Job.status == "dead"))).scalars().one()
        timeline = list((await s.execute(select(IncidentEvent.body).where(IncidentEvent.kind == "notification")
                                         )).scalars())
    assert (chosen.status, chosen.attempts, dead.attempts) == ("dead", 1, 1)
    assert timeline == [f"Notification to tom <{world.emails['tech2']}> by email failed: email is not set up on "
                        "this server (set ALERTWHISPERER_SMTP_HOST and ALERTWHISPERER_SMTP_FROM)"]


async def test_a_refused_address_is_buried_at_once(sessionmaker: SM, settings: Settings, clock: FakeClock,
                                                   world: World, smtp_sink: SmtpSink) -> None:
    async def refuse(server: object, session: object, envelope: object, address: str, options: list[str]) -> str:
        return "550 5.1.1 no such mailbox"

    smtp_sink.handle_RCPT = refuse  # type: ignore[attr-defined]
    smtp_sink.start()
    delivery_id = await assign(sessionmaker, clock, world)
    await worker(sessionmaker, clock, smtp_settings(settings, smtp_sink.port)).run_until_idle()
    delivery, job, entries = await state(sessionmaker, delivery_id)
    assert (job.status, job.attempts, delivery.status) == ("dead", 1, "dead")
    assert delivery.error is not None and "550" in delivery.error and "no such mailbox" in delivery.error
    assert len(entries) == 1 and "failed" in entries[0].body


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")  # the test server's plain AUTH
async def test_smtp_login_and_a_refused_login(sessionmaker: SM, settings: Settings, clock: FakeClock, world: World,
                                              smtp_sink: SmtpSink, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    smtp_sink.start(login=("aw-mailer", "Mail-Pass-0987"))
    right = smtp_settings(settings, smtp_sink.port).model_copy(update={
        "smtp_username": "aw-mailer", "smtp_password": SecretStr("Mail-Pass-0987")})
    first = await assign(sessionmaker, clock, world)
    await worker(sessionmaker, clock, right).run_until_idle()
    delivery, _, _ = await state(sessionmaker, first)
    assert delivery.status == "sent" and len(smtp_sink.messages) == 1

    wrong = right.model_copy(update={"smtp_password": SecretStr("Wrong-Pass-1234")})
    async with sessionmaker() as s:
        incident = await s.get(Incident, world.incident_id)
        await service.notify(s, clock=clock, kind="sla_breach", user_ids=[world.users["tech"]], severity="critical",
                             title="Response SLA breached: disk on db-01", incident=incident)
        await s.commit()
    await worker(sessionmaker, clock, wrong).run_until_idle()
    async with sessionmaker() as s:
        refused = (await s.execute(select(NotificationDelivery).where(NotificationDelivery.id != first))
                   ).scalars().one()
    assert (refused.status, refused.attempts) == ("dead", 1)  # a wrong password does not get better by retrying
    assert refused.error is not None and "refused our login" in refused.error
    assert "ALERTWHISPERER_SMTP_PASSWORD" in refused.error
    assert "Wrong-Pass-1234" not in caplog.text and "Mail-Pass-0987" not in caplog.text
    assert "Wrong-Pass-1234" not in repr(wrong) and len(smtp_sink.messages) == 1
