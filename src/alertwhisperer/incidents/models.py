"""Incident management: the timeline, on-call schedules and their overrides.

The ``Incident`` row itself lives in ``correlation.models`` (correlation creates it); its lifecycle columns
(status, assignee, SLA deadlines, escalation level) are owned by this domain's service.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from alertwhisperer.db import Base, IdType, JSONType, UTCDateTime, new_id, utcnow

# Lifecycle statuses. ``merged`` is terminal: the incident lives on in ``merged_into``.
NEW = "new"
ACKNOWLEDGED = "acknowledged"
IN_PROGRESS = "in_progress"
RESOLVED = "resolved"
CLOSED = "closed"
MERGED = "merged"
ACTIVE_STATUSES: tuple[str, ...] = (NEW, ACKNOWLEDGED, IN_PROGRESS)
STATUSES: tuple[str, ...] = (NEW, ACKNOWLEDGED, IN_PROGRESS, RESOLVED, CLOSED, MERGED)


class IncidentEvent(Base):
    """One entry of an incident's timeline (besides its alerts, which are ``IncidentAlert`` rows).

    ``kind``: status | assignment | note | escalation | sla_warning | sla_breach | notification | merge |
    split | chat | runbook | reopened. ``data`` holds the structured facts (from/to, channel, level, ...).
    """

    __tablename__ = "incident_events"
    __table_args__ = (Index("ix_incident_events_incident_at", "incident_id", "at"),)

    id: Mapped[str] = mapped_column(IdType, primary_key=True, default=new_id)
    incident_id: Mapped[str] = mapped_column(ForeignKey("incidents.id", ondelete="CASCADE"))
    company_id: Mapped[str] = mapped_column(ForeignKey("companies.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(30))
    actor_id: Mapped[str | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), default=None)
    actor_name: Mapped[str] = mapped_column(String(200), default="")  # kept if the user is deleted; "system"
    body: Mapped[str] = mapped_column(Text, default="")
    data: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class OnCallSchedule(Base):
    """A rotation of technicians. ``company_id`` None: an MSP-wide team serving every company.

    ``layers`` (validated by ``incidents.schedule_schemas.LayerIn``): a list of
    ``{"name", "rotation": "daily"|"weekly", "handoff_time": "HH:MM", "handoff_weekday": 0-6,
    "starts_on": "YYYY-MM-DD", "members": [user_id, ...]}``; a higher layer wins where it has someone.
    """

    __tablename__ = "oncall_schedules"

    id: Mapped[str] = mapped_column(IdType, primary_key=True, default=new_id)
    company_id: Mapped[str | None] = mapped_column(ForeignKey("companies.id", ondelete="CASCADE"), index=True,
                                                   default=None)
    name: Mapped[str] = mapped_column(String(200))
    category: Mapped[str | None] = mapped_column(String(60), default=None)  # None: any category
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    description: Mapped[str] = mapped_column(Text, default="")
    layers: Mapped[list[dict[str, Any]]] = mapped_column(JSONType, default=list)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ScheduleOverride(Base):
    """Someone covers a schedule for a while (swap, sick cover); wins over every layer."""

    __tablename__ = "oncall_overrides"
    __table_args__ = (Index("ix_oncall_overrides_schedule_start", "schedule_id", "starts_at"),)

    id: Mapped[str] = mapped_column(IdType, primary_key=True, default=new_id)
    schedule_id: Mapped[str] = mapped_column(ForeignKey("oncall_schedules.id", ondelete="CASCADE"))
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime)
    reason: Mapped[str] = mapped_column(String(300), default="")
    created_by: Mapped[str | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
