"""The on-call schedule engine: pure functions, no database.

A schedule has a timezone, layers and overrides:

- A **layer** rotates its ordered members daily or weekly. Hand-offs happen at ``handoff_time`` wall-clock time
  in the schedule's timezone (weekly: on ``handoff_weekday``, 0 = Monday), so a 09:00 hand-off stays 09:00 local
  across daylight-saving changes (the shift around a change is an hour shorter or longer). The layer starts at
  ``starts_on`` at the hand-off time with its first member; for a weekly layer whose start date is not the hand-off
  weekday, the first member covers the short first stretch and the second takes over at the first hand-off.
  A layer may be restricted to some weekdays (``days``) and/or a daily time window (``hours_from``-``hours_to``,
  local; ``to`` <= ``from`` crosses midnight and belongs to the day it starts on).
- **Layers stack**: a later layer in the list overrides the earlier ones wherever it has someone on call (layer 2
  covers the weekend on top of the weekday rotation of layer 1).
- **Overrides** (someone covers a period) win over every layer; the one that starts latest wins if they overlap.

Functions: ``on_call_at`` (who and why), ``shifts`` (the merged timeline in a range), ``gaps`` (nobody on call),
``to_ical`` (VEVENT per shift).
"""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

import icalendar

Rotation = Literal["daily", "weekly"]
OVERRIDE = "override"


@dataclass(frozen=True)
class Layer:
    name: str
    rotation: Rotation
    handoff_time: time
    starts_on: date
    members: tuple[str, ...]
    handoff_weekday: int = 0  # weekly only; 0 = Monday
    days: frozenset[int] = frozenset()  # restrict to these weekdays (0 = Monday); empty: every day
    hours_from: time | None = None  # restrict to this daily window (both set, or neither)
    hours_to: time | None = None


@dataclass(frozen=True)
class Override:
    user_id: str
    starts_at: datetime
    ends_at: datetime
    id: str = ""


@dataclass(frozen=True)
class Schedule:
    timezone: str
    layers: tuple[Layer, ...] = ()  # later layers override earlier ones
    overrides: tuple[Override, ...] = ()

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


@dataclass(frozen=True)
class OnCallAt:
    """Who is on call at one instant, and why: ``source`` is ``"override"`` or the layer's name."""

    user_id: str
    source: str
    layer_index: int | None = None
    override_id: str | None = None


@dataclass(frozen=True)
class Shift:
    user_id: str
    start: datetime
    end: datetime
    source: str  # "override" or the layer's name

    @property
    def uid(self) -> str:
        """Stable per shift: the same shift gets the same iCal UID in every export."""
        raw = f"{self.user_id}|{self.start.astimezone(UTC).isoformat()}|{self.source}"
        return hashlib.sha256(raw.encode()).hexdigest()[:24]


@dataclass(frozen=True)
class Gap:
    start: datetime
    end: datetime

    @property
    def hours(self) -> float:
        return (self.end - self.start).total_seconds() / 3600


# --- one layer -------------------------------------------------------------------------------------------------
def _at(day: date, at: time, zone: ZoneInfo) -> datetime:
    """A local wall-clock time as a UTC instant (a time skipped by a DST change maps to just after it)."""
    return datetime.combine(day, at, tzinfo=zone).astimezone(UTC)


def _first_handoff(layer: Layer) -> date:
    """The first weekly hand-off date on or after the layer's start."""
    return layer.starts_on + timedelta(days=(layer.handoff_weekday - layer.starts_on.weekday()) % 7)


def _shift_day(layer: Layer, t: datetime, zone: ZoneInfo) -> date | None:
    """The local date of the hand-off that began the shift covering ``t`` (None: before the layer starts)."""
    if t < _at(layer.starts_on, layer.handoff_time, zone):
        return None
    day = t.astimezone(zone).date()
    if _at(day, layer.handoff_time, zone) > t:
        day -= timedelta(days=1)
    if layer.rotation == "weekly":
        day -= timedelta(days=(day.weekday() - layer.handoff_weekday) % 7)
        day = max(day, layer.starts_on)
    return day


def _rotation_member(layer: Layer, t: datetime, zone: ZoneInfo) -> str | None:
    if not layer.members:
        return None
    day = _shift_day(layer, t, zone)
    if day is None:
        return None
    if layer.rotation == "daily":
        n = (day - layer.starts_on).days
    else:
        first = _first_handoff(layer)
        n = 0 if day < first else (day - first).days // 7 + (0 if first == layer.starts_on else 1)
    return layer.members[n % len(layer.members)]


def _restricted_active(layer: Layer, t: datetime, zone: ZoneInfo) -> bool:
    local = t.astimezone(zone)
    if layer.hours_from is None or layer.hours_to is None:
        return not layer.days or local.weekday() in layer.days
    day = local.date()
    now = local.time().replace(tzinfo=None)
    if layer.hours_from < layer.hours_to:
        inside = layer.hours_from <= now < layer.hours_to
    elif now >= layer.hours_from:
        inside = True
    elif now < layer.hours_to:
        inside, day = True, day - timedelta(days=1)  # the window started yesterday evening
    else:
        inside = False
    return inside and (not layer.days or day.weekday() in layer.days)


def layer_member_at(layer: Layer, t: datetime, zone: ZoneInfo) -> str | None:
    """The layer's member on call at ``t`` (None outside its restriction, before its start, or with no members)."""
    if not _restricted_active(layer, t, zone):
        return None
    return _rotation_member(layer, t, zone)


