"""The delivery jobs: send one planned notification (retrying, then falling back to the
person's next contact method) and send a test through one contact method.

A job runs in its own transaction after the change that planned it committed. The send
happens inside that transaction, so the tokens behind the message's links and the result are
committed together; a send failure never raises (that would roll back the record of it)."""

from __future__ import annotations

import hashlib
import hmac
from datetime import datetime, timedelta
from typing import Any

import structlog
from sqlalchemy import select
from sqlalchemy.orm import Session

from tocsin.bus import emit
from tocsin.catalog.models import User
from tocsin.config import Settings
from tocsin.db import utcnow
from tocsin.incidents.models import Incident, Status, TimelineEntry
from tocsin.incidents.timeline import record
from tocsin.jobs.queue import enqueue
from tocsin.notify import links
from tocsin.notify.channels import (
    Channels,
    DeliveryFailed,
    Destination,
    apprise_plugin,
)
from tocsin.notify.events import NotificationSent
from tocsin.notify.messages import PageMessage, page_message, test_message
from tocsin.notify.models import (
    ActionKind,
    ContactKind,
    ContactMethod,
    Notification,
    NotificationState,
)
from tocsin.notify.service import DELIVER_JOB, plan_fallback

log = structlog.get_logger("tocsin.notify")


def webhook_secret(secret_key: str, method: ContactMethod) -> str:
    """The signing secret of a webhook method: derived, so the database alone lacks it."""
    mac = hmac.new(secret_key.encode(), f"webhook:{method.signing_salt}".encode(), hashlib.sha256)
    return "whsec_" + mac.hexdigest()


def channel_name(method: ContactMethod | None, kind: str) -> str:
    """How people call the channel: "email", "webhook", or the Apprise service ("Slack")."""
    if kind == ContactKind.apprise and method is not None:
        plugin = apprise_plugin(method.target)
        if plugin is not None:
            return str(getattr(plugin, "service_name", "") or "Apprise")
    return kind


def retry_delay(settings: Settings, attempts: int) -> float:
    return settings.notify_retry_base_seconds * 4 ** max(0, attempts - 1)


def _seconds(value: float) -> str:
    return f"{value:.0f} s" if value < 120 else f"{value / 60:.0f} min"


def _local_time(user: User, when: Any) -> str:
    from zoneinfo import ZoneInfo

    try:
        zone = ZoneInfo(user.timezone)
    except Exception:
        zone = ZoneInfo("UTC")
    return str(when.astimezone(zone).strftime("%H:%M %Z"))


def _who_and_when(session: Session, incident: Incident, status: str, recipient: User) -> str:
    entry = session.scalar(
        select(TimelineEntry)
        .where(TimelineEntry.incident_id == incident.id, TimelineEntry.kind == "status_changed")
        .order_by(TimelineEntry.occurred_at.desc(), TimelineEntry.id.desc())
        .limit(1)
    )
    who = f" by {entry.actor.name}" if entry is not None and entry.actor is not None else ""
    when = incident.resolved_at if status in ("resolved", "closed") else incident.acknowledged_at
    at = f" at {_local_time(recipient, when)}" if when else ""
    return f"{who}{at}"


def why_not(
    session: Session, incident: Incident, recipient: User, paged_at: datetime
) -> str | None:
    """Why a page decided at `paged_at` must not be sent now, or None.

    A page planned before the incident was acknowledged is not sent after; one planned later
    (someone paged by hand into an acknowledged incident) still goes, until that page is
    acknowledged in turn (which cancels it)."""
    status = Status(incident.status)
    if status in (Status.resolved, Status.closed):
        return f"{status.value}{_who_and_when(session, incident, status.value, recipient)}"
    if incident.acknowledged_at is not None and incident.acknowledged_at >= paged_at:
        return f"acknowledged{_who_and_when(session, incident, 'acknowledged', recipient)}"
    return None


def _message(session: Session, notification: Notification, settings: Settings) -> PageMessage:
    incident, user = notification.incident, notification.user
    base = settings.base_url.rstrip("/")
    ack, ack_row = links.issue(
        session,
        incident=incident,
        user=user,
        action=ActionKind.acknowledge,
        hours=settings.action_link_hours,
    )
    resolve, _ = links.issue(
        session, incident=incident, user=user, action=ActionKind.resolve,
        hours=settings.action_link_hours,
    )  # fmt: skip
    return page_message(
        incident,
        recipient_name=user.name,
        reason=notification.reason,
        base_url=base,
        acknowledge_url=f"{base}/act/{ack}",
        resolve_url=f"{base}/act/{resolve}",
        links_expire_at=ack_row.expires_at,
        delivery_id=f"tocsin-notification-{notification.id}",
    )


def _destination(method: ContactMethod, settings: Settings) -> Destination:
    secret = webhook_secret(settings.secret_key, method) if method.kind == "webhook" else ""
    return Destination(target=method.target, secret=secret, label=method.label)


def _remember(method: ContactMethod, *, ok: bool, result: str) -> None:
    method.last_ok = ok
    method.last_result = result[:2000]
    method.last_result_at = utcnow()
    method.consecutive_failures = 0 if ok else method.consecutive_failures + 1


