"""API shapes for status page subscribers and their deliveries."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from tocsin.catalog.schemas import Out, Strict, Timestamp
from tocsin.subscribers.models import Delivery, Subscriber
from tocsin.subscribers.queries import display_address

ComponentCode = Annotated[str, Field(max_length=64)]


class SubscriberIn(Strict):
    """Exactly one of `email` and `endpoint` (like Statuspage's `POST /subscribers`)."""

    email: str = Field(default="", max_length=254)
    endpoint: str = Field(default="", max_length=2048, description="a webhook URL (http/https)")
    component_ids: list[ComponentCode] = Field(
        default_factory=list,
        max_length=500,
        description="public ids of the page's components; empty: the whole page",
    )
    skip_confirmation: bool = Field(
        default=False,
        description="admins only: subscribe an email address without the confirmation mail "
        "(Statuspage's skip_confirmation_notification)",
    )


class SubscriberOut(Out):
    id: int
    page_id: int
    kind: str
    address: str = Field(description="webhook URLs without credentials, query or long tokens")
    state: str = Field(description="unconfirmed, active, quarantined or unsubscribed")
    scope: str = Field(description="page or components")
    component_ids: list[str]
    pending_change: bool = Field(description="a change of scope waits for the address")
    source: str
    created_at: Timestamp
    confirmed_at: Timestamp | None
    confirmation_sent_at: Timestamp | None
    unsubscribed_at: Timestamp | None
    quarantined_at: Timestamp | None
    quarantine_reason: str
    consecutive_failures: int
    failing_since: Timestamp | None
    last_delivery_at: Timestamp | None
    last_delivery_ok: bool | None
    last_delivery_result: str


class DeliveryOut(Out):
    id: int
    kind: str
    event_key: str
    state: str
    attempts: int
    detail: str
    last_error: str
    created_at: Timestamp
    updated_at: Timestamp
    sent_at: Timestamp | None


def subscriber_out(subscriber: Subscriber) -> SubscriberOut:
    return SubscriberOut(
        id=subscriber.id,
        page_id=subscriber.page_id,
        kind=subscriber.kind,
        address=display_address(subscriber),
        state=subscriber.state,
        scope="page" if subscriber.all_components else "components",
        component_ids=[]
        if subscriber.all_components
        else [c.public_id for c in subscriber.components],
        pending_change=subscriber.pending_scope is not None,
        source=subscriber.source,
        created_at=subscriber.created_at,
        confirmed_at=subscriber.confirmed_at,
        confirmation_sent_at=subscriber.confirmation_sent_at,
        unsubscribed_at=subscriber.unsubscribed_at,
        quarantined_at=subscriber.quarantined_at,
        quarantine_reason=subscriber.quarantine_reason,
        consecutive_failures=subscriber.consecutive_failures,
        failing_since=subscriber.failing_since,
        last_delivery_at=subscriber.last_delivery_at,
        last_delivery_ok=subscriber.last_delivery_ok,
        last_delivery_result=subscriber.last_delivery_result,
    )


def delivery_out(delivery: Delivery) -> DeliveryOut:
    return DeliveryOut.model_validate(delivery)
