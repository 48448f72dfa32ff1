"""The live channel: one WebSocket per open page, delivering the events its user may see."""

from __future__ import annotations

import asyncio
import contextlib
import json
from urllib.parse import urlsplit

from fastapi import APIRouter, WebSocket, WebSocketDisconnect

from alertwhisperer.auth import service as auth
from alertwhisperer.auth.principal import Principal, RequestContext
from alertwhisperer.chat.live import ChatLink
from alertwhisperer.deps import ACCESS_COOKIE
from alertwhisperer.errors import Unauthenticated

router = APIRouter()

RECHECK_SECONDS = 30.0
CLOSE_UNAUTHENTICATED = 4401
CLOSE_FORBIDDEN_ORIGIN = 4403


def _token(ws: WebSocket) -> str | None:
    header = ws.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        return header[7:].strip()
    return ws.cookies.get(ACCESS_COOKIE) or ws.query_params.get("access_token")


async def _authenticate(ws: WebSocket, token: str) -> Principal:
    app = ws.app
    async with app.state.sessionmaker() as session:
        return await auth.authenticate(
            session, settings=app.state.settings, clock=app.state.clock, access_token=token,
            context=RequestContext(ip=ws.client.host if ws.client else None),
        )


@router.websocket("/ws")
async def live(ws: WebSocket) -> None:
    # A close before accept() reaches the browser as a bare HTTP 403 (close code 1006), so accept first:
    # the page must see 4401 to log in again rather than retry forever.
    origin = ws.headers.get("origin")
    if origin and urlsplit(origin).netloc != ws.headers.get("host"):
        await ws.accept()
        await ws.close(code=CLOSE_FORBIDDEN_ORIGIN, reason="cross-origin")
        return
    token = _token(ws)
    try:
        if not token:
            raise Unauthenticated("not logged in")
        principal = await _authenticate(ws, token)
    except Unauthenticated as exc:
        await ws.accept()
        await ws.close(code=CLOSE_UNAUTHENTICATED, reason=exc.message[:100])
        return
    await ws.accept()
    hub = ws.app.state.hub
    subscription = hub.listen()  # before "connected": an event published after it is never missed
    await ws.send_text(json.dumps({"type": "connected", "company_id": None, "data": {
        "user": principal.email, "role": principal.role.value, "companies": sorted(principal.company_ids)}}))

    chat = ChatLink(ws.app, principal)  # chat.join / chat.leave messages, and the rooms' presence

    async def pump() -> None:
        async for event in subscription:
            chat.observe(event)
            if event.visible_to(principal):
                await ws.send_text(event.to_json())

    async def recheck() -> None:
        while True:
            await asyncio.sleep(RECHECK_SECONDS)
            try:
                await _authenticate(ws, token)
            except Unauthenticated:
                await ws.close(code=CLOSE_UNAUTHENTICATED, reason="session ended")
                return

    async def receive() -> None:
        while True:
            message = await ws.receive_text()
            if message == "ping":
                await ws.send_text(json.dumps({"type": "pong", "company_id": None, "data": {}}))
                continue
            answer = await chat.receive(message)
            if answer is not None:
                await ws.send_text(json.dumps(answer))

    tasks = [asyncio.create_task(t()) for t in (pump, recheck, receive)]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    except WebSocketDisconnect:
        pass
    finally:
        subscription.close()
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, WebSocketDisconnect, RuntimeError, Exception):
                await task
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await chat.close()  # leaves every room it joined: the others see it go
