"""Reminders to a postmortem's owner: before its draft and meeting deadlines, and while late.

When a deadline is set (`plan`, called by the service in the same transaction), one timer job
is queued per reminder: `REMIND_BEFORE` ahead of the deadline (only those still in the
future), and one when it passes. The one when it passes queues the next, a day later, for as
long as the postmortem is still late. A timer that comes due checks that its deadline is
still the postmortem's (a changed deadline supersedes it: `plan` also cancels the queued
timers of the old one) and that the postmortem still owes it: the draft until it is In
review, the meeting until it is Reviewed, and nothing once Closed. It then writes a
`PostmortemReminder` row and queues its sending by the one delivery module
(notify/delivery.py), which emails the owner after commit. Every timer and every row has a
key made of the postmortem, the deadline, its time and the slot: each reminder happens once.

A postmortem without an owner, or whose owner is deactivated, gets no email: the incident's
timeline says so instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from tocsin.config import Settings
from tocsin.db import utcnow
from tocsin.incidents.timeline import record as on_timeline
from tocsin.jobs.queue import cancel, enqueue
from tocsin.jobs.registry import Handler
from tocsin.notify.channels import Channels
from tocsin.notify.delivery import (
    Outcome,
    Purpose,
    Refusal,
    Result,
    RetryPolicy,
    Target,
    email_to,
    handler,
)
from tocsin.notify.messages import PageMessage
from tocsin.postmortems.models import Postmortem, PostmortemReminder, PostmortemStatus

TIMER_JOB = "postmortems.remind"
SEND_JOB = "postmortems.send_reminder"
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
    if session.scalar(select(PostmortemReminder.id).where(PostmortemReminder.key == key)):
        return
    owner = postmortem.owner
    if owner is None or not owner.active:
        why = "no owner" if owner is None else f"its owner, {owner.name}, is deactivated"
        on_timeline(
            session,
            postmortem.incident,
            "postmortem",
            f"The postmortem has no owner to remind ({why}): its {WHAT[deadline]} "
            f"{'was' if slot.startswith('late_') else 'is'} due {due:%Y-%m-%d %H:%M UTC}",
            by=None,
            field="postmortem_reminder",
        )
        session.add(
            PostmortemReminder(postmortem_id=postmortem.id, user_id=None, key=key,
                               deadline=deadline, slot=slot, due_at=due, state="skipped",
                               detail="no owner to remind")
        )  # fmt: skip
        return
    reminder = PostmortemReminder(
        postmortem_id=postmortem.id, user_id=owner.id, key=key, deadline=deadline, slot=slot,
        due_at=due,
    )  # fmt: skip
    session.add(reminder)
    session.flush()
    enqueue(session, SEND_JOB, {"reminder_id": reminder.id}, key=f"pm-reminder:{reminder.id}")


@dataclass(frozen=True)
class ReminderMessage(PageMessage):
    """A reminder's email: `title` is its subject, `reason` its body."""

    @property
    def subject(self) -> str:
        return f"[Tocsin] {self.title}"

    @property
    def headline(self) -> str:
        return self.title

    def text(self) -> str:
        return f"Hello {self.recipient_name},\n\n{self.reason}\n\nOpen: {self.incident_url}\n"


def message(reminder: PostmortemReminder, settings: Settings) -> ReminderMessage:
    """What a reminder says: which deadline, when, and how late."""
    postmortem = reminder.postmortem
    incident = postmortem.incident
    what = WHAT[reminder.deadline]
    due = reminder.due_at
    when = f"{due:%Y-%m-%d %H:%M UTC}"
    if reminder.slot.startswith("late_"):
        days = int(reminder.slot.removeprefix("late_"))
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
    if reminder.deadline == "draft":
        body += " Move it to In review once the draft is ready."
    else:
        body += " Hold the review meeting, then mark the postmortem Reviewed."
    body += " You get this because you own the postmortem."
    base = settings.base_url.rstrip("/")
    return ReminderMessage(
        kind="reminder",
        recipient_name=reminder.user.name if reminder.user else "",
        reason=body,
        title=title,
        incident_number=incident.number,
        incident_url=f"{base}/postmortems/{postmortem.id}",
        delivery_id=f"tocsin-postmortem-reminder-{reminder.id}",  # the same on a resend
    )


class PostmortemReminders(Purpose[PostmortemReminder]):
    """A reminder email to the postmortem's owner (one PostmortemReminder row)."""

    job = SEND_JOB
    payload_key = "reminder_id"
    waiting = "planned"

    def __init__(self, channels: Channels, settings: Settings) -> None:
        self.channels = channels
        self.settings = settings

    def load(self, session: Session, ident: int) -> PostmortemReminder | None:
        return session.get(PostmortemReminder, ident, with_for_update=True)

    def why_not(self, session: Session, record: PostmortemReminder) -> str | None:
        postmortem = record.postmortem
        if not owed(postmortem, record.deadline, _stamp(record.due_at)):
            return "no longer owed (the postmortem moved on, or its deadline changed)"
        if record.user is None or postmortem.owner_id != record.user_id:
            return "the postmortem's owner changed"
        if not record.user.active:
            return "the account is deactivated"
        return None

    def targets(self, session: Session, record: PostmortemReminder) -> list[Target] | Refusal:
        user = record.user
        assert user is not None
        return email_to(self.channels, user.email, user.name, message(record, self.settings))

    def attempted(
        self, session: Session, record: PostmortemReminder, results: list[Result]
    ) -> None:
        return None

    def concluded(self, session: Session, record: PostmortemReminder, outcome: Outcome) -> None:
        if not outcome.failed:
            return
        to = record.user.name if record.user else "the owner"
        on_timeline(
            session,
            record.postmortem.incident,
            "postmortem",
            f"The reminder to {to} about the postmortem's {WHAT[record.deadline]} failed: "
            f"{'; '.join(outcome.failed)}",
            by=None,
            field="postmortem_reminder",
        )


def job_handlers(channels: Channels, settings: Settings) -> dict[str, Handler]:
    """The handlers bootstrap registers for postmortem reminders."""
    policy = RetryPolicy.from_settings(settings)
    return {
        TIMER_JOB: remind,
        SEND_JOB: handler(PostmortemReminders(channels, settings), policy),
    }
