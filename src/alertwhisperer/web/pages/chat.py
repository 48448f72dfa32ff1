"""The chat page: the user's rooms with unread badges and the active room (history, composer, who is here).

The room panel (``chat/_room.html``) is self-contained: any page can show a room by including it with
``room_panel_context`` (the incident page shows its incident room). Sending, "load earlier", the read marker
and presence run in ``chat.js`` over the chat API and the live channel.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy.ext.asyncio import AsyncSession

from alertwhisperer.auth.principal import Principal
from alertwhisperer.chat import rooms, service
from alertwhisperer.deps import CSRF_COOKIE, ClockDep, CurrentUser, SessionDep
from alertwhisperer.web.templating import COMPANY_COOKIE, page

router = APIRouter()


async def room_panel_context(db: AsyncSession, principal: Principal, room: str, *, request: Request | None = None
                             ) -> dict[str, Any]:
    """Everything ``chat/_room.html`` needs for one room (``NotFound`` when the principal may not see it)."""
    found = await service.history(db, actor=principal, room=room)
    return {"room": found.room.name, "room_title": found.room.title, "room_kind": found.room.kind,
            "messages": found.messages, "has_more": found.has_more, "last_read_at": found.last_read_at,
            "principal": principal,
            **({"csrf_token": request.cookies.get(CSRF_COOKIE, "")} if request is not None else {})}


@router.get("/chat")
async def chat_page(request: Request, user: CurrentUser, db: SessionDep, clock: ClockDep,
                    room: str | None = None) -> Response:
    summaries = await service.my_rooms(db, actor=user, clock=clock)
    if room is None and summaries:
        switched = rooms.company_room(request.cookies.get(COMPANY_COOKIE, ""))  # the company switcher's choice
        room = switched if any(s.room.name == switched for s in summaries) else summaries[0].room.name
    panel = await room_panel_context(db, user, room, request=request) if room else {}
    return await page(request, db, user, "chat/index.html", {
        "company_rooms": [s for s in summaries if s.room.kind == rooms.COMPANY],
        "incident_rooms": [s for s in summaries if s.room.kind == rooms.INCIDENT],
        "active": panel.get("room"), **panel,
    }, section="chat")

