"""Append-only, hash-chained audit log."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from alertwhisperer.db import Base, IdType, JSONType, UTCDateTime, utcnow


class AuditEntry(Base):
    __tablename__ = "audit_log"

    # seq is assigned by the appender as last+1 under a lock: gaps and forks are detectable.
    seq: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True,
                                     autoincrement=False)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    actor_id: Mapped[str | None] = mapped_column(IdType, index=True, default=None)
    actor_email: Mapped[str | None] = mapped_column(String(254), default=None)
    actor_role: Mapped[str | None] = mapped_column(String(20), default=None)
    company_id: Mapped[str | None] = mapped_column(IdType, index=True, default=None)
    action: Mapped[str] = mapped_column(String(60), index=True)
    target_type: Mapped[str | None] = mapped_column(String(40), default=None)
    target_id: Mapped[str | None] = mapped_column(String(64), default=None)
    details: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    ip: Mapped[str | None] = mapped_column(String(45), default=None)
    user_agent: Mapped[str | None] = mapped_column(String(300), default=None)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))