def deliver(
    session: Session, notification_id: int, *, channels: Channels, settings: Settings
) -> None:
    """Send one planned notification, or record why not."""
    notification = session.get(Notification, notification_id, with_for_update=True)
    pending = (NotificationState.planned, NotificationState.sending)
    if notification is None or notification.state not in pending:
        return  # cancelled, or already handled by an earlier run of this job
    incident, user, method = notification.incident, notification.user, notification.contact_method
    now = utcnow()
    notification.updated_at = now
    reason = why_not(session, incident, user, notification.created_at)
    if reason is not None:
        notification.state = NotificationState.skipped.value
        notification.detail = f"not sent: {reason}"
        session.flush()
        return
    if not user.active:
        notification.state = NotificationState.skipped.value
        notification.detail = "not sent: the account is deactivated"
        session.flush()
        return
    name = channel_name(method, notification.channel)
    if method is None or not method.enabled:
        gone = "was deleted" if method is None else "is disabled"
        _give_up(session, notification, f"the contact method {gone}", name)
        return
    message = _message(session, notification, settings)
    notification.attempts += 1
    notification.state = NotificationState.sending.value
    channel, destination = channels.for_kind(method.kind), _destination(method, settings)
    # Commit before sending: no transaction (on SQLite, no write lock) stays open while a
    # mail server or webhook takes its time. If this worker dies before the result is
    # recorded, the job runs again and sends again, with the same delivery id (at least once).
    session.commit()
    error: str | None = None
    try:
        channel.send(message, destination)
    except DeliveryFailed as exc:
        error = exc.reason
    notification = session.get(Notification, notification_id, with_for_update=True)
    if notification is None or notification.state != NotificationState.sending:
        return  # cancelled meanwhile: nothing left to record
    method = notification.contact_method
    if method is None:
        notification.state = NotificationState.failed.value
        notification.detail = "the contact method was deleted while sending"
        session.flush()
        return
    if error is not None:
        _failed(session, notification, method, error, name, settings)
        return
    notification.state = NotificationState.sent.value
    notification.sent_at = utcnow()
    notification.detail = f"sent to {method.label}"
    _remember(method, ok=True, result=f"page for {incident.reference} sent")
    record(
        session,
        incident,
        "notification",
        f"Paged {user.name} by {name} ({method.label})",
        by=None,
        body=notification.reason,
    )
    emit(session, NotificationSent(notification.id, incident.id, user.id, method.id, method.kind))
    log.info("notify.sent", notification_id=notification.id, channel=method.kind)


def _failed(
    session: Session,
    notification: Notification,
    method: ContactMethod,
    reason: str,
    name: str,
    settings: Settings,
) -> None:
    attempts = notification.attempts
    _remember(method, ok=False, result=f"failed: {reason}")
    log.warning("notify.failed", notification_id=notification.id, attempt=attempts, error=reason)
    if attempts < settings.notify_attempts:
        delay = retry_delay(settings, attempts)
        notification.state = NotificationState.planned.value  # until the retry
        notification.detail = (
            f"attempt {attempts} of {settings.notify_attempts} failed: {reason}; "
            f"retrying in {_seconds(delay)}"
        )
        record(
            session,
            notification.incident,
            "notification",
            f"{name.capitalize()} to {notification.user.name} failed "
            f"(attempt {attempts} of {settings.notify_attempts}): {reason}; "
            f"retrying in {_seconds(delay)}",
            by=None,
        )
        enqueue(
            session,
            DELIVER_JOB,
            {"notification_id": notification.id},
            run_at=utcnow() + timedelta(seconds=delay),
        )
        session.flush()
        return
    _give_up(session, notification, reason, name)


def _give_up(session: Session, notification: Notification, reason: str, name: str) -> None:
    """No more tries through this method: record it and try the person's next method."""
    notification.state = NotificationState.failed.value
    notification.detail = f"failed: {reason}"
    fallback = plan_fallback(session, notification)
    then = (
        f"trying {channel_name(fallback.contact_method, fallback.channel)} "
        f"({fallback.method_label})"
        if fallback is not None
        else "no other contact method left to try"
    )
    record(
        session,
        notification.incident,
        "notification",
        f"{name.capitalize()} to {notification.user.name} failed: {reason}; {then}",
        by=None,
        body=notification.reason,
    )
    session.flush()


def send_test(session: Session, method_id: int, *, channels: Channels, settings: Settings) -> None:
    """Send a test message through one contact method and remember the result on it."""
    method = session.get(ContactMethod, method_id)
    if method is None:
        return
    settings_url = f"{settings.base_url.rstrip('/')}/users/{method.user_id}/notifications"
    message = test_message(
        recipient_name=method.user.name, method_label=method.label, settings_url=settings_url
    )
    try:
        channels.for_kind(method.kind).send(message, _destination(method, settings))
    except DeliveryFailed as exc:
        _remember(method, ok=False, result=f"test failed: {exc.reason}")
    else:
        _remember(method, ok=True, result="test sent")
    session.flush()


def job_handlers(channels: Channels, settings: Settings) -> dict[str, Any]:
    """The handlers bootstrap registers: payload in, one call out."""

    def deliver_job(session: Session, payload: dict[str, Any]) -> None:
        deliver(session, int(payload["notification_id"]), channels=channels, settings=settings)

    def test_job(session: Session, payload: dict[str, Any]) -> None:
        send_test(session, int(payload["contact_method_id"]), channels=channels, settings=settings)

    return {DELIVER_JOB: deliver_job, "notify.test": test_job}
