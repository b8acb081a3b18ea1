"""Checks on schedules for `tocsin check`, the API and the pages: gaps in the coming weeks."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from tocsin.schedules.models import Schedule
from tocsin.schedules.oncall import gaps_many

DEFAULT_WEEKS = 4


@dataclass(frozen=True)
class ScheduleGap:
    """A schedule with times in the coming weeks when nobody is on call."""

    schedule_id: int
    schedule_name: str
    ranges: list[tuple[datetime, datetime]]

    def describe(self) -> str:
        hours = sum((end - start).total_seconds() for start, end in self.ranges) / 3600
        first = self.ranges[0]
        return (
            f'schedule "{self.schedule_name}" has nobody on call for {hours:.1f} h in '
            f"{len(self.ranges)} gap(s), the first from {first[0]:%Y-%m-%d %H:%M} to "
            f"{first[1]:%Y-%m-%d %H:%M} UTC"
        )


def schedule_gaps(session: Session, now: datetime, weeks: int = DEFAULT_WEEKS) -> list[ScheduleGap]:
    """Every schedule with a gap between `now` and `weeks` weeks later, by name."""
    schedules = session.execute(select(Schedule.id, Schedule.name).order_by(Schedule.name)).all()
    found = gaps_many(session, [sid for sid, _ in schedules], now, now + timedelta(weeks=weeks))
    return [ScheduleGap(sid, name, found[sid]) for sid, name in schedules if found.get(sid)]
