"""Subscriber actions: subscribe (double opt-in for email), confirm, unsubscribe, the staff
actions, quarantine, and `on_page_event`, which queues deliveries for a page's change (run
by `on_page_event_published`, the reaction to status pages' `PageEvent`).

Like every service module these validate, write and queue jobs in the caller's transaction;
they flush and never commit. Sending happens in `delivery.py`, after commit."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from tocsin.catalog.models import User, UserRole
from tocsin.config import Settings
from tocsin.db import utcnow
from tocsin.errors import Conflict, Forbidden, NotFound
from tocsin.incidents.timeline import record
from tocsin.outbound import OutboundGuard
from tocsin.statuspages.events import MAINTENANCE_REMINDER, PageEvent
from tocsin.statuspages.models import (
    Component,
    ComponentChange,
    MaintenanceStatus,
    PageIncident,
    PageIncidentUpdate,
    StatusPage,
)
from tocsin.subscribers import fanout
from tocsin.subscribers.checks import Request, check_request
from tocsin.subscribers.models import (
    Delivery,
    DeliveryKind,
    DeliveryState,
    Subscriber,
    SubscriberKind,
    SubscriberState,
)
from tocsin.subscribers.queries import display_address


def new_salt() -> str:
    return secrets.token_hex(16)


# --- looking things up ----------------------------------------------------------------------


def page_by_slug(session: Session, slug: str) -> StatusPage:
    page = session.scalar(select(StatusPage).where(StatusPage.slug == slug[:64]))
    if page is None:
        raise NotFound(f"no status page {slug!r}")
    return page


def get_page(session: Session, page_id: int) -> StatusPage:
    page = session.get(StatusPage, page_id)
    if page is None:
        raise NotFound(f"no status page {page_id}")
    return page


def get_subscriber(session: Session, page: StatusPage, subscriber_id: int) -> Subscriber:
    subscriber = session.get(Subscriber, subscriber_id)
    if subscriber is None or subscriber.page_id != page.id:
        raise NotFound(f"no subscriber {subscriber_id} on {page.name}")
    return subscriber


# --- subscribing ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    subscriber: Subscriber
    # "confirmation_sent", "confirmation_recent" (one went out a few minutes ago: not
    # again), "active" (webhook, or confirmation skipped), "unchanged" (already subscribed)
    result: str


def _set_scope(session: Session, subscriber: Subscriber, component_ids: tuple[int, ...]) -> None:
    subscriber.all_components = not component_ids
    subscriber.components = (
        list(session.scalars(select(Component).where(Component.id.in_(component_ids))))
        if component_ids
        else []
    )


def _scope_of(subscriber: Subscriber) -> tuple[int, ...]:
    return () if subscriber.all_components else tuple(c.id for c in subscriber.components)


def _find(session: Session, page: StatusPage, request: Request) -> Subscriber | None:
    return session.scalar(
        select(Subscriber).where(
            Subscriber.page_id == page.id, Subscriber.address_hash == request.hash
        )
    )


def subscribe(
    session: Session,
    page: StatusPage,
    request: Request,
    *,
    settings: Settings,
    by: User | None = None,
    skip_confirmation: bool = False,
) -> Outcome:
    """Subscribe an address (checked by `check_request`) to `page`.

    Email addresses are confirmed first (double opt-in), unless staff skip it; nothing but
    the confirmation mail goes to an unconfirmed address, and that at most once per
    `subscriber_confirm_resend_minutes`. Re-subscribing an address that is already active
    with another scope asks the address to confirm the change. Webhooks are active at once.
    `by` is the staff member adding it (None from the public form); staff get a Conflict
    for an address that is already subscribed, the public the same answer as always."""
    if skip_confirmation and (by is None or not by.can(UserRole.admin)):
        raise Forbidden("only admins may subscribe an address without its confirmation")
    now = utcnow()
    subscriber = _find(session, page, request)
    if subscriber is not None and subscriber.state != SubscriberState.unsubscribed:
        if by is not None and not (
            skip_confirmation and subscriber.state == SubscriberState.unconfirmed
        ):
            raise Conflict(
                f"{display_address(subscriber)} is already a subscriber ({subscriber.state})"
            )
        return _again(session, subscriber, request, settings, now, skip_confirmation)
    if subscriber is None:
        subscriber = Subscriber(
            page_id=page.id,
            kind=request.kind,
            address=request.address,
            address_hash=request.hash,
            link_salt=new_salt(),
            source="public" if by is None else "staff",
            created_by_id=by.id if by is not None else None,
            created_at=now,
        )
        session.add(subscriber)
    else:  # unsubscribed before: a fresh start, and links sent before stop working
        subscriber.link_salt = new_salt()
        subscriber.unsubscribed_at = None
        subscriber.confirmed_at = None
        # confirmation_sent_at stays: the resend interval holds across re-subscribing.
        subscriber.pending_scope = None
        subscriber.source = "public" if by is None else "staff"
        _reset_failures(subscriber)
    _set_scope(session, subscriber, request.component_ids)
    subscriber.updated_at = now
    if request.kind == SubscriberKind.webhook or skip_confirmation:
        subscriber.state = SubscriberState.active.value
        subscriber.confirmed_at = now
        session.flush()
        return Outcome(subscriber, "active")
    subscriber.state = SubscriberState.unconfirmed.value
    session.flush()
    queue_confirmation(session, subscriber, settings, now=now)
    return Outcome(subscriber, "confirmation_sent")


def _again(
    session: Session,
    subscriber: Subscriber,
    request: Request,
    settings: Settings,
    now: datetime,
    skip_confirmation: bool,
) -> Outcome:
    """A request for an address that is already a subscriber (unconfirmed, active or
    quarantined)."""
    if subscriber.kind == SubscriberKind.webhook:
        return Outcome(subscriber, "unchanged")  # whoever knows a URL may not rescope it
    if subscriber.state == SubscriberState.unconfirmed:
        _set_scope(session, subscriber, request.component_ids)
        subscriber.updated_at = now
        if skip_confirmation:
            subscriber.state = SubscriberState.active.value
            subscriber.confirmed_at = now
            session.flush()
            return Outcome(subscriber, "active")
        session.flush()
        sent = queue_confirmation(session, subscriber, settings, now=now)
        return Outcome(subscriber, "confirmation_sent" if sent else "confirmation_recent")
    if _scope_of(subscriber) == request.component_ids:
        if subscriber.pending_scope is not None:
            subscriber.pending_scope = None
            session.flush()
        return Outcome(subscriber, "unchanged")
    subscriber.pending_scope = request.scope()
    subscriber.updated_at = now
    session.flush()
    sent = queue_confirmation(session, subscriber, settings, now=now)
    return Outcome(subscriber, "confirmation_sent" if sent else "confirmation_recent")


def next_confirmation_at(subscriber: Subscriber, settings: Settings) -> datetime | None:
    """When another confirmation mail may go to this address (None: now)."""
    if subscriber.confirmation_sent_at is None:
        return None
    at = subscriber.confirmation_sent_at + timedelta(
        minutes=settings.subscriber_confirm_resend_minutes
    )
    return at if at > utcnow() else None


def queue_confirmation(
    session: Session, subscriber: Subscriber, settings: Settings, *, now: datetime | None = None
) -> bool:
    """Queue the confirmation mail unless one went out within the resend interval."""
    now = now or utcnow()
    if next_confirmation_at(subscriber, settings) is not None:
        return False
    subscriber.confirmation_sent_at = now
    fanout.queue(
        session,
        [subscriber.id],
        event_key=f"confirm:{now.strftime('%Y%m%dT%H%M%S%f')}",
        kind=DeliveryKind.confirmation,
    )
    return True


def resend_confirmation(
    session: Session, subscriber: Subscriber, *, settings: Settings, by: User
) -> Subscriber:
    """Staff: send the confirmation mail again (the resend interval still applies)."""
    waiting = subscriber.state == SubscriberState.unconfirmed or (
        subscriber.state == SubscriberState.active and subscriber.pending_scope is not None
    )
    if subscriber.kind != SubscriberKind.email or not waiting:
        raise Conflict(f"{display_address(subscriber)} has nothing to confirm")
    after = next_confirmation_at(subscriber, settings)
    if after is not None:
        minutes = max(1, round((after - utcnow()).total_seconds() / 60))
        raise Conflict(
            f"a confirmation went to {subscriber.address} recently; another can go in "
            f"{minutes} minute{'s' if minutes != 1 else ''}"
        )
    queue_confirmation(session, subscriber, settings)
    session.flush()
    return subscriber


def add_subscriber(
    session: Session,
    page: StatusPage,
    *,
    email: str = "",
    endpoint: str = "",
    component_ids: list[str] | tuple[str, ...] = (),
    skip_confirmation: bool = False,
    by: User,
    settings: Settings,
) -> Subscriber:
    """Staff: add a subscriber (an admin may skip the email confirmation)."""
    if skip_confirmation and not by.can(UserRole.admin):
        raise Forbidden("only admins may subscribe an address without its confirmation")
    guard = OutboundGuard.from_settings(settings)
    request = check_request(
        session, page, email=email, endpoint=endpoint, component_ids=component_ids, guard=guard
    )
    outcome = subscribe(
        session, page, request, settings=settings, by=by, skip_confirmation=skip_confirmation
    )
    return outcome.subscriber


# --- confirming and unsubscribing -----------------------------------------------------------


def confirm(session: Session, subscriber: Subscriber) -> str:
    """Activate a subscriber whose confirmation link was followed (and apply a pending
    change of scope). Returns what happened, for the page."""
    now = utcnow()
    pending = subscriber.pending_scope
    if subscriber.state == SubscriberState.unconfirmed:
        subscriber.state = SubscriberState.active.value
        subscriber.confirmed_at = now
        result = "confirmed"
    elif pending is not None:
        result = "changed"
    else:
        return "already"
    if pending is not None:
        wanted = {int(i) for i in pending.get("component_ids", [])}
        ids = tuple(c.id for c in subscriber.page.components if c.id in wanted)
        _set_scope(session, subscriber, () if pending.get("all") else ids)
        subscriber.pending_scope = None
    subscriber.updated_at = now
    session.flush()
    return result


def unsubscribe(session: Session, subscriber: Subscriber) -> bool:
    """Stop every delivery to this subscriber. False if it had already unsubscribed."""
    if subscriber.state == SubscriberState.unsubscribed:
        return False
    now = utcnow()
    subscriber.state = SubscriberState.unsubscribed.value
    subscriber.unsubscribed_at = now
    subscriber.pending_scope = None
    subscriber.updated_at = now
    _skip_queued(session, subscriber, "not sent: unsubscribed")
    session.flush()
    return True


# --- staff actions --------------------------------------------------------------------------


def remove_subscriber(session: Session, subscriber: Subscriber, *, by: User) -> None:
    """Delete a subscriber with its delivery log (its queued jobs then find nothing)."""
    session.delete(subscriber)
    session.flush()


def reactivate(session: Session, subscriber: Subscriber, *, by: User) -> Subscriber:
    """Staff: deliver to a quarantined webhook again, with a clean failure count."""
    if subscriber.state != SubscriberState.quarantined:
        raise Conflict(
            f"{display_address(subscriber)} is {subscriber.state}; only a quarantined "
            "subscriber can be re-activated"
        )
    subscriber.state = SubscriberState.active.value
    subscriber.quarantined_at = None
    subscriber.quarantine_reason = ""
    _reset_failures(subscriber)
    subscriber.updated_at = utcnow()
    session.flush()
    return subscriber


def quarantine(
    session: Session, subscriber: Subscriber, *, reason: str, tell_owner: bool = True
) -> None:
    """Stop delivering to a failing webhook, skip what is queued for it, and queue the
    mail that tells the page's owner."""
    now = utcnow()
    subscriber.state = SubscriberState.quarantined.value
    subscriber.quarantined_at = now
    subscriber.quarantine_reason = reason[:2000]
    subscriber.updated_at = now
    _skip_queued(session, subscriber, "not sent: the subscriber was quarantined")
    if tell_owner:
        fanout.queue(
            session,
            [subscriber.id],
            event_key=f"quarantine:{now.strftime('%Y%m%dT%H%M%S%f')}",
            kind=DeliveryKind.quarantine_notice,
        )
    session.flush()


