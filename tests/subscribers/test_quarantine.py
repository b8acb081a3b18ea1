"""A webhook that keeps failing is quarantined (no more deliveries) and the page's owners are
told by email through their contact methods; staff can re-activate it."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.notify.conftest import Receiver, SmtpServer
from tests.subscribers.conftest import Acme, active, change_component, fresh, run_jobs, text_of
from tocsin.bootstrap import Container
from tocsin.catalog import service as catalog
from tocsin.catalog.models import User
from tocsin.config import Settings
from tocsin.notify import methods
from tocsin.subscribers import service
from tocsin.subscribers.models import Delivery, Subscriber


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """Two tries per delivery; quarantined after three failures over at least an hour."""
    return settings.model_copy(
        update={
            "notify_attempts": 2,
            "subscriber_quarantine_failures": 3,
            "subscriber_quarantine_hours": 1.0,
        }
    )


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


def test_a_webhook_that_keeps_failing_is_quarantined_and_the_owners_are_told(
    db: Session, container: Container, receiver: Receiver, smtp: SmtpServer, acme: Acme,
    settings: Settings, admin: User, responder: User, viewer: User,
) -> None:  # fmt: skip
    # The page belongs to a team (its responder is told, not its viewer) and to the admin,
    # who has a work email contact method.
    team = catalog.create_team(db, name="Web", member_ids=[responder.id, viewer.id])
    acme.page.owner_team_id = team.id
    methods.create_contact_method(
        db, admin, by=admin, settings=settings, kind="email", target="ada.work@example.com"
    )
    db.commit()
    hook = active(db, acme.page, settings, admin, endpoint=f"{receiver.url}/hook")
    other = active(db, acme.page, settings, admin, email="reader@example.com")
    receiver.status = 500

    change_component(db, acme.api, "major_outage")
    db.commit()
    run_jobs(container)
    sub = _sub(db, hook.id)
    assert sub is not None and sub.state == "active" and sub.consecutive_failures == 2
    # Hours later it still fails: the third failure in a row, the first one over an hour old.
    sub.failing_since = sub.failing_since - timedelta(hours=2)
    db.commit()
    change_component(db, acme.api, "operational")
    db.commit()
    run_jobs(container)

    sub = _sub(db, hook.id)
    assert sub is not None and sub.state == "quarantined" and sub.quarantined_at is not None
    assert "3 failed deliveries in a row" in sub.quarantine_reason
    assert "answered HTTP 500" in sub.quarantine_reason
    assert len(receiver.requests) == 3  # the second event's retry never went
    kinds = [(d.kind, d.state) for d in _deliveries(db, hook.id)]
    assert kinds == [
        ("component_update", "failed"),
        ("component_update", "failed"),
        ("quarantine_notice", "sent"),
    ]
    notice = _deliveries(db, hook.id)[-1]
    assert notice.detail == "sent to ada.work@example.com, rita@example.com"
    owner_mails = [m for m in smtp.messages if "quarantined" in str(m["Subject"])]
    assert sorted(r for m in owner_mails for r in [str(m["To"])]) == [
        "ada.work@example.com",
        "rita@example.com",
    ]
    text = text_of(owner_mails[0])
    assert f"http://127.0.0.1:{receiver.port}/hook" in text
    assert f"http://tocsin.test/status-pages/{acme.page.id}/subscribers" in text
    assert owner_mails[0]["List-Unsubscribe"] is None  # to staff, not to a subscriber
    # The email subscriber kept getting its mails; quarantine is per subscriber.
    assert sum(1 for rcpts in smtp.mailbox.recipients if "reader@example.com" in rcpts) == 2

    # Quarantined: the next event is not sent to it at all.
    receiver.status = 200
    change_component(db, acme.api, "degraded_performance")
    db.commit()
    run_jobs(container)
    assert len(receiver.requests) == 3
    assert other.id != hook.id


def test_staff_re_activate_a_quarantined_webhook_and_it_gets_the_next_event(
    db: Session, container: Container, receiver: Receiver, acme: Acme, settings: Settings,
    admin: User,
) -> None:  # fmt: skip
    hook = active(db, acme.page, settings, admin, endpoint=f"{receiver.url}/hook")
    service.quarantine(db, hook, reason="gone", tell_owner=False)
    db.commit()
    change_component(db, acme.api, "major_outage")
    db.commit()
    run_jobs(container)
    assert receiver.requests == []
    service.reactivate(db, _sub(db, hook.id), by=admin)
    db.commit()
    sub = _sub(db, hook.id)
    assert sub is not None and sub.state == "active" and sub.quarantine_reason == ""
    change_component(db, acme.api, "operational")
    db.commit()
    run_jobs(container)
    assert [r.json()["component_update"]["new_status"] for r in receiver.requests] == [
        "operational"
    ]
