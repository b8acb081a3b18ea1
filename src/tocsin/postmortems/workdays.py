"""Deadlines in the organisation's calendar: calendar days and working days. Pure functions.

A deadline N days after a moment is the same local wall-clock time, in the organisation's
time zone, N days later; for working days only the working days are counted (a moment on a
non-working day counts from there: 5 working days after a Saturday 10:00 is the Friday after
at 10:00). Local time, not elapsed hours: a deadline across a change of daylight saving time
keeps its wall-clock time. A wall-clock time that does not exist that day (in the gap of a
spring-forward) is read with the offset before the change, as `zoneinfo` does (fold=0).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
MONDAY_TO_FRIDAY = frozenset(range(5))


@dataclass(frozen=True)
class WorkCalendar:
    """The organisation's working week (weekday numbers, Monday 0) and time zone."""

    working_days: frozenset[int] = MONDAY_TO_FRIDAY
    timezone: str = "UTC"

    def __post_init__(self) -> None:
        if not self.working_days or not self.working_days <= set(range(7)):
            raise ValueError("working_days must name at least one weekday, 0 (Monday) to 6")
        ZoneInfo(self.timezone)  # ZoneInfoNotFoundError for an unknown zone

    def is_working_day(self, moment: datetime) -> bool:
        return moment.astimezone(ZoneInfo(self.timezone)).weekday() in self.working_days


def parse_days(text: str) -> frozenset[int]:
    """ "mon-fri", "mon,tue,thu" or "sun-thu" to weekday numbers (Monday 0)."""
    days: set[int] = set()
    for part in text.lower().replace(" ", "").split(","):
        if not part:
            continue
        first, _, last = part.partition("-")
        if first not in DAY_NAMES or (last and last not in DAY_NAMES):
            raise ValueError(f"unknown day in {text!r}; use mon, tue, wed, thu, fri, sat, sun")
        start = DAY_NAMES.index(first)
        end = DAY_NAMES.index(last) if last else start
        # A range may wrap round the week's end: sun-thu.
        days.update((start + i) % 7 for i in range((end - start) % 7 + 1))
    if not days:
        raise ValueError("name at least one working day")
    return frozenset(days)


def _same_local_time(local: datetime, days: int, zone: ZoneInfo) -> datetime:
    moved = local.replace(tzinfo=None) + timedelta(days=days)
    return moved.replace(tzinfo=zone).astimezone(UTC)


def add_calendar_days(start: datetime, days: int, calendar: WorkCalendar) -> datetime:
    """The same local time `days` days after `start` (aware; returned in UTC)."""
    zone = ZoneInfo(calendar.timezone)
    return _same_local_time(_aware(start).astimezone(zone), days, zone)


def add_working_days(start: datetime, days: int, calendar: WorkCalendar) -> datetime:
    """The same local time on the `days`-th working day after `start`'s day (returned in
    UTC). Zero days: `start` itself."""
    if days < 0:
        raise ValueError("days must not be negative")
    zone = ZoneInfo(calendar.timezone)
    local = _aware(start).astimezone(zone)
    offset = 0
    counted = 0
    while counted < days:
        offset += 1
        if (local.weekday() + offset) % 7 in calendar.working_days:
            counted += 1
    return _same_local_time(local, offset, zone)


def _aware(moment: datetime) -> datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("a deadline needs an aware datetime")
    return moment
