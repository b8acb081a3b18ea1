"""Event webhook subscriptions: create, change, delete, rotate the secret, send a test.

Admins manage them (the routes check the role). A URL is checked against the outbound guard
when saved (a private address is refused unless the settings allow it) and again at each
send. Functions flush, never commit: the caller owns the transaction.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from tocsin import validation as v
from tocsin.catalog.models import Service, Team, User
from tocsin.config import Settings
from tocsin.db import utcnow
from tocsin.definitions.models import IncidentType, Severity
from tocsin.errors import Conflict, NotFound, UnknownReference, ValidationFailed
from tocsin.jobs.queue import enqueue
from tocsin.outbound import OutboundGuard, OutboundRefused
from tocsin.webhooks import payloads
from tocsin.webhooks.models import DeliveryState, WebhookDelivery, WebhookSubscription

DELIVER_JOB = "webhooks.deliver"
KEEP_DELIVERIES = 100  # a subscription's log keeps its latest finished deliveries
FIELDS = {
    "name", "url", "events", "severity_ids", "service_ids", "team_ids", "type_ids",
    "include_drills", "include_restricted", "enabled",
}  # fmt: skip
CONDITIONS: dict[str, tuple[Any, str]] = {
    "severity_ids": (Severity, "severity"),
    "service_ids": (Service, "service"),
    "team_ids": (Team, "team"),
    "type_ids": (IncidentType, "incident type"),
}
FINISHED = (DeliveryState.sent.value, DeliveryState.failed.value, DeliveryState.skipped.value)


def signing_secret(secret_key: str, subscription: WebhookSubscription) -> str:
    """A subscription's signing secret: derived, so the database alone does not hold it."""
    message = f"event-webhook:{subscription.signing_salt}".encode()
    return "whsec_" + hmac.new(secret_key.encode(), message, hashlib.sha256).hexdigest()


def display_url(url: str) -> str:
    """The URL as shown back: its path and query (often a token) are masked."""
    parts = urlsplit(url)
    port = f":{parts.port}" if parts.port else ""
    rest = "/…" if (parts.path not in ("", "/") or parts.query) else "/"
    return f"{parts.scheme}://{parts.hostname or ''}{port}{rest}"


def list_subscriptions(session: Session) -> list[WebhookSubscription]:
    return list(session.scalars(select(WebhookSubscription).order_by(WebhookSubscription.name)))


def get_subscription(session: Session, subscription_id: int) -> WebhookSubscription:
    found = session.get(WebhookSubscription, subscription_id)
    if found is None:
        raise NotFound(f"no webhook subscription with id {subscription_id}")
    return found


def _url(value: object, guard: OutboundGuard) -> str:
    url = v.url(value, "url")
    parts = urlsplit(url)
    try:
        guard.check_host(parts.hostname or "", parts.port)
    except OutboundRefused as exc:
        raise ValidationFailed(f"url: {exc.reason}", field="url") from exc
    return url


def _bool(value: object, field: str) -> bool:
    if not isinstance(value, bool):
        raise ValidationFailed(f"{field} must be true or false", field=field)
    return value


def _events(value: object) -> list[str]:
    if isinstance(value, str) or not isinstance(value, list | tuple) or not value:
        raise ValidationFailed("events: choose at least one event kind", field="events")
    for kind in value:
        if kind not in payloads.EVENT_KINDS:
            raise ValidationFailed(f"events: unknown event kind {kind!r}", field="events")
    return [k for k in payloads.EVENT_KINDS if k in value]  # in the catalogue's order


def _ids(session: Session, value: object, field: str) -> list[int]:
    model, what = CONDITIONS[field]
    if isinstance(value, str) or not isinstance(value, list | tuple):
        raise ValidationFailed(f"{field} must be a list of ids", field=field)
    out: list[int] = []
    for ident in value:
        if isinstance(ident, bool) or not isinstance(ident, int):
            raise ValidationFailed(f"{field} must be a list of ids", field=field)
        if session.get(model, ident) is None:
            raise UnknownReference(f"{field}: no {what} with id {ident}", field=field)
        out.append(ident)
    return sorted(set(out))


def _apply(
    session: Session,
    subscription: WebhookSubscription,
    data: dict[str, Any],
    guard: OutboundGuard,
    *,
    creating: bool,
) -> None:
    unknown = set(data) - FIELDS
    if unknown:
        name = sorted(unknown)[0]
        raise ValidationFailed(f"{name} is not a webhook subscription field", field=name)
    if "name" in data or creating:
        name = v.text(data.get("name"), "name", max_len=120, required=True)
        other = session.scalar(
            select(WebhookSubscription).where(func.lower(WebhookSubscription.name) == name.lower())
        )
        if other is not None and other is not subscription:
            raise Conflict(f"there is already a webhook named {other.name!r}", field="name")
        subscription.name = name
    url = data.get("url")
    # A URL equal to the masked one shown back is left as stored (forms send it back).
    if creating or (url is not None and url != display_url(subscription.url)):
        subscription.url = _url(url, guard)
    if "events" in data or creating:
        subscription.events = _events(data.get("events"))
    for field in CONDITIONS:
        if field in data:
            setattr(subscription, field, _ids(session, data[field] or [], field))
        elif creating:
            setattr(subscription, field, [])
    for flag in ("include_drills", "include_restricted", "enabled"):
        if flag in data:
            setattr(subscription, flag, _bool(data[flag], flag))


