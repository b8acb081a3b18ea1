"""Deadlines in the organisation's calendar: working days across weekends, other working
weeks and time zones (with daylight saving time), as properties and as worked examples."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tocsin.postmortems.workdays import (
    WorkCalendar,
    add_calendar_days,
    add_working_days,
    parse_days,
)

ZONES = ["UTC", "Europe/Paris", "America/New_York", "Asia/Kolkata", "Australia/Lord_Howe"]
PARIS = WorkCalendar(timezone="Europe/Paris")


def _utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


@pytest.mark.parametrize(
    ("start", "days", "expected"),
    [
        # Friday 10:00 + 5 working days: the next Friday 10:00 (the weekend is skipped).
        (_utc(2026, 12, 4, 10), 5, _utc(2026, 12, 11, 10)),
        # Saturday + 1: Monday; Sunday + 5: the Friday after.
        (_utc(2026, 12, 5, 10), 1, _utc(2026, 12, 7, 10)),
        (_utc(2026, 12, 6, 23), 5, _utc(2026, 12, 11, 23)),
        # Wednesday + 3: Monday.
        (_utc(2026, 12, 9, 8, 30), 3, _utc(2026, 12, 14, 8, 30)),
        (_utc(2026, 12, 9, 8, 30), 0, _utc(2026, 12, 9, 8, 30)),
    ],
)
def test_working_days_skip_the_weekend(start: datetime, days: int, expected: datetime) -> None:
    assert add_working_days(start, days, WorkCalendar()) == expected


def test_the_weekday_is_the_organisations_not_utcs() -> None:
    """Friday 23:30 UTC is already Saturday in Kolkata: one working day later is Monday
    there, at the same local time (05:00), which is Sunday 23:30 UTC."""
    kolkata = WorkCalendar(timezone="Asia/Kolkata")
    assert add_working_days(_utc(2026, 12, 4, 23, 30), 1, kolkata) == _utc(2026, 12, 6, 23, 30)
    # In UTC it counts from Friday: the next working day is Monday.
    assert add_working_days(_utc(2026, 12, 4, 23, 30), 1, WorkCalendar()) == _utc(
        2026, 12, 7, 23, 30
    )


def test_a_sunday_to_thursday_week() -> None:
    week = WorkCalendar(parse_days("sun-thu"), "Asia/Jerusalem")
    # Thursday 12:00 local + 1 working day: Sunday 12:00 local.
    thursday = datetime(2026, 12, 3, 12, tzinfo=ZoneInfo("Asia/Jerusalem"))
    sunday = add_working_days(thursday, 1, week).astimezone(ZoneInfo("Asia/Jerusalem"))
    assert (sunday.weekday(), sunday.hour) == (6, 12)


def test_deadlines_keep_local_time_across_daylight_saving() -> None:
    """Paris leaves summer time on Sunday 25 October 2026: Friday 23 at 10:00 local + 1
    working day is Monday 26 at 10:00 local, 73 hours later (not 72)."""
    friday = datetime(2026, 10, 23, 10, tzinfo=ZoneInfo("Europe/Paris"))
    monday = add_working_days(friday, 1, PARIS)
    assert monday.astimezone(ZoneInfo("Europe/Paris")).replace(tzinfo=None) == datetime(
        2026, 10, 26, 10
    )
    assert monday - friday == timedelta(hours=73)
    assert add_calendar_days(friday, 3, PARIS) - friday == timedelta(hours=73)


def test_parse_days() -> None:
    assert parse_days("mon-fri") == frozenset({0, 1, 2, 3, 4})
    assert parse_days("sun-thu") == frozenset({6, 0, 1, 2, 3})
    assert parse_days("mon,wed, fri") == frozenset({0, 2, 4})
    with pytest.raises(ValueError, match="unknown day"):
        parse_days("monday")


moments = st.datetimes(
    min_value=datetime(2020, 1, 1), max_value=datetime(2035, 12, 31), timezones=st.just(UTC)
)
weeks = st.frozensets(st.integers(0, 6), min_size=1)


@settings(max_examples=400, deadline=None)
@given(moments, st.integers(0, 30), weeks, st.sampled_from(ZONES))
def test_working_day_deadlines(start: datetime, days: int, week: frozenset[int], zone: str) -> None:
    """The deadline is on a working day (unless no days were asked), at the start's local
    wall-clock time, after exactly `days` working days, and never before the start."""
    calendar = WorkCalendar(week, zone)
    tz = ZoneInfo(zone)
    deadline = add_working_days(start, days, calendar)
    local_start, local_end = start.astimezone(tz), deadline.astimezone(tz)
    assert deadline >= start
    if days:
        assert local_end.weekday() in week
    # Same wall-clock time, unless that time did not exist that day (in a DST gap a wall time
    # does not survive the round trip through UTC): then it is that time read with the offset
    # before the change (02:00 becomes 03:00 when clocks go from 02:00 to 03:00).
    wanted = datetime.combine(local_end.date(), local_start.time().replace(tzinfo=None), tz)
    if wanted.astimezone(UTC).astimezone(tz).replace(tzinfo=None) == wanted.replace(tzinfo=None):
        assert local_end.time() == local_start.time()
    else:
        assert deadline == wanted.astimezone(UTC)
    counted = sum(
        1
        for n in range(1, (local_end.date() - local_start.date()).days + 1)
        if (local_start.date() + timedelta(days=n)).weekday() in week
    )
    assert counted == days


@settings(max_examples=200, deadline=None)
@given(moments, st.integers(0, 30), st.sampled_from(ZONES))
def test_calendar_day_deadlines(start: datetime, days: int, zone: str) -> None:
    tz = ZoneInfo(zone)
    deadline = add_calendar_days(start, days, WorkCalendar(timezone=zone))
    assert (deadline.astimezone(tz).date() - start.astimezone(tz).date()).days == days
    # Within the hours a daylight saving change moves the clock.
    assert abs(deadline - start - timedelta(days=days)) <= timedelta(hours=1)
