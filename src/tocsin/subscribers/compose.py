"""What a delivery sends: the mail(s) or the webhook POST, built from the page as it is when
the job runs, and why a delivery must not be sent at all."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any, TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session

from tocsin import __version__
from tocsin.catalog.models import User, UserRole
from tocsin.config import Settings
from tocsin.notify.models import ContactKind, ContactMethod
from tocsin.statuspages.models import (
    ComponentChange,
    MaintenanceStatus,
    PageIncident,
    PageIncidentUpdate,
    StatusPage,
)
from tocsin.subscribers import mails, urls, webhooks
from tocsin.subscribers.models import (
    Delivery,
    DeliveryKind,
    SubscriberKind,
    SubscriberState,
)
from tocsin.subscribers.queries import display_address

T = TypeVar("T")
DELIVERY_HEADER = "X-Tocsin-Delivery"


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
        unsubscribe_url=urls.unsubscribe_url(subscriber, settings),
        documentation_url=urls.documentation_url(page, settings),
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
    url = urls.page_url(page, settings)
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
        unsubscribe_url=urls.unsubscribe_url(subscriber, settings),
        scope=urls.scope_text(subscriber, pending=pending),
        message_id=f"<tocsin-subscriber-delivery-{delivery.id}@{urls.mail_domain(settings)}>",
        mail_domain=urls.mail_domain(settings),
    )
    if delivery.kind == DeliveryKind.confirmation:
        link, expires = urls.confirm_url(subscriber, settings)
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
            .where(User.role == UserRole.admin.value, User.active.is_(True), User.is_person)
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
                manage_url=urls.manage_url(page, settings),
                message_id=f"<tocsin-subscriber-delivery-{delivery.id}-{len(out.mails)}"
                f"@{urls.mail_domain(settings)}>",
            )
            out.mails.append((address, mail.message(settings.smtp_from)))
    return out
