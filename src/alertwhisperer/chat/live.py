"""The chat side of one WebSocket: ``{"type": "chat.join" | "chat.leave", "room": "..."}`` messages.

A join is checked like every other room access (a room the user may not see gets a ``chat.error`` answer and
is otherwise ignored); each join, leave and the socket's close publishes the room's ``chat.presence``.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import structlog

from alertwhisperer.auth.principal import Principal
from alertwhisperer.chat import rooms
from alertwhisperer.chat.presence import PRESENCE, registry_for
from alertwhisperer.chat.service import display_name
from alertwhisperer.errors import NotFound
from alertwhisperer.realtime.hub import Event

log = structlog.get_logger(__name__)

MAX_ROOMS = 50  # per connection
JOIN, LEAVE = "chat.join", "chat.leave"


def _error(room: object, message: str) -> dict[str, Any]:
    return {"type": "chat.error", "company_id": None,
            "data": {"room": room[:60] if isinstance(room, str) else None, "message": message}}


class ChatLink:
    def __init__(self, app: Any, principal: Principal) -> None:
        self.app = app
        self.principal = principal
        self.conn = uuid.uuid4().hex
        self.registry = registry_for(app)
        self._name: str | None = None

    def observe(self, event: Event) -> None:
        """Every hub event passes here before the visibility filter (other processes' presence)."""
        if event.type == PRESENCE:
            self.registry.observe(event)

    async def receive(self, text: str) -> dict[str, Any] | None:
        """Handle a text frame that is not "ping"; returns the answer to send, if any."""
        try:
            data = json.loads(text)
        except ValueError:
            return None
        if not isinstance(data, dict) or not str(data.get("type", "")).startswith("chat."):
            return None
        kind, room = data.get("type"), data.get("room")
        if kind not in (JOIN, LEAVE):
            return _error(room, f"unknown message type {str(kind)[:40]!r}")
        if not isinstance(room, str):
            return _error(room, "say which room: {\"type\": \"chat.join\", \"room\": \"company:<id>\"}")
        if kind == LEAVE:
            if self.registry.leave(self.conn, room):
                await self._publish(self.registry.event(room))
            return None
        if room not in self.registry.rooms_of(self.conn) and len(self.registry.rooms_of(self.conn)) >= MAX_ROOMS:
            return _error(room, f"a page can be in at most {MAX_ROOMS} rooms")
        try:
            async with self.app.state.sessionmaker() as session:
                where = await rooms.resolve(session, actor=self.principal, room=room)
                if self._name is None:
                    self._name = await display_name(session, self.principal)
        except NotFound:
            return _error(room, "room not found")
        except Exception as exc:  # a database hiccup must not close the live channel
            log.warning("chat.join_failed", error=str(exc)[:200])
            return _error(room, "could not join the room; try again")
        self.registry.join(self.conn, room=where.name, company_id=where.company_id, user_id=self.principal.user_id,
                           name=self._name)
        await self._publish(self.registry.event(where.name, where.company_id))
        return None

    async def close(self) -> None:
        """The socket closed: leave every room."""
        for room in self.registry.drop(self.conn):
            await self._publish(self.registry.event(room))

    async def _publish(self, event: Event) -> None:
        try:
            await self.app.state.hub.publish(event)
        except Exception as exc:  # presence is best-effort; the socket must keep working
            log.warning("chat.presence_publish_failed", error=str(exc))