def _reset_failures(subscriber: Subscriber) -> None:
    subscriber.consecutive_failures = 0
    subscriber.failing_since = None


def _skip_queued(session: Session, subscriber: Subscriber, detail: str) -> None:
    session.execute(
        update(Delivery)
        .where(
            Delivery.subscriber_id == subscriber.id,
            Delivery.state == DeliveryState.queued.value,
            Delivery.kind != DeliveryKind.quarantine_notice.value,
        )
        .values(state=DeliveryState.skipped.value, detail=detail, updated_at=utcnow())
        .execution_options(synchronize_session=False)
    )


# --- events from the status page ------------------------------------------------------------


def on_page_event_published(session: Session, event: PageEvent) -> None:
    """A status page published a change: queue its subscribers' deliveries (`on_page_event`,
    once for the update or reminder, once per component change). An update published with
    `deliver_notifications` off tells nobody, nor do the component changes it made."""
    if event.kind == MAINTENANCE_REMINDER:
        reminder = session.get(PageIncident, event.page_incident_id)
        if reminder is not None:
            on_page_event(session, reminder_for=reminder)
        return
    if not event.deliver_notifications:
        return
    if event.page_incident_update_id is not None:
        published = session.get(PageIncidentUpdate, event.page_incident_update_id)
        if published is not None:
            on_page_event(session, page_incident_update=published)
    for change_id in event.component_change_ids:
        change = session.get(ComponentChange, change_id)
        if change is not None:
            on_page_event(session, component_change=change)


