"""Queueing deliveries: one row and one job per subscriber and event, idempotently."""

from __future__ import annotations

from sqlalchemy import or_, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from tocsin.db import utcnow
from tocsin.jobs.queue import enqueue
from tocsin.statuspages.models import StatusPage
from tocsin.subscribers.models import (
    Delivery,
    DeliveryKind,
    DeliveryState,
    Subscriber,
    SubscriberState,
    subscriber_components,
)

DELIVER_JOB = "subscribers.deliver"
_INSERT_CHUNK = 500


def job_key(subscriber_id: int, event_key: str, attempt: int = 0) -> str:
    """The idempotency key of a delivery's job: one per subscriber and event (and retry)."""
    base = f"subscriber:{subscriber_id}:{event_key}"
    return base if attempt == 0 else f"{base}:retry:{attempt}"


def fan_out(
    session: Session,
    page: StatusPage,
    component_ids: list[int],
    kinds: tuple[str, ...],
    *,
    event_key: str,
    kind: DeliveryKind,
    page_incident_id: int | None = None,
    page_incident_update_id: int | None = None,
    component_change_id: int | None = None,
) -> int:
    """Queue the event for the page's active subscribers of `kinds` who follow the whole
    page or one of `component_ids` (everyone when it is empty)."""
    if not page.allow_subscribers:
        return 0
    query = select(Subscriber.id).where(
        Subscriber.page_id == page.id,
        Subscriber.state == SubscriberState.active.value,
        Subscriber.kind.in_(kinds),
    )
    if component_ids:
        scoped = select(subscriber_components.c.subscriber_id).where(
            subscriber_components.c.component_id.in_(set(component_ids))
        )
        query = query.where(or_(Subscriber.all_components.is_(True), Subscriber.id.in_(scoped)))
    audience = list(session.scalars(query.order_by(Subscriber.id)))
    return queue(
        session, audience, event_key=event_key, kind=kind,
        page_incident_id=page_incident_id, page_incident_update_id=page_incident_update_id,
        component_change_id=component_change_id,
    )  # fmt: skip


def queue(
    session: Session,
    subscriber_ids: list[int],
    *,
    event_key: str,
    kind: DeliveryKind,
    page_incident_id: int | None = None,
    page_incident_update_id: int | None = None,
    component_change_id: int | None = None,
) -> int:
    """Insert one delivery per subscriber for `event_key` (those that exist already are left
    alone) and queue a job for each new one. Returns how many were new."""
    if not subscriber_ids:
        return 0
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    now = utcnow()
    queued = 0
    for start in range(0, len(subscriber_ids), _INSERT_CHUNK):
        rows = [
            {
                "subscriber_id": sid,
                "event_key": event_key,
                "kind": kind.value,
                "page_incident_id": page_incident_id,
                "page_incident_update_id": page_incident_update_id,
                "component_change_id": component_change_id,
                "state": DeliveryState.queued.value,
                "attempts": 0,
                "last_error": "",
                "detail": "",
                "created_at": now,
                "updated_at": now,
            }
            for sid in subscriber_ids[start : start + _INSERT_CHUNK]
        ]
        statement = (
            insert(Delivery)
            .values(rows)
            .on_conflict_do_nothing(index_elements=["subscriber_id", "event_key"])
            .returning(Delivery.id, Delivery.subscriber_id)
        )
        for delivery_id, subscriber_id in session.execute(statement).all():
            key = job_key(subscriber_id, event_key)
            enqueue(session, DELIVER_JOB, {"delivery_id": delivery_id}, key=key)
            queued += 1
    return queued
