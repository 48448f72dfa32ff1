"""notify(): the bell, the private live event, and deliveries planned by each user's preferences and quiet hours."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from alertwhisperer.auth.principal import Principal, Role
from alertwhisperer.clock import FakeClock
from alertwhisperer.config import Settings
from alertwhisperer.correlation.models import Incident
from alertwhisperer.jobs.models import Job
from alertwhisperer.notify import preferences, service
from alertwhisperer.notify.models import Notification, NotificationDelivery
from alertwhisperer.notify.schemas import PreferencesIn, QuietHours
from alertwhisperer.realtime.hub import Event
from tests.notify.conftest import World

SM = async_sessionmaker[AsyncSession]


def me(w: World, who: str, role: Role = Role.TECHNICIAN) -> Principal:
    return Principal(user_id=w.users[who], email=w.emails[who], role=role, company_ids=frozenset({w.company_id}))


async def set_prefs(sm: SM, clock: FakeClock, settings: Settings, principal: Principal, data: PreferencesIn) -> None:
    async with sm() as s:
        await preferences.update(s, actor=principal, clock=clock, server_secret=settings.secret(), data=data)
        await s.commit()


async def notify(sm: SM, clock: FakeClock, w: World, user_ids: list[str], severity: str,
                 kind: str = "assignment") -> tuple[list[Notification], list[Event]]:
    async with sm() as s:
        incident = await s.get(Incident, w.incident_id)
        notes = await service.notify(s, clock=clock, kind=kind, user_ids=user_ids, severity=severity,
                                     title="Assigned to you: disk on db-01", incident=incident,
                                     context={"reason": "on call for Storage"})
        events: list[Event] = list(s.info.get("pending_events", []))
        await s.commit()
    return notes, events


async def deliveries(sm: SM) -> list[NotificationDelivery]:
    async with sm() as s:
        return list((await s.execute(select(NotificationDelivery).order_by(NotificationDelivery.created_at,
                                                                             NotificationDelivery.user_id))).scalars())


async def send_jobs(sm: SM) -> list[Job]:
    async with sm() as s:
        return list((await s.execute(select(Job).where(Job.kind == service.SEND_JOB))).scalars())


async def test_bell_event_and_deliveries_follow_preferences(sessionmaker: SM, settings: Settings,
                                                            clock: FakeClock, world: World) -> None:
    w = world
    # tina keeps the defaults; tom wants only Apprise (no email) for high, and email for low
    await set_prefs(sessionmaker, clock, settings, me(w, "tech2"), PreferencesIn(
        channels={"high": ["apprise"], "low": ["email"]},
        apprise_urls=["json://127.0.0.1:9/hook", "slack://TokenA1/TokenB2/TokenC3/#ops"]))
    ids = [w.users["tech"], w.users["outsider"], "0" * 32, w.users["tech"], w.users["tech2"], w.users["msp"]]
    notes, events = await notify(sessionmaker, clock, w, ids, "high")
    # unknown ids, duplicates and a technician of another company are skipped
    assert [n.user_id for n in notes] == [w.users["tech"], w.users["tech2"], w.users["msp"]]
    assert all(n.url == f"/incidents/{w.incident_id}" and n.read_at is None for n in notes)
    assert [(e.type, e.user_id, e.data["unread"], e.data["browser"]) for e in events] == [
        ("notification.created", w.users["tech"], 1, True), ("notification.created", w.users["tech2"], 1, False),
        ("notification.created", w.users["msp"], 1, True)]
    rows = await deliveries(sessionmaker)
    planned = sorted((r.user_id == w.users["tech2"], r.channel, r.target, r.status) for r in rows)
    assert planned == [(False, "email", w.emails["msp"], "pending"), (False, "email", w.emails["tech"], "pending"),
                       (True, "apprise", "json://127.0.0.1", "pending"), (True, "apprise", "slack://…", "pending")]
    assert all(r.subject == "[HIGH] Assigned to you: disk on db-01" for r in rows)
    assert all(r.context["incident"]["root_asset_name"] == "db-01" for r in rows)
    jobs = await send_jobs(sessionmaker)
    assert sorted(j.payload["delivery_id"] for j in jobs) == sorted(r.id for r in rows)
    assert {j.max_attempts for j in jobs} == {service.SEND_ATTEMPTS}

    # medium: the defaults are the bell and the browser only; low for tom: email
    _, events = await notify(sessionmaker, clock, w, [w.users["tech"], w.users["tech2"]], "medium")
    assert [e.data["unread"] for e in events] == [2, 2]
    assert len(await deliveries(sessionmaker)) == 4
    _, events = await notify(sessionmaker, clock, w, [w.users["tech"], w.users["tech2"]], "low")
    assert [e.data["browser"] for e in events] == [False, False]
    rows = await deliveries(sessionmaker)
    assert [(r.channel, r.target) for r in rows if r.subject.startswith("[LOW]")] == [("email", w.emails["tech2"])]
    assert len(rows) == 5


async def test_quiet_hours_cross_midnight_and_critical_overrides(sessionmaker: SM, settings: Settings,
                                                                 clock: FakeClock, world: World) -> None:
    w = world
    await set_prefs(sessionmaker, clock, settings, me(w, "tech"), PreferencesIn(
        channels={"critical": ["email"], "high": ["email"]},
        quiet_hours=QuietHours(start="22:00", end="07:00", timezone="Europe/Berlin")))
    tech = [w.users["tech"]]
    clock.set(datetime(2026, 3, 2, 22, 30, tzinfo=UTC))  # 23:30 in Berlin: quiet
    await notify(sessionmaker, clock, w, tech, "high")
    await notify(sessionmaker, clock, w, tech, "critical")
    clock.set(datetime(2026, 3, 3, 5, 59, tzinfo=UTC))  # 06:59 in Berlin, after midnight: still quiet
    await notify(sessionmaker, clock, w, tech, "high")
    clock.set(datetime(2026, 3, 3, 6, 0, tzinfo=UTC))  # 07:00 in Berlin: over
    await notify(sessionmaker, clock, w, tech, "high")
    clock.set(datetime(2026, 3, 3, 20, 59, tzinfo=UTC))  # 21:59 in Berlin: not yet
    await notify(sessionmaker, clock, w, tech, "high")
    rows = await deliveries(sessionmaker)
    assert [(r.subject.split("]")[0][1:], r.status) for r in rows] == [
        ("HIGH", "suppressed"), ("CRITICAL", "pending"), ("HIGH", "suppressed"), ("HIGH", "pending"),
        ("HIGH", "pending")]
    assert rows[0].error == "quiet hours 22:00 to 07:00 Europe/Berlin"
    jobs = await send_jobs(sessionmaker)
    assert sorted(j.payload["delivery_id"] for j in jobs) == sorted(r.id for r in rows if r.status == "pending")
    async with sessionmaker() as s:  # the bell still rang every time
        assert len((await s.execute(select(Notification))).scalars().all()) == 5


def test_quiet_hours_window_on_the_same_day() -> None:
    quiet = QuietHours(start="12:00", end="13:30", timezone="America/New_York")
    assert preferences.in_quiet_hours(quiet, datetime(2026, 7, 1, 16, 0, tzinfo=UTC))  # 12:00 EDT
    assert preferences.in_quiet_hours(quiet, datetime(2026, 7, 1, 17, 29, tzinfo=UTC))
    assert not preferences.in_quiet_hours(quiet, datetime(2026, 7, 1, 17, 30, tzinfo=UTC))
    assert not preferences.in_quiet_hours(quiet, datetime(2026, 7, 1, 3, 0, tzinfo=UTC))
