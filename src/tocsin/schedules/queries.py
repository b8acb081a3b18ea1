"""Read-side helpers shared by the API, the pages and the CLI."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from tocsin.catalog.models import User
from tocsin.schedules.models import Layer, Schedule
from tocsin.schedules.oncall import Shift, final_many, on_call_many, uncovered


def users_by_id(session: Session, ids: Iterable[int]) -> dict[int, User]:
    wanted = set(ids)
    if not wanted:
        return {}
    return {u.id: u for u in session.scalars(select(User).where(User.id.in_(wanted)))}


def people_of(schedule: Schedule) -> set[int]:
    """Everyone named in the schedule's layers and overrides."""
    ids = {i for layer in schedule.layers for i in layer.member_ids}
    for override in schedule.overrides:
        ids.add(override.user_id)
        if override.swap_with_id:
            ids.add(override.swap_with_id)
    return ids


@dataclass
class Summary:
    """A schedule at a glance: who is on call now, the next handoff, gaps ahead."""

    schedule: Schedule
    on_call: list[Shift]
    next_handoff: datetime | None
    next_user_id: int | None  # None: the handoff is to nobody (a gap)
    gaps: list[tuple[datetime, datetime]]


def next_handoff(
    final: list[Shift], now: datetime, horizon: datetime
) -> tuple[datetime | None, int | None]:
    """When the person on call next changes within the final schedule, and to whom."""
    current = next((s.user_id for s in final if s.start <= now < s.end), None)
    cursor = now
    for shift in final:
        if shift.end <= now:
            continue
        if shift.start > cursor:  # a gap starts at cursor
            return (cursor, None) if current is not None else (shift.start, shift.user_id)
        if shift.user_id != current:
            return shift.start, shift.user_id
        cursor = shift.end
    if current is not None and cursor < horizon:
        return cursor, None
    return None, None


def summaries(
    session: Session, now: datetime, weeks: int, schedules: list[Schedule] | None = None
) -> list[Summary]:
    """Summaries of the given schedules (default: all, by name) in a few queries."""
    if schedules is None:
        schedules = list(
            session.scalars(
                select(Schedule).options(selectinload(Schedule.team)).order_by(Schedule.name)
            )
        )
    ids = [s.id for s in schedules]
    horizon = now + timedelta(weeks=weeks)
    finals = final_many(session, ids, now, horizon)
    current = on_call_many(session, ids, now)
    out = []
    for schedule in schedules:
        final = finals.get(schedule.id, [])
        when, who = next_handoff(final, now, horizon)
        out.append(Summary(schedule, current.get(schedule.id, []), when, who,
                           uncovered(final, now, horizon)))  # fmt: skip
    return out


def layer_names(session: Session, schedule_id: int) -> dict[int, str]:
    return dict(
        session.execute(select(Layer.id, Layer.name).where(Layer.schedule_id == schedule_id)).all()
    )
