"""The schedule page's calendar: days in the schedule's timezone, each with its shifts and gaps as segments of a
24-hour bar (positions in percent) and as a list; one colour per person."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from alertwhisperer.incidents.schedules import OVERRIDE, Gap, Shift

TONES = 8


@dataclass(frozen=True)
class Segment:
    name: str  # the person, or "" for a gap
    user_id: str | None
    start: str  # local HH:MM
    end: str  # local HH:MM ("24:00" at midnight)
    left: float  # percent of the day
    width: float
    tone: int  # -1: gap
    source: str
    title: str

    @property
    def is_gap(self) -> bool:
        return self.user_id is None


@dataclass
class Day:
    day: date
    is_today: bool
    segments: list[Segment] = field(default_factory=list)

    @property
    def has_gap(self) -> bool:
        return any(s.is_gap for s in self.segments)


def tones(user_ids: Sequence[str]) -> dict[str, int]:
    """A stable colour per person, in order of first appearance."""
    out: dict[str, int] = {}
    for uid in user_ids:
        if uid not in out:
            out[uid] = len(out) % TONES
    return out


def build(shifts: Sequence[Shift], gaps: Sequence[Gap], *, first: date, days: int, timezone: str,
          names: Mapping[str, str], colours: Mapping[str, int], today: date) -> list[Day]:
    """One ``Day`` per local date from ``first``, each with the pieces of shifts and gaps falling on it."""
    zone = ZoneInfo(timezone)
    pieces: list[tuple[datetime, datetime, str | None, str]] = [(s.start, s.end, s.user_id, s.source)
                                                                 for s in shifts]
    pieces += [(g.start, g.end, None, "") for g in gaps]
    pieces.sort(key=lambda p: p[0])
    out: list[Day] = []
    for i in range(days):
        day = first + timedelta(days=i)
        start = datetime.combine(day, datetime.min.time(), tzinfo=zone)
        end = datetime.combine(day + timedelta(days=1), datetime.min.time(), tzinfo=zone)
        span = (end.astimezone(UTC) - start.astimezone(UTC)).total_seconds()  # 23 or 25 h on DST days
        entry = Day(day, day == today)
        for a, b, uid, source in pieces:
            lo, hi = max(a, start), min(b, end)
            if lo >= hi:
                continue
            local_lo, local_hi = lo.astimezone(zone), hi.astimezone(zone)
            left = (lo - start).total_seconds() / span * 100
            width = (hi - lo).total_seconds() / span * 100
            name = names.get(uid, "Unknown user") if uid else ""
            from_ = local_lo.strftime("%H:%M")
            to = "24:00" if hi >= end else local_hi.strftime("%H:%M")
            why = "override" if source == OVERRIDE else (f"layer {source}" if source else "")
            title = f"{name} {from_}-{to} ({why})" if uid else f"Nobody on call {from_}-{to}"
            entry.segments.append(Segment(name, uid, from_, to, round(left, 3), round(width, 3),
                                          colours.get(uid, 0) if uid else -1, source, title))
        out.append(entry)
    return out