# --- the whole schedule ----------------------------------------------------------------------------------------
def on_call_at(schedule: Schedule, t: datetime) -> OnCallAt | None:
    """Who is on call at the instant ``t``: the latest-starting override covering it, else the highest layer
    with someone on call, else nobody."""
    covering = [o for o in schedule.overrides if o.starts_at <= t < o.ends_at]
    if covering:
        best = max(covering, key=lambda o: (o.starts_at, o.id))
        return OnCallAt(best.user_id, OVERRIDE, override_id=best.id or None)
    zone = schedule.zone
    for index in range(len(schedule.layers) - 1, -1, -1):
        layer = schedule.layers[index]
        member = layer_member_at(layer, t, zone)
        if member is not None:
            return OnCallAt(member, layer.name, layer_index=index)
    return None


def _layer_points(layer: Layer, start: datetime, end: datetime, zone: ZoneInfo) -> Iterable[datetime]:
    """Every instant in [start, end) where the layer's answer may change."""
    first = start.astimezone(zone).date() - timedelta(days=1)
    last = end.astimezone(zone).date() + timedelta(days=1)
    day = first
    while day <= last:
        yield _at(day, layer.handoff_time, zone)  # daily hand-offs (weekly ones are a subset)
        yield _at(day, time(0, 0), zone)
        if layer.hours_from is not None and layer.hours_to is not None:
            yield _at(day, layer.hours_from, zone)
            yield _at(day, layer.hours_to, zone)
        day += timedelta(days=1)


def _points(schedule: Schedule, start: datetime, end: datetime) -> list[datetime]:
    zone = schedule.zone
    points = {start, end}
    for layer in schedule.layers:
        points.update(_layer_points(layer, start, end, zone))
    for o in schedule.overrides:
        points.update((o.starts_at, o.ends_at))
    return sorted(p for p in points if start <= p <= end)


def _check_range(start: datetime, end: datetime) -> None:
    if start.tzinfo is None or end.tzinfo is None:
        raise ValueError("start and end must carry a timezone")


def shifts(schedule: Schedule, start: datetime, end: datetime) -> list[Shift]:
    """The merged on-call timeline in [start, end): consecutive time with the same person for the same reason
    is one shift. Shifts are clipped to the range."""
    _check_range(start, end)
    out: list[Shift] = []
    points = _points(schedule, start, end)
    for a, b in itertools.pairwise(points):
        if a >= b:
            continue
        who = on_call_at(schedule, a)
        if who is None:
            continue
        if out and out[-1].end == a and out[-1].user_id == who.user_id and out[-1].source == who.source:
            out[-1] = Shift(who.user_id, out[-1].start, b, who.source)
        else:
            out.append(Shift(who.user_id, a, b, who.source))
    return [Shift(s.user_id, s.start.astimezone(UTC), s.end.astimezone(UTC), s.source) for s in out]


def gaps(schedule: Schedule, start: datetime, end: datetime, shift_list: Sequence[Shift] | None = None
         ) -> list[Gap]:
    """The intervals in [start, end) with nobody on call."""
    _check_range(start, end)
    covered = list(shift_list) if shift_list is not None else shifts(schedule, start, end)
    out: list[Gap] = []
    cursor = start.astimezone(UTC)
    for s in covered:
        if s.start > cursor:
            out.append(Gap(cursor, s.start))
        cursor = max(cursor, s.end)
    if cursor < end:
        out.append(Gap(cursor, end.astimezone(UTC)))
    return out


def current_shift(schedule: Schedule, t: datetime, *, horizon: timedelta = timedelta(days=15)) -> Shift | None:
    """The (merged) shift covering ``t``, with its real start and end within ``horizon`` either side."""
    for s in shifts(schedule, t - horizon, t + horizon):
        if s.start <= t < s.end:
            return s
    return None


def to_ical(schedule: Schedule, shift_list: Sequence[Shift], *, schedule_id: str, schedule_name: str,
            names: Mapping[str, str], now: datetime) -> bytes:
    """An iCalendar with one VEVENT per shift ("On call: <name>"); UIDs are stable per shift."""
    cal = icalendar.Calendar()
    cal.add("prodid", "-//Alert Whisperer//On-call schedule//EN")
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("x-wr-calname", f"On call: {schedule_name}")
    cal.add("x-wr-timezone", schedule.timezone)
    for s in shift_list:
        name = names.get(s.user_id, s.user_id)
        event = icalendar.Event()
        event.add("uid", f"{schedule_id}-{s.uid}@alertwhisperer")
        event.add("summary", f"On call: {name}")
        event.add("dtstart", s.start.astimezone(UTC))
        event.add("dtend", s.end.astimezone(UTC))
        event.add("dtstamp", now.astimezone(UTC))
        why = "override" if s.source == OVERRIDE else f"layer {s.source}"
        event.add("description", f"{name} is on call for {schedule_name} ({why}).")
        event.add("categories", ["On call"])
        cal.add_component(event)
    data: bytes = cal.to_ical()
    return data


@dataclass
class Coverage:
    """A summary for list pages: how much of a range is covered and the gaps."""

    start: datetime
    end: datetime
    gaps: list[Gap] = field(default_factory=list)

    @property
    def gap_hours(self) -> float:
        return sum(g.hours for g in self.gaps)


def coverage(schedule: Schedule, start: datetime, end: datetime) -> Coverage:
    return Coverage(start, end, gaps(schedule, start, end))
