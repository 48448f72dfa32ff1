"""Incidents (what correlation grouped alerts into), their alert links, and each company's correlation state."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, Float, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from alertwhisperer.db import Base, IdType, JSONType, UTCDateTime, new_id, utcnow


class Incident(Base):
    """One problem. Correlation creates it and keeps its alert facts; ``incidents`` owns its lifecycle:
    ``status`` (new | acknowledged | in_progress | resolved | closed | merged, see ``incidents.models``),
    assignment, SLA deadlines and the escalation level."""

    __tablename__ = "incidents"
    __table_args__ = (
        Index("ix_incidents_company_status", "company_id", "status"),
        Index("ix_incidents_company_priority", "company_id", "priority"),
        Index("ix_incidents_assignee_status", "assignee_id", "status"),
    )

    id: Mapped[str] = mapped_column(IdType, primary_key=True, default=new_id)
    company_id: Mapped[str] = mapped_column(ForeignKey("companies.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(String(20), default="new")
    merged_into: Mapped[str | None] = mapped_column(IdType, default=None)
    title: Mapped[str] = mapped_column(String(500))
    symptom: Mapped[str] = mapped_column(String(100))
    symptoms: Mapped[list[str]] = mapped_column(JSONType, default=list)
    severity: Mapped[str] = mapped_column(String(10))
    key: Mapped[str] = mapped_column(String(600))
    root_asset_key: Mapped[str] = mapped_column(String(300), default="")  # asset id, or "discovered:<host>"
    root_asset_name: Mapped[str] = mapped_column(String(300), default="")
    asset_keys: Mapped[list[str]] = mapped_column(JSONType, default=list)
    tools: Mapped[list[str]] = mapped_column(JSONType, default=list)
    first_seen: Mapped[datetime] = mapped_column(UTCDateTime)
    last_seen: Mapped[datetime] = mapped_column(UTCDateTime)
    resolves_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)  # hold running
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    time_to_resolve_seconds: Mapped[float | None] = mapped_column(Float, default=None)
    alert_count: Mapped[int] = mapped_column(Integer, default=0)  # distinct alerts (identities)
    duplicate_count: Mapped[int] = mapped_column(Integer, default=0)  # repeat notifications
    reopen_count: Mapped[int] = mapped_column(Integer, default=0)
    flapping: Mapped[bool] = mapped_column(Boolean, default=False)
    priority: Mapped[int] = mapped_column(Integer, default=0)
    priority_breakdown: Mapped[list[dict[str, Any]]] = mapped_column(JSONType, default=list)
    explanation: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)  # why it opened
    # --- lifecycle (owned by the incidents domain) ---
    category: Mapped[str] = mapped_column(String(60), default="")  # the skill it needs (Network, Database, ...)
    assignee_id: Mapped[str | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), default=None)
    assigned_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)  # first response
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)  # in_progress since
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    resolution_kind: Mapped[str] = mapped_column(String(12), default="")  # auto | manual | self_healed
    escalation_level: Mapped[int] = mapped_column(Integer, default=0)
    escalated_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    sla_started_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)  # opened or reopened
    response_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    resolution_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    response_breached_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    resolution_breached_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    split_from: Mapped[str | None] = mapped_column(IdType, default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class IncidentAlert(Base):
    """An alert notification in an incident's timeline, with why it joined."""

    __tablename__ = "incident_alerts"
    __table_args__ = (Index("ix_incident_alerts_incident_joined", "incident_id", "joined_at"),)

    incident_id: Mapped[str] = mapped_column(ForeignKey("incidents.id", ondelete="CASCADE"), primary_key=True)
    alert_id: Mapped[str] = mapped_column(ForeignKey("alerts.id", ondelete="CASCADE"), primary_key=True,
                                          index=True)
    company_id: Mapped[str] = mapped_column(ForeignKey("companies.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(20))  # the decision kind
    reason: Mapped[str] = mapped_column(Text, default="")
    explanation: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    joined_at: Mapped[datetime] = mapped_column(UTCDateTime)


class CorrelationState(Base):
    """A snapshot of a company's ``TenantState`` after ``calls`` correlate calls (see ``correlation.store``).

    The row is also what concurrent processes lock (``FOR UPDATE``) to correlate one company at a time.
    """

    __tablename__ = "correlation_states"

    company_id: Mapped[str] = mapped_column(ForeignKey("companies.id", ondelete="CASCADE"), primary_key=True)
    calls: Mapped[int] = mapped_column(Integer, default=0)
    data: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
