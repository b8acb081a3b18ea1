"""Status page subscriber deliveries: one queued delivery to its subscriber (or, for a
quarantine notice, to the page's owners), sent by the one delivery module
(notify/delivery.py); a webhook that keeps failing is quarantined. Each delivery keeps its
email Message-ID and `X-Tocsin-Delivery` header across attempts."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage
from typing import Any

import structlog
from sqlalchemy import delete
from sqlalchemy.orm import Session

from tocsin.config import Settings
from tocsin.db import utcnow
from tocsin.jobs.registry import JobKind
from tocsin.notify.channels import EmailChannel, WebhookChannel
from tocsin.notify.delivery import Outcome, Purpose, Refusal, Result, RetryPolicy, Target, handler
from tocsin.outbound import OutboundGuard
from tocsin.subscribers import limits
from tocsin.subscribers.compose import compose, why_not
from tocsin.subscribers.fanout import DELIVER_JOB
from tocsin.subscribers.models import (
    Delivery,
    DeliveryKind,
    DeliveryState,
    Subscriber,
    SubscriberKind,
    SubscriberState,
)
from tocsin.subscribers.queries import mask_url
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


def _webhook_target(sender: Sender, url: str, body: bytes, headers: dict[str, str]) -> Target:
    def send() -> str:
        timeout = sender.settings.subscriber_webhook_timeout_seconds
        return f"HTTP {sender.webhook.post(url, body, headers, timeout=timeout)}"

    return Target("webhook", mask_url(url), "webhook", send)  # the URL's secrets stay out


def _mail_target(sender: Sender, address: str, mail: EmailMessage) -> Target:
    def send() -> str:
        sender.email.transmit(mail)
        return "sent"

    return Target(f"mail:{address}", address, "email", send)


class SubscriberDeliveries(Purpose[Delivery]):
    """One message to one subscriber about one event (a Delivery row)."""

    job = DELIVER_JOB
    payload_key = "delivery_id"
    waiting = DeliveryState.queued.value

    def __init__(self, sender: Sender) -> None:
        self.sender = sender

    def load(self, session: Session, ident: int) -> Delivery | None:
        return session.get(Delivery, ident, with_for_update=True)

    def why_not(self, session: Session, record: Delivery) -> str | None:
        return why_not(session, record)

    def targets(self, session: Session, record: Delivery) -> list[Target] | Refusal:
        outgoing = compose(session, record, self.sender.settings)
        targets = [_mail_target(self.sender, address, mail) for address, mail in outgoing.mails]
        if outgoing.webhook is not None:
            targets.append(_webhook_target(self.sender, *outgoing.webhook))
        return targets or Refusal("nobody to tell")

    def attempted(self, session: Session, record: Delivery, results: list[Result]) -> str | None:
        """The subscriber's record of its deliveries; quarantine a webhook that keeps
        failing (a failing mail relay is not the subscriber's fault)."""
        failures = "; ".join(r.detail for r in results if not r.ok)[:2000]
        record.last_error = failures
        if record.kind == DeliveryKind.quarantine_notice:
            return None
        subscriber, now = record.subscriber, utcnow()
        subscriber.last_delivery_at = now
        subscriber.last_delivery_ok = not failures
        if not failures:
            subscriber.last_delivery_result = "; ".join(r.detail for r in results) or "sent"
            subscriber.consecutive_failures = 0
            subscriber.failing_since = None
            return None
        subscriber.last_delivery_result = f"failed: {failures}"
        subscriber.consecutive_failures += 1
        subscriber.failing_since = subscriber.failing_since or record.updated_at
        if not _should_quarantine(subscriber, self.sender.settings, now):
            return None
        quarantine(
            session,
            subscriber,
            reason=f"{subscriber.consecutive_failures} failed deliveries in a row since "
            f"{subscriber.failing_since.isoformat(timespec='seconds')}; last: {failures}",
        )
        return "the subscriber was quarantined"

    def concluded(self, session: Session, record: Delivery, outcome: Outcome) -> None:
        pass  # the subscriber's delivery log is the record


def _should_quarantine(subscriber: Subscriber, settings: Settings, now: datetime) -> bool:
    """Webhooks only: enough failures in a row, for long enough, that the receiver is gone
    rather than briefly down."""
    if subscriber.kind != SubscriberKind.webhook or subscriber.state != SubscriberState.active:
        return False
    if subscriber.consecutive_failures < settings.subscriber_quarantine_failures:
        return False
    since = subscriber.failing_since or now
    return now - since >= timedelta(hours=settings.subscriber_quarantine_hours)


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

    def housekeeping_job(session: Session, payload: dict[str, Any]) -> None:
        housekeeping(session)

    deliver = handler(SubscriberDeliveries(sender), RetryPolicy.from_settings(settings))
    # A send is bounded by the webhook timeout (or SMTP's); a few owner mails fit in 180 s.
    return [
        JobKind(DELIVER_JOB, deliver, max_attempts=3, timeout_seconds=180),
        JobKind(HOUSEKEEPING_JOB, housekeeping_job, max_attempts=1, timeout_seconds=120),
    ]
