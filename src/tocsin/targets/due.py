"""When an incident's first response is due under its severity's target. Pure functions.

Minutes: detection plus the severity's minutes. Next business day: the end (midnight, in the
organisation's time zone) of the first working day after the day of detection; a detection
on Friday is due at the end of Monday, one on Saturday too (Monday to Friday week).
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo

from tocsin.definitions.models import Severity


class WorkWeek(Protocol):
    """The organisation's working week (weekday numbers, Monday 0) and time zone; the
    calendar postmortems use (built in wiring) has this shape."""

    @property
    def working_days(self) -> frozenset[int]: ...

    @property
    def timezone(self) -> str: ...


def stamp(when: datetime) -> str:
    """A due time in payloads and keys: UTC."""
    return when.astimezone(UTC).isoformat()


def end_of_next_working_day(moment: datetime, week: WorkWeek) -> datetime:
    """Midnight at the end of the first working day after `moment`'s (local) day, in UTC."""
    zone = ZoneInfo(week.timezone)
    day = moment.astimezone(zone).date()
    offset = 1
    while (day.weekday() + offset) % 7 not in week.working_days:
        offset += 1
    following = day + timedelta(days=offset + 1)
    return datetime.combine(following, time(0), tzinfo=zone).astimezone(UTC)


def due_at(severity: Severity | None, detected: datetime, week: WorkWeek) -> datetime | None:
    """The due time of a first response for an incident detected at `detected`; None without
    a severity or a target."""
    if severity is None:
        return None
    if severity.response_next_business_day:
        return end_of_next_working_day(detected, week)
    if severity.response_target_minutes is None:
        return None
    return detected.astimezone(UTC) + timedelta(minutes=severity.response_target_minutes)


def target_text(severity: Severity | None) -> str:
    """ "SEV1 (1 hour)", for entries and emails."""
    if severity is None:
        return "no severity"
    return f"{severity.name} ({severity.response_target_text})"
