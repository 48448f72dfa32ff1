"""The pure schedule engine: rotations, hand-offs across DST, layers, restrictions, overrides, gaps, iCal."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import icalendar

from alertwhisperer.incidents.schedules import (
    Layer,
    Override,
    Schedule,
    Shift,
    current_shift,
    gaps,
    on_call_at,
    shifts,
    to_ical,
)

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")


def local(y: int, m: int, d: int, hh: int = 0, mm: int = 0, zone: ZoneInfo = BERLIN) -> datetime:
    return datetime(y, m, d, hh, mm, tzinfo=zone)


def weekly(members: tuple[str, ...] = ("ana", "ben", "cem"), **kw: object) -> Layer:
    fields: dict[str, object] = {"name": "Weekly", "rotation": "weekly", "handoff_time": time(9),
                                 "starts_on": date(2026, 3, 2), "members": members, "handoff_weekday": 0}
    fields.update(kw)
    return Layer(**fields)  # type: ignore[arg-type]


def test_weekly_rotation_hands_off_at_local_time_and_wraps() -> None:
    s = Schedule("Europe/Berlin", (weekly(),))
    assert on_call_at(s, local(2026, 3, 2, 8, 59)) is None  # before the layer starts
    first = on_call_at(s, local(2026, 3, 2, 9))
    assert first is not None and (first.user_id, first.source) == ("ana", "Weekly")
    assert on_call_at(s, local(2026, 3, 9, 8, 59)).user_id == "ana"  # type: ignore[union-attr]
    assert on_call_at(s, local(2026, 3, 9, 9)).user_id == "ben"  # type: ignore[union-attr]
    assert on_call_at(s, local(2026, 3, 16, 9)).user_id == "cem"  # type: ignore[union-attr]
    assert on_call_at(s, local(2026, 3, 23, 9)).user_id == "ana"  # type: ignore[union-attr]  # wraps around


def test_weekly_layer_starting_mid_week_gives_the_first_member_a_short_first_stretch() -> None:
    s = Schedule("UTC", (weekly(starts_on=date(2026, 3, 4)),))  # a Wednesday; hand-offs on Mondays
    assert on_call_at(s, datetime(2026, 3, 4, 9, tzinfo=UTC)).user_id == "ana"  # type: ignore[union-attr]
    assert on_call_at(s, datetime(2026, 3, 9, 8, tzinfo=UTC)).user_id == "ana"  # type: ignore[union-attr]
    assert on_call_at(s, datetime(2026, 3, 9, 9, tzinfo=UTC)).user_id == "ben"  # type: ignore[union-attr]


def test_daily_handoff_stays_at_nine_local_across_both_dst_changes() -> None:
    layer = Layer("Daily", "daily", time(9), date(2026, 3, 27), ("ana", "ben"))
    s = Schedule("Europe/Berlin", (layer,))
    found = shifts(s, local(2026, 3, 27, 9), local(2026, 3, 31, 9))
    # every hand-off is at 09:00 Berlin time: 08:00 UTC before 29 March, 07:00 UTC after
    assert [x.start.astimezone(BERLIN).hour for x in found] == [9, 9, 9, 9]
    assert [x.start.astimezone(UTC).hour for x in found] == [8, 8, 7, 7]
    assert [x.user_id for x in found] == ["ana", "ben", "ana", "ben"]
    assert found[1].end - found[1].start == timedelta(hours=23)  # the night the clocks go forward
    autumn = Schedule("America/New_York", (Layer("Daily", "daily", time(9), date(2026, 10, 30), ("x", "y")),))
    fall = shifts(autumn, local(2026, 10, 31, 9, zone=NEW_YORK), local(2026, 11, 2, 9, zone=NEW_YORK))
    assert [x.start.astimezone(NEW_YORK).hour for x in fall] == [9, 9]
    assert fall[0].end - fall[0].start == timedelta(hours=25)  # 1 November: clocks go back


def test_higher_layer_overrides_lower_where_it_has_someone_and_overrides_win_over_all() -> None:
    weekend = Layer("Weekend", "daily", time(9), date(2026, 3, 1), ("wes",), days=frozenset({5, 6}))
    sick = Override("ovi", local(2026, 3, 7, 12), local(2026, 3, 7, 18), "o1")
    s = Schedule("Europe/Berlin", (weekly(), weekend), (sick,))
    assert on_call_at(s, local(2026, 3, 6, 23, 59)).user_id == "ana"  # type: ignore[union-attr]  # Friday
    sat = on_call_at(s, local(2026, 3, 7, 0, 0))
    assert sat is not None and (sat.user_id, sat.source, sat.layer_index) == ("wes", "Weekend", 1)
    over = on_call_at(s, local(2026, 3, 7, 12))
    assert over is not None and (over.user_id, over.source, over.override_id) == ("ovi", "override", "o1")
    assert on_call_at(s, local(2026, 3, 7, 18)).user_id == "wes"  # type: ignore[union-attr]
    assert on_call_at(s, local(2026, 3, 9, 0)).user_id == "ana"  # type: ignore[union-attr]  # Monday night
    timeline = shifts(s, local(2026, 3, 6), local(2026, 3, 9, 12))
    assert [(x.user_id, x.source) for x in timeline] == [("ana", "Weekly"), ("wes", "Weekend"), ("ovi", "override"),
                                                          ("wes", "Weekend"), ("ana", "Weekly"), ("ben", "Weekly")]
    assert timeline[1].start == local(2026, 3, 7) and timeline[3].end == local(2026, 3, 9)


def test_overlapping_overrides_the_later_start_wins() -> None:
    a = Override("first", local(2026, 3, 3, 8), local(2026, 3, 3, 20), "a")
    b = Override("second", local(2026, 3, 3, 12), local(2026, 3, 3, 14), "b")
    s = Schedule("Europe/Berlin", (weekly(),), (a, b))
    assert [x.user_id for x in shifts(s, local(2026, 3, 3, 7), local(2026, 3, 3, 22))] == \
        ["ana", "first", "second", "first", "ana"]


def test_hours_restriction_overnight_belongs_to_the_day_it_starts() -> None:
    nights = Layer("Nights", "daily", time(18), date(2026, 3, 2), ("nia", "noa"), days=frozenset({0, 1, 2, 3, 4}),
                   hours_from=time(18), hours_to=time(8))
    s = Schedule("Europe/Berlin", (weekly(), nights))
    assert on_call_at(s, local(2026, 3, 2, 17, 59)).user_id == "ana"  # type: ignore[union-attr]
    assert on_call_at(s, local(2026, 3, 2, 18)).user_id == "nia"  # type: ignore[union-attr]
    assert on_call_at(s, local(2026, 3, 3, 7, 59)).user_id == "nia"  # type: ignore[union-attr]  # still Monday's
    assert on_call_at(s, local(2026, 3, 3, 8)).user_id == "ana"  # type: ignore[union-attr]
    assert on_call_at(s, local(2026, 3, 3, 18)).user_id == "noa"  # type: ignore[union-attr]
    assert on_call_at(s, local(2026, 3, 7, 3)).user_id == "nia"  # type: ignore[union-attr]  # Friday night
    assert on_call_at(s, local(2026, 3, 7, 19)).user_id == "ana"  # type: ignore[union-attr]  # not on Saturday


def test_gaps_are_the_uncovered_intervals() -> None:
    office = Layer("Office hours", "daily", time(9), date(2026, 3, 2), ("ana",), days=frozenset({0, 1, 2, 3, 4}),
                   hours_from=time(9), hours_to=time(17))
    s = Schedule("Europe/Berlin", (office,))
    found = gaps(s, local(2026, 3, 2), local(2026, 3, 4))
    assert [(g.start.astimezone(BERLIN).strftime("%d %H:%M"), g.end.astimezone(BERLIN).strftime("%d %H:%M"))
            for g in found] == [("02 00:00", "02 09:00"), ("02 17:00", "03 09:00"), ("03 17:00", "04 00:00")]
    assert gaps(Schedule("UTC"), local(2026, 3, 2), local(2026, 3, 3))[0].hours == 24
    full = Schedule("Europe/Berlin", (weekly(starts_on=date(2026, 2, 23)),))
    assert gaps(full, local(2026, 3, 2), local(2026, 3, 20)) == []


def test_empty_layers_and_current_shift() -> None:
    s = Schedule("Europe/Berlin", (weekly(members=()), weekly()))
    shift = current_shift(s, local(2026, 3, 4, 12))
    assert shift == Shift("ana", local(2026, 3, 2, 9).astimezone(UTC), local(2026, 3, 9, 9).astimezone(UTC), "Weekly")


def test_ical_export_parses_back_with_stable_uids() -> None:
    s = Schedule("Europe/Berlin", (weekly(),), (Override("ovi", local(2026, 3, 4, 12), local(2026, 3, 4, 18)),))
    found = shifts(s, local(2026, 3, 2, 9), local(2026, 3, 16, 9))
    now = datetime(2026, 3, 2, 9, tzinfo=UTC)
    names = {"ana": "Ana Alves", "ben": "Ben Berg", "ovi": "Ovi Ortiz"}
    data = to_ical(s, found, schedule_id="sched1", schedule_name="Primary", names=names, now=now)
    cal = icalendar.Calendar.from_ical(data)
    events = list(cal.walk("VEVENT"))
    assert [str(e["summary"]) for e in events] == ["On call: Ana Alves", "On call: Ovi Ortiz", "On call: Ana Alves",
                                                   "On call: Ben Berg"]
    assert events[1].decoded("dtstart") == local(2026, 3, 4, 12)
    assert events[1].decoded("dtend") == local(2026, 3, 4, 18)
    uids = [str(e["uid"]) for e in events]
    assert len(set(uids)) == 4 and all(u.startswith("sched1-") for u in uids)
    again = icalendar.Calendar.from_ical(to_ical(s, found, schedule_id="sched1", schedule_name="Primary",
                                                 names=names, now=now + timedelta(days=1)))
    assert [str(e["uid"]) for e in again.walk("VEVENT")] == uids  # the same shifts keep their UIDs
