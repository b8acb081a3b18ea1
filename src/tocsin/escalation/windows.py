"""Weekly time windows in a time zone: a level's "only on weekdays 09:00-17:00" and a service's
support hours.

A window is a set of weekdays and a daily start and end in local wall-clock time. An end at or
before the start crosses midnight (22:00-06:00: nights), and belongs to the day it starts on.
Local times come from zoneinfo, so a window stays 09:00-17:00 local across daylight-saving
changes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from tocsin import validation as v
from tocsin.errors import ValidationFailed

DAY_NAMES = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
# How days are written in stored windows, the API and the configuration file (as schedules do).
DAY_KEYS = tuple(name.lower() for name in DAY_NAMES)
HHMM = re.compile(r"^([01][0-9]|2[0-3]):([0-5][0-9])$")


def _days(value: object, field: str) -> tuple[int, ...]:
    """Weekdays as names ("mon", "Tuesday") or numbers (0 = Monday), sorted, each once."""
    if not isinstance(value, list | tuple) or not value:
        raise ValidationFailed(f"{field} must list at least one weekday (mon ... sun)", field=field)
    found: set[int] = set()
    for day in value:
        if isinstance(day, int) and not isinstance(day, bool) and 0 <= day <= 6:
            found.add(day)
        elif isinstance(day, str) and day.strip().lower()[:3] in DAY_KEYS:
            found.add(DAY_KEYS.index(day.strip().lower()[:3]))
        else:
            raise ValidationFailed(
                f"{field}: {day!r} is not a weekday (mon, tue, ..., sun)", field=field
            )
    return tuple(sorted(found))


def _clock(value: object, field: str) -> time:
    text = v.text(value, field, max_len=5, required=True)
    match = HHMM.match(text)
    if not match:
        raise ValidationFailed(
            f"{field} must be a time of day as HH:MM (got {text!r})", field=field
        )
    return time(int(match.group(1)), int(match.group(2)))


@dataclass(frozen=True)
class Window:
    days: tuple[int, ...]  # 0 = Monday
    start: time
    end: time
    timezone: str

    @classmethod
    def parse(cls, data: object, field: str) -> Window:
        """Validate `{"days": ["mon", ...], "start": "HH:MM", "end": "HH:MM", "timezone": "..."}`
        (days may also be numbers, 0 for Monday to 6 for Sunday)."""
        if not isinstance(data, dict):
            raise ValidationFailed(f"{field} must be an object with days, start, end, timezone")
        days = _days(data.get("days"), f"{field}.days")
        start = _clock(data.get("start"), f"{field}.start")
        end = _clock(data.get("end"), f"{field}.end")
        zone = v.timezone(data.get("timezone") or "UTC", f"{field}.timezone")
        return cls(days, start, end, zone)

    def as_dict(self) -> dict[str, Any]:
        return {
            "days": [DAY_KEYS[d] for d in self.days],
            "start": self.start.strftime("%H:%M"),
            "end": self.end.strftime("%H:%M"),
            "timezone": self.timezone,
        }

    def describe(self) -> str:
        """'Mon-Fri 09:00-17:00 Europe/London'."""
        return f"{_days_text(self.days)} {self.start:%H:%M}-{self.end:%H:%M} {self.timezone}"

    def _spans(self, day: date) -> tuple[datetime, datetime]:
        """The window that opens on `day` (local), as aware datetimes in the window's zone."""
        zone = ZoneInfo(self.timezone)
        opens = datetime.combine(day, self.start, zone)
        closing_day = day if self.end > self.start else day + timedelta(days=1)
        closes = datetime.combine(closing_day, self.end, zone)
        return opens, closes

    def contains(self, at: datetime) -> bool:
        """True if `at` (aware) falls inside the window."""
        local = at.astimezone(ZoneInfo(self.timezone))
        # A window crossing midnight may have opened the day before.
        for day in (local.date() - timedelta(days=1), local.date()):
            if day.weekday() not in self.days:
                continue
            opens, closes = self._spans(day)
            if opens <= at < closes:
                return True
        return False

    def next_start(self, after: datetime) -> datetime:
        """The next moment at or after `after` inside the window (`after` itself if inside)."""
        if self.contains(after):
            return after
        local = after.astimezone(ZoneInfo(self.timezone))
        for offset in range(0, 8):
            day = local.date() + timedelta(days=offset)
            if day.weekday() not in self.days:
                continue
            opens, _ = self._spans(day)
            if opens >= after:
                return opens.astimezone(UTC)
        raise AssertionError("a window with at least one weekday opens within eight days")


def _days_text(days: tuple[int, ...]) -> str:
    if days == tuple(range(7)):
        return "every day"
    # Runs of consecutive days read as ranges: Mon-Fri, Sat-Sun.
    parts: list[str] = []
    run: list[int] = []
    for day in days:
        if run and day != run[-1] + 1:
            parts.append(_run_text(run))
            run = []
        run.append(day)
    if run:
        parts.append(_run_text(run))
    return ", ".join(parts)


def _run_text(run: list[int]) -> str:
    if len(run) >= 3:
        return f"{DAY_NAMES[run[0]]}-{DAY_NAMES[run[-1]]}"
    return ", ".join(DAY_NAMES[d] for d in run)


def window_or_none(data: object, field: str) -> Window | None:
    return None if data in (None, {}) else Window.parse(data, field)
