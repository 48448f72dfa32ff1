"""The chat HTTP API: room names with ':' in the path (as they are or URL-encoded), history, posting, the read
marker, presence, and 404 for another company's rooms."""

from __future__ import annotations

from urllib.parse import quote

import httpx
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from alertwhisperer.auth.principal import Role
from alertwhisperer.clock import FakeClock
from alertwhisperer.config import Settings
from tests.chat.helpers import make_incident
from tests.factories import bearer, login, make_company, make_user

SM = async_sessionmaker[AsyncSession]


async def test_chat_api(client: httpx.AsyncClient, sessionmaker: SM, settings: Settings, clock: FakeClock) -> None:
    async with sessionmaker() as s:
        a, b = await make_company(s, clock, "Acme"), await make_company(s, clock, "Bravo")
        tech = await make_user(s, settings, clock, Role.TECHNICIAN, [a.id])
        admin = await make_user(s, settings, clock, Role.COMPANY_ADMIN, [a.id])
        incident = await make_incident(s, clock, a.id, "Backups failing")
        b_incident = await make_incident(s, clock, b.id, "Bravo secret")
    t, ad = bearer(await login(client, tech)), bearer(await login(client, admin))
    room = f"company:{a.id}"

    r = await client.get("/api/chat/rooms", headers=t)
    assert r.status_code == 200
    assert r.json() == [{"room": room, "kind": "company", "company_id": a.id, "incident_id": None, "title": "Acme",
                         "status": None, "unread": 0, "last_message_at": None}]

    for path_room in (room, quote(room, safe="")):  # ':' as it is, and URL-encoded
        r = await client.post(f"/api/chat/rooms/{path_room}/messages", json={"body": f"  via {path_room} "},
                              headers=t)
        assert r.status_code == 201, r.text
        clock.advance(seconds=1)
    first = r.json()
    assert first["room"] == room and first["body"] == f"via {quote(room, safe='')}" and first["user_id"]
    r = await client.post(f"/api/chat/rooms/incident:{incident.id}/messages", json={"body": "on it"}, headers=ad)
    assert r.status_code == 201

    r = await client.get(f"/api/chat/rooms/{room}/messages", params={"limit": 1}, headers=ad)
    page = r.json()
    assert r.status_code == 200 and [m["body"] for m in page["messages"]] == [first["body"]]
    assert page["has_more"] is True and page["last_read_at"] is None
    r = await client.get(f"/api/chat/rooms/{room}/messages", params={"before": first["id"]}, headers=ad)
    assert [m["body"] for m in r.json()["messages"]] == [f"via {room}"] and r.json()["has_more"] is False

    rooms = {x["room"]: x for x in (await client.get("/api/chat/rooms", headers=ad)).json()}
    assert rooms[room]["unread"] == 2 and rooms[f"incident:{incident.id}"]["unread"] == 0
    assert rooms[f"incident:{incident.id}"]["title"] == "Incident: Backups failing"
    assert rooms[f"incident:{incident.id}"]["status"] == "new"
    r = await client.post(f"/api/chat/rooms/{quote(room, safe='')}/read", headers=ad)
    assert r.status_code == 200 and r.json()["unread"] == 0 and r.json()["room"] == room
    rooms = {x["room"]: x for x in (await client.get("/api/chat/rooms", headers=ad)).json()}
    assert rooms[room]["unread"] == 0

    r = await client.get(f"/api/chat/rooms/{room}/presence", headers=t)
    assert r.status_code == 200 and r.json() == {"room": room, "members": []}  # nobody has the page open

    # bad input: a clear 422 naming the field
    r = await client.post(f"/api/chat/rooms/{room}/messages", json={"body": "   "}, headers=t)
    assert r.status_code == 422 and "write a message first" in r.text
    r = await client.post(f"/api/chat/rooms/{room}/messages", json={"body": "z" * 4001}, headers=t)
    assert r.status_code == 422 and "4000" in r.text
    r = await client.get(f"/api/chat/rooms/{room}/messages", params={"before": "nope"}, headers=t)
    assert r.status_code == 422

    # another company's rooms (and rooms that are no rooms) do not exist for them
    for other in (f"company:{b.id}", f"incident:{b_incident.id}", "lobby:1", "company:"):
        for method, path, body in (("GET", "messages", None), ("POST", "messages", {"body": "hi"}),
                                   ("POST", "read", None), ("GET", "presence", None)):
            r = await client.request(method, f"/api/chat/rooms/{quote(other, safe='')}/{path}", json=body, headers=t)
            assert r.status_code == 404, (other, path, r.text)
            assert "Bravo" not in r.text
    r = await client.get(f"/api/chat/rooms/{room}/messages")
    assert r.status_code == 401
