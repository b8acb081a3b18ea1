"""Email subscribers end to end through the public routes: one confirmation mail, nothing
else before the link is followed, then the page's updates in plain text and HTML."""

from __future__ import annotations

import time

from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tests.notify.conftest import SmtpServer
from tests.subscribers.conftest import (
    Acme,
    active,
    confirm_path,
    fresh,
    html_of,
    publish,
    run_jobs,
    subscribe,
    text_of,
    unsubscribe_path,
)
from tocsin.bootstrap import Container
from tocsin.catalog.models import User
from tocsin.config import Settings
from tocsin.jobs.models import Job
from tocsin.subscribers import tokens
from tocsin.subscribers.models import Delivery, Subscriber


def _subscriber(db: Session, address: str) -> Subscriber:
    fresh(db)
    found = db.scalar(select(Subscriber).where(Subscriber.address == address))
    assert found is not None
    return found


def test_double_opt_in_from_form_to_first_update(
    client: TestClient, db: Session, container: Container, smtp: SmtpServer, acme: Acme
) -> None:
    form = client.get("/status/acme/subscribe")
    assert form.status_code == 200
    assert "API" in form.text and "Backend" in form.text  # components, grouped
    assert form.headers["cache-control"] == "no-store"

    answer = subscribe(client, mode="email", email="Dana@Example.com")
    assert answer.status_code == 200
    assert "Check your inbox" in answer.text
    db.rollback()
    run_jobs(container)

    (mail,) = smtp.messages
    assert smtp.mailbox.recipients == [["dana@example.com"]]
    assert mail["Subject"] == "Confirm your subscription to Acme Cloud"
    assert mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert str(mail["List-Unsubscribe"]).startswith("<http://tocsin.test/status/acme/unsubscribe/")
    assert "all components" in text_of(mail)
    assert _subscriber(db, "dana@example.com").state == "unconfirmed"

    # An update published before confirming goes to nobody.
    _, _, queued = publish(db, acme.page, changes={acme.api: "partial_outage"})
    db.commit()
    assert queued == 0
    run_jobs(container)
    assert len(smtp.messages) == 1

    # Opening the link shows a button (mail scanners open links); only the POST confirms.
    path = confirm_path(mail)
    shown = client.get(path)
    assert shown.status_code == 200 and "Confirm subscription" in shown.text
    assert _subscriber(db, "dana@example.com").state == "unconfirmed"
    db.rollback()
    done = client.post(path)
    assert done.status_code == 200 and "Subscription confirmed" in done.text
    subscriber = _subscriber(db, "dana@example.com")
    assert subscriber.state == "active" and subscriber.confirmed_at is not None
    assert "Already confirmed" in client.post(path).text
    db.rollback()

    update, _, queued = publish(
        db, acme.page, status="identified", body="Fix in progress.\n\n<script>x()</script>",
        changes={acme.database: "major_outage"},
    )  # fmt: skip
    db.commit()
    assert queued == 1  # the update; the change it made goes to webhooks only
    run_jobs(container)
    assert len(smtp.messages) == 2
    news = smtp.messages[1]
    assert news["Subject"] == "[Acme Cloud] Elevated API errors: Identified"
    assert news["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert news["List-Id"] == f"Acme Cloud <{acme.page.public_id}.status.example.com>"
    text = text_of(news)
    assert "Incident: Elevated API errors" in text
    assert "Status: Identified" in text
    assert "Fix in progress." in text
    assert "- Database: Operational -> Major outage" in text
    pi = update.page_incident
    assert f"http://tocsin.test/status/acme/incidents/{pi.public_id}" in text
    html = html_of(news)
    assert "<script>" not in html and "&lt;script&gt;x()&lt;/script&gt;" in html
    assert "Major outage" in html
    assert unsubscribe_path(news) == unsubscribe_path(mail)  # one subscriber, one link


def test_markdown_in_updates_is_rendered_safely_in_the_html_part(
    db: Session, container: Container, smtp: SmtpServer, acme: Acme, settings: Settings,
    admin: User,
) -> None:  # fmt: skip
    active(db, acme.page, settings, admin, email="eve@example.com")
    publish(
        db, acme.page, name='<img src=x onerror="alert(1)">',
        body='**Bold** [link](javascript:alert(1)) <b onmouseover="x">raw</b>',
    )  # fmt: skip
    db.commit()
    run_jobs(container)
    mail = smtp.messages[-1]
    html = html_of(mail)
    assert "<strong>Bold</strong>" in html
    assert 'href="javascript:' not in html  # no dangerous link
    assert "<b " not in html and "<img" not in html  # no markup from user text survives
    assert "&lt;img src=x onerror=" in html  # the incident name is shown, escaped


def test_asking_again_resends_at_most_once_per_interval(
    client: TestClient, db: Session, container: Container, smtp: SmtpServer, acme: Acme
) -> None:
    for _ in range(3):
        assert subscribe(client, mode="email", email="fay@example.com").status_code == 200
    db.rollback()
    run_jobs(container)
    assert len(smtp.messages) == 1
    subscriber = _subscriber(db, "fay@example.com")
    assert db.scalar(select(func.count(Subscriber.id))) == 1
    # Ten minutes later another one may go (the interval is measured from the last mail).
    subscriber.confirmation_sent_at = subscriber.confirmation_sent_at.replace(
        year=subscriber.confirmation_sent_at.year - 1
    )
    db.commit()
    assert subscribe(client, mode="email", email="fay@example.com").status_code == 200
    db.rollback()
    run_jobs(container)
    assert len(smtp.messages) == 2
    # Both links work (the salt did not change).
    for mail in smtp.messages:
        assert client.get(confirm_path(mail)).status_code == 200


def test_re_subscribing_an_active_address_with_another_scope_needs_its_confirmation(
    client: TestClient, db: Session, container: Container, smtp: SmtpServer, acme: Acme
) -> None:
    subscribe(client, mode="email", email="gus@example.com")
    db.rollback()
    run_jobs(container)
    client.post(confirm_path(smtp.messages[0]))
    # Somebody asks for "Search only" for that address: nothing changes until it confirms.
    subscribe(client, mode="email", email="gus@example.com", components=[acme.search.public_id])
    subscriber = _subscriber(db, "gus@example.com")
    assert subscriber.all_components and subscriber.pending_scope is not None
    db.rollback()
    run_jobs(container)
    assert len(smtp.messages) == 1  # within the resend interval: no second mail
    subscriber = _subscriber(db, "gus@example.com")
    subscriber.confirmation_sent_at = None
    db.commit()
    subscribe(client, mode="email", email="gus@example.com", components=[acme.search.public_id])
    db.rollback()
    run_jobs(container)
    change = smtp.messages[-1]
    assert "change what this address hears about" in text_of(change)
    assert "Search" in text_of(change)
    client.post(confirm_path(change))
    subscriber = _subscriber(db, "gus@example.com")
    assert not subscriber.all_components
    assert [c.name for c in subscriber.components] == ["Search"]


def test_expired_and_forged_confirmation_links_do_nothing(
    client: TestClient, db: Session, container: Container, settings: Settings, acme: Acme
) -> None:
    subscribe(client, mode="email", email="hal@example.com")
    subscriber = _subscriber(db, "hal@example.com")
    db.rollback()
    old = tokens.confirm_token(
        settings.secret_key, subscriber.id, subscriber.link_salt, hours=1, now=time.time() - 7200
    )
    expired = client.post(f"/status/acme/subscribe/confirm/{old}")
    assert expired.status_code == 410 and "expired" in expired.text
    forged = tokens.confirm_token("another-key", subscriber.id, subscriber.link_salt, hours=1)
    assert client.post(f"/status/acme/subscribe/confirm/{forged}").status_code == 404
    for junk in ["c1", "c1.2.3.4", "x" * 300, f"c{subscriber.id}.99999999999.abc"]:
        assert client.post(f"/status/acme/subscribe/confirm/{junk}").status_code == 404
    # Digits that are not ASCII ("²" passes str.isdigit() and fails int()), or too many.
    for junk in ["c².1.abc", f"c{subscriber.id}.².abc", "c٣.1.abc", f"c{'9' * 5000}.1.abc"]:
        assert client.get(f"/status/acme/subscribe/confirm/{junk}").status_code == 404
        assert client.post(f"/status/acme/subscribe/confirm/{junk}").status_code == 404
    assert _subscriber(db, "hal@example.com").state == "unconfirmed"


def test_a_form_token_with_odd_digits_is_refused(client: TestClient, acme: Acme) -> None:
    for token in ["².abc", "٣٣٣٣٣٣٣٣٣٣.abc", "9" * 5000 + ".abc"]:
        answer = client.post(
            "/status/acme/subscribe", data={"form_token": token, "email": "eve@example.com"}
        )
        assert answer.status_code == 400, token


def test_a_rolled_back_publish_tells_nobody(
    db: Session, container: Container, acme: Acme, settings: Settings, admin: User
) -> None:
    active(db, acme.page, settings, admin, endpoint="http://127.0.0.1:9/x")
    _, _, queued = publish(db, acme.page, changes={acme.api: "major_outage"})
    assert queued == 2  # the update and its component change, to the webhook
    db.rollback()
    assert db.scalar(select(func.count(Delivery.id))) == 0
    assert db.scalar(select(func.count(Job.id)).where(Job.kind == "subscribers.deliver")) == 0
