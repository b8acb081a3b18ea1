"""Shift notices: telling people when their on-call shift starts and when the schedule
around them changes. Planning lives here; sending is `notify.shift_delivery`.

- Starting notices are planned by the periodic job `notify.shift_scan` (every minute, once
  across all workers): it reads the final schedule of every schedule a little ahead, finds
  each shift that starts (a person's continuous time on call in one schedule) within their
  lead time, and writes one `ShiftNotice` per (person, schedule, shift start) under a unique
  key, with its send job, so a shift is announced once however often the scan runs.
- Change notices are planned by `on_schedule_changed`, a reaction to the schedules' event
  `ScheduleChanged` (wired in `tocsin.wiring`): it compares each person's coverage of the
  schedule before and after the change, over the window the event gives, and writes one
  notice per person whose coverage changed, in the same transaction (a rolled-back change
  sends nothing).
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from tocsin import validation as v
from tocsin.catalog.models import User
from tocsin.db import utcnow
from tocsin.errors import ValidationFailed
from tocsin.jobs.queue import enqueue
from tocsin.notify.methods import check_can_manage
from tocsin.notify.models import (
    DEFAULT_SHIFT_LEAD_MINUTES,
    NotificationState,
    ShiftNotice,
    ShiftNoticeKind,
    ShiftPreference,
)
from tocsin.notify.shift_text import added_line, removed_line, zone_of
from tocsin.schedules import oncall
from tocsin.schedules.events import ScheduleChanged
from tocsin.schedules.models import Schedule

SCAN_JOB = "notify.shift_scan"
SEND_JOB = "notify.shift_notice"
SCAN_EVERY = timedelta(minutes=1)
# A shift that started up to this long ago is still announced (a scan missed while no worker
# ran); older ones are not.
CATCH_UP = timedelta(minutes=10)
MAX_LEAD_MINUTES = 24 * 60
# How far past its start a shift's end is looked for.
LONGEST_SHIFT = timedelta(days=31)
MAX_LINES = 30


# Preferences ---------------------------------------------------------------------------------


def preference(session: Session, user: User) -> ShiftPreference:
    """The person's choice, or the defaults (on, 15 minutes) if they never made one."""
    found = session.get(ShiftPreference, user.id)
    if found is not None:
        return found
    return ShiftPreference(user_id=user.id, enabled=True, lead_minutes=DEFAULT_SHIFT_LEAD_MINUTES)


def update_preference(
    session: Session, owner: User, changes: dict[str, Any], *, by: User
) -> ShiftPreference:
    """Turn shift notices on or off, or change the lead time (0 to 1440 minutes)."""
    check_can_manage(by, owner)
    unknown = set(changes) - {"shift_notifications", "lead_minutes"}
    if unknown:
        raise ValidationFailed(f"unknown field(s): {', '.join(sorted(unknown))}")
    enabled = changes.get("shift_notifications")
    if enabled is not None and not isinstance(enabled, bool):
        raise ValidationFailed(
            "shift_notifications must be true or false", field="shift_notifications"
        )
    lead = changes.get("lead_minutes")
    if lead is not None:
        lead = v.integer(lead, "lead_minutes", minimum=0, maximum=MAX_LEAD_MINUTES)
    row = session.get(ShiftPreference, owner.id)
    if row is None:
        row = ShiftPreference(
            user_id=owner.id, enabled=True, lead_minutes=DEFAULT_SHIFT_LEAD_MINUTES
        )
        session.add(row)
    if enabled is not None:
        row.enabled = enabled
    if lead is not None:
        row.lead_minutes = lead
    row.updated_at = utcnow()
    session.flush()
    return row


def _preferences(session: Session, user_ids: Sequence[int]) -> dict[int, tuple[bool, int]]:
    """(enabled, lead minutes) of each active user among `user_ids`; others are absent."""
    ids = list(set(user_ids))
    if not ids:
        return {}
    active = set(session.scalars(select(User.id).where(User.id.in_(ids), User.active.is_(True))))
    out = {uid: (True, DEFAULT_SHIFT_LEAD_MINUTES) for uid in active}
    rows = session.execute(
        select(ShiftPreference.user_id, ShiftPreference.enabled, ShiftPreference.lead_minutes)
        .where(ShiftPreference.user_id.in_(ids))
    )  # fmt: skip
    for uid, enabled, lead in rows:
        if uid in out:
            out[uid] = (enabled, lead)
    return out