def on_page_event(
    session: Session,
    *,
    page_incident_update: PageIncidentUpdate | None = None,
    component_change: ComponentChange | None = None,
    reminder_for: PageIncident | None = None,
) -> int:
    """Queue one delivery per interested, active subscriber for one change of a page, in
    the caller's transaction; returns how many were queued. Give exactly one of:

    - `page_incident_update`: an update published on an incident or maintenance. Sent to
      subscribers of the whole page and of any component the incident names or the update
      changes (an incident naming no component goes to everyone). Nothing if the update has
      `deliver_notifications` off, or its incident is a drill or restricted.
    - `component_change`: a component's status changed. Sent to subscribers of the whole
      page and of that component. A change made by a published update (it has
      `page_incident_update_id`) goes to webhooks only: email subscribers get the update.
    - `reminder_for`: a scheduled maintenance about to start.

    Calling again for the same event queues nothing more (one delivery per subscriber and
    event), and nothing is queued while the page has `allow_subscribers` off."""
    given = [x for x in (page_incident_update, component_change, reminder_for) if x is not None]
    if len(given) != 1:
        raise ValueError("give exactly one of page_incident_update, component_change, reminder_for")
    session.flush()
    kinds: tuple[str, ...] = (SubscriberKind.email.value, SubscriberKind.webhook.value)
    if page_incident_update is not None:
        incident = page_incident_update.page_incident
        if not page_incident_update.deliver_notifications or incident.hidden:
            return 0
        page = incident.page
        components = [c.id for c in incident.components] + [
            int(a["component_id"])
            for a in page_incident_update.affected_components or []
            if a.get("component_id") is not None
        ]
        queued = fanout.fan_out(
            session, page, components, kinds,
            event_key=f"update:{page_incident_update.id}", kind=DeliveryKind.incident_update,
            page_incident_id=incident.id, page_incident_update_id=page_incident_update.id,
        )  # fmt: skip
        if queued and incident.incident is not None:
            # Responders see on the incident that customers are being told, and how many.
            record(
                session,
                incident.incident,
                "notification",
                f"{page.name}: the update goes to {queued} status page "
                f"subscriber{'s' if queued != 1 else ''}",
                by=None,
            )
        return queued
    if component_change is not None:
        component = component_change.component
        made_by = component_change.page_incident_update
        if made_by is not None:
            if not made_by.deliver_notifications or made_by.page_incident.hidden:
                return 0
            kinds = (SubscriberKind.webhook.value,)
        return fanout.fan_out(
            session, component.page, [component.id], kinds,
            event_key=f"change:{component_change.id}", kind=DeliveryKind.component_update,
            component_change_id=component_change.id,
        )  # fmt: skip
    assert reminder_for is not None
    if not reminder_for.is_maintenance or reminder_for.status != MaintenanceStatus.scheduled:
        return 0
    return fanout.fan_out(
        session, reminder_for.page, [c.id for c in reminder_for.components], kinds,
        event_key=f"reminder:{reminder_for.id}", kind=DeliveryKind.maintenance_reminder,
        page_incident_id=reminder_for.id,
    )  # fmt: skip
