"""Who is in a chat room right now.

A room's members are the users with a live connection (an open page) that joined it over the WebSocket. This
process keeps its own connections (``join`` / ``leave`` / ``drop``); every change is published as the
company-scoped live event ``chat.presence`` with the room's member list, so every page in the room shows who
is here.

Several server processes: each event also carries its process's ``origin`` and that process's own members
(``local``). Every process folds the events of the others into a remote view (``observe``, fed by the live
channel), so the member list it publishes and answers with is the union over the processes it has heard from.
Pages re-join every minute (``chat.js``), which re-publishes; a remote process's members are forgotten when it
has not published for ``REMOTE_TTL`` seconds (a process that died without saying goodbye).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from alertwhisperer.realtime.hub import Event

PRESENCE = "chat.presence"
REMOTE_TTL = 150.0  # seconds


@dataclass
class _Remote:
    seen: float
    company_id: str
    members: list[dict[str, str]]


@dataclass
class PresenceRegistry:
    origin: str = field(default_factory=lambda: uuid.uuid4().hex)
    # room -> connection id -> (user_id, name)
    _local: dict[str, dict[str, tuple[str, str]]] = field(default_factory=dict)
    _companies: dict[str, str] = field(default_factory=dict)  # room -> company id
    _remote: dict[str, dict[str, _Remote]] = field(default_factory=dict)  # room -> origin -> members
    monotonic: Callable[[], float] = time.monotonic  # for the remote views' expiry (tests move it)

    def join(self, conn: str, *, room: str, company_id: str, user_id: str, name: str) -> None:
        self._local.setdefault(room, {})[conn] = (user_id, name)
        self._companies[room] = company_id

    def leave(self, conn: str, room: str) -> bool:
        """True when the connection was in the room."""
        members = self._local.get(room)
        if not members or conn not in members:
            return False
        del members[conn]
        if not members:
            del self._local[room]
        return True

    def drop(self, conn: str) -> list[str]:
        """The connection closed: it leaves every room (returns them)."""
        left = [room for room, members in self._local.items() if conn in members]
        for room in left:
            self.leave(conn, room)
        return left

    def rooms_of(self, conn: str) -> list[str]:
        return [room for room, members in self._local.items() if conn in members]

    def local_members(self, room: str) -> list[dict[str, str]]:
        seen: dict[str, str] = {}
        for user_id, name in self._local.get(room, {}).values():
            seen.setdefault(user_id, name)
        return [{"user_id": u, "name": n} for u, n in seen.items()]

    def members(self, room: str) -> list[dict[str, str]]:
        """Everyone in the room, each user once (several tabs, several processes), by name."""
        now = self.monotonic()
        everyone = {m["user_id"]: m for m in self.local_members(room)}
        remote = self._remote.get(room, {})
        for origin, view in list(remote.items()):
            if now - view.seen > REMOTE_TTL:
                del remote[origin]
                continue
            for member in view.members:
                everyone.setdefault(member["user_id"], member)
        return sorted(everyone.values(), key=lambda m: (m["name"].lower(), m["user_id"]))

    def event(self, room: str, company_id: str | None = None) -> Event:
        company = company_id or self._companies.get(room)
        return Event(PRESENCE, company, {"room": room, "members": self.members(room), "origin": self.origin,
                                         "local": self.local_members(room)})

    def observe(self, event: Event) -> None:
        """Fold another process's presence event into the remote view (our own events are ignored)."""
        data: dict[str, Any] = event.data
        origin, room = data.get("origin"), data.get("room")
        if event.type != PRESENCE or not origin or origin == self.origin or not isinstance(room, str):
            return
        local = [m for m in data.get("local") or [] if isinstance(m, dict) and "user_id" in m and "name" in m]
        views = self._remote.setdefault(room, {})
        if local:
            views[str(origin)] = _Remote(self.monotonic(), str(event.company_id or ""), local)
        else:
            views.pop(str(origin), None)
            if not views:
                del self._remote[room]


def registry_for(app: Any) -> PresenceRegistry:
    """The application's registry (one per app, made on first use)."""
    registry: PresenceRegistry | None = getattr(app.state, "chat_presence", None)
    if registry is None:
        registry = PresenceRegistry()
        app.state.chat_presence = registry
    return registry
