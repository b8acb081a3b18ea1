"""HTML routes: Settings → Webhooks (admins only: a delivery log can show restricted
incidents' events): list, create, edit, delete, rotate the secret, send a test event, and
each subscription's delivery log."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from tocsin.catalog.models import Service, Team
from tocsin.definitions import service as defs
from tocsin.deps import Admin, AppSettings, DbSession
from tocsin.errors import DomainError
from tocsin.web.actions import perform
from tocsin.web.forms import Form, checkbox, int_list, text
from tocsin.web.templating import render
from tocsin.webhooks import payloads
from tocsin.webhooks import service as webhooks
from tocsin.webhooks.models import WebhookSubscription

router = APIRouter(include_in_schema=False)
BACK = "/settings/webhooks"


def _form(form: FormData) -> dict[str, Any]:
    """A subscription form as service data; unticked boxes and empty lists are sent as such."""
    return {
        "name": text(form, "name"),
        "url": text(form, "url"),
        "events": [e for e in form.getlist("events") if isinstance(e, str)],
        "severity_ids": int_list(form, "severity_ids"),
        "service_ids": int_list(form, "service_ids"),
        "team_ids": int_list(form, "team_ids"),
        "type_ids": int_list(form, "type_ids"),
        "include_drills": checkbox(form, "include_drills"),
        "include_restricted": checkbox(form, "include_restricted"),
        "enabled": checkbox(form, "enabled"),
    }


def _choices(db: Session) -> dict[str, Any]:
    return {
        "section": "webhooks",
        "event_kinds": payloads.EVENT_KINDS,
        "severities": defs.severities(db),
        "services": db.scalars(select(Service).order_by(Service.name)).all(),
        "teams": db.scalars(select(Team).order_by(Team.name)).all(),
        "types": defs.incident_types(db),
    }


def _no_store(response: Response) -> Response:
    response.headers["Cache-Control"] = "no-store"  # a signing secret may be on it
    return response


def _list_page(
    request: Request,
    db: Session,
    *,
    secret: str | None = None,
    secret_for: str = "",
    error: str | None = None,
    form: dict[str, Any] | None = None,
    status: int = 200,
) -> Response:
    subscriptions = webhooks.list_subscriptions(db)
    context = {
        **_choices(db),
        "subscriptions": subscriptions,
        "shown": {s.id: webhooks.display_url(s.url) for s in subscriptions},
        "secret": secret,
        "secret_for": secret_for,
        "error": error,
        "form": form,
    }
    return _no_store(render(request, "webhooks/list.html", context, status))


def _detail_page(
    request: Request, db: Session, subscription: WebhookSubscription, *, secret: str | None = None
) -> Response:
    deliveries, total = webhooks.list_deliveries(db, subscription)
    context = {
        **_choices(db),
        "s": subscription,
        "shown_url": webhooks.display_url(subscription.url),
        "deliveries": deliveries,
        "total": total,
        "secret": secret,
        "secret_for": subscription.name,
    }
    return _no_store(render(request, "webhooks/detail.html", context))


@router.get("/settings/webhooks")
def list_page(request: Request, db: DbSession, admin: Admin) -> Response:
    return _list_page(request, db)


@router.post("/settings/webhooks")
def create(
    request: Request, db: DbSession, admin: Admin, settings: AppSettings, form: Form
) -> Response:
    data: dict[str, Any] | None = None
    try:
        data = _form(form)
        subscription, secret = webhooks.create_subscription(db, data, settings=settings, by=admin)
    except DomainError as exc:
        db.rollback()
        return _list_page(request, db, error=exc.message, form=data, status=422)
    return _list_page(request, db, secret=secret, secret_for=subscription.name, status=201)


@router.get("/settings/webhooks/{subscription_id}")
def detail_page(subscription_id: int, request: Request, db: DbSession, admin: Admin) -> Response:
    return _detail_page(request, db, webhooks.get_subscription(db, subscription_id))


@router.post("/settings/webhooks/{subscription_id}")
def update(
    subscription_id: int, db: DbSession, admin: Admin, settings: AppSettings, form: Form
) -> Response:
    subscription = webhooks.get_subscription(db, subscription_id)
    return perform(
        db,
        f"{BACK}/{subscription.id}",
        lambda: webhooks.update_subscription(db, subscription, _form(form), settings=settings),
        notice="Webhook saved.",
    )


@router.post("/settings/webhooks/{subscription_id}/delete")
def delete(subscription_id: int, db: DbSession, admin: Admin) -> Response:
    subscription = webhooks.get_subscription(db, subscription_id)
    return perform(
        db, BACK, lambda: webhooks.delete_subscription(db, subscription), notice="Webhook deleted."
    )


@router.post("/settings/webhooks/{subscription_id}/rotate-secret")
def rotate_secret(
    subscription_id: int, request: Request, db: DbSession, admin: Admin, settings: AppSettings
) -> Response:
    subscription = webhooks.get_subscription(db, subscription_id)
    secret = webhooks.rotate_secret(db, subscription, settings=settings)
    return _detail_page(request, db, subscription, secret=secret)


@router.post("/settings/webhooks/{subscription_id}/test")
def send_test(subscription_id: int, db: DbSession, admin: Admin, settings: AppSettings) -> Response:
    subscription = webhooks.get_subscription(db, subscription_id)
    return perform(
        db,
        f"{BACK}/{subscription.id}",
        lambda: webhooks.send_test(db, subscription, settings=settings, by=admin),
        notice="Test event queued: its outcome appears in the delivery log below.",
    )