def notices_of_user(session: Session, user: User, *, limit: int = 30) -> list[ShiftNotice]:
    """The person's most recent shift notices (their notifications page)."""
    return list(
        session.scalars(
            select(ShiftNotice)
            .where(ShiftNotice.user_id == user.id)
            .order_by(ShiftNotice.created_at.desc(), ShiftNotice.id.desc())
            .limit(limit)
        )
    )


# Shifts as people see them -----------------------------------------------------------------


@dataclass(frozen=True)
class Stint:
    """A person's continuous time on call in one schedule (adjacent shifts joined)."""

    user_id: int
    start: datetime
    end: datetime
    source: str


def stints(shifts: Sequence[oncall.Shift]) -> list[Stint]:
    """Join a schedule's final shifts where the same person carries on without a break."""
    out: list[Stint] = []
    for shift in sorted(shifts, key=lambda s: (s.start, s.end)):
        last = out[-1] if out else None
        if last is not None and last.user_id == shift.user_id and last.end == shift.start:
            out[-1] = Stint(last.user_id, last.start, shift.end, last.source)
        else:
            out.append(Stint(shift.user_id, shift.start, shift.end, shift.source))
    return out


def stint_from(session: Session, schedule_id: int, user_id: int, start: datetime) -> Stint | None:
    """The person's stint in the schedule that starts at `start`, or None if they are not on
    call then (the schedule changed since the notice was planned)."""
    shifts = oncall.final_many(session, [schedule_id], start, start + LONGEST_SHIFT)[schedule_id]
    found = stints(shifts)
    if not found or found[0].start != start or found[0].user_id != user_id:
        return None
    return found[0]


# Starting notices ----------------------------------------------------------------------------


def _insert_once(session: Session, notice: ShiftNotice) -> bool:
    if session.scalar(select(ShiftNotice.id).where(ShiftNotice.key == notice.key)) is not None:
        return False
    try:
        with session.begin_nested():  # a concurrent scan inserting the same key loses here
            session.add(notice)
            session.flush()
    except IntegrityError:
        return False
    return True


def start_key(user_id: int, schedule_id: int, start: datetime) -> str:
    return f"shift-start:{user_id}:{schedule_id}:{start:%Y-%m-%dT%H:%M:%SZ}"


def scan(session: Session, now: datetime | None = None) -> int:
    """Plan a starting notice for every shift whose notice is due by the next scan. Returns
    how many notices were planned (0 when another scan already planned them)."""
    now = now or utcnow()
    longest = session.scalar(select(func.max(ShiftPreference.lead_minutes))) or 0
    lead_max = timedelta(minutes=max(longest, DEFAULT_SHIFT_LEAD_MINUTES))
    lo, hi = now - CATCH_UP, now + lead_max + 2 * SCAN_EVERY
    schedules = dict(session.execute(select(Schedule.id, Schedule.name)).all())
    finals = oncall.final_many(session, list(schedules), lo, hi)
    # A stint starting exactly at `lo` is cut by the window: it started earlier.
    starts = [(sid, s) for sid, shifts in finals.items() for s in stints(shifts) if s.start > lo]
    prefs = _preferences(session, [s.user_id for _, s in starts])
    planned = 0
    for schedule_id, stint in starts:
        enabled, lead = prefs.get(stint.user_id, (False, 0))
        due = stint.start - timedelta(minutes=lead)
        if not enabled or due > now + SCAN_EVERY:
            continue  # opted out or deactivated; or a later scan plans it
        key = start_key(stint.user_id, schedule_id, stint.start)
        notice = ShiftNotice(
            user_id=stint.user_id,
            schedule_id=schedule_id,
            schedule_name=schedules[schedule_id],
            kind=ShiftNoticeKind.starting.value,
            key=key,
            shift_start=stint.start,
            shift_end=None,  # worked out when sent (the scan's window cuts it)
            data={},
            results={},
            state=NotificationState.planned.value,
            due_at=max(due, now),
            created_at=now,
        )
        if _insert_once(session, notice):
            enqueue(session, SEND_JOB, {"notice_id": notice.id}, run_at=notice.due_at, key=key)
            planned += 1
    return planned


