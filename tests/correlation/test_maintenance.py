"""Maintenance windows: one-off and weekly (IANA timezone, DST-correct), per company, asset or tag."""

from __future__ import annotations

from datetime import UTC, datetime, time

import pytest
from pydantic import ValidationError

from alertwhisperer.correlation.maintenance import MaintenanceWindow, WeeklyRule, is_in_maintenance, parse_windows


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


SUNDAY_0230_BERLIN = MaintenanceWindow(id="w", weekly=WeeklyRule(days=("sun",), start=time(2, 30), duration_minutes=60,
                                                                  timezone="Europe/Berlin"))


@pytest.mark.parametrize(("at", "inside"), [
    # an ordinary winter Sunday (CET, UTC+1): 01:30-02:30 UTC
    (utc(2024, 3, 24, 1, 29), False), (utc(2024, 3, 24, 1, 30), True), (utc(2024, 3, 24, 2, 29), True),
    (utc(2024, 3, 24, 2, 30), False),
    # spring forward (02:00 -> 03:00 on 31 March): 02:30 does not exist, the window starts at 03:00 CEST = 01:00 UTC
    (utc(2024, 3, 31, 0, 59), False), (utc(2024, 3, 31, 1, 0), True), (utc(2024, 3, 31, 1, 59), True),
    (utc(2024, 3, 31, 2, 0), False),
    # a summer Sunday (CEST, UTC+2): 00:30-01:30 UTC
    (utc(2024, 4, 7, 0, 30), True), (utc(2024, 4, 7, 1, 30), False), (utc(2024, 4, 7, 1, 45), False),
    # fall back (03:00 -> 02:00 on 27 October): 02:30 happens twice, the first one (CEST) counts
    (utc(2024, 10, 27, 0, 30), True), (utc(2024, 10, 27, 1, 29), True), (utc(2024, 10, 27, 1, 30), False),
    # not a Sunday
    (utc(2024, 3, 25, 1, 45), False),
])
def test_weekly_window_follows_local_time_across_dst(at: datetime, inside: bool) -> None:
    assert SUNDAY_0230_BERLIN.active_at(at) is inside


def test_weekly_window_crossing_midnight_and_several_days() -> None:
    window = MaintenanceWindow(id="w", weekly=WeeklyRule(days=("fri", "sat"), start=time(22, 0), duration_minutes=240,
                                                         timezone="America/New_York"))
    assert window.active_at(utc(2024, 7, 13, 5, 0))  # Sat 01:00 EDT, the Friday occurrence
    assert window.active_at(utc(2024, 7, 14, 3, 0))  # Sat 23:00 EDT, the Saturday occurrence
    assert not window.active_at(utc(2024, 7, 15, 3, 0))  # Sun 23:00 EDT
    assert not window.active_at(utc(2024, 7, 12, 1, 0))  # Thu 21:00 EDT


def test_one_off_window_is_half_open() -> None:
    window = MaintenanceWindow(id="w", start=utc(2024, 3, 1, 8), end=utc(2024, 3, 1, 10))
    assert window.active_at(utc(2024, 3, 1, 8)) and window.active_at(utc(2024, 3, 1, 9, 59))
    assert not window.active_at(utc(2024, 3, 1, 10)) and not window.active_at(utc(2024, 3, 1, 7, 59))


def test_scope_company_asset_or_tag() -> None:
    at = utc(2024, 3, 1, 9)
    windows = parse_windows([
        {"id": "db", "assets": ["ACME-DB-01"], "start": "2024-03-01T08:00:00Z", "end": "2024-03-01T10:00:00Z"},
        {"id": "staging", "tags": {"env": "staging"}, "start": "2024-03-01T08:00:00Z", "end": "2024-03-01T10:00:00Z"},
    ])
    found = is_in_maintenance(windows, asset_id="db", name="acme-db-01", tags={}, at=at)
    assert found is not None and found.id == "db"
    assert is_in_maintenance(windows, asset_id="x", name="by-id", tags={}, at=at) is None
    found = is_in_maintenance(windows, asset_id="m", name="mail", tags={"env": "staging"}, at=at)
    assert found is not None and found.id == "staging"
    assert is_in_maintenance(windows, asset_id="m", name="mail", tags={"env": "prod"}, at=at) is None
    everything = MaintenanceWindow(id="all", start=utc(2024, 3, 1, 8), end=utc(2024, 3, 1, 10))
    assert everything.company_wide
    assert is_in_maintenance([everything], asset_id=None, name="discovered", tags={}, at=at) is everything
    assert is_in_maintenance([everything], asset_id=None, name="discovered", tags={}, at=utc(2024, 3, 2)) is None


@pytest.mark.parametrize("bad", [
    {"id": "w"},
    {"id": "w", "start": "2024-03-01T08:00:00Z"},
    {"id": "w", "start": "2024-03-01T08:00:00Z", "end": "2024-03-01T07:00:00Z"},
    {"id": "w", "start": "2024-03-01T08:00:00", "end": "2024-03-01T09:00:00"},
    {"id": "w", "start": "2024-03-01T08:00:00Z", "end": "2024-03-01T09:00:00Z",
     "weekly": {"days": ["mon"], "start": "22:00", "duration_minutes": 60}},
    {"id": "w", "weekly": {"days": ["mon"], "start": "22:00", "duration_minutes": 60, "timezone": "Mars/Olympus"}},
    {"id": "w", "weekly": {"days": [], "start": "22:00", "duration_minutes": 60}},
])
def test_invalid_windows_are_refused(bad: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        MaintenanceWindow.model_validate(bad)
