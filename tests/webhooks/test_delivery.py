"""Incident events reach the subscriptions that want them, through a real HTTP receiver on
loopback, after commit; retries, Retry-After, refusals, deletion."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.webhooks.conftest import Receiver, run_jobs, subscribe
from tocsin.bootstrap import Container
from tocsin.catalog import service as catalog
from tocsin.catalog.models import User
from tocsin.config import Settings
from tocsin.db import utcnow
from tocsin.definitions.models import Severity
from tocsin.incidents import service as incidents
from tocsin.jobs.models import Job
from tocsin.webhooks import service as webhooks
from tocsin.webhooks.models import WebhookDelivery
from tocsin.webhooks.service import DELIVER_JOB


def _deliveries(db: Session) -> list[WebhookDelivery]:
    db.expire_all()
    return list(db.scalars(select(WebhookDelivery).order_by(WebhookDelivery.id)))


def test_declared_and_resolved_reach_only_matching_subscriptions(
    db: Session, admin: User, container: Container, settings: Settings, receiver: Receiver
) -> None:
    sev1 = db.scalars(select(Severity).where(Severity.name == "SEV1")).one()
    sev2 = db.scalars(select(Severity).where(Severity.name == "SEV2")).one()
    team = catalog.create_team(db, name="Payments")
    checkout = catalog.create_service(db, name="Checkout", team_id=team.id)
    search = catalog.create_service(db, name="Search")
    db.commit()
    subscribe(db, settings, receiver.url("/all"), name="all")
    subscribe(db, settings, receiver.url("/sev1"), name="sev1", severity_ids=[sev1.id])
    subscribe(db, settings, receiver.url("/team"), name="team", team_ids=[team.id])
    subscribe(db, settings, receiver.url("/search"), name="search", service_ids=[search.id])
    subscribe(
        db, settings, receiver.url("/declared"), name="declared", events=["incident.declared"]
    )
    incident = incidents.declare(
        db, by=admin, title="Checkout is down", severity_id=sev1.id, service_ids=[checkout.id]
    )
    db.commit()
    run_jobs(container)
    declared = sorted(r.path for r in receiver.requests)
    assert declared == ["/all", "/declared", "/sev1", "/team"]
    body = receiver.requests[0].json()
    assert body["event"] == "incident.declared"
    assert body["version"] == 1
    assert body["incident"] == {
        "reference": incident.reference,
        "title": "Checkout is down",
        "status": "triggered",
        "severity": "SEV1",
        "priority": None,
        "type": incident.incident_type.name if incident.incident_type else None,
        "services": ["Checkout"],
        "url": f"http://tocsin.test/incidents/{incident.reference}",
        "drill": False,
        "restricted": False,
    }
    assert body["data"]["by"] == {"id": admin.id, "name": admin.name}
    assert receiver.requests[0].headers["x-tocsin-event"] == "incident.declared"
    assert receiver.requests[0].headers["x-tocsin-delivery"] == body["id"]

    receiver.requests.clear()
    incidents.edit(db, incident, {"severity_id": sev2.id}, by=admin)  # not subscribed to
    incidents.resolve(db, incident, by=admin)
    db.commit()
    run_jobs(container)
    assert sorted(r.path for r in receiver.requests) == ["/all", "/team"]
    assert {r.json()["event"] for r in receiver.requests} == {"incident.resolved"}
    resolved = receiver.requests[0].json()
    assert resolved["incident"]["status"] == "resolved"
    assert resolved["data"]["new_status"] == "resolved"
    assert all(d.state == "sent" and d.http_status == 200 for d in _deliveries(db))


def test_a_rolled_back_change_sends_nothing(
    db: Session, admin: User, container: Container, settings: Settings, receiver: Receiver
) -> None:
    subscribe(db, settings, receiver.url())
    incidents.declare(db, by=admin, title="Never happened")
    db.rollback()
    assert run_jobs(container) == 0
    assert receiver.requests == []
    assert _deliveries(db) == []


def test_drills_and_restricted_incidents_only_to_those_that_opt_in(
    db: Session, admin: User, container: Container, settings: Settings, receiver: Receiver
) -> None:
    subscribe(db, settings, receiver.url("/plain"), name="plain")
    subscribe(db, settings, receiver.url("/drills"), name="drills", include_drills=True)
    subscribe(db, settings, receiver.url("/restricted"), name="restricted", include_restricted=True)
    incidents.declare(db, by=admin, title="A drill", drill=True)
    incidents.declare(db, by=admin, title="Secret", restricted=True)
    incidents.declare(db, by=admin, title="Ordinary")
    db.commit()
    run_jobs(container)
    got = sorted((r.path, r.json()["incident"]["title"]) for r in receiver.requests)
    assert got == [
        ("/drills", "A drill"),
        ("/drills", "Ordinary"),
        ("/plain", "Ordinary"),
        ("/restricted", "Ordinary"),
        ("/restricted", "Secret"),
    ]


def test_a_500_is_retried_then_delivered_with_the_same_id(
    db: Session, admin: User, container: Container, settings: Settings, receiver: Receiver
) -> None:
    subscribe(db, settings, receiver.url())
    receiver.script = [(500, {})]
    incidents.declare(db, by=admin, title="Flaky receiver")
    db.commit()
    run_jobs(container)
    assert len(receiver.requests) == 2
    first, second = (r.json() for r in receiver.requests)
    assert first == second  # the same body, the same delivery id
    [delivery] = _deliveries(db)
    assert (delivery.state, delivery.attempts, delivery.http_status, delivery.error) == (
        "sent", 2, 200, ""
    )  # fmt: skip
    assert delivery.duration_ms is not None


def test_429_waits_for_retry_after(
    db: Session, admin: User, container: Container, settings: Settings, receiver: Receiver
) -> None:
    subscribe(db, settings, receiver.url())
    receiver.script = [(429, {"Retry-After": "120"})]
    incidents.declare(db, by=admin, title="Slow down")
    db.commit()
    before = utcnow()
    run_jobs(container)
    assert len(receiver.requests) == 1
    [delivery] = _deliveries(db)
    assert (delivery.state, delivery.http_status) == ("queued", 429)
    assert "429" in delivery.error
    retry = db.scalars(select(Job).where(Job.kind == DELIVER_JOB, Job.state == "queued")).one()
    assert retry.run_at >= before + timedelta(seconds=119)
    retry.run_at = utcnow()  # the wait is over
    db.commit()
    run_jobs(container)
    assert len(receiver.requests) == 2
    assert _deliveries(db)[0].state == "sent"


def test_a_4xx_other_than_429_is_not_retried(
    db: Session, admin: User, container: Container, settings: Settings, receiver: Receiver
) -> None:
    subscribe(db, settings, receiver.url())
    receiver.status = 410
    incidents.declare(db, by=admin, title="Gone")
    db.commit()
    run_jobs(container)
    assert len(receiver.requests) == 1
    [delivery] = _deliveries(db)
    assert (delivery.state, delivery.attempts, delivery.http_status) == ("failed", 1, 410)


def test_connection_errors_are_retried_until_attempts_run_out(
    db: Session, admin: User, container: Container, settings: Settings, receiver: Receiver
) -> None:
    subscribe(db, settings, "http://127.0.0.1:9/nobody-listens")
    incidents.declare(db, by=admin, title="Nobody home")
    db.commit()
    run_jobs(container)
    [delivery] = _deliveries(db)
    assert (delivery.state, delivery.attempts) == ("failed", settings.notify_attempts)
    assert delivery.http_status is None and delivery.error


def test_deleting_a_subscription_drops_its_pending_deliveries(
    db: Session, admin: User, container: Container, settings: Settings, receiver: Receiver
) -> None:
    subscription, _ = subscribe(db, settings, receiver.url())
    incidents.declare(db, by=admin, title="Queued, then unwanted")
    db.commit()
    assert len(_deliveries(db)) == 1
    webhooks.delete_subscription(db, subscription)
    db.commit()
    run_jobs(container)  # the job finds nothing to send and ends
    assert receiver.requests == []
    assert _deliveries(db) == []
    job = db.scalars(select(Job).where(Job.kind == DELIVER_JOB)).one()
    assert job.state == "done"
