"""Chat delivery over a real server: two WebSocket clients (two users of one company) join a room, one posts
over the HTTP API, both receive the message; a user of another company receives nothing of it and may not
join; presence shows both, then one leaves, then the other's socket closes."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import httpx
import websockets
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from alertwhisperer.auth.principal import Role
from alertwhisperer.clock import FakeClock
from alertwhisperer.config import Settings
from tests.factories import bearer, login, make_company, make_user

SM = async_sessionmaker[AsyncSession]
RECV_LIMIT = 20  # seconds; a safety net against hanging, never an assertion about speed


async def _recv(ws: Any) -> dict[str, Any]:
    message: dict[str, Any] = json.loads(await asyncio.wait_for(ws.recv(), RECV_LIMIT))
    return message


async def _until(ws: Any, wanted: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
    """The next message that matches (events of other kinds may come in between)."""
    while True:
        message = await _recv(ws)
        if wanted(message):
            return message


def _presence(room: str) -> Callable[[dict[str, Any]], bool]:
    return lambda m: m["type"] == "chat.presence" and m["data"]["room"] == room


def _names(message: dict[str, Any]) -> list[str]:
    return [m["name"] for m in message["data"]["members"]]


async def _join(ws: Any, room: str) -> None:
    await ws.send(json.dumps({"type": "chat.join", "room": room}))


async def test_two_clients_chat_live_and_see_each_other(server_url: str, sessionmaker: SM, settings: Settings,
                                                        clock: FakeClock) -> None:
    async with sessionmaker() as s:
        a, b = await make_company(s, clock, "Acme"), await make_company(s, clock, "Bravo")
        ann = await make_user(s, settings, clock, Role.TECHNICIAN, [a.id], email="ann@acme.example")
        ben = await make_user(s, settings, clock, Role.COMPANY_ADMIN, [a.id], email="ben@acme.example")
        bea = await make_user(s, settings, clock, Role.TECHNICIAN, [b.id], email="bea@bravo.example")
    base, ws_url = f"http://{server_url}", f"ws://{server_url}/ws"
    async with httpx.AsyncClient(base_url=base, timeout=RECV_LIMIT) as http:
        h_ann, h_ben, h_bea = [bearer(await login(http, e)) for e in (ann, ben, bea)]
        room, b_room = f"company:{a.id}", f"company:{b.id}"
        async with websockets.connect(ws_url, additional_headers=h_ann) as ws_ann, \
                websockets.connect(ws_url, additional_headers=h_ben) as ws_ben, \
                websockets.connect(ws_url, additional_headers=h_bea) as ws_bea:
            for ws in (ws_ann, ws_ben, ws_bea):
                assert (await _recv(ws))["type"] == "connected"

            # presence: Ann joins, then Ben; both pages see both
            await _join(ws_ann, room)
            assert _names(await _until(ws_ann, _presence(room))) == ["ann"]
            await _join(ws_ben, room)
            assert _names(await _until(ws_ann, lambda m: _presence(room)(m) and len(_names(m)) == 2)) == ["ann", "ben"]
            assert _names(await _until(ws_ben, lambda m: _presence(room)(m) and len(_names(m)) == 2)) == ["ann", "ben"]
            r = await http.get(f"/api/chat/rooms/{room}/presence", headers=h_ben)
            assert [m["name"] for m in r.json()["members"]] == ["ann", "ben"]

            # the other company's user may not join (an error answer, no presence)
            await _join(ws_bea, room)
            error = await _recv(ws_bea)
            assert (error["type"], error["data"]) == ("chat.error", {"room": room, "message": "room not found"})
            await ws_bea.send("ping")
            assert (await _recv(ws_bea))["type"] == "pong"  # the channel still works

            # Ann posts over the HTTP API: both receive it
            r = await http.post(f"/api/chat/rooms/{room}/messages", json={"body": "DB is back, watching it"},
                                headers=h_ann)
            assert r.status_code == 201, r.text
            for ws in (ws_ann, ws_ben):
                got = await _until(ws, lambda m: m["type"] == "chat.message")
                assert got["company_id"] == a.id and got["data"]["room"] == room
                assert got["data"]["message"]["body"] == "DB is back, watching it"
                assert got["data"]["message"]["user_name"] == "ann" and got["data"]["message"]["id"] == r.json()["id"]

            # Bea receives nothing of Acme: her own company's message is the first thing she gets after it
            r = await http.post(f"/api/chat/rooms/{b_room}/messages", json={"body": "bravo only"}, headers=h_bea)
            assert r.status_code == 201
            first = await _recv(ws_bea)
            assert (first["type"], first["data"]["room"]) == ("chat.message", b_room)
            await ws_ann.send("ping")  # nor does Acme get Bravo's: nothing of Bravo before the answer
            while (seen := await _recv(ws_ann))["type"] != "pong":
                assert seen["company_id"] != b.id

            # Ben leaves the room, comes back, then closes his page
            await ws_ben.send(json.dumps({"type": "chat.leave", "room": room}))
            assert _names(await _until(ws_ann, _presence(room))) == ["ann"]
            await _join(ws_ben, room)
            assert _names(await _until(ws_ann, _presence(room))) == ["ann", "ben"]
            await ws_ben.close()
            assert _names(await _until(ws_ann, _presence(room))) == ["ann"]
            r = await http.get(f"/api/chat/rooms/{room}/presence", headers=h_ann)
            assert [m["name"] for m in r.json()["members"]] == ["ann"]
