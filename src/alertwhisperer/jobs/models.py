"""Durable jobs: the outbox every side effect goes through (ingest inbox, timers, notifications, runs)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from alertwhisperer.db import Base, IdType, JSONType, UTCDateTime, new_id, utcnow

PENDING = "pending"
RUNNING = "running"
DONE = "done"
DEAD = "dead"
CANCELLED = "cancelled"


class Job(Base):
    __tablename__ = "jobs"
    __table_args__ = (
        Index("ix_jobs_claim", "status", "due_at"),
    )

    id: Mapped[str] = mapped_column(IdType, primary_key=True, default=new_id)
    kind: Mapped[str] = mapped_column(String(60), index=True)
    company_id: Mapped[str | None] = mapped_column(IdType, index=True, default=None)
    payload: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    # A scheduled job with a key fires once cluster-wide: enqueueing the same key again is a no-op.
    dedup_key: Mapped[str | None] = mapped_column(String(200), unique=True, default=None)
    status: Mapped[str] = mapped_column(String(12), default=PENDING)
    due_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    max_attempts: Mapped[int] = mapped_column(Integer, default=8)
    lease_owner: Mapped[str | None] = mapped_column(String(80), default=None)
    lease_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    last_error: Mapped[str | None] = mapped_column(Text, default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
