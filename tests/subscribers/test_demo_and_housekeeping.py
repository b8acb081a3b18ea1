"""The demo's subscribers (only with a status page), and the hourly housekeeping."""

from __future__ import annotations

from datetime import timedelta

from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tests.conftest import browser_login
from tests.subscribers.conftest import Acme, fresh, subscribe
from tocsin.catalog.models import User
from tocsin.config import Settings
from tocsin.db import utcnow
from tocsin.demo.subscribers import seed_subscribers
from tocsin.subscribers import limits
from tocsin.subscribers.delivery import housekeeping
from tocsin.subscribers.models import RateWindow, Subscriber


def test_the_demo_needs_a_page_and_seeds_it_once(
    client: TestClient, db: Session, admin: User, settings: Settings
) -> None:
    assert seed_subscribers(db, admin, settings) == 0  # no status page yet
    from tocsin.statuspages.models import Component, StatusPage

    page = StatusPage(slug="demo", name="Demo")
    db.add(page)
    db.flush()
    db.add(Component(page_id=page.id, name="Website"))
    db.flush()
    db.refresh(page)
    assert seed_subscribers(db, admin, settings) == 5
    assert seed_subscribers(db, admin, settings) == 0
    db.commit()
    states = sorted(db.scalars(select(Subscriber.state)))
    assert states == ["active", "active", "active", "quarantined", "unconfirmed"]
    browser_login(client, admin.email)
    listed = client.get(f"/status-pages/{page.id}/subscribers")
    assert listed.status_code == 200 and "HTTP 503" in listed.text
    for sub_id in db.scalars(select(Subscriber.id)):
        assert client.get(f"/status-pages/{page.id}/subscribers/{sub_id}").status_code == 200


def test_housekeeping_forgets_old_windows_and_addresses_that_never_confirmed(
    client: TestClient, db: Session, acme: Acme
) -> None:
    subscribe(client, email="never@example.com")
    subscribe(client, email="recent@example.com")
    fresh(db)
    old = db.scalar(select(Subscriber).where(Subscriber.address == "never@example.com"))
    assert old is not None
    old.confirmation_sent_at = utcnow() - timedelta(days=8)
    db.commit()
    assert db.scalar(select(func.count()).select_from(RateWindow)) == 3  # client, 2 addresses
    housekeeping(db, now=utcnow() + timedelta(hours=1))
    db.commit()
    assert sorted(db.scalars(select(Subscriber.address))) == ["recent@example.com"]
    assert db.scalar(select(func.count()).select_from(RateWindow)) == 0
    assert limits.client_key("203.0.113.9") == "ip:203.0.113.9"
