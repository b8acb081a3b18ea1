"""The delivery job: send one queued delivery to its subscriber (or, for a quarantine notice,
to the page's owners), retry with backoff, quarantine a webhook that keeps failing.

Like page deliveries (notify/delivery.py), a delivery is marked `sending` and committed before
anything goes out, so no transaction (on SQLite, no write lock) is open while a mail server
or a webhook receiver takes its time; a worker that dies mid-send leaves the job to run
again, with the same email Message-ID and the same `X-Tocsin-Delivery` header (at least
once). A failed send never raises: that would roll back the record of it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import structlog
from sqlalchemy import delete
from sqlalchemy.orm import Session

from tocsin.config import Settings
from tocsin.db import utcnow
from tocsin.jobs.queue import enqueue
from tocsin.jobs.registry import JobKind
from tocsin.notify.channels import DeliveryFailed, EmailChannel, WebhookChannel
from tocsin.notify.outbound import OutboundGuard
from tocsin.subscribers import limits
from tocsin.subscribers.compose import compose, why_not
from tocsin.subscribers.fanout import DELIVER_JOB, job_key
from tocsin.subscribers.models import (
    Delivery,
    DeliveryKind,
    DeliveryState,
    Subscriber,
    SubscriberKind,
    SubscriberState,
)
from tocsin.subscribers.service import quarantine

log = structlog.get_logger("tocsin.subscribers")

HOUSEKEEPING_JOB = "subscribers.housekeeping"
UNCONFIRMED_DAYS = 7  # an address that never confirms is forgotten this long after its mail
DELIVERY_RETENTION_DAYS = 90


@dataclass(frozen=True)
class Sender:
    """The channels subscriber deliveries go through (notify's SMTP and webhook channels)."""

    email: EmailChannel
    webhook: WebhookChannel
    settings: Settings


def build_sender(settings: Settings) -> Sender:
    guard = OutboundGuard.from_settings(settings)
    return Sender(
        EmailChannel(settings),
        WebhookChannel(guard, settings.subscriber_webhook_timeout_seconds),
        settings,
    )


# --- the job --------------------------------------------------------------------------------


def deliver(session: Session, delivery_id: int, *, sender: Sender) -> None:
    """Send one queued delivery, or record why not."""
    settings = sender.settings
    delivery = session.get(Delivery, delivery_id, with_for_update=True)
    pending = (DeliveryState.queued, DeliveryState.sending)
    if delivery is None or delivery.state not in pending:
        return  # removed, skipped, or handled by an earlier run of this job
    reason = why_not(session, delivery)
    if reason is not None:
        delivery.state = DeliveryState.skipped.value
        delivery.detail = f"not sent: {reason}"
        delivery.updated_at = utcnow()
        session.flush()
        return
    outgoing = compose(session, delivery, settings)
    if outgoing.webhook is None and not outgoing.mails:
        delivery.state = DeliveryState.skipped.value
        delivery.detail = delivery.detail or "not sent: nobody to tell"
        session.flush()
        return
    delivery.attempts += 1
    delivery.state = DeliveryState.sending.value
    delivery.updated_at = started = utcnow()
    # Commit before sending: nothing is held open while the receiver answers.
    session.commit()
    errors: list[str] = []
    retryable = False  # whether any failure could go better on another attempt
    sent_to: list[str] = []
    result = ""
    if outgoing.webhook is not None:
        url, body, headers = outgoing.webhook
        try:
            status = sender.webhook.post(
                url, body, headers, timeout=settings.subscriber_webhook_timeout_seconds
            )
            result = f"HTTP {status}"
        except DeliveryFailed as exc:
            errors.append(exc.reason)
            retryable = retryable or exc.retryable
    for address, mail in outgoing.mails:
        try:
            sender.email.transmit(mail)
            sent_to.append(address)
        except DeliveryFailed as exc:
            errors.append(exc.reason)
            retryable = retryable or exc.retryable
    delivery = session.get(Delivery, delivery_id, with_for_update=True)
    if delivery is None or delivery.state != DeliveryState.sending:
        return  # removed while sending: nothing left to record
    _record(session, delivery, errors, sent_to, result, started, settings, retryable=retryable)


def _record(
    session: Session,
    delivery: Delivery,
    errors: list[str],
    sent_to: list[str],
    result: str,
    started: datetime,
    settings: Settings,
    *,
    retryable: bool = True,
) -> None:
    subscriber = delivery.subscriber
    now = utcnow()
    delivery.updated_at = now
    notice = delivery.kind == DeliveryKind.quarantine_notice
    if notice and sent_to:
        told = [a for a in delivery.detail.removeprefix("told ").split(", ") if a]
        delivery.detail = "told " + ", ".join(dict.fromkeys(told + sent_to))
    if not errors:
        delivery.state = DeliveryState.sent.value
        delivery.sent_at = now
        delivery.last_error = ""
        if not notice:
            delivery.detail = result or f"sent to {', '.join(sent_to)}"
            subscriber.last_delivery_at = now
            subscriber.last_delivery_ok = True
            subscriber.last_delivery_result = delivery.detail
            subscriber.consecutive_failures = 0
            subscriber.failing_since = None
        log.info("subscribers.sent", delivery_id=delivery.id, kind=delivery.kind)
        session.flush()
        return
    error = "; ".join(errors)[:2000]
    delivery.last_error = error
    if retryable:  # otherwise the channel has said why, once per process
        log.warning(
            "subscribers.failed", delivery_id=delivery.id, attempt=delivery.attempts, error=error
        )
    if not notice:
        subscriber.last_delivery_at = now
        subscriber.last_delivery_ok = False
        subscriber.last_delivery_result = f"failed: {error}"
        subscriber.consecutive_failures += 1
        subscriber.failing_since = subscriber.failing_since or started
        if _should_quarantine(subscriber, settings, now):
            quarantine(
                session,
                subscriber,
                reason=f"{subscriber.consecutive_failures} failed deliveries in a row since "
                f"{subscriber.failing_since.isoformat(timespec='seconds')}; last: {error}",
            )
            delivery.state = DeliveryState.failed.value
            delivery.detail = "failed; the subscriber was quarantined"
            session.flush()
            return
    attempts = delivery.attempts
    if retryable and attempts < settings.subscriber_delivery_attempts:
        delay = settings.subscriber_retry_base_seconds * 4 ** max(0, attempts - 1)
        delivery.state = DeliveryState.queued.value
        retrying = (
            f"attempt {attempts} of {settings.subscriber_delivery_attempts} failed; "
            f"retrying in {_duration(delay)}"
        )
        if notice:  # the detail keeps who was told already
            delivery.last_error = f"{error} ({retrying})"
        else:
            delivery.detail = retrying
        enqueue(
            session,
            DELIVER_JOB,
            {"delivery_id": delivery.id},
            run_at=now + timedelta(seconds=delay),
            key=job_key(delivery.subscriber_id, delivery.event_key, attempts),
        )
    else:
        delivery.state = DeliveryState.failed.value
        if not notice:
            delivery.detail = f"failed after {attempts} attempts"
    session.flush()


def _should_quarantine(subscriber: Subscriber, settings: Settings, now: datetime) -> bool:
    """Webhooks only (a failing mail relay is not the subscriber's fault): enough failures
    in a row, for long enough, that the receiver is gone rather than briefly down."""
    if subscriber.kind != SubscriberKind.webhook or subscriber.state != SubscriberState.active:
        return False
    if subscriber.consecutive_failures < settings.subscriber_quarantine_failures:
        return False
    since = subscriber.failing_since or now
    return now - since >= timedelta(hours=settings.subscriber_quarantine_hours)


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


# --- housekeeping ---------------------------------------------------------------------------


def housekeeping(session: Session, *, now: datetime | None = None) -> None:
    """Hourly: drop ended rate-limit windows, addresses that never confirmed, and finished
    deliveries past retention."""
    now = now or utcnow()
    limits.purge(session, now=now)
    forgotten = now - timedelta(days=UNCONFIRMED_DAYS)
    session.execute(
        delete(Subscriber).where(
            Subscriber.state == SubscriberState.unconfirmed.value,
            Subscriber.confirmation_sent_at.is_not(None),
            Subscriber.confirmation_sent_at < forgotten,
        )
    )
    old = now - timedelta(days=DELIVERY_RETENTION_DAYS)
    session.execute(
        delete(Delivery).where(
            Delivery.state.in_(
                [DeliveryState.sent.value, DeliveryState.failed.value, DeliveryState.skipped.value]
            ),
            Delivery.updated_at < old,
        )
    )
    session.flush()


def job_kinds(settings: Settings) -> list[JobKind]:
    """The job kinds bootstrap registers (with `HOUSEKEEPING_JOB` run hourly)."""
    sender = build_sender(settings)

    def deliver_job(session: Session, payload: dict[str, Any]) -> None:
        deliver(session, int(payload["delivery_id"]), sender=sender)

    def housekeeping_job(session: Session, payload: dict[str, Any]) -> None:
        housekeeping(session)

    # A send is bounded by the webhook timeout (or SMTP's); a few owner mails fit in 180 s.
    return [
        JobKind(DELIVER_JOB, deliver_job, max_attempts=3, timeout_seconds=180),
        JobKind(HOUSEKEEPING_JOB, housekeeping_job, max_attempts=1, timeout_seconds=120),
    ]
