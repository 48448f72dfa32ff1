"""Pydantic models of on-call schedules, layers and overrides (validation names the field in a 422)."""

from __future__ import annotations

import re
from datetime import date, datetime, time
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator, model_validator

from alertwhisperer.incidents import schedules as engine
from alertwhisperer.incidents.categories import canonical

HHMM = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]


def parse_hhmm(value: str) -> time:
    match = HHMM.match(value.strip())
    if not match:
        raise ValueError("use a 24-hour time as HH:MM, e.g. 09:00")
    return time(int(match.group(1)), int(match.group(2)))


def _hhmm(value: Any) -> Any:
    if value is None or value == "":
        return None
    if isinstance(value, time):
        return value.strftime("%H:%M")
    if not isinstance(value, str):
        raise ValueError("use a 24-hour time as HH:MM, e.g. 09:00")
    return parse_hhmm(value).strftime("%H:%M")


class LayerIn(BaseModel):
    """One rotation layer. Later layers override earlier ones where they have someone on call."""

    model_config = ConfigDict(extra="forbid")

    name: Name = Field(description="Shown as the reason someone is on call, e.g. 'Weekdays' or 'Weekend'")
    rotation: Literal["daily", "weekly"] = "weekly"
    handoff_time: str = Field("09:00", description="HH:MM in the schedule's timezone")
    handoff_weekday: int = Field(0, ge=0, le=6, description="Weekly rotations: 0 = Monday ... 6 = Sunday")
    starts_on: date = Field(description="The first member's first shift begins this day at the hand-off time")
    members: list[str] = Field(min_length=1, max_length=50, description="User ids, in rotation order")
    days: list[int] = Field(default_factory=list, description="Only on these weekdays (0 = Monday); empty: every day")
    hours_from: str | None = Field(None, description="Only from this time (HH:MM) ...")
    hours_to: str | None = Field(None, description="... until this time; before hours_from: overnight")

    _times = field_validator("handoff_time", "hours_from", "hours_to", mode="before")(_hhmm)

    @field_validator("handoff_time")
    @classmethod
    def _need_time(cls, value: str | None) -> str:
        if not value:
            raise ValueError("give the hand-off time as HH:MM, e.g. 09:00")
        return value

    @field_validator("members")
    @classmethod
    def _members(cls, value: list[str]) -> list[str]:
        cleaned = [m.strip() for m in value if m and m.strip()]
        if not cleaned:
            raise ValueError("add at least one member")
        return cleaned

    @field_validator("days")
    @classmethod
    def _days(cls, value: list[int]) -> list[int]:
        if any(d < 0 or d > 6 for d in value):
            raise ValueError("weekdays are 0 (Monday) to 6 (Sunday)")
        return sorted(set(value))

    @model_validator(mode="after")
    def _window(self) -> LayerIn:
        if (self.hours_from is None) != (self.hours_to is None):
            raise ValueError("hours_to: give both the start and the end of the daily window, or neither")
        if self.hours_from is not None and self.hours_from == self.hours_to:
            raise ValueError("hours_to: the daily window must not start and end at the same time")
        return self

    def to_layer(self) -> engine.Layer:
        return engine.Layer(
            name=self.name, rotation=self.rotation, handoff_time=parse_hhmm(self.handoff_time),
            starts_on=self.starts_on, members=tuple(self.members), handoff_weekday=self.handoff_weekday,
            days=frozenset(self.days), hours_from=parse_hhmm(self.hours_from) if self.hours_from else None,
            hours_to=parse_hhmm(self.hours_to) if self.hours_to else None)


def _category(value: Any) -> Any:
    if value is None or isinstance(value, str):
        return canonical(value)
    return value


def _timezone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown timezone {value!r}: use an IANA name such as Europe/Berlin") from exc
    return value


class ScheduleIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    company_id: str | None = Field(None, description="The company; null: an MSP-wide team (MSP admins only)")
    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
    category: Annotated[str, StringConstraints(max_length=60)] | None = Field(
        None, description="The skill this rotation covers (Network, Database, ...); null: every category")
    timezone: str = "UTC"
    description: Annotated[str, StringConstraints(max_length=2000)] = ""
    layers: list[LayerIn] = Field(default_factory=list, max_length=10)

    _cat = field_validator("category", mode="before")(_category)
    _tz = field_validator("timezone")(_timezone)


class ScheduleUpdate(BaseModel):
    """PATCH: fields left out stay as they are; ``layers`` replaces the whole list."""

    model_config = ConfigDict(extra="forbid")

    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)] | None = None
    category: Annotated[str, StringConstraints(max_length=60)] | None = None
    timezone: str | None = None
    description: Annotated[str, StringConstraints(max_length=2000)] | None = None
    layers: list[LayerIn] | None = Field(None, max_length=10)

    _cat = field_validator("category", mode="before")(_category)

    @field_validator("timezone")
    @classmethod
    def _tz(cls, value: str | None) -> str | None:
        return None if value is None else _timezone(value)


class OverrideIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    user_id: str
    starts_at: datetime
    ends_at: datetime
    reason: Annotated[str, StringConstraints(strip_whitespace=True, max_length=300)] = ""

    @model_validator(mode="after")
    def _order(self) -> OverrideIn:
        if self.starts_at.tzinfo is None or self.ends_at.tzinfo is None:
            raise ValueError("starts_at: times must carry a timezone offset (e.g. 2026-03-02T09:00:00+01:00)")
        if self.ends_at <= self.starts_at:
            raise ValueError("ends_at: the override must end after it starts")
        return self


class ScheduleOut(BaseModel):
    id: str
    company_id: str | None
    name: str
    category: str | None
    timezone: str
    description: str
    layers: list[dict[str, Any]]
    created_at: datetime
    updated_at: datetime


class OverrideOut(BaseModel):
    id: str
    schedule_id: str
    user_id: str
    user_name: str
    starts_at: datetime
    ends_at: datetime
    reason: str
    created_by: str | None
    created_at: datetime


class ShiftOut(BaseModel):
    user_id: str
    user_name: str
    start: datetime
    end: datetime
    source: str = Field(description="'override' or the layer's name")


class GapOut(BaseModel):
    start: datetime
    end: datetime


class ShiftsOut(BaseModel):
    schedule_id: str
    start: datetime
    end: datetime
    shifts: list[ShiftOut]
    gaps: list[GapOut] = Field(description="Periods with nobody on call: fix them before they page nobody")


class OnCallOut(BaseModel):
    user_id: str
    user_name: str
    schedule_id: str
    schedule_name: str
    category: str | None
    source: str
    until: datetime | None = Field(None, description="When this person's current shift ends")