# Change notices ------------------------------------------------------------------------------

Ranges = list[tuple[datetime, datetime]]


def _coverage(stint_list: Sequence[Stint]) -> dict[int, Ranges]:
    out: dict[int, Ranges] = {}
    for s in stint_list:
        out.setdefault(s.user_id, []).append((s.start, s.end))
    return out


def _minus(ranges: Ranges, taken: Ranges) -> Ranges:
    """The parts of `ranges` (sorted, disjoint) that no range of `taken` covers."""
    out: Ranges = []
    for start, end in ranges:
        cursor = start
        for t_start, t_end in taken:
            if t_end <= cursor or t_start >= end:
                continue
            if t_start > cursor:
                out.append((cursor, t_start))
            cursor = max(cursor, t_end)
        if cursor < end:
            out.append((cursor, end))
    return out


def _who(stint_list: Sequence[Stint], start: datetime, end: datetime, other_than: int) -> list[int]:
    return [
        s.user_id for s in stint_list if s.start < end and s.end > start and s.user_id != other_than
    ]


def on_schedule_changed(session: Session, event: ScheduleChanged) -> None:
    """A schedule changed: tell each person whose shifts in the event's window changed what
    changed for them."""
    plan_changes(session, event)


def plan_changes(session: Session, event: ScheduleChanged) -> int:
    """One change notice per person (who wants them) whose coverage changed; how many."""
    before, after = stints(event.before), stints(event.after)
    cause = event.cause
    before_cov, after_cov = _coverage(before), _coverage(after)
    people = set(before_cov) | set(after_cov)
    prefs = _preferences(session, list(people))
    wanted = [uid for uid in people if prefs.get(uid, (False, 0))[0]]
    if not wanted:
        return 0
    users = {u.id: u for u in session.scalars(select(User).where(User.id.in_(wanted)))}
    name_of = dict(
        session.execute(
            select(User.id, User.name).where(User.id.in_({s.user_id for s in (*before, *after)}))
        ).all()
    )
    still_there = session.scalar(select(Schedule.id).where(Schedule.id == event.schedule_id))
    planned = 0
    for uid in sorted(wanted):
        removed = _minus(before_cov.get(uid, []), after_cov.get(uid, []))
        added = _minus(after_cov.get(uid, []), before_cov.get(uid, []))
        if not removed and not added:
            continue
        user = users[uid]
        zone = zone_of(user.timezone)
        items: list[tuple[datetime, str, dict[str, Any]]] = []
        for start, end in removed:
            takers = [name_of.get(i, "?") for i in _who(after, start, end, uid)]
            items.append(
                (start, removed_line(start, end, zone, takers),
                 {"change": "removed", "start": start.isoformat(), "end": end.isoformat(),
                  "now_on_call": list(dict.fromkeys(takers))})
            )  # fmt: skip
        for start, end in added:
            previous = [name_of.get(i, "?") for i in _who(before, start, end, uid)]
            items.append(
                (start, added_line(start, end, zone, previous),
                 {"change": "added", "start": start.isoformat(), "end": end.isoformat(),
                  "was_on_call": list(dict.fromkeys(previous))})
            )  # fmt: skip
        items.sort(key=lambda item: item[0])
        lines = [f"- {text}" for _, text, _ in items[:MAX_LINES]]
        if len(items) > MAX_LINES:
            lines.append(f"- … and {len(items) - MAX_LINES} more changes")
        days = (event.until - event.since).days
        body = (
            f"The schedule “{event.name}” changed ({cause}). Your on-call shifts in the next "
            f"{days} days (times in {zone.key}):\n\n" + "\n".join(lines)
        )
        notice = ShiftNotice(
            user_id=uid,
            schedule_id=event.schedule_id if still_there else None,
            schedule_name=event.name,
            kind=ShiftNoticeKind.changed.value,
            key=f"shift-change:{uid}:{event.schedule_id}:{secrets.token_hex(8)}",
            subject=f"Your on-call shifts in {event.name} changed",
            body=body,
            data={"cause": cause, "changes": [data for _, _, data in items]},
            results={},
            state=NotificationState.planned.value,
            due_at=utcnow(),
        )
        session.add(notice)
        session.flush()
        enqueue(session, SEND_JOB, {"notice_id": notice.id})
        planned += 1
    return planned
