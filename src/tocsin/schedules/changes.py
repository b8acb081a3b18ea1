"""Announcing a change to a schedule: every action that changes who is on call runs inside
`changing`, which emits `ScheduleChanged` with the final schedule before and after (shift
notices react to it: `notify.shifts.on_schedule_changed`)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

from sqlalchemy.orm import Session

from tocsin.bus import emit
from tocsin.db import utcnow
from tocsin.schedules import oncall
from tocsin.schedules.events import ScheduleChanged
from tocsin.schedules.models import Schedule

# How far ahead a change is compared (and so reported to the people it concerns).
HORIZON = timedelta(days=14)


@contextmanager
def changing(
    session: Session, schedule: Schedule, *, cause: str, deleting: bool = False
) -> Iterator[None]:
    """Wrap a change to `schedule`: afterwards, emit `ScheduleChanged` with who was and who is
    on call over the next `HORIZON`. Nothing is emitted if the change raises."""
    since = utcnow()
    until = since + HORIZON
    schedule_id, name = schedule.id, schedule.name
    session.flush()
    before = oncall.final_many(session, [schedule_id], since, until)[schedule_id]
    yield
    session.flush()
    after = oncall.final_many(session, [schedule_id], since, until)[schedule_id]
    emit(
        session,
        ScheduleChanged(
            schedule_id=schedule_id,
            name=name,
            cause=cause,
            since=since,
            until=until,
            before=tuple(before),
            after=tuple(after),
            deleted=deleting,
        ),
    )
