"""Unsubscribing: a page with a button, RFC 8058 one-click, webhooks' meta.unsubscribe; a
link only ever unsubscribes its own subscriber, and no link reaches a whole list."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.notify.conftest import Receiver, SmtpServer
from tests.subscribers.conftest import Acme, active, fresh, publish, run_jobs, unsubscribe_path
from tocsin.bootstrap import Container
from tocsin.catalog.models import User
from tocsin.config import Settings
from tocsin.statuspages.models import StatusPage
from tocsin.subscribers import tokens
from tocsin.subscribers.models import Subscriber


def _states(db: Session) -> dict[str, str]:
    fresh(db)
    return {s.address: s.state for s in db.scalars(select(Subscriber))}


def test_one_click_unsubscribe_from_the_mail_headers(
    client: TestClient, db: Session, container: Container, smtp: SmtpServer, acme: Acme,
    settings: Settings, admin: User,
) -> None:  # fmt: skip
    active(db, acme.page, settings, admin, email="ann@example.com")
    active(db, acme.page, settings, admin, email="bob@example.com")
    publish(db, acme.page)
    db.commit()
    run_jobs(container)
    ann_mail = next(m for m in smtp.messages if str(m["To"]) == "ann@example.com")
    assert ann_mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    path = unsubscribe_path(ann_mail)

    # What a mail provider sends for one click: a POST with exactly this body, no cookies,
    # no form token, from elsewhere.
    response = TestClient(client.app).post(
        path,
        content=b"List-Unsubscribe=One-Click",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 200 and "Unsubscribed" in response.text
    assert _states(db) == {"ann@example.com": "unsubscribed", "bob@example.com": "active"}
    again = client.post(path, content=b"List-Unsubscribe=One-Click")
    assert again.status_code == 200 and "Already unsubscribed" in again.text

    publish(db, acme.page, name="Second")
    db.commit()
    run_jobs(container)
    later = [str(m["To"]) for m in smtp.messages[2:]]
    assert later == ["bob@example.com"]


def test_opening_the_link_only_shows_a_button(
    client: TestClient, db: Session, acme: Acme, settings: Settings, admin: User
) -> None:
    sub = active(db, acme.page, settings, admin, email="cat@example.com")
    token = tokens.unsubscribe_token(settings.secret_key, sub.id, sub.link_salt)
    page = client.get(f"/status/acme/unsubscribe/{token}")
    assert page.status_code == 200
    assert f'action="/status/acme/unsubscribe/{token}"' in page.text
    assert page.headers["cache-control"] == "no-store"
    assert _states(db) == {"cat@example.com": "active"}
    assert client.post(f"/status/acme/unsubscribe/{token}").status_code == 200
    assert _states(db) == {"cat@example.com": "unsubscribed"}


def test_a_token_for_one_subscriber_cannot_touch_another(
    client: TestClient, db: Session, acme: Acme, settings: Settings, admin: User
) -> None:
    a = active(db, acme.page, settings, admin, email="a@example.com")
    b = active(db, acme.page, settings, admin, email="b@example.com")
    other_page = StatusPage(slug="other", name="Other")
    db.add(other_page)
    db.commit()
    token_a = tokens.unsubscribe_token(settings.secret_key, a.id, a.link_salt)
    mac = token_a.split(".", 1)[1]
    attempts = [
        f"u{b.id}.{mac}",  # A's signature with B's id
        f"u{b.id}",  # no signature
        f"u{b.id}.",  # an empty one
        f"u{a.id}.{mac[:-1]}",  # a shortened one
        tokens.unsubscribe_token("guessed-key", b.id, b.link_salt),  # the wrong server key
        tokens.unsubscribe_token(settings.secret_key, b.id, "guessed-salt"),  # the wrong salt
        # Nothing addresses several subscribers: no wildcard, no list, no page-wide token.
        "u*.x",
        f"u{a.id},{b.id}.{mac}",
        f"u{a.id}.{mac}.u{b.id}",
        "all",
        "",
        # Digits that are not ASCII: "²" passes str.isdigit() and fails int().
        f"u².{mac}",
        f"u{'9' * 5000}.{mac}",
    ]
    for bad in attempts:
        for method in (client.get, client.post):
            response = method(f"/status/acme/unsubscribe/{bad}")
            assert response.status_code == 404, (bad, response.status_code)
    # A's real token, on another page's URL, does nothing either.
    assert client.post(f"/status/other/unsubscribe/{token_a}").status_code == 404
    assert _states(db) == {"a@example.com": "active", "b@example.com": "active"}

    assert client.post(f"/status/acme/unsubscribe/{token_a}").status_code == 200
    assert _states(db) == {"a@example.com": "unsubscribed", "b@example.com": "active"}


def test_re_subscribing_voids_the_old_links(
    client: TestClient, db: Session, acme: Acme, settings: Settings, admin: User
) -> None:
    sub = active(db, acme.page, settings, admin, email="dan@example.com")
    old = tokens.unsubscribe_token(settings.secret_key, sub.id, sub.link_salt)
    assert client.post(f"/status/acme/unsubscribe/{old}").status_code == 200
    fresh(db)
    active(db, acme.page, settings, admin, email="dan@example.com")
    assert client.post(f"/status/acme/unsubscribe/{old}").status_code == 404
    assert _states(db) == {"dan@example.com": "active"}


def test_a_webhook_unsubscribes_with_the_url_in_its_deliveries(
    client: TestClient, db: Session, container: Container, receiver: Receiver, acme: Acme,
    settings: Settings, admin: User,
) -> None:  # fmt: skip
    active(db, acme.page, settings, admin, endpoint=f"{receiver.url}/hook")
    publish(db, acme.page)
    db.commit()
    run_jobs(container)
    (delivery,) = receiver.requests
    url = delivery.json()["meta"]["unsubscribe"]
    assert client.post(url.removeprefix("http://tocsin.test")).status_code == 200
    publish(db, acme.page, name="Again")
    db.commit()
    run_jobs(container)
    assert len(receiver.requests) == 1
