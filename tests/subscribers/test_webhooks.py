"""Webhook subscribers: Statuspage's body on a real receiver, failures retried through the job
engine, and a receiver that keeps failing quarantined with its page's owner told by email."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.notify.conftest import Receiver
from tests.subscribers.conftest import (
    Acme,
    active,
    change_component,
    fresh,
    publish,
    run_jobs,
    subscribe,
)
from tocsin.bootstrap import Container
from tocsin.catalog.models import User
from tocsin.config import Settings
from tocsin.subscribers.models import Delivery, Subscriber

TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


def _sub(db: Session, subscriber_id: int) -> Subscriber:
    fresh(db)
    found = db.get(Subscriber, subscriber_id)
    assert found is not None
    return found


def _deliveries(db: Session, subscriber_id: int) -> list[Delivery]:
    fresh(db)
    return list(
        db.scalars(
            select(Delivery).where(Delivery.subscriber_id == subscriber_id).order_by(Delivery.id)
        )
    )


def test_an_update_reaches_a_webhook_in_statuspage_shape(
    client: TestClient, db: Session, container: Container, receiver: Receiver, acme: Acme
) -> None:
    answer = subscribe(
        client, mode="webhook", endpoint=f"{receiver.url}/statuspage?token=s3cret-value",
        components=[acme.api.public_id],
    )  # fmt: skip
    assert answer.status_code == 200 and "Webhook subscribed" in answer.text
    assert "s3cret" not in answer.text  # the URL is shown without its query
    db.rollback()
    update, changes, queued = publish(
        db, acme.page, status="identified", body="Fix in progress.",
        changes={acme.api: "partial_outage"},
    )  # fmt: skip
    assert queued == 2  # the incident update, and the component change it made
    db.commit()
    run_jobs(container)

    assert [r.path for r in receiver.requests] == ["/statuspage?token=s3cret-value"] * 2
    first, second = (r.json() for r in receiver.requests)
    incident_body = first if "incident" in first else second
    component_body = second if incident_body is first else first
    page = acme.page
    pi = update.page_incident

    assert set(incident_body) == {"meta", "page", "incident"}
    meta = incident_body["meta"]
    assert meta["unsubscribe"].startswith("http://tocsin.test/status/acme/unsubscribe/u")
    assert meta["documentation"] == "http://tocsin.test/status/acme/subscribe#webhooks"
    assert incident_body["page"] == {
        "id": page.public_id,
        "status_indicator": "minor",
        "status_description": "Partial System Outage",
    }
    incident = incident_body["incident"]
    assert incident["id"] == pi.public_id and incident["name"] == "Elevated API errors"
    assert incident["status"] == "identified" and incident["impact"] == "minor"
    assert incident["page_id"] == page.public_id
    assert incident["shortlink"] == f"http://tocsin.test/status/acme/incidents/{pi.public_id}"
    for key in ("created_at", "updated_at", "started_at"):
        assert TIMESTAMP.match(incident[key]), key
    assert incident["monitoring_at"] is None and incident["resolved_at"] is None
    (posted,) = incident["incident_updates"]
    assert posted == {
        "id": update.public_id,
        "status": "identified",
        "body": "Fix in progress.",
        "incident_id": pi.public_id,
        "created_at": posted["created_at"],
        "updated_at": posted["updated_at"],
        "display_at": posted["display_at"],
        "affected_components": [
            {
                "code": acme.api.public_id,
                "name": "API",
                "old_status": "operational",
                "new_status": "partial_outage",
            }
        ],
        "deliver_notifications": True,
        "custom_tweet": None,
        "tweet_id": None,
    }
    assert [c["id"] for c in incident["components"]] == [acme.api.public_id]

    assert set(component_body) == {"meta", "page", "component_update", "component"}
    (change,) = changes
    assert component_body["component_update"] == {
        "created_at": component_body["component_update"]["created_at"],
        "new_status": "partial_outage",
        "old_status": "operational",
        "id": change.public_id,
        "component_id": acme.api.public_id,
    }
    component = component_body["component"]
    assert component["id"] == acme.api.public_id and component["status"] == "partial_outage"
    assert component["name"] == "API" and component["page_id"] == page.public_id
    assert component["group"] is False and component["group_id"] is None
    headers = receiver.requests[0].headers
    assert headers["content-type"] == "application/json"
    assert headers["x-tocsin-delivery"].startswith("tocsin-subscriber-delivery-")

    subscriber = db.scalar(select(Subscriber))
    assert subscriber is not None and subscriber.last_delivery_ok is True
    assert [d.state for d in _deliveries(db, subscriber.id)] == ["sent", "sent"]
    assert _deliveries(db, subscriber.id)[0].detail.endswith("/statuspage?… (HTTP 200)")


def test_a_redirect_is_a_failure_and_is_retried(
    db: Session, container: Container, receiver: Receiver, acme: Acme, settings: Settings,
    admin: User,
) -> None:  # fmt: skip
    hook = active(db, acme.page, settings, admin, endpoint=f"{receiver.url}/hook")
    receiver.status = 302
    change_component(db, acme.search, "major_outage")
    db.commit()
    run_jobs(container)
    (delivery,) = _deliveries(db, hook.id)
    # Every attempt (the one retry policy's, retried at once in tests) failed; not yet
    # quarantined: its first failure is not a day old.
    assert delivery.state == "failed" and delivery.attempts == settings.notify_attempts
    assert "answered HTTP 302" in delivery.last_error
    assert len(receiver.requests) == settings.notify_attempts
    sub = _sub(db, hook.id)
    assert sub is not None and sub.state == "active" and sub.last_delivery_ok is False
    assert sub.consecutive_failures == settings.notify_attempts

    receiver.status = 204  # back: the next event goes through and the count starts over
    change_component(db, acme.search, "operational")
    db.commit()
    run_jobs(container)
    sub = _sub(db, hook.id)
    assert sub is not None and sub.consecutive_failures == 0 and sub.failing_since is None
    assert [d.state for d in _deliveries(db, hook.id)] == ["failed", "sent"]
