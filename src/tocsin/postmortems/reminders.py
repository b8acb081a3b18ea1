"""Reminders to a postmortem's owner: before its draft and meeting deadlines, and while late.

When a deadline is set (`plan`, called by the service in the same transaction), one timer job
is queued per reminder: `REMIND_BEFORE` ahead of the deadline (only those still in the
future), and one when it passes. The one when it passes queues the next, a day later, for as
long as the postmortem is still late. A timer that comes due checks that its deadline is
still the postmortem's (a changed deadline supersedes it: `plan` also cancels the queued
timers of the old one) and that the postmortem still owes it: the draft until it is In
review, the meeting until it is Reviewed, and nothing once Closed. It then plans a plain mail
of notify's (notify/mails.py) to the owner, sent after commit; `MAIL_KIND`'s check, which the
composition root gives notify's mail delivery, skips it if by then the deadline is no longer
owed or the postmortem has another owner. Every timer and every mail has a key made of the
postmortem, the deadline, its time and the slot: each reminder happens once.

A postmortem without an owner, or whose owner is deactivated, gets no email: the incident's
timeline says so instead.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from tocsin.db import utcnow
from tocsin.incidents.models import TimelineEntry
from tocsin.incidents.timeline import record as on_timeline
from tocsin.jobs.queue import cancel, enqueue
from tocsin.notify import mails
from tocsin.notify.models import Mail
from tocsin.postmortems.models import Postmortem, PostmortemStatus

TIMER_JOB = "postmortems.remind"
# The mails' kind, and the field of the timeline entries about them.
FIELD = "postmortem_reminder"
# Reminders before each deadline, this long ahead of it.
REMIND_BEFORE: tuple[timedelta, ...] = (timedelta(hours=24), timedelta(hours=1))
# While late, a reminder this often (the first one when the deadline passes).
LATE_EVERY = timedelta(days=1)

DEADLINES = ("draft", "meeting")
# Which statuses still owe each deadline's work.
OWED_BY: dict[str, frozenset[str]] = {
    "draft": frozenset({PostmortemStatus.draft.value}),
    "meeting": frozenset({PostmortemStatus.draft.value, PostmortemStatus.in_review.value}),
}
WHAT = {"draft": "draft", "meeting": "review meeting"}


def _due(postmortem: Postmortem, deadline: str) -> datetime | None:
    return postmortem.draft_due_at if deadline == "draft" else postmortem.meeting_due_at


def _stamp(when: datetime) -> str:
    """A deadline in payloads and keys: UTC, whatever zone it was computed in."""
    return when.astimezone(UTC).isoformat()


def _hours(delta: timedelta) -> str:
    return f"before_{int(delta.total_seconds() // 3600)}h"


def _key_prefix(postmortem_id: int, deadline: str) -> str:
    return f"pm-remind:{postmortem_id}:{deadline}:"


def _timer(session: Session, postmortem_id: int, deadline: str, due: datetime, slot: str,
           run_at: datetime) -> None:  # fmt: skip
    enqueue(
        session,
        TIMER_JOB,
        {"postmortem_id": postmortem_id, "deadline": deadline, "due_at": _stamp(due),
         "slot": slot},
        run_at=run_at,
        key=f"{_key_prefix(postmortem_id, deadline)}{_stamp(due)}:{slot}",
    )  # fmt: skip


def plan(session: Session, postmortem: Postmortem, *, now: datetime | None = None) -> None:
    """Queue the reminders of the postmortem's deadlines as they are now, cancelling those of
    earlier deadlines. Call after the deadlines are set or changed (flushed: it needs the id)."""
    now = now or utcnow()
    for deadline in DEADLINES:
        cancel(session, kind=TIMER_JOB, key_prefix=_key_prefix(postmortem.id, deadline),
               reason="the deadline changed")  # fmt: skip
        due = _due(postmortem, deadline)
        if due is None:
            continue
        for ahead in REMIND_BEFORE:
            if due - ahead > now:
                _timer(session, postmortem.id, deadline, due, _hours(ahead), due - ahead)
        _timer(session, postmortem.id, deadline, due, "late_0", max(due, now))


def owed(postmortem: Postmortem, deadline: str, due_at: str) -> bool:
    """Whether a reminder of this deadline (at that time) is still owed."""
    due = _due(postmortem, deadline)
    return (
        due is not None
        and _stamp(due) == due_at
        and postmortem.status in OWED_BY.get(deadline, frozenset())
    )


def remind(session: Session, payload: dict[str, Any]) -> None:
    """A timer came due: plan the reminder email (or say on the timeline that there is
    nobody to send it to), and, once late, queue tomorrow's."""
    postmortem = session.get(Postmortem, int(payload["postmortem_id"]))
    deadline, due_at, slot = str(payload["deadline"]), str(payload["due_at"]), str(payload["slot"])
    if postmortem is None or not owed(postmortem, deadline, due_at):
        return  # closed, moved on, or its deadline changed: superseded
    due = _due(postmortem, deadline)
    assert due is not None
    if slot.startswith("late_"):
        # The next one a day later; days already past are skipped (an incident backfilled
        # months late gets one reminder now, then one a day, not one per missed day).
        n = max(int(slot.removeprefix("late_")) + 1, (utcnow() - due) // LATE_EVERY + 1)
        _timer(session, postmortem.id, deadline, due, f"late_{n}", due + n * LATE_EVERY)
    key = f"{_key_prefix(postmortem.id, deadline)}{due_at}:{slot}"
    owner = postmortem.owner
    if owner is None or not owner.active:
        why = "no owner" if owner is None else f"its owner, {owner.name}, is deactivated"
        summary = (
            f"The postmortem has no owner to remind ({why}): its {WHAT[deadline]} "
            f"{'was' if slot.startswith('late_') else 'is'} due {due:%Y-%m-%d %H:%M UTC}"
        )
        said = select(TimelineEntry.id).where(
            TimelineEntry.incident_id == postmortem.incident_id,
            TimelineEntry.field == FIELD,
            TimelineEntry.summary == summary,
        )
        if session.scalar(said.limit(1)) is None:  # once per reminder, like an email
            on_timeline(session, postmortem.incident, "postmortem", summary, by=None, field=FIELD)
        return
    subject, body = _words(postmortem, deadline, due, slot)
    mails.plan(
        session,
        key=key,
        kind=FIELD,
        user=owner,
        subject=f"[Tocsin] {subject}",
        body=body,
        link=f"/postmortems/{postmortem.id}",
        incident=postmortem.incident,
        context={"postmortem_id": postmortem.id, "deadline": deadline, "due_at": due_at},
    )


def _words(postmortem: Postmortem, deadline: str, due: datetime, slot: str) -> tuple[str, str]:
    """What a reminder says (subject, body): which deadline, when, and how late."""
    incident = postmortem.incident
    what = WHAT[deadline]
    when = f"{due:%Y-%m-%d %H:%M UTC}"
    if slot.startswith("late_"):
        days = int(slot.removeprefix("late_"))
        late = f"{days} day{'s' if days != 1 else ''} late" if days else "late"
        title = f"{incident.reference}: the postmortem's {what} is {late}"
        body = (
            f"The postmortem of {incident.reference} ({incident.title}) had its {what} due {when}."
        )
    else:
        title = f"{incident.reference}: the postmortem's {what} is due {when}"
        body = (
            f"The postmortem of {incident.reference} ({incident.title}) has its {what} due {when}."
        )
    if deadline == "draft":
        body += " Move it to In review once the draft is ready."
    else:
        body += " Hold the review meeting, then mark the postmortem Reviewed."
    body += " You get this because you own the postmortem."
    return title, body


def why_not(session: Session, mail: Mail) -> str | None:
    """A reminder goes only while its deadline is owed and its person owns the postmortem."""
    context = mail.context
    postmortem = session.get(Postmortem, int(context.get("postmortem_id", 0)))
    if postmortem is None or not owed(
        postmortem, str(context.get("deadline")), str(context.get("due_at"))
    ):
        return "no longer owed (the postmortem moved on, or its deadline changed)"
    if postmortem.owner_id != mail.user_id:
        return "the postmortem's owner changed"
    return None


MAIL_KIND = mails.MailKind(FIELD, "postmortem reminder", why_not, timeline="postmortem")
