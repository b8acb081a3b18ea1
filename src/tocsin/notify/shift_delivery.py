"""The jobs behind shift notices: the periodic scan, and sending one notice.

A notice goes to the contact methods of the person's low-urgency rules (a shift notice is
information, not an emergency), all at once; a person without low-urgency rules gets it on
every enabled contact method, as pages do. A method that fails is retried with the page
backoff (`TOCSIN_NOTIFY_ATTEMPTS`, `TOCSIN_NOTIFY_RETRY_BASE_SECONDS`); methods that
already got the notice are not sent it again.

Like page deliveries, a notice is marked `sending` and committed before anything is sent, so
no transaction stays open while a mail server or webhook answers; a worker that dies while
sending leaves the job to run again (at least once)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import structlog
from sqlalchemy import select
from sqlalchemy.orm import Session

from tocsin.config import Settings
from tocsin.db import utcnow
from tocsin.jobs.queue import enqueue
from tocsin.notify.channels import Channels, DeliveryFailed
from tocsin.notify.delivery import _destination as destination
from tocsin.notify.delivery import _remember as remember
from tocsin.notify.delivery import _seconds as seconds_text
from tocsin.notify.delivery import channel_name, retry_delay
from tocsin.notify.messages import PageMessage
from tocsin.notify.models import (
    ContactMethod,
    NotificationRule,
    NotificationState,
    ShiftNotice,
    ShiftNoticeKind,
)
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


def _skip(notice: ShiftNotice, reason: str) -> None:
    notice.state = NotificationState.skipped.value
    notice.detail = f"not sent: {reason}"


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


SENDING = "sending"


def send_notice(
    session: Session,
    notice_id: int,
    *,
    channels: Channels,
    settings: Settings,
    now: datetime | None = None,
) -> None:
    """Send one planned shift notice to the person's methods, or record why not.

    Commits twice: once before sending (the notice is `sending`), once with the results."""
    notice = session.get(ShiftNotice, notice_id, with_for_update=True)
    if notice is None or notice.state not in (NotificationState.planned, SENDING):
        return  # already handled by an earlier run of this job
    now = now or utcnow()
    user = notice.user
    if not user.active:
        _skip(notice, "the account is deactivated")
    elif not preference(session, user).enabled:
        _skip(notice, "shift notifications are turned off")
    elif notice.kind == ShiftNoticeKind.starting.value and (
        problem := _refresh_start(session, notice, now)
    ):
        _skip(notice, problem)
    if notice.state == NotificationState.skipped:
        session.flush()
        return
    done = {key for key, result in (notice.deliveries or {}).items() if result.get("ok")}
    methods = notice_methods(session, notice)
    if not methods:
        _skip(notice, "no enabled contact method")
        session.flush()
        return
    message = _message(notice, settings)
    targets = [
        (str(m.id), m.label, channel_name(m, m.kind), channels.for_kind(m.kind),
         destination(m, settings))
        for m in methods
        if str(m.id) not in done
    ]  # fmt: skip
    notice.attempts += 1
    notice.state = SENDING
    session.commit()  # nothing is held open while the channels answer
    outcomes: list[tuple[str, str, str, str | None]] = []
    retryable = False  # whether any failure could go better on another attempt
    for key, label, name, channel, where in targets:
        try:
            channel.send(message, where)
        except DeliveryFailed as exc:
            outcomes.append((key, label, name, exc.reason))
            retryable = retryable or exc.retryable
        else:
            outcomes.append((key, label, name, None))
    notice = session.get(ShiftNotice, notice_id, with_for_update=True)
    if notice is None or notice.state != SENDING:
        return
    results: dict[str, Any] = dict(notice.deliveries or {})
    for key, label, name, error in outcomes:
        method = session.get(ContactMethod, int(key))
        if method is not None:
            result = "shift notice sent" if error is None else f"shift notice failed: {error}"
            remember(method, ok=error is None, result=result)
        results[key] = {"label": label, "channel": name, "ok": error is None,
                        "detail": error or "sent"}  # fmt: skip
    notice.deliveries = results
    _conclude(session, notice, results, settings, now, retryable=retryable)
    session.flush()


def _conclude(
    session: Session,
    notice: ShiftNotice,
    results: dict[str, Any],
    settings: Settings,
    now: datetime,
    *,
    retryable: bool = True,
) -> None:
    sent = [r["label"] for r in results.values() if r["ok"]]
    failed = [f"{r['label']}: {r['detail']}" for r in results.values() if not r["ok"]]
    if sent and notice.sent_at is None:
        notice.sent_at = now
    summary = f"sent to {', '.join(sent)}" if sent else ""
    if not failed:
        notice.state = NotificationState.sent.value
        notice.detail = summary
        log.info("notify.shift_notice_sent", notice_id=notice.id)
        return
    failures = "; ".join(failed)
    if retryable and notice.attempts < settings.notify_attempts:
        delay = retry_delay(settings, notice.attempts)
        notice.state = NotificationState.planned.value  # until the retry
        notice.detail = "; ".join(
            part for part in (summary, f"failed: {failures}",
                              f"retrying in {seconds_text(delay)}") if part
        )  # fmt: skip
        enqueue(session, SEND_JOB, {"notice_id": notice.id}, run_at=now + timedelta(seconds=delay))
        return
    notice.state = (NotificationState.sent if sent else NotificationState.failed).value
    notice.detail = "; ".join(part for part in (summary, f"failed: {failures}") if part)
    if retryable:  # otherwise the channel has said why, once per process
        log.warning("notify.shift_notice_failed", notice_id=notice.id, error=failures)


def job_handlers(channels: Channels, settings: Settings) -> dict[str, Any]:
    """The handlers bootstrap registers for shift notices."""

    def scan_job(session: Session, payload: dict[str, Any]) -> None:
        scan(session)

    def send_job(session: Session, payload: dict[str, Any]) -> None:
        send_notice(session, int(payload["notice_id"]), channels=channels, settings=settings)

    return {SCAN_JOB: scan_job, SEND_JOB: send_job}
