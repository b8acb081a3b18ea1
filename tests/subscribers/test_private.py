"""A private page's subscribe form needs the same access as the page: a Tocsin login, or the
cookie the page's secret link sets (`subscribe_access` is the hook that decides)."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.conftest import browser_login
from tests.subscribers.conftest import Acme, fresh, subscribe
from tocsin.catalog.models import User
from tocsin.statuspages import access as secret_links
from tocsin.statuspages import service as pages
from tocsin.subscribers.access import subscribe_access
from tocsin.subscribers.models import Subscriber


def _private(db: Session, acme: Acme) -> None:
    acme.page.visibility = "private"
    db.commit()


def test_anonymous_visitors_cannot_subscribe_to_a_private_page(
    client: TestClient, db: Session, acme: Acme
) -> None:
    _private(db, acme)
    form = client.get("/status/acme/subscribe")
    assert form.status_code == 403 and "private status page" in form.text
    response = client.post("/status/acme/subscribe", data={"email": "n@example.com"})
    assert response.status_code == 403
    fresh(db)
    assert db.scalar(select(Subscriber)) is None


def test_a_logged_in_user_subscribes_with_the_session_csrf_token(
    client: TestClient, db: Session, acme: Acme, viewer: User
) -> None:
    _private(db, acme)
    csrf = browser_login(client, viewer.email)
    form = client.get("/status/acme/subscribe")
    assert form.status_code == 200
    token = re.search(r'name="form_token" value="([^"]+)"', form.text)
    assert token is not None and f'name="csrf_token" value="{csrf}"' in form.text
    # Without the session's CSRF token a logged-in browser's post is refused.
    refused = client.post(
        "/status/acme/subscribe", data={"form_token": token.group(1), "email": "v@example.com"}
    )
    assert refused.status_code == 403
    ok = client.post(
        "/status/acme/subscribe",
        data={"form_token": token.group(1), "csrf_token": csrf, "email": "v@example.com"},
    )
    assert ok.status_code == 200 and "Check your inbox" in ok.text
    fresh(db)
    (subscriber,) = db.scalars(select(Subscriber))
    assert subscriber.address == "v@example.com" and subscriber.state == "unconfirmed"


def test_the_access_hook_decides(client: TestClient, db: Session, acme: Acme) -> None:
    _private(db, acme)
    client.app.dependency_overrides[subscribe_access] = lambda: lambda request, page, user: True
    try:
        assert subscribe(client, email="o@example.com").status_code == 200
    finally:
        client.app.dependency_overrides.clear()
    assert client.get("/status/acme/subscribe").status_code == 403


def test_the_secret_link_cookie_lets_a_visitor_subscribe(
    client: TestClient, db: Session, acme: Acme
) -> None:
    _private(db, acme)
    pages.new_secret_link(db, acme.page)
    db.commit()
    key = client.app.state.settings.secret_key
    name = secret_links.cookie_name("acme")
    client.cookies.set(name, secret_links.sign_cookie(key, "acme", acme.page.secret_link_hash))
    assert client.get("/status/acme/subscribe").status_code == 200
    assert subscribe(client, email="s@example.com").status_code == 200
    # A new link ends what the old one's cookie gave, here as on the page.
    pages.new_secret_link(db, acme.page)
    db.commit()
    assert client.get("/status/acme/subscribe").status_code == 403
    fresh(db)
    assert [s.address for s in db.scalars(select(Subscriber))] == ["s@example.com"]
