"""Reading subscribers and their deliveries for staff (the UI and the API)."""

from __future__ import annotations

from urllib.parse import urlsplit

from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload

from tocsin.errors import ValidationFailed
from tocsin.statuspages.models import StatusPage
from tocsin.subscribers.models import Delivery, Subscriber, SubscriberKind, SubscriberState

STATES = tuple(s.value for s in SubscriberState)
KINDS = tuple(k.value for k in SubscriberKind)


def list_subscribers(
    session: Session,
    page: StatusPage,
    *,
    state: str | None = None,
    kind: str | None = None,
    limit: int = 100,
    offset: int = 0,
) -> tuple[list[Subscriber], int]:
    """A page's subscribers, newest first, with their components loaded; and how many match."""
    conditions = [Subscriber.page_id == page.id]
    if state:
        if state not in STATES:
            raise ValidationFailed(f"state must be one of {', '.join(STATES)}", field="state")
        conditions.append(Subscriber.state == state)
    if kind:
        if kind not in KINDS:
            raise ValidationFailed(f"kind must be one of {', '.join(KINDS)}", field="kind")
        conditions.append(Subscriber.kind == kind)
    total = int(session.scalar(select(func.count(Subscriber.id)).where(*conditions)) or 0)
    items = list(
        session.scalars(
            select(Subscriber)
            .where(*conditions)
            .options(selectinload(Subscriber.components))
            .order_by(Subscriber.created_at.desc(), Subscriber.id.desc())
            .limit(limit)
            .offset(offset)
        )
    )
    return items, total


def counts_by_state(session: Session, page: StatusPage) -> dict[str, int]:
    rows = session.execute(
        select(Subscriber.state, func.count(Subscriber.id))
        .where(Subscriber.page_id == page.id)
        .group_by(Subscriber.state)
    ).all()
    found = {state: int(count) for state, count in rows}
    return {state: found.get(state, 0) for state in STATES}


def deliveries_of(session: Session, subscriber: Subscriber, *, limit: int = 100) -> list[Delivery]:
    """The subscriber's delivery log, newest first."""
    return list(
        session.scalars(
            select(Delivery)
            .where(Delivery.subscriber_id == subscriber.id)
            .order_by(Delivery.id.desc())
            .limit(limit)
        )
    )


def display_address(subscriber: Subscriber) -> str:
    """An email address as it is; a webhook URL without credentials, query or long tokens."""
    if subscriber.kind == SubscriberKind.email:
        return subscriber.address
    return mask_url(subscriber.address)


def mask_url(url: str) -> str:
    parts = urlsplit(url)
    host = parts.hostname or ""
    try:
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        port = ""
    segments = [seg if len(seg) < 16 else f"{seg[:4]}…" for seg in parts.path.split("/")]
    query = "?…" if parts.query else ""
    return f"{parts.scheme}://{host}{port}{'/'.join(segments)}{query}"
