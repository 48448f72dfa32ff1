"""Chat routes (thin: validate, call the service). Room names contain ':' (``company:<id>``,
``incident:<id>``); clients may send it as it is or URL-encoded (``company%3A<id>``)."""

from __future__ import annotations

from fastapi import APIRouter, Query, Request

from alertwhisperer.chat import rooms, service
from alertwhisperer.chat.presence import registry_for
from alertwhisperer.chat.schemas import (
    HistoryOut,
    Member,
    MessageIn,
    MessageOut,
    PresenceOut,
    ReadIn,
    ReadOut,
    RoomOut,
)
from alertwhisperer.deps import ClockDep, CurrentUser, SessionDep, commit

router = APIRouter(prefix="/api/chat", tags=["chat"])


@router.get("/rooms", response_model=list[RoomOut])
async def list_rooms(user: CurrentUser, db: SessionDep, clock: ClockDep) -> list[RoomOut]:
    """Your rooms: one per company you see, then incident rooms with activity (active incidents you are assigned
    to, acted on or that have messages; any incident chatted about in the last week), with unread counts."""
    found = await service.my_rooms(db, actor=user, clock=clock)
    return [RoomOut(room=s.room.name, kind=s.room.kind, company_id=s.room.company_id,
                    incident_id=s.room.incident_id, title=s.room.title,
                    status=s.room.incident.status if s.room.incident is not None else None,
                    unread=s.unread, last_message_at=s.last_message_at) for s in found]


@router.get("/rooms/{room}/messages", response_model=HistoryOut)
async def list_messages(room: str, user: CurrentUser, db: SessionDep,
                        before: str | None = Query(None, description="A message id: the page before it."),
                        limit: int = Query(service.PAGE, description=f"1 to {service.MAX_PAGE}.")) -> HistoryOut:
    found = await service.history(db, actor=user, room=room, before=before, limit=limit)
    return HistoryOut(room=found.room.name, messages=[MessageOut.of(m) for m in found.messages],
                      has_more=found.has_more, last_read_at=found.last_read_at)


@router.post("/rooms/{room}/messages", response_model=MessageOut, status_code=201)
async def post_message(room: str, body: MessageIn, request: Request, user: CurrentUser, db: SessionDep,
                       clock: ClockDep) -> MessageOut:
    message = await service.post_message(db, actor=user, clock=clock, room=room, body=body.body)
    out = MessageOut.of(message)
    await commit(request, db)
    return out


@router.post("/rooms/{room}/read", response_model=ReadOut)
async def mark_read(room: str, request: Request, user: CurrentUser, db: SessionDep, clock: ClockDep,
                    body: ReadIn | None = None) -> ReadOut:
    at = await service.mark_read(db, actor=user, clock=clock, room=room, up_to=body.up_to if body else None)
    unread = await service.unread_counts(db, user_id=user.user_id, rooms=[room])
    await commit(request, db)
    return ReadOut(room=room, last_read_at=at, unread=unread.get(room, 0))


@router.get("/rooms/{room}/presence", response_model=PresenceOut)
async def presence(room: str, request: Request, user: CurrentUser, db: SessionDep) -> PresenceOut:
    """Who has the room open right now (on the pages this server knows of)."""
    where = await rooms.resolve(db, actor=user, room=room)
    members = registry_for(request.app).members(where.name)
    return PresenceOut(room=where.name, members=[Member(**m) for m in members])
