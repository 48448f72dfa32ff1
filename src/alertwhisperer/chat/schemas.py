"""Chat I/O models: messages, a room's history page, the rooms a user has, who is in a room."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from alertwhisperer.chat.models import ChatMessage


class MessageIn(BaseModel):
    body: str = Field(description="The message: 1 to 4000 characters after trimming; newlines are kept.",
                      examples=["Looking at the disk on db-01 now."])


class ReadIn(BaseModel):
    up_to: str | None = Field(default=None, description="Mark the room read up to this message (its id); "
                                                        "left out: up to the newest message.")


class MessageOut(BaseModel):
    id: str
    room: str
    company_id: str
    incident_id: str | None
    user_id: str | None
    user_name: str
    body: str
    created_at: datetime

    @classmethod
    def of(cls, message: ChatMessage) -> MessageOut:
        return cls(id=message.id, room=message.room, company_id=message.company_id,
                   incident_id=message.incident_id, user_id=message.user_id, user_name=message.user_name,
                   body=message.body, created_at=message.created_at)


class HistoryOut(BaseModel):
    room: str
    messages: list[MessageOut] = Field(description="Oldest first (the newest page, or the page before `before`).")
    has_more: bool = Field(description="There are earlier messages: ask again with before=<first message id>.")
    last_read_at: datetime | None = Field(description="Where the caller's unread marker is (null: never read).")


class RoomOut(BaseModel):
    room: str
    kind: Literal["company", "incident"]
    company_id: str
    incident_id: str | None
    title: str
    status: str | None = Field(default=None, description="The incident's status (incident rooms).")
    unread: int
    last_message_at: datetime | None


class ReadOut(BaseModel):
    room: str
    last_read_at: datetime
    unread: int


class Member(BaseModel):
    user_id: str
    name: str


class PresenceOut(BaseModel):
    room: str
    members: list[Member]
