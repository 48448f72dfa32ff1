"""Chat: post a message, read a room's history, move the unread marker, count what is unread.

Chat is content, not configuration: nothing here is audited. A message in an incident room also goes on the
incident's timeline (kind ``chat``). Posting emits the company-scoped live event ``chat.message`` (every user
who sees the company receives it; pages filter by room); marking read emits ``chat.read`` to the reader only
(their other tabs clear the badge).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, func, or_, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from alertwhisperer.auth.models import User
from alertwhisperer.auth.principal import Principal
from alertwhisperer.chat import rooms
from alertwhisperer.chat.models import ChatMessage, ChatRead
from alertwhisperer.chat.rooms import Room
from alertwhisperer.chat.schemas import MessageOut
from alertwhisperer.clock import Clock
from alertwhisperer.errors import Invalid, Throttled
from alertwhisperer.incidents import timeline
from alertwhisperer.realtime.hub import Event, emit

MAX_BODY = 4000
PAGE = 50
MAX_PAGE = 200


class PostingLimit:
    """At most ``limit`` messages per user in ``window`` (in this process: a cheap guard against a runaway
    script, not a security boundary)."""

    def __init__(self, limit: int = 30, window: timedelta = timedelta(minutes=1)) -> None:
        self.limit = limit
        self.window = window
        self._sent: dict[str, deque[datetime]] = {}

    def check(self, user_id: str, now: datetime) -> None:
        sent = self._sent.setdefault(user_id, deque())
        while sent and (sent[0] <= now - self.window or sent[0] > now):
            sent.popleft()
        if len(sent) >= self.limit:
            retry = max(1, int((sent[0] + self.window - now).total_seconds()) + 1)
            raise Throttled(f"slow down: at most {self.limit} messages a minute", retry_after=retry)
        sent.append(now)
        if len(self._sent) > 10_000:  # forget idle users
            self._sent = {u: d for u, d in self._sent.items() if d}


posting_limit = PostingLimit()


def clean_body(body: object) -> str:
    text = body.replace("\x00", "").strip() if isinstance(body, str) else ""
    if not text:
        raise Invalid("write a message first", field="body")
    if len(text) > MAX_BODY:
        raise Invalid(f"a message can be at most {MAX_BODY} characters (this one has {len(text)})", field="body")
    return text


async def display_name(session: AsyncSession, actor: Principal) -> str:
    user = await session.get(User, actor.user_id)
    return user.name if user is not None and user.name else actor.email


async def post_message(session: AsyncSession, *, actor: Principal, clock: Clock, room: str,
                       body: object) -> ChatMessage:
    where = await rooms.resolve(session, actor=actor, room=room)
    text = clean_body(body)
    now = clock.now()
    posting_limit.check(actor.user_id, now)
    name = await display_name(session, actor)
    message = ChatMessage(company_id=where.company_id, room=where.name, incident_id=where.incident_id,
                          user_id=actor.user_id, user_name=name[:200], body=text, created_at=now)
    session.add(message)
    await session.flush()
    emit(session, Event("chat.message", where.company_id, {
        "room": where.name, "message": MessageOut.of(message).model_dump(mode="json")}))
    if where.incident is not None:
        await timeline.record(session, incident=where.incident, kind="chat", now=now, actor=actor, actor_name=name,
                              body=text, data={"message_id": message.id, "room": where.name})
    return message


@dataclass(frozen=True)
class History:
    room: Room
    messages: list[ChatMessage]  # oldest first
    has_more: bool
    last_read_at: datetime | None


async def history(session: AsyncSession, *, actor: Principal, room: str, before: str | None = None,
                  limit: int = PAGE) -> History:
    """The newest ``limit`` messages of the room, or the ``limit`` before the message ``before``."""
    where = await rooms.resolve(session, actor=actor, room=room)
    if not 1 <= limit <= MAX_PAGE:
        raise Invalid(f"limit must be between 1 and {MAX_PAGE}", field="limit")
    stmt = select(ChatMessage).where(ChatMessage.room == where.name)
    if before:
        cursor = await session.get(ChatMessage, before)
        if cursor is None or cursor.room != where.name:
            raise Invalid("'before' is not a message of this room", field="before")
        stmt = stmt.where(or_(ChatMessage.created_at < cursor.created_at,
                              and_(ChatMessage.created_at == cursor.created_at, ChatMessage.id < cursor.id)))
    stmt = stmt.order_by(ChatMessage.created_at.desc(), ChatMessage.id.desc()).limit(limit + 1)
    rows = list((await session.execute(stmt)).scalars())
    read_at = await last_read_at(session, user_id=actor.user_id, room=where.name)
    return History(where, rows[:limit][::-1], len(rows) > limit, read_at)


async def last_read_at(session: AsyncSession, *, user_id: str, room: str) -> datetime | None:
    return (await session.execute(select(ChatRead.last_read_at).where(
        ChatRead.user_id == user_id, ChatRead.room == room))).scalar_one_or_none()


async def mark_read(session: AsyncSession, *, actor: Principal, clock: Clock, room: str,
                    up_to: str | None = None) -> datetime:
    """Move the actor's marker to the message ``up_to`` (default: the newest message; now when there is none).
    It never moves back (two tabs reading the same room at once keep the later position)."""
    where = await rooms.resolve(session, actor=actor, room=room)
    if up_to:
        message = await session.get(ChatMessage, up_to)
        if message is None or message.room != where.name:
            raise Invalid("'up_to' is not a message of this room", field="up_to")
        at = message.created_at
    else:
        newest = (await session.execute(select(func.max(ChatMessage.created_at))
                                        .where(ChatMessage.room == where.name))).scalar_one_or_none()
        at = newest or clock.now()
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    stmt = insert(ChatRead).values(user_id=actor.user_id, room=where.name, last_read_at=at)
    stmt = stmt.on_conflict_do_update(index_elements=[ChatRead.user_id, ChatRead.room],
                                      set_={"last_read_at": stmt.excluded.last_read_at},
                                      where=ChatRead.last_read_at < stmt.excluded.last_read_at)
    await session.execute(stmt)
    marker = await last_read_at(session, user_id=actor.user_id, room=where.name)
    assert marker is not None
    emit(session, Event("chat.read", where.company_id, {"room": where.name, "last_read_at": marker.isoformat()},
                        user_id=actor.user_id))
    return marker


async def unread_counts(session: AsyncSession, *, user_id: str, rooms: Sequence[str]) -> dict[str, int]:
    """Per room: messages after the user's marker, not their own (rooms with none are left out)."""
    if not rooms:
        return {}
    read = ChatRead.__table__
    stmt = (select(ChatMessage.room, func.count())
            .select_from(ChatMessage)
            .outerjoin(read, and_(read.c.room == ChatMessage.room, read.c.user_id == user_id))
            .where(ChatMessage.room.in_(rooms),
                   or_(ChatMessage.user_id.is_(None), ChatMessage.user_id != user_id),
                   or_(read.c.last_read_at.is_(None), ChatMessage.created_at > read.c.last_read_at))
            .group_by(ChatMessage.room))
    return {room: int(n) for room, n in (await session.execute(stmt)).all()}


@dataclass(frozen=True)
class RoomSummary:
    room: Room
    unread: int
    last_message_at: datetime | None


async def my_rooms(session: AsyncSession, *, actor: Principal, clock: Clock) -> list[RoomSummary]:
    """The actor's rooms (their companies, then incident rooms with activity) with unread counts."""
    found = await rooms.rooms_for(session, actor=actor, now=clock.now())
    names = [r.name for r in found]
    unread = await unread_counts(session, user_id=actor.user_id, rooms=names)
    last = await rooms.last_message_times(session, names)
    return [RoomSummary(r, unread.get(r.name, 0), last.get(r.name)) for r in found]
