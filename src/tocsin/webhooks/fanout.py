"""Reacting to incident events: one delivery per matching subscription, in the transaction
of the change (wired in `tocsin.wiring.build_bus`). A change that is rolled back leaves no
delivery and sends nothing; the worker sends after commit (webhooks/delivery.py)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from tocsin.bus import Event
from tocsin.db import utcnow
from tocsin.incidents.models import Incident
from tocsin.webhooks import payloads
from tocsin.webhooks.models import WebhookSubscription
from tocsin.webhooks.service import queue_delivery

# Every domain event webhooks react to (subscribed in the composition root).
EVENT_TYPES: tuple[type[Event], ...] = tuple(payloads.DESCRIBE)


def matches(subscription: WebhookSubscription, kind: str, incident: Incident) -> bool:
    """Whether the subscription wants this event about this incident."""
    if not subscription.enabled or kind not in subscription.events:
        return False
    if incident.restricted and not subscription.include_restricted:
        return False
    if incident.drill and not subscription.include_drills:
        return False
    if subscription.severity_ids and incident.severity_id not in subscription.severity_ids:
        return False
    if subscription.type_ids and incident.type_id not in subscription.type_ids:
        return False
    services = {s.id for s in incident.services}
    if subscription.service_ids and not services & set(subscription.service_ids):
        return False
    teams = {s.team_id for s in incident.services if s.team_id is not None}
    return not (subscription.team_ids and not teams & set(subscription.team_ids))


def on_event(session: Session, event: Event, *, base_url: str) -> None:
    """Any event of `EVENT_TYPES`: queue it for every subscription that wants it."""
    subscriptions = list(
        session.scalars(select(WebhookSubscription).where(WebhookSubscription.enabled.is_(True)))
    )
    if not subscriptions:
        return  # the usual case: no query beyond this one
    kind, incident_id, data = payloads.DESCRIBE[type(event)](session, event)
    incident = session.get(Incident, incident_id) if incident_id is not None else None
    if incident is None:
        return
    wanted = [s for s in subscriptions if matches(s, kind, incident)]
    if not wanted:
        return
    occurred_at = getattr(event, "at", None) or utcnow()
    shown = payloads.incident_json(incident, base_url)

    def make_body(ident: str) -> dict[str, Any]:
        return payloads.body(ident, kind, occurred_at, shown, data)

    for subscription in wanted:
        queue_delivery(session, subscription, kind, incident.id, make_body)
