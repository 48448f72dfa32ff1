"""Notifications: the in-app bell, each user's preferences and channels, and the delivery log."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from alertwhisperer.db import Base, IdType, JSONType, UTCDateTime, new_id, utcnow


class Notification(Base):
    """One in-app notification (the bell). ``read_at`` None: unread."""

    __tablename__ = "notifications"
    __table_args__ = (Index("ix_notifications_user_read", "user_id", "read_at"),)

    id: Mapped[str] = mapped_column(IdType, primary_key=True, default=new_id)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    company_id: Mapped[str | None] = mapped_column(ForeignKey("companies.id", ondelete="CASCADE"), default=None)
    incident_id: Mapped[str | None] = mapped_column(ForeignKey("incidents.id", ondelete="CASCADE"), default=None,
                                                    index=True)
    kind: Mapped[str] = mapped_column(String(30))  # assignment | sla_warning | sla_breach | escalation | resolved
    severity: Mapped[str] = mapped_column(String(10), default="info")
    title: Mapped[str] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text, default="")
    url: Mapped[str] = mapped_column(String(500), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    read_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)


class NotificationPreference(Base):
    """A user's choices. ``channels``: severity -> list of channel names (``email``, ``apprise``, ``inapp``,
    ``browser``); ``quiet_hours``: ``{"start": "HH:MM", "end": "HH:MM", "timezone": "Europe/Berlin"}`` or
    empty (critical notifications ignore quiet hours). ``apprise_urls_encrypted``: the user's Apprise URLs
    (Slack, Teams, Telegram, Discord, SMS gateways, webhooks), encrypted at rest because they hold tokens."""

    __tablename__ = "notification_preferences"

    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    channels: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    quiet_hours: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    apprise_urls_encrypted: Mapped[str] = mapped_column(Text, default="")
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class NotificationDelivery(Base):
    """One message to one user over one channel: the delivery log (per incident) and the send job's subject.

    ``status``: pending | sent | failed (will retry) | dead (gave up) | suppressed (preferences, quiet hours).
    ``target``: a redacted description of where it went (an address, ``slack://…``); never a secret.
    """

    __tablename__ = "notification_deliveries"
    __table_args__ = (Index("ix_notification_deliveries_incident", "incident_id", "created_at"),)

    id: Mapped[str] = mapped_column(IdType, primary_key=True, default=new_id)
    company_id: Mapped[str | None] = mapped_column(ForeignKey("companies.id", ondelete="CASCADE"), default=None,
                                                   index=True)
    incident_id: Mapped[str | None] = mapped_column(ForeignKey("incidents.id", ondelete="CASCADE"), default=None)
    user_id: Mapped[str | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), default=None)
    kind: Mapped[str] = mapped_column(String(30))  # the template: assignment, sla_warning, escalation, ...
    channel: Mapped[str] = mapped_column(String(20))  # email | apprise
    target: Mapped[str] = mapped_column(String(300), default="")
    subject: Mapped[str] = mapped_column(String(300), default="")
    status: Mapped[str] = mapped_column(String(12), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text, default=None)
    context: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)  # what the template renders
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
