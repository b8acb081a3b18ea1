"""The delivery job: send one queued delivery to its subscriber (or, for a quarantine notice,
to the page's owners), retry with backoff, quarantine a webhook that keeps failing.

Like page deliveries (notify/delivery.py), a delivery is marked `sending` and committed before
anything goes out, so no transaction (on SQLite, no write lock) is open while a mail server
or a webhook receiver takes its time; a worker that dies mid-send leaves the job to run
again, with the same email Message-ID and the same `X-Tocsin-Delivery` header (at least
once). A failed send never raises: that would roll back the record of it."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.message import EmailMessage
from typing import Any, TypeVar

import structlog
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from tocsin import __version__
from tocsin.catalog.models import User, UserRole
from tocsin.config import Settings
from tocsin.db import utcnow
from tocsin.jobs.queue import enqueue
from tocsin.jobs.registry import JobKind
from tocsin.notify.channels import DeliveryFailed, EmailChannel, WebhookChannel
from tocsin.notify.models import ContactKind, ContactMethod
from tocsin.notify.outbound import OutboundGuard
from tocsin.statuspages.models import (
    ComponentChange,
    MaintenanceStatus,
    PageIncident,
    PageIncidentUpdate,
    StatusPage,
)
from tocsin.subscribers import limits, mails, tokens, webhooks
from tocsin.subscribers.models import (
    Delivery,
    DeliveryKind,
    DeliveryState,
    Subscriber,
    SubscriberKind,
    SubscriberState,
)
from tocsin.subscribers.service import DELIVER_JOB, display_address, job_key, quarantine

log = structlog.get_logger("tocsin.subscribers")
T = TypeVar("T")

HOUSEKEEPING_JOB = "subscribers.housekeeping"
UNCONFIRMED_DAYS = 7  # an address that never confirms is forgotten this long after its mail
DELIVERY_RETENTION_DAYS = 90
DELIVERY_HEADER = "X-Tocsin-Delivery"


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


# --- links ----------------------------------------------------------------------------------


def _base(settings: Settings) -> str:
    return settings.base_url.rstrip("/")


def page_url(page: StatusPage, settings: Settings) -> str:
    """Where people read the page: its own address if it is served elsewhere."""
    return page.public_url.rstrip("/") or f"{_base(settings)}/status/{page.slug}"


def unsubscribe_url(subscriber: Subscriber, settings: Settings) -> str:
    token = tokens.unsubscribe_token(settings.secret_key, subscriber.id, subscriber.link_salt)
    return f"{_base(settings)}/status/{subscriber.page.slug}/unsubscribe/{token}"


def confirm_url(subscriber: Subscriber, settings: Settings) -> tuple[str, datetime]:
    hours = settings.subscriber_confirm_hours
    token = tokens.confirm_token(
        settings.secret_key, subscriber.id, subscriber.link_salt, hours=hours
    )
    expires = utcnow() + timedelta(hours=hours)
    return f"{_base(settings)}/status/{subscriber.page.slug}/subscribe/confirm/{token}", expires


def documentation_url(page: StatusPage, settings: Settings) -> str:
    return f"{_base(settings)}/status/{page.slug}/subscribe#webhooks"


def manage_url(page: StatusPage, settings: Settings) -> str:
    return f"{_base(settings)}/status-pages/{page.id}/subscribers"


def scope_text(subscriber: Subscriber, *, pending: bool = False) -> str:
    scope = subscriber.pending_scope if pending else None
    if scope is not None:
        if scope.get("all"):
            return "all components"
        wanted = {int(i) for i in scope.get("component_ids", [])}
        names = [c.name for c in subscriber.page.components if c.id in wanted]
    elif subscriber.all_components:
        return "all components"
    else:
        names = [c.name for c in subscriber.components]
    return ", ".join(names) if names else "no components (they were removed)"


def _mail_domain(settings: Settings) -> str:
    return settings.smtp_from.rpartition("@")[2] or "tocsin.invalid"


# --- what to send ---------------------------------------------------------------------------


@dataclass
class Outgoing:
    mails: list[tuple[str, EmailMessage]] = field(default_factory=list)  # (address, mail)
    webhook: tuple[str, bytes, dict[str, str]] | None = None  # (url, body, headers)


def why_not(session: Session, delivery: Delivery) -> str | None:
    """Why this delivery must not be sent now, or None."""
    subscriber = delivery.subscriber
    kind = delivery.kind
    if kind == DeliveryKind.quarantine_notice:
        return None
    if kind == DeliveryKind.confirmation:
        waiting = subscriber.state == SubscriberState.unconfirmed or (
            subscriber.state == SubscriberState.active and subscriber.pending_scope is not None
        )
        return None if waiting else f"nothing to confirm (the subscriber is {subscriber.state})"
    if subscriber.state != SubscriberState.active:
        return f"the subscriber is {subscriber.state}"
    if kind == DeliveryKind.incident_update:
        update = _update(session, delivery)
        if update is None:
            return "the update was deleted"
        if update.page_incident.hidden:
            return "the incident was withdrawn from the page"
    elif kind == DeliveryKind.component_update:
        if _change(session, delivery) is None:
            return "the component change was deleted"
    elif kind == DeliveryKind.maintenance_reminder:
        maintenance = _incident(session, delivery)
        if maintenance is None:
            return "the maintenance was deleted"
        if maintenance.status != MaintenanceStatus.scheduled:
            return f"the maintenance is already {maintenance.status.replace('_', ' ')}"
    return None


def _update(session: Session, delivery: Delivery) -> PageIncidentUpdate | None:
    if delivery.page_incident_update_id is None:
        return None
    return session.get(PageIncidentUpdate, delivery.page_incident_update_id)


def _incident(session: Session, delivery: Delivery) -> PageIncident | None:
    if delivery.page_incident_id is None:
        return None
    return session.get(PageIncident, delivery.page_incident_id)


def _change(session: Session, delivery: Delivery) -> ComponentChange | None:
    if delivery.component_change_id is None:
        return None
    return session.get(ComponentChange, delivery.component_change_id)


def _webhook_post(
    session: Session, delivery: Delivery, settings: Settings, content: dict[str, Any]
) -> tuple[str, bytes, dict[str, str]]:
    subscriber = delivery.subscriber
    page = subscriber.page
    body = webhooks.envelope(
        session,
        page,
        unsubscribe_url=unsubscribe_url(subscriber, settings),
        documentation_url=documentation_url(page, settings),
    )
    body.update(content)
    headers = {
        "Content-Type": "application/json",
        "User-Agent": f"Tocsin/{__version__}",
        DELIVERY_HEADER: f"tocsin-subscriber-delivery-{delivery.id}",
    }
    return subscriber.address, json.dumps(body, separators=(",", ":")).encode(), headers


def _present(row: T | None) -> T:
    assert row is not None  # why_not() ran first
    return row


def compose(session: Session, delivery: Delivery, settings: Settings) -> Outgoing:
    """The mail(s) or webhook POST for this delivery, built from the page as it is now."""
    subscriber = delivery.subscriber
    page = subscriber.page
    if delivery.kind == DeliveryKind.quarantine_notice:
        return _quarantine_notice(session, delivery, settings)
    url = page_url(page, settings)
    if subscriber.kind == SubscriberKind.webhook:
        if delivery.kind == DeliveryKind.component_update:
            change = _present(_change(session, delivery))
            content = {
                "component_update": webhooks.component_update_json(change),
                "component": webhooks.component_json(page, change.component, change.new_status),
            }
        elif delivery.kind == DeliveryKind.incident_update:
            update = _present(_update(session, delivery))
            incident = webhooks.incident_json(page, update.page_incident, url, upto=update)
            content = {"incident": incident}
        else:
            maintenance = _present(_incident(session, delivery))
            content = {"incident": webhooks.incident_json(page, maintenance, url, upto=None)}
        return Outgoing(webhook=_webhook_post(session, delivery, settings, content))
    pending = delivery.kind == DeliveryKind.confirmation and subscriber.pending_scope is not None
    envelope = mails.Envelope(
        to=subscriber.address,
        page=page,
        page_url=url,
        unsubscribe_url=unsubscribe_url(subscriber, settings),
        scope=scope_text(subscriber, pending=pending),
        message_id=f"<tocsin-subscriber-delivery-{delivery.id}@{_mail_domain(settings)}>",
        mail_domain=_mail_domain(settings),
    )
    if delivery.kind == DeliveryKind.confirmation:
        link, expires = confirm_url(subscriber, settings)
        mail = mails.confirmation_mail(
            envelope, confirm_url=link, expires_at=expires,
            change=subscriber.state == SubscriberState.active,
        )  # fmt: skip
    elif delivery.kind == DeliveryKind.incident_update:
        update = _present(_update(session, delivery))
        mail = mails.incident_mail(envelope, update.page_incident, update)
    elif delivery.kind == DeliveryKind.component_update:
        change = _present(_change(session, delivery))
        mail = mails.component_mail(envelope, change, change.component)
    else:
        mail = mails.reminder_mail(envelope, _present(_incident(session, delivery)))
    return Outgoing(mails=[(subscriber.address, mail.message(settings.smtp_from))])


# --- the page's owners ----------------------------------------------------------------------


def owners(session: Session, page: StatusPage) -> list[User]:
    """Who is told about the page's subscribers: its owner, the owning team's admins and
    responders; all admins when the page names no owner (someone must hear)."""
    people: list[User] = []
    if page.owner_user is not None:
        people.append(page.owner_user)
    if page.owner_team is not None:
        people += [
            m for m in page.owner_team.members if m.role in (UserRole.admin, UserRole.responder)
        ]
    people = [p for p in dict.fromkeys(people) if p.active]
    if people:
        return people
    return list(
        session.scalars(
            select(User)
            .where(User.role == UserRole.admin.value, User.active.is_(True))
            .order_by(User.id)
        )
    )


def owner_addresses(session: Session, person: User) -> list[str]:
    """A person's enabled email contact methods; their login address if they have none."""
    found = session.scalars(
        select(ContactMethod.target)
        .where(
            ContactMethod.user_id == person.id,
            ContactMethod.kind == ContactKind.email.value,
            ContactMethod.enabled.is_(True),
        )
        .order_by(ContactMethod.id)
    )
    return list(dict.fromkeys(found)) or [person.email]


