"""The jobs behind shift notices: the periodic scan, and sending one notice.

A notice goes to the contact methods of the person's low-urgency rules (a shift notice is
information, not an emergency), all at once; a person without low-urgency rules gets it on
every enabled contact method, as pages do. It is sent by the one delivery module
(notify/delivery.py): the same retries as every delivery, and methods that already got the
notice are not sent it again."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

import structlog
from sqlalchemy import select
from sqlalchemy.orm import Session

from tocsin.config import Settings
from tocsin.db import utcnow
from tocsin.jobs.registry import Handler
from tocsin.notify.channels import Channels
from tocsin.notify.delivery import (
    Outcome,
    Purpose,
    Refusal,
    Result,
    RetryPolicy,
    Target,
    deliver_now,
    handler,
)
from tocsin.notify.messages import PageMessage
from tocsin.notify.models import (
    ContactMethod,
    NotificationRule,
    NotificationState,
    ShiftNotice,
    ShiftNoticeKind,
)
from tocsin.notify.pages import method_target, remember
from tocsin.notify.service import contact_methods
from tocsin.notify.shift_text import starting_text, zone_of
from tocsin.notify.shifts import (
    LONGEST_SHIFT,
    SCAN_JOB,
    SEND_JOB,
    preference,
    scan,
    stint_from,
)

log = structlog.get_logger("tocsin.notify")


def notice_methods(session: Session, notice: ShiftNotice) -> list[ContactMethod]:
    """Where a shift notice goes: the low-urgency rules' methods, else every enabled one."""
    rules = session.scalars(
        select(NotificationRule)
        .where(NotificationRule.user_id == notice.user_id, NotificationRule.urgency == "low")
        .order_by(NotificationRule.position)
    )
    chosen = list(dict.fromkeys(r.contact_method for r in rules if r.contact_method.enabled))
    return chosen or [m for m in contact_methods(session, notice.user) if m.enabled]


def _refresh_start(session: Session, notice: ShiftNotice, now: datetime) -> str | None:
    """Word a starting notice from the schedule as it is now; or say why it must not go."""
    start = notice.shift_start
    if notice.schedule_id is None or start is None:
        return "the schedule was deleted"
    stint = stint_from(session, notice.schedule_id, notice.user_id, start)
    if stint is None:
        return "no longer on call then (the schedule changed)"
    if stint.end <= now:
        return "the shift is already over"
    notice.shift_end = stint.end
    zone = zone_of(notice.user.timezone)
    open_ended = stint.end >= start + LONGEST_SHIFT
    notice.subject, sentence = starting_text(
        notice.schedule_name, start, stint.end, zone, now, open_ended=open_ended
    )
    notice.body = f"{sentence}\nOn call by: {stint.source}."
    notice.data = {
        "event": ShiftNoticeKind.starting.value,
        "schedule": {"id": notice.schedule_id, "name": notice.schedule_name},
        "start": start.isoformat(),
        "end": None if open_ended else stint.end.isoformat(),
        "timezone": zone.key,
        "source": stint.source,
    }
    return None


def _message(notice: ShiftNotice, settings: Settings) -> PageMessage:
    base = settings.base_url.rstrip("/")
    data = dict(notice.data or {})
    if notice.kind == ShiftNoticeKind.changed.value:
        data = {
            "event": ShiftNoticeKind.changed.value,
            "schedule": {"id": notice.schedule_id, "name": notice.schedule_name},
            **data,
        }
    return PageMessage(
        kind="shift",
        recipient_name=notice.user.name,
        reason=notice.body,
        title=notice.subject,
        schedule_url=f"{base}/schedules/{notice.schedule_id}" if notice.schedule_id else "",
        settings_url=f"{base}/users/{notice.user_id}/notifications",
        shift=data,
        delivery_id=f"tocsin-shift-notice-{notice.id}",  # the same on a resend
    )


class ShiftNotices(Purpose[ShiftNotice]):
    """A shift notice: one ShiftNotice row, to the person's quiet contact methods."""

    job = SEND_JOB
    payload_key = "notice_id"
    waiting = NotificationState.planned.value

    def __init__(
        self, channels: Channels, settings: Settings, clock: Callable[[], datetime] = utcnow
    ) -> None:
        self.channels = channels
        self.settings = settings
        self.clock = clock

    def load(self, session: Session, ident: int) -> ShiftNotice | None:
        return session.get(ShiftNotice, ident, with_for_update=True)

    def why_not(self, session: Session, record: ShiftNotice) -> str | None:
        if not record.user.active:
            return "the account is deactivated"
        if not preference(session, record.user).enabled:
            return "shift notifications are turned off"
        if record.kind == ShiftNoticeKind.starting.value:
            return _refresh_start(session, record, self.clock())
        return None

    def targets(self, session: Session, record: ShiftNotice) -> list[Target] | Refusal:
        methods = notice_methods(session, record)
        if not methods:
            return Refusal("no enabled contact method")
        message = _message(record, self.settings)
        return [method_target(session, m, message, self.channels, self.settings) for m in methods]

    def attempted(self, session: Session, record: ShiftNotice, results: list[Result]) -> None:
        for result in results:
            method = session.get(ContactMethod, int(result.key))
            if method is not None:
                what = "shift notice sent" if result.ok else f"shift notice failed: {result.detail}"
                remember(method, ok=result.ok, result=what)
        return None

    def concluded(self, session: Session, record: ShiftNotice, outcome: Outcome) -> None:
        pass  # a shift notice concerns no incident: its record is its history


def send_notice(
    session: Session,
    notice_id: int,
    *,
    channels: Channels,
    settings: Settings,
    now: datetime | None = None,
) -> None:
    """Send one notice at once in the caller's transaction, as if it were `now`."""
    clock = (lambda: now) if now is not None else utcnow
    purpose = ShiftNotices(channels, settings, clock)
    deliver_now(session, purpose, RetryPolicy.from_settings(settings), notice_id)


def job_handlers(channels: Channels, settings: Settings) -> dict[str, Handler]:
    """The handlers bootstrap registers for shift notices."""

    def scan_job(session: Session, payload: dict[str, Any]) -> None:
        scan(session)

    policy = RetryPolicy.from_settings(settings)
    return {SCAN_JOB: scan_job, SEND_JOB: handler(ShiftNotices(channels, settings), policy)}
