"""Chat service rules on both databases: room scope, validation, history paging, unread counts and the read
marker, incident-room messages on the timeline, the rooms a user has, the posting limit."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from alertwhisperer.auth.principal import Role
from alertwhisperer.chat import service
from alertwhisperer.chat.models import ChatMessage, ChatRead
from alertwhisperer.clock import FakeClock
from alertwhisperer.config import Settings
from alertwhisperer.errors import Invalid, NotFound, Throttled
from alertwhisperer.incidents.models import IncidentEvent
from alertwhisperer.realtime.hub import Event
from tests.chat.helpers import make_incident, principal
from tests.factories import make_company


def _events(db: AsyncSession) -> list[Event]:
    events: list[Event] = db.info.pop("pending_events", [])
    return events


async def test_rooms_outside_the_callers_scope_do_not_exist(db: AsyncSession, settings: Settings,
                                                            clock: FakeClock) -> None:
    a, b = await make_company(db, clock, "Acme"), await make_company(db, clock, "Bravo")
    tech = await principal(db, settings, clock, Role.TECHNICIAN, [a.id])
    msp = await principal(db, settings, clock, Role.MSP_ADMIN)
    b_incident = await make_incident(db, clock, b.id)
    forbidden = [f"company:{b.id}", f"incident:{b_incident.id}", "company:", "company", "lobby:1",
                 f"company:{a.id}/../x", "incident:" + "0" * 32, "company:" + "f" * 32]
    for room in forbidden:
        with pytest.raises(NotFound, match="room not found"):
            await service.post_message(db, actor=tech, clock=clock, room=room, body="hello")
        with pytest.raises(NotFound):
            await service.history(db, actor=tech, room=room)
        with pytest.raises(NotFound):
            await service.mark_read(db, actor=tech, clock=clock, room=room)
    for room in forbidden[2:]:  # the MSP admin sees every company, but not rooms that are not there
        with pytest.raises(NotFound):
            await service.post_message(db, actor=msp, clock=clock, room=room, body="hello")
    await service.post_message(db, actor=msp, clock=clock, room=f"incident:{b_incident.id}", body="on it")
    assert (await db.execute(select(ChatMessage.room))).scalars().all() == [f"incident:{b_incident.id}"]


async def test_messages_are_trimmed_and_limited_to_4000_characters(db: AsyncSession, settings: Settings,
                                                                   clock: FakeClock) -> None:
    a = await make_company(db, clock, "Acme")
    tech = await principal(db, settings, clock, Role.TECHNICIAN, [a.id], name="Tina Tech")
    room = f"company:{a.id}"
    for body in ("", "   \n\t ", None, 42, "\x00"):
        with pytest.raises(Invalid, match="write a message first") as exc:
            await service.post_message(db, actor=tech, clock=clock, room=room, body=body)
        assert exc.value.field == "body"
    with pytest.raises(Invalid, match="at most 4000 characters"):
        await service.post_message(db, actor=tech, clock=clock, room=room, body="x" * 4001)
    longest = await service.post_message(db, actor=tech, clock=clock, room=room, body="  " + "y" * 4000 + "\n")
    message = await service.post_message(db, actor=tech, clock=clock, room=room, body="  line one\nline two \n")
    await db.commit()
    assert len(longest.body) == 4000
    assert (message.body, message.user_name, message.user_id, message.company_id, message.incident_id) == (
        "line one\nline two", "Tina Tech", tech.user_id, a.id, None)
    event = _events(db)[-1]  # company-scoped, for every page of the company (pages filter by room)
    assert (event.type, event.company_id, event.user_id, event.data["room"]) == ("chat.message", a.id, None, room)
    assert event.data["message"]["body"] == "line one\nline two" and event.data["message"]["user_name"] == "Tina Tech"


async def test_history_pages_backwards_from_the_newest(db: AsyncSession, settings: Settings,
                                                       clock: FakeClock) -> None:
    a = await make_company(db, clock, "Acme")
    tech = await principal(db, settings, clock, Role.TECHNICIAN, [a.id])
    room = f"company:{a.id}"
    for n in range(7):
        if n != 4:  # messages 3 and 4 share a timestamp: the id breaks the tie, nothing is skipped or repeated
            clock.advance(seconds=5)
        await service.post_message(db, actor=tech, clock=clock, room=room, body=f"m{n}")
    await db.commit()
    pages, before = [], None
    while True:
        page = await service.history(db, actor=tech, room=room, before=before, limit=3)
        pages.append(([m.body for m in page.messages], page.has_more))
        if not page.has_more:
            break
        before = page.messages[0].id
    tied = sorted((await db.execute(select(ChatMessage).where(ChatMessage.body.in_(["m3", "m4"])))).scalars(),
                  key=lambda m: m.id)
    newest_three = ["m4", "m5", "m6"] if tied[0].body == "m3" else ["m3", "m5", "m6"]
    assert pages[0] == (newest_three, True)
    assert [body for bodies, _ in pages for body in bodies] and len(pages) == 3 and pages[-1][1] is False
    assert sorted(b for bodies, _ in pages for b in bodies) == [f"m{n}" for n in range(7)]
    assert pages[-1][0] == ["m0"]
    other = await service.post_message(db, actor=tech, clock=clock,
                                       room=f"incident:{(await make_incident(db, clock, a.id)).id}", body="x")
    with pytest.raises(Invalid, match="not a message of this room"):
        await service.history(db, actor=tech, room=room, before=other.id)
    for limit in (0, 201):
        with pytest.raises(Invalid, match="limit"):
            await service.history(db, actor=tech, room=room, limit=limit)


async def test_unread_counts_and_the_read_marker(db: AsyncSession, settings: Settings, clock: FakeClock) -> None:
    a = await make_company(db, clock, "Acme")
    ann = await principal(db, settings, clock, Role.TECHNICIAN, [a.id])
    bob = await principal(db, settings, clock, Role.COMPANY_ADMIN, [a.id])
    room = f"company:{a.id}"
    posted = []
    for n in range(3):
        clock.advance(seconds=10)
        posted.append(await service.post_message(db, actor=ann, clock=clock, room=room, body=f"ann {n}"))
    clock.advance(seconds=10)
    await service.post_message(db, actor=bob, clock=clock, room=room, body="bob here")
    await db.commit()
    assert await service.unread_counts(db, user_id=bob.user_id, rooms=[room]) == {room: 3}  # not his own
    assert await service.unread_counts(db, user_id=ann.user_id, rooms=[room]) == {room: 1}
    assert (await service.history(db, actor=bob, room=room)).last_read_at is None

    marker = await service.mark_read(db, actor=bob, clock=clock, room=room, up_to=posted[1].id)
    await db.commit()
    assert marker == posted[1].created_at
    assert await service.unread_counts(db, user_id=bob.user_id, rooms=[room]) == {room: 1}
    read_event = _events(db)[-1]
    assert (read_event.type, read_event.user_id, read_event.data["room"]) == ("chat.read", bob.user_id, room)

    # the marker never moves back (another tab reporting an older position), then catches up with the newest
    assert await service.mark_read(db, actor=bob, clock=clock, room=room, up_to=posted[0].id) == posted[1].created_at
    clock.advance(hours=1)
    latest = await service.mark_read(db, actor=bob, clock=clock, room=room)
    await db.commit()
    assert latest == posted[2].created_at + timedelta(seconds=10)  # bob's own message, the newest
    assert await service.unread_counts(db, user_id=bob.user_id, rooms=[room]) == {}
    assert len((await db.execute(select(ChatRead))).scalars().all()) == 1  # one row, updated in place

    # an empty room is read up to now; a message of another room is no marker
    empty = f"incident:{(await make_incident(db, clock, a.id)).id}"
    assert await service.mark_read(db, actor=ann, clock=clock, room=empty) == clock.now()
    with pytest.raises(Invalid, match="not a message of this room"):
        await service.mark_read(db, actor=ann, clock=clock, room=empty, up_to=posted[0].id)


async def test_an_incident_room_message_goes_on_the_incident_timeline(db: AsyncSession, settings: Settings,
                                                                      clock: FakeClock) -> None:
    a = await make_company(db, clock, "Acme")
    tech = await principal(db, settings, clock, Role.TECHNICIAN, [a.id], name="Tina Tech")
    incident = await make_incident(db, clock, a.id)
    message = await service.post_message(db, actor=tech, clock=clock, room=f"incident:{incident.id}",
                                         body=" Restarting the backup job now. ")
    await db.commit()
    assert message.incident_id == incident.id
    entry = (await db.execute(select(IncidentEvent).where(IncidentEvent.incident_id == incident.id))).scalar_one()
    assert (entry.kind, entry.body, entry.actor_id, entry.actor_name, entry.company_id) == (
        "chat", "Restarting the backup job now.", tech.user_id, "Tina Tech", a.id)
    assert entry.data == {"message_id": message.id, "room": f"incident:{incident.id}"}
    assert [e.type for e in _events(db)] == ["chat.message", "incident.timeline"]
    # a company-room message is not on any timeline
    await service.post_message(db, actor=tech, clock=clock, room=f"company:{a.id}", body="hi all")
    await db.commit()
    assert len((await db.execute(select(IncidentEvent))).scalars().all()) == 1


async def test_the_rooms_a_user_has(db: AsyncSession, settings: Settings, clock: FakeClock) -> None:
    a, b = await make_company(db, clock, "Acme"), await make_company(db, clock, "Bravo")
    tech = await principal(db, settings, clock, Role.TECHNICIAN, [a.id])
    other = await principal(db, settings, clock, Role.TECHNICIAN, [a.id])
    mine = await make_incident(db, clock, a.id, "Mine", assignee_id=tech.user_id)
    chatted = await make_incident(db, clock, a.id, "Talked about")
    await make_incident(db, clock, a.id, "Quiet")  # nobody's, no messages: no room listed
    old = await make_incident(db, clock, a.id, "Old and closed", status="closed")
    b_incident = await make_incident(db, clock, b.id, "Bravo's", assignee_id=tech.user_id)  # out of scope
    await service.post_message(db, actor=other, clock=clock, room=f"incident:{old.id}", body="long ago")
    clock.advance(days=8)
    await service.post_message(db, actor=other, clock=clock, room=f"incident:{chatted.id}", body="anyone?")
    await service.post_message(db, actor=other, clock=clock, room=f"company:{a.id}", body="morning")
    await db.commit()
    summaries = await service.my_rooms(db, actor=tech, clock=clock)
    assert [(s.room.name, s.room.title, s.unread) for s in summaries][:1] == [(f"company:{a.id}", "Acme", 1)]
    assert {s.room.name: s.unread for s in summaries[1:]} == {f"incident:{mine.id}": 0,
                                                             f"incident:{chatted.id}": 1}
    assert f"incident:{b_incident.id}" not in {s.room.name for s in summaries}
    msp = await principal(db, settings, clock, Role.MSP_ADMIN)
    names = [s.room.name for s in await service.my_rooms(db, actor=msp, clock=clock)]
    assert names[:2] == [f"company:{a.id}", f"company:{b.id}"] and f"incident:{chatted.id}" in names


async def test_posting_is_rate_limited_per_user(db: AsyncSession, settings: Settings, clock: FakeClock) -> None:
    a = await make_company(db, clock, "Acme")
    tech = await principal(db, settings, clock, Role.TECHNICIAN, [a.id])
    room = f"company:{a.id}"
    for n in range(service.posting_limit.limit):
        await service.post_message(db, actor=tech, clock=clock, room=room, body=f"line {n}")
    with pytest.raises(Throttled) as exc:
        await service.post_message(db, actor=tech, clock=clock, room=room, body="one too many")
    assert exc.value.retry_after >= 1
    clock.advance(minutes=1, seconds=1)
    await service.post_message(db, actor=tech, clock=clock, room=room, body="calm again")