def _quarantine_notice(session: Session, delivery: Delivery, settings: Settings) -> Outgoing:
    subscriber = delivery.subscriber
    page = subscriber.page
    out = Outgoing()
    done = set(delivery.detail.removeprefix("told ").split(", ")) if delivery.detail else set()
    for person in owners(session, page):
        for address in owner_addresses(session, person):
            if address in done or address in (a for a, _ in out.mails):
                continue
            mail = mails.quarantine_mail(
                to=address,
                recipient_name=person.name,
                page=page,
                endpoint=display_address(subscriber),
                reason=subscriber.quarantine_reason or "unknown",
                failures=subscriber.consecutive_failures,
                failing_since=subscriber.failing_since,
                manage_url=manage_url(page, settings),
                message_id=f"<tocsin-subscriber-delivery-{delivery.id}-{len(out.mails)}"
                f"@{_mail_domain(settings)}>",
            )
            out.mails.append((address, mail.message(settings.smtp_from)))
    return out


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
    for address, mail in outgoing.mails:
        try:
            sender.email.transmit(mail)
            sent_to.append(address)
        except DeliveryFailed as exc:
            errors.append(exc.reason)
    delivery = session.get(Delivery, delivery_id, with_for_update=True)
    if delivery is None or delivery.state != DeliveryState.sending:
        return  # removed while sending: nothing left to record
    _record(session, delivery, errors, sent_to, result, started, settings)


def _record(
    session: Session,
    delivery: Delivery,
    errors: list[str],
    sent_to: list[str],
    result: str,
    started: datetime,
    settings: Settings,
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
    if attempts < settings.subscriber_delivery_attempts:
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
