"""JSON routes: event webhook subscriptions (admins only: their deliveries carry restricted
incidents' titles when they opt in), the test event and the delivery log."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Response

from tocsin.catalog.schemas import Page, page, window
from tocsin.deps import Admin, AppSettings, DbSession
from tocsin.web.openapi import errors
from tocsin.webhooks import payloads
from tocsin.webhooks import service as webhooks
from tocsin.webhooks.schemas import (
    DeliveryOut,
    EventKindOut,
    SecretOut,
    SubscriptionCreated,
    SubscriptionIn,
    SubscriptionOut,
    SubscriptionPatch,
    delivery_out,
    subscription_created,
    subscription_out,
)

router = APIRouter(prefix="/api/v1", tags=["webhooks"])

PathId = Annotated[int, Path(ge=1, le=2**31 - 1)]
Limit = Annotated[int, Query(ge=1, le=500, description="Page size (1–500)")]
Offset = Annotated[int, Query(ge=0, le=2**62, description="Rows to skip")]


@router.get("/webhooks", response_model=Page[SubscriptionOut], responses=errors(403))
def list_subscriptions(db: DbSession, admin: Admin, limit: Limit = 100, offset: Offset = 0) -> dict:
    """The event webhook subscriptions, by name."""
    rows = [subscription_out(s) for s in webhooks.list_subscriptions(db)]
    return window(rows, limit, offset)


@router.get("/webhook-events", response_model=list[EventKindOut], responses=errors(403))
def list_event_kinds(admin: Admin) -> list[EventKindOut]:
    """Every event kind a subscription may ask for (docs/webhooks.md). Not under
    `/webhooks/`, where the segment after it is a subscription's id."""
    return [EventKindOut(event=k, description=d) for k, d in payloads.EVENT_KINDS.items()]


@router.post(
    "/webhooks", status_code=201, response_model=SubscriptionCreated, responses=errors(404)
)
def create_subscription(
    body: SubscriptionIn, db: DbSession, admin: Admin, settings: AppSettings
) -> SubscriptionCreated:
    """Subscribe a URL. Its signing secret is in this answer only. A URL that reaches a
    private address is refused (422) unless the server allows it."""
    subscription, secret = webhooks.create_subscription(
        db, body.model_dump(), settings=settings, by=admin
    )
    return subscription_created(subscription, secret)


@router.get("/webhooks/{subscription_id}", response_model=SubscriptionOut, responses=errors(403))
def get_subscription(subscription_id: PathId, db: DbSession, admin: Admin) -> SubscriptionOut:
    return subscription_out(webhooks.get_subscription(db, subscription_id))


@router.patch("/webhooks/{subscription_id}", response_model=SubscriptionOut)
def update_subscription(
    subscription_id: PathId,
    body: SubscriptionPatch,
    db: DbSession,
    admin: Admin,
    settings: AppSettings,
) -> SubscriptionOut:
    """Change any field; fields left out are kept."""
    subscription = webhooks.get_subscription(db, subscription_id)
    changes = body.model_dump(exclude_unset=True)
    return subscription_out(
        webhooks.update_subscription(db, subscription, changes, settings=settings)
    )


@router.delete("/webhooks/{subscription_id}", status_code=204)
def delete_subscription(subscription_id: PathId, db: DbSession, admin: Admin) -> Response:
    """Delete it and its delivery log; deliveries still queued are dropped."""
    webhooks.delete_subscription(db, webhooks.get_subscription(db, subscription_id))
    return Response(status_code=204)


@router.post("/webhooks/{subscription_id}/rotate-secret", response_model=SecretOut)
def rotate_secret(
    subscription_id: PathId, db: DbSession, admin: Admin, settings: AppSettings
) -> SecretOut:
    """A new signing secret, shown this once; the old one stops matching."""
    subscription = webhooks.get_subscription(db, subscription_id)
    return SecretOut(signing_secret=webhooks.rotate_secret(db, subscription, settings=settings))


@router.post("/webhooks/{subscription_id}/test", status_code=202, response_model=DeliveryOut)
def send_test(
    subscription_id: PathId, db: DbSession, admin: Admin, settings: AppSettings
) -> DeliveryOut:
    """Queue a `webhook.test` event to this subscription; the worker sends it after commit
    (its outcome is in the delivery log)."""
    subscription = webhooks.get_subscription(db, subscription_id)
    return delivery_out(webhooks.send_test(db, subscription, settings=settings, by=admin))


@router.get(
    "/webhooks/{subscription_id}/deliveries",
    response_model=Page[DeliveryOut],
    responses=errors(403),
)
def list_deliveries(
    subscription_id: PathId, db: DbSession, admin: Admin, limit: Limit = 100, offset: Offset = 0
) -> dict:
    """The subscription's delivery log, newest first (its latest 100 are kept)."""
    subscription = webhooks.get_subscription(db, subscription_id)
    rows, total = webhooks.list_deliveries(db, subscription, limit=limit, offset=offset)
    return page([delivery_out(d) for d in rows], total, limit, offset)
