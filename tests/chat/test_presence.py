"""Presence across server processes: each process publishes its own members with its origin; the others fold
them in, so every process answers with the union; a process that falls silent is forgotten after the TTL."""

from __future__ import annotations

from alertwhisperer.chat.presence import REMOTE_TTL, PresenceRegistry
from alertwhisperer.realtime.hub import Event

ROOM = "company:c1"


class Ticks:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _names(registry: PresenceRegistry) -> list[str]:
    return [m["name"] for m in registry.members(ROOM)]


def test_processes_share_presence_through_their_events() -> None:
    ticks = Ticks()
    one, two = PresenceRegistry(monotonic=ticks), PresenceRegistry(monotonic=ticks)
    one.join("conn-a", room=ROOM, company_id="c1", user_id="u-ann", name="Ann")
    one.join("conn-a2", room=ROOM, company_id="c1", user_id="u-ann", name="Ann")  # a second tab: still one Ann
    two.join("conn-b", room=ROOM, company_id="c1", user_id="u-ben", name="Ben")
    assert _names(one) == ["Ann"] and _names(two) == ["Ben"]

    two.observe(one.event(ROOM))
    one.observe(two.event(ROOM))
    assert _names(one) == _names(two) == ["Ann", "Ben"]
    event = two.event(ROOM)
    assert (event.type, event.company_id, event.data["local"]) == (
        "chat.presence", "c1", [{"user_id": "u-ben", "name": "Ben"}])
    one.observe(one.event(ROOM))  # its own events change nothing
    one.observe(Event("chat.message", "c1", {"room": ROOM, "origin": two.origin, "local": []}))  # nor other kinds
    assert _names(one) == ["Ann", "Ben"]

    # Ben's page closes: his process says so, and the other one follows
    assert two.drop("conn-b") == [ROOM]
    one.observe(two.event(ROOM))
    assert _names(one) == _names(two) == ["Ann"]

    # one tab of Ann's closes: she is still here; a process that dies silently is forgotten after the TTL
    one.drop("conn-a")
    two.observe(one.event(ROOM))
    assert _names(two) == ["Ann"]
    ticks.now += REMOTE_TTL + 1
    assert _names(two) == [] and _names(one) == ["Ann"]  # local members never expire: their socket is open
