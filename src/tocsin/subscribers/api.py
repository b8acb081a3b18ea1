"""JSON routes: a status page's subscribers (responders and admins; subscribers are personal
data, so viewers do not see them), their delivery logs, and the staff actions."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Response

from tocsin.catalog.schemas import Page
from tocsin.deps import AppSettings, DbSession, Responder
from tocsin.subscribers import queries, service
from tocsin.subscribers.models import SubscriberKind, SubscriberState
from tocsin.subscribers.schemas import (
    DeliveryOut,
    SubscriberIn,
    SubscriberOut,
    delivery_out,
    subscriber_out,
)
from tocsin.web.openapi import errors

router = APIRouter(prefix="/api/v1/status-pages", tags=["status page subscribers"])

PathId = Annotated[int, Path(ge=1, le=2**31 - 1)]


@router.get("/{page_id}/subscribers", response_model=Page[SubscriberOut], responses=errors(403))
def list_subscribers(
    page_id: PathId,
    db: DbSession,
    user: Responder,
    state: SubscriberState | None = None,
    kind: SubscriberKind | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> Page[SubscriberOut]:
    page = service.get_page(db, page_id)
    items, total = queries.list_subscribers(
        db, page, state=state, kind=kind, limit=limit, offset=offset
    )
    return Page(items=[subscriber_out(s) for s in items], total=total, limit=limit, offset=offset)


@router.post("/{page_id}/subscribers", status_code=201, response_model=SubscriberOut)
def add_subscriber(
    page_id: PathId, body: SubscriberIn, db: DbSession, user: Responder, settings: AppSettings
) -> SubscriberOut:
    """An email address gets the confirmation mail (unless an admin sets
    `skip_confirmation`); a webhook is active at once."""
    page = service.get_page(db, page_id)
    subscriber = service.add_subscriber(
        db, page, email=body.email, endpoint=body.endpoint, component_ids=body.component_ids,
        skip_confirmation=body.skip_confirmation, by=user, settings=settings,
    )  # fmt: skip
    return subscriber_out(subscriber)


@router.get(
    "/{page_id}/subscribers/{subscriber_id}", response_model=SubscriberOut, responses=errors(403)
)
def get_subscriber(
    page_id: PathId, subscriber_id: PathId, db: DbSession, user: Responder
) -> SubscriberOut:
    page = service.get_page(db, page_id)
    return subscriber_out(service.get_subscriber(db, page, subscriber_id))


@router.get(
    "/{page_id}/subscribers/{subscriber_id}/deliveries",
    response_model=list[DeliveryOut],
    responses=errors(403),
)
def list_deliveries(
    page_id: PathId,
    subscriber_id: PathId,
    db: DbSession,
    user: Responder,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[DeliveryOut]:
    """The subscriber's deliveries, newest first, with their state and last error."""
    page = service.get_page(db, page_id)
    subscriber = service.get_subscriber(db, page, subscriber_id)
    return [delivery_out(d) for d in queries.deliveries_of(db, subscriber, limit=limit)]


@router.delete("/{page_id}/subscribers/{subscriber_id}", status_code=204)
def remove_subscriber(
    page_id: PathId, subscriber_id: PathId, db: DbSession, user: Responder
) -> Response:
    page = service.get_page(db, page_id)
    service.remove_subscriber(db, service.get_subscriber(db, page, subscriber_id), by=user)
    return Response(status_code=204)


@router.post("/{page_id}/subscribers/{subscriber_id}/reactivate", response_model=SubscriberOut)
def reactivate(
    page_id: PathId, subscriber_id: PathId, db: DbSession, user: Responder
) -> SubscriberOut:
    """Deliver to a quarantined webhook again."""
    page = service.get_page(db, page_id)
    subscriber = service.reactivate(db, service.get_subscriber(db, page, subscriber_id), by=user)
    return subscriber_out(subscriber)


@router.post(
    "/{page_id}/subscribers/{subscriber_id}/resend-confirmation", response_model=SubscriberOut
)
def resend_confirmation(
    page_id: PathId, subscriber_id: PathId, db: DbSession, user: Responder, settings: AppSettings
) -> SubscriberOut:
    page = service.get_page(db, page_id)
    subscriber = service.get_subscriber(db, page, subscriber_id)
    service.resend_confirmation(db, subscriber, settings=settings, by=user)
    return subscriber_out(subscriber)
