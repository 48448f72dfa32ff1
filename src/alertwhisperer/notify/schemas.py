"""Pydantic I/O models of the notify domain."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

Severity = Literal["critical", "high", "medium", "low", "info"]
ChannelName = Literal["inapp", "browser", "email", "apprise"]
HHMM = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")


class NotificationOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    kind: str
    severity: str
    title: str
    body: str
    url: str
    company_id: str | None
    incident_id: str | None
    created_at: datetime
    read_at: datetime | None


class UnreadCount(BaseModel):
    unread: int


class MarkedRead(BaseModel):
    marked: int
    unread: int


class QuietHours(BaseModel):
    """Email and Apprise are suppressed between ``start`` and ``end`` (local time in
    ``timezone``; may cross midnight, e.g. 22:00 to 07:00). Critical notifications always go out."""

    model_config = ConfigDict(extra="forbid")

    start: str = Field(examples=["22:00"])
    end: str = Field(examples=["07:00"])
    timezone: str = Field(default="UTC", examples=["Europe/Berlin"])

    @field_validator("start", "end")
    @classmethod
    def _hhmm(cls, value: str) -> str:
        value = value.strip()
        if len(value) == 4 and value[1] == ":":
            value = "0" + value
        if not HHMM.match(value):
            raise ValueError("use HH:MM (24-hour clock), e.g. 22:00")
        return value

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        value = value.strip() or "UTC"
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown timezone {value!r} (use a name like Europe/Berlin)") from None
        return value

    @model_validator(mode="after")
    def _not_empty(self) -> QuietHours:
        if self.start == self.end:
            raise ValueError("start and end are the same: quiet hours would be empty")
        return self


class AppriseTarget(BaseModel):
    """A stored Apprise URL as it is shown: its id and a redacted label (scheme and host only)."""

    id: str
    label: str


class PreferencesIn(BaseModel):
    """The full preferences (PUT). ``channels``: severity -> channels (``inapp`` is always on; a severity left out
    gets its default). ``quiet_hours`` null: none. Apprise URLs are write-only: ``apprise_urls`` replaces them all
    (null keeps them), ``add_apprise_urls`` adds, ``remove_apprise_ids`` removes by the ids GET shows."""

    channels: dict[Severity, list[ChannelName]] | None = None
    quiet_hours: QuietHours | None = None
    apprise_urls: list[str] | None = Field(default=None, max_length=20)
    add_apprise_urls: list[str] = Field(default_factory=list, max_length=20)
    remove_apprise_ids: list[str] = Field(default_factory=list, max_length=50)


class PreferencesOut(BaseModel):
    channels: dict[str, list[str]]
    quiet_hours: QuietHours | None
    apprise_targets: list[AppriseTarget]
    is_default: bool
    updated_at: datetime | None


class DeliveryOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    incident_id: str | None
    user_id: str | None
    kind: str
    channel: str
    target: str
    subject: str
    status: str
    attempts: int
    error: str | None
    created_at: datetime
    sent_at: datetime | None


class TestRequest(BaseModel):
    severity: Severity = "critical"
