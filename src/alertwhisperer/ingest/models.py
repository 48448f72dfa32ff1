"""Deliveries (one webhook POST, kept verbatim) and the canonical alerts extracted from them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, Integer, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from alertwhisperer.db import Base, IdType, JSONType, UTCDateTime, new_id, utcnow


class Delivery(Base):
    __tablename__ = "deliveries"
    __table_args__ = (Index("ix_deliveries_company_received", "company_id", "received_at"),)

    id: Mapped[str] = mapped_column(IdType, primary_key=True, default=new_id)
    company_id: Mapped[str] = mapped_column(ForeignKey("companies.id", ondelete="CASCADE"))
    source: Mapped[str] = mapped_column(String(40))
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    idempotency_key: Mapped[str | None] = mapped_column(String(200), default=None)
    content_type: Mapped[str | None] = mapped_column(String(120), default=None)
    body: Mapped[bytes] = mapped_column(LargeBinary)
    headers: Mapped[dict[str, str]] = mapped_column(JSONType, default=dict)
    alert_ids: Mapped[list[str]] = mapped_column(JSONType, default=list)
    control: Mapped[dict[str, Any] | None] = mapped_column(JSONType, default=None)
    status: Mapped[str] = mapped_column(String(12), default="accepted")  # accepted | processed
    processed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)


class Alert(Base):
    __tablename__ = "alerts"
    __table_args__ = (
        Index("ix_alerts_company_received", "company_id", "received_at"),
        Index("ix_alerts_company_external", "company_id", "source", "external_id"),
        Index("ix_alerts_company_correlation_seq", "company_id", "correlation_seq"),
    )

    id: Mapped[str] = mapped_column(IdType, primary_key=True, default=new_id)
    company_id: Mapped[str] = mapped_column(ForeignKey("companies.id", ondelete="CASCADE"))
    delivery_id: Mapped[str] = mapped_column(ForeignKey("deliveries.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(default=0)  # index of the alert within its delivery
    source: Mapped[str] = mapped_column(String(40))
    status: Mapped[str] = mapped_column(String(16))
    severity: Mapped[str] = mapped_column(String(10))
    original_severity: Mapped[str | None] = mapped_column(String(100), default=None)
    asset_ref: Mapped[str | None] = mapped_column(String(500), default=None)
    signature: Mapped[str] = mapped_column(String(500))
    message: Mapped[str] = mapped_column(Text, default="")
    labels: Mapped[dict[str, str]] = mapped_column(JSONType, default=dict)
    external_id: Mapped[str | None] = mapped_column(String(500), default=None)
    occurred_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    url: Mapped[str | None] = mapped_column(Text, default=None)
    value: Mapped[str | None] = mapped_column(String(500), default=None)
    # What correlation decided (None until processed): new_incident | correlated | duplicate | resolved |
    # suppressed; the incident it went to (after merges) and why.
    outcome: Mapped[str | None] = mapped_column(String(16), default=None)
    incident_id: Mapped[str | None] = mapped_column(IdType, default=None, index=True)
    decision_reason: Mapped[str | None] = mapped_column(Text, default=None)
    correlation_seq: Mapped[int | None] = mapped_column(Integer, default=None)  # its place in the state's log
    opened_incident_id: Mapped[str | None] = mapped_column(IdType, default=None)  # the incident it opened


class IdempotencyKey(Base):
    """A delivery id remembered per company for 24 h: a repeat answers with the original alert ids."""

    __tablename__ = "idempotency_keys"

    company_id: Mapped[str] = mapped_column(ForeignKey("companies.id", ondelete="CASCADE"), primary_key=True)
    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    delivery_id: Mapped[str] = mapped_column(ForeignKey("deliveries.id", ondelete="CASCADE"))
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


class WebhookSecret(Base):
    """A company's HMAC signing secret, encrypted at rest. The previous one stays valid for a grace period."""

    __tablename__ = "webhook_secrets"

    company_id: Mapped[str] = mapped_column(ForeignKey("companies.id", ondelete="CASCADE"), primary_key=True)
    secret_enc: Mapped[str] = mapped_column(Text)
    previous_enc: Mapped[str | None] = mapped_column(Text, default=None)
    previous_valid_until: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    rotated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class SeenSignature(Base):
    """Signatures accepted inside the timestamp window: the same one again is a replay."""

    __tablename__ = "seen_signatures"

    company_id: Mapped[str] = mapped_column(ForeignKey("companies.id", ondelete="CASCADE"), primary_key=True)
    signature: Mapped[str] = mapped_column(String(64), primary_key=True)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


class Heartbeat(Base):
    """A monitoring integration that must ping regularly; silence raises "monitoring silent"."""

    __tablename__ = "heartbeats"
    __table_args__ = (UniqueConstraint("company_id", "name", name="uq_heartbeats_company_name"),)

    id: Mapped[str] = mapped_column(IdType, primary_key=True, default=new_id)
    company_id: Mapped[str] = mapped_column(ForeignKey("companies.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    interval_seconds: Mapped[int] = mapped_column(Integer)
    grace_seconds: Mapped[int] = mapped_column(Integer, default=60)
    state: Mapped[str] = mapped_column(String(10), default="waiting")  # waiting | ok | silent
    last_ping_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    check_key: Mapped[str | None] = mapped_column(String(200), default=None)  # dedup key of the pending check
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