def create_subscription(
    session: Session, data: dict[str, Any], *, settings: Settings, by: User | None = None
) -> tuple[WebhookSubscription, str]:
    """A new subscription and its signing secret (returned this once)."""
    subscription = WebhookSubscription(
        signing_salt=secrets.token_hex(16),
        include_drills=False,
        include_restricted=False,
        enabled=True,
        created_by=by,
    )
    with session.no_autoflush:  # a refusal writes nothing
        _apply(session, subscription, data, OutboundGuard.from_settings(settings), creating=True)
    session.add(subscription)
    session.flush()
    return subscription, signing_secret(settings.secret_key, subscription)


def update_subscription(
    session: Session,
    subscription: WebhookSubscription,
    changes: dict[str, Any],
    *,
    settings: Settings,
) -> WebhookSubscription:
    """Change any field; fields left out are kept."""
    with session.no_autoflush:
        guard = OutboundGuard.from_settings(settings)
        _apply(session, subscription, changes, guard, creating=False)
    subscription.updated_at = utcnow()
    session.flush()
    return subscription


def rotate_secret(
    session: Session, subscription: WebhookSubscription, *, settings: Settings
) -> str:
    """A new signing secret (shown this once); the old one stops matching at once."""
    subscription.signing_salt = secrets.token_hex(16)
    subscription.updated_at = utcnow()
    session.flush()
    return signing_secret(settings.secret_key, subscription)


def delete_subscription(session: Session, subscription: WebhookSubscription) -> None:
    """Delete it with its delivery log; deliveries still queued are dropped (their jobs find
    nothing to send and end)."""
    session.execute(
        delete(WebhookDelivery).where(WebhookDelivery.subscription_id == subscription.id)
    )
    session.delete(subscription)
    session.flush()


def queue_delivery(
    session: Session,
    subscription: WebhookSubscription,
    kind: str,
    incident_id: int | None,
    make_body: Callable[[str], dict[str, Any]],
) -> WebhookDelivery:
    """One delivery row and its job, in the caller's transaction; `make_body(uuid)` is the
    JSON body. The subscription's log is trimmed to its latest finished deliveries."""
    ident = str(uuid.uuid4())
    delivery = WebhookDelivery(
        subscription_id=subscription.id,
        uuid=ident,
        event=kind,
        incident_id=incident_id,
        payload=make_body(ident),
        state=DeliveryState.queued.value,
        attempts=0,
        error="",
        detail="",
        results={},
    )
    session.add(delivery)
    session.flush()
    enqueue(session, DELIVER_JOB, {"delivery_id": delivery.id}, key=f"{DELIVER_JOB}:{ident}")
    _trim(session, subscription.id)
    return delivery


def _trim(session: Session, subscription_id: int) -> None:
    """Keep the log bounded: finished deliveries past the latest KEEP_DELIVERIES go."""
    cutoff = session.scalar(
        select(WebhookDelivery.id)
        .where(WebhookDelivery.subscription_id == subscription_id)
        .order_by(WebhookDelivery.id.desc())
        .offset(KEEP_DELIVERIES)
        .limit(1)
    )
    if cutoff is not None:
        session.execute(
            delete(WebhookDelivery).where(
                WebhookDelivery.subscription_id == subscription_id,
                WebhookDelivery.id <= cutoff,
                WebhookDelivery.state.in_(FINISHED),
            )
        )


def send_test(
    session: Session, subscription: WebhookSubscription, *, settings: Settings, by: User
) -> WebhookDelivery:
    """Queue a `webhook.test` event to this subscription (whatever its events and
    conditions), sent by the worker after commit like any other delivery."""
    now = utcnow()
    data = {
        "message": "A test event, sent from Tocsin's settings.",
        "by": {"id": by.id, "name": by.name},
    }
    incident = payloads.test_incident(settings.base_url)
    return queue_delivery(
        session,
        subscription,
        payloads.TEST_EVENT,
        None,
        lambda ident: payloads.body(ident, payloads.TEST_EVENT, now, incident, data),
    )


def list_deliveries(
    session: Session, subscription: WebhookSubscription, *, limit: int = 100, offset: int = 0
) -> tuple[list[WebhookDelivery], int]:
    """The subscription's delivery log, newest first, and how many it holds."""
    where = WebhookDelivery.subscription_id == subscription.id
    total = session.scalar(select(func.count()).select_from(WebhookDelivery).where(where)) or 0
    rows = session.scalars(
        select(WebhookDelivery).where(where).order_by(WebhookDelivery.id.desc())
        .limit(limit).offset(offset)
    )  # fmt: skip
    return list(rows), total
