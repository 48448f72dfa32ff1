"""The chat page over HTTP (no browser), both backends: the rooms list with unread badges, the active room's
history with its "new messages" divider and "load earlier", scope (404), the empty state, and the room panel
other pages include."""

from __future__ import annotations

import re

import httpx
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from alertwhisperer.auth.principal import Role
from alertwhisperer.chat import service
from alertwhisperer.clock import FakeClock
from alertwhisperer.config import Settings
from alertwhisperer.web.pages.chat import room_panel_context
from alertwhisperer.web.templating import templates
from tests.auth.helpers import cheap_argon2  # noqa: F401
from tests.chat.helpers import make_incident, principal
from tests.factories import bearer, login, make_company, make_user

SM = async_sessionmaker[AsyncSession]


def _messages(page: str) -> list[str]:
    return re.findall(r'<p class="chat-body">(.*?)</p>', page, re.S)


async def test_chat_page(client: httpx.AsyncClient, sessionmaker: SM, settings: Settings, clock: FakeClock) -> None:
    async with sessionmaker() as s:
        a, b = await make_company(s, clock, "Acme Dental"), await make_company(s, clock, "Globex")
        ann = await principal(s, settings, clock, Role.TECHNICIAN, [a.id], name="Ann Tech")
        ben = await principal(s, settings, clock, Role.COMPANY_ADMIN, [a.id], name="Ben Admin")
        incident = await make_incident(s, clock, a.id, "Backups failing on nas-01", assignee_id=ann.user_id)
        b_incident = await make_incident(s, clock, b.id, "Globex secret")
        room = f"company:{a.id}"
        for n in range(3):
            clock.advance(seconds=10)
            await service.post_message(s, actor=ben if n else ann, clock=clock, room=room, body=f"message {n}")
        await s.commit()
        await service.mark_read(s, actor=ann, clock=clock, room=room, up_to=None)
        clock.advance(seconds=10)
        await service.post_message(s, actor=ben, clock=clock, room=room, body="<script>alert(1)</script> unread")
        await service.post_message(s, actor=ben, clock=clock, room=f"incident:{incident.id}", body="on the NAS")
        await s.commit()
    h = bearer(await login(client, "ann.tech@msp.example"))

    r = await client.get("/chat", headers=h)
    assert r.status_code == 200
    page = r.text
    rooms = re.findall(r'data-room-link="([^"]+)"', page)
    assert rooms == [room, f"incident:{incident.id}"]  # Globex's rooms are not listed
    assert "Globex" not in page
    assert f'data-chat-room="{room}"' in page  # the company room is open by default
    assert _messages(page) == ["message 0", "message 1", "message 2",
                               "&lt;script&gt;alert(1)&lt;/script&gt; unread"]
    divider = page.index("data-chat-divider")
    assert page.index("message 2") < divider < page.index("unread</p>")  # the marker: before the unread one
    badge = re.search(rf'data-room-link="incident:{incident.id}".*?data-unread="(\d+)"', page, re.S)
    assert badge is not None and badge.group(1) == "1"
    assert "Load earlier messages" in page and re.search(r"data-chat-earlier\s+hidden", page)  # 4 < one page
    assert "/static/js/chat.js" in page and "/static/css/chat.css" in page

    r = await client.get("/chat", params={"room": f"incident:{incident.id}"}, headers=h)
    assert r.status_code == 200 and "Incident: Backups failing on nas-01" in r.text
    assert _messages(r.text) == ["on the NAS"] and "data-chat-divider" not in r.text  # never read: no marker
    for other in (f"company:{b.id}", f"incident:{b_incident.id}", "nonsense"):
        r = await client.get("/chat", params={"room": other}, headers=h)
        assert r.status_code == 404 and "Globex" not in r.text


async def test_history_longer_than_a_page_offers_earlier_messages(client: httpx.AsyncClient, sessionmaker: SM,
                                                                  settings: Settings, clock: FakeClock) -> None:
    async with sessionmaker() as s:
        a = await make_company(s, clock, "Acme")
        ann = await principal(s, settings, clock, Role.TECHNICIAN, [a.id], name="Ann Tech")
        for n in range(service.PAGE + 2):
            clock.advance(seconds=61)  # under the posting limit
            await service.post_message(s, actor=ann, clock=clock, room=f"company:{a.id}", body=f"line {n}")
        await s.commit()
    r = await client.get("/chat", headers=bearer(await login(client, "ann.tech@msp.example")))
    bodies = _messages(r.text)
    assert len(bodies) == service.PAGE and bodies[0] == "line 2" and bodies[-1] == f"line {service.PAGE + 1}"
    assert re.search(r"data-chat-earlier\s+>", r.text) and 'data-has-more="true"' in r.text


async def test_no_rooms_empty_state(client: httpx.AsyncClient, sessionmaker: SM, settings: Settings,
                                    clock: FakeClock) -> None:
    async with sessionmaker() as s:
        email = await make_user(s, settings, clock, Role.MSP_ADMIN)  # a fresh install: no companies yet
    r = await client.get("/chat", headers=bearer(await login(client, email)))
    assert r.status_code == 200 and 'data-testid="chat-no-rooms"' in r.text and "No rooms yet" in r.text


async def test_room_panel_renders_on_its_own(sessionmaker: SM, settings: Settings, clock: FakeClock) -> None:
    """What the incident page includes: the panel with its own CSS and JS, from room_panel_context."""
    async with sessionmaker() as s:
        a = await make_company(s, clock, "Acme")
        ann = await principal(s, settings, clock, Role.TECHNICIAN, [a.id], name="Ann Tech")
        incident = await make_incident(s, clock, a.id, "Disk full")
        context = await room_panel_context(s, ann, f"incident:{incident.id}")
    html = templates.get_template("chat/_room.html").render(**context, csrf_token="tok", asset_version="1")
    assert f'data-chat-room="incident:{incident.id}"' in html and "Incident: Disk full" in html
    assert "No messages yet." in html and "goes on the incident's timeline" in html
    assert '<script src="/static/js/chat.js?v=1" defer></script>' in html
    assert 'href="/static/css/chat.css?v=1"' in html
