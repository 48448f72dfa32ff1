"""Maintenance windows: alerts on an asset inside one are stored as suppressed, not turned into incidents.

A window covers the whole company, listed assets (by id or name, case-insensitive) and/or assets carrying a
tag (``{"env": "staging"}``; any one listed tag matches). It is either one-off (``start``/``end``, aware
datetimes) or weekly (``weekly``: days, local start time, duration, IANA timezone).

Weekly windows are DST-correct: the start is the local wall-clock time on each listed day in the window's
zone and the duration is elapsed time. A start that falls in a spring-forward gap begins at the instant the
clock jumps to (02:30 on the day clocks go 02:00 -> 03:00 starts at 03:00 local); an ambiguous start on the
fall-back day uses the first occurrence (``fold=0``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

Day = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
DAYS: tuple[Day, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class WeeklyRule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    days: tuple[Day, ...] = Field(min_length=1)
    start: time = Field(description="local wall-clock start, e.g. 22:00")
    duration_minutes: int = Field(ge=1, le=7 * 24 * 60)
    timezone: str = "UTC"

    @field_validator("timezone")
    @classmethod
    def _tz(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown timezone {value!r} (use an IANA name such as Europe/Berlin)") from exc
        return value

    @field_validator("start")
    @classmethod
    def _naive(cls, value: time) -> time:
        return value.replace(tzinfo=None)

    def occurrence_containing(self, at: datetime) -> tuple[datetime, datetime] | None:
        """The (start, end) in UTC of the occurrence that contains ``at``, if any."""
        zone = ZoneInfo(self.timezone)
        local_day = at.astimezone(zone).date()
        span_days = (self.duration_minutes + 24 * 60 - 1) // (24 * 60) + 1
        for back in range(span_days + 1):
            day = local_day - timedelta(days=back)
            if DAYS[day.weekday()] not in self.days:
                continue
            start = local_start(day, self.start, zone)
            end = start + timedelta(minutes=self.duration_minutes)
            if start <= at < end:
                return start, end
        return None


def local_start(day: date, at: time, zone: ZoneInfo) -> datetime:
    """The UTC instant of local wall time ``at`` on ``day`` (gap -> the instant after the jump; fold=0)."""
    naive = datetime.combine(day, at)
    aware = naive.replace(tzinfo=zone, fold=0)
    utc = aware.astimezone(UTC)
    if utc.astimezone(zone).replace(tzinfo=None) != naive:  # nonexistent local time (spring forward)
        later = naive.replace(tzinfo=zone, fold=1).astimezone(UTC)
        earlier = utc
        # the jump happens between the two interpretations; start at the first instant after it
        instant = min(earlier, later)
        while instant.astimezone(zone).replace(tzinfo=None) < naive:
            instant += timedelta(minutes=1)
        jump = instant.astimezone(zone)
        return jump.replace(second=0, microsecond=0).astimezone(UTC)
    return utc


class MaintenanceWindow(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(min_length=1, max_length=100)
    name: str = Field("", max_length=200)
    assets: tuple[str, ...] = Field((), description="asset ids or names; empty with no tags = whole company")
    tags: Mapping[str, str] = Field(default_factory=dict, description="assets with any of these tags")
    start: datetime | None = None
    end: datetime | None = None
    weekly: WeeklyRule | None = None

    @model_validator(mode="after")
    def _shape(self) -> MaintenanceWindow:
        one_off = self.start is not None or self.end is not None
        if one_off == (self.weekly is not None):
            raise ValueError("a maintenance window is either one-off (start and end) or weekly, not both")
        if one_off:
            if self.start is None or self.end is None:
                raise ValueError("a one-off window needs both start and end")
            if self.start.tzinfo is None or self.end.tzinfo is None:
                raise ValueError("start and end must carry a timezone offset")
            if self.end <= self.start:
                raise ValueError("end must be after start")
        return self

    @property
    def company_wide(self) -> bool:
        return not self.assets and not self.tags

    def covers_asset(self, *, asset_id: str | None, name: str, tags: Mapping[str, str]) -> bool:
        if self.company_wide:
            return True
        wanted = {a.lower() for a in self.assets}
        if (asset_id and asset_id.lower() in wanted) or name.lower() in wanted:
            return True
        return any(tags.get(k) == v for k, v in self.tags.items())

    def active_at(self, at: datetime) -> bool:
        if self.weekly is not None:
            return self.weekly.occurrence_containing(at) is not None
        assert self.start is not None and self.end is not None
        return self.start <= at < self.end


def is_in_maintenance(windows: Iterable[MaintenanceWindow], *, asset_id: str | None, name: str,
                      tags: Mapping[str, str], at: datetime) -> MaintenanceWindow | None:
    """The first window (in the given order) that covers the asset at ``at``, or None."""
    for window in windows:
        if window.covers_asset(asset_id=asset_id, name=name, tags=tags) and window.active_at(at):
            return window
    return None


def parse_windows(raw: Sequence[Mapping[str, object]]) -> tuple[MaintenanceWindow, ...]:
    """Validate stored window dicts (e.g. ``CompanyPolicy.maintenance_windows``)."""
    return tuple(MaintenanceWindow.model_validate(dict(item)) for item in raw)
