"""Chat rooms are named, not stored: ``company:<id>`` and ``incident:<id>``. Messages and read markers are."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from alertwhisperer.db import Base, IdType, UTCDateTime, new_id, utcnow


class ChatMessage(Base):
    __tablename__ = "chat_messages"
    __table_args__ = (Index("ix_chat_messages_room_at", "room", "created_at"),)

    id: Mapped[str] = mapped_column(IdType, primary_key=True, default=new_id)
    company_id: Mapped[str] = mapped_column(ForeignKey("companies.id", ondelete="CASCADE"), index=True)
    room: Mapped[str] = mapped_column(String(60))
    incident_id: Mapped[str | None] = mapped_column(ForeignKey("incidents.id", ondelete="CASCADE"), default=None)
    user_id: Mapped[str | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), default=None)
    user_name: Mapped[str] = mapped_column(String(200), default="")
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ChatRead(Base):
    """How far a user has read a room (the unread marker)."""

    __tablename__ = "chat_reads"

    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    room: Mapped[str] = mapped_column(String(60), primary_key=True)
    last_read_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
