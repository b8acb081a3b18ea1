"""Acknowledge and resolve links from a received email, used without logging in."""

from __future__ import annotations

import re
from datetime import timedelta

from fastapi.testclient import TestClient
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from tests.notify.conftest import SmtpServer, declare, run_jobs
from tocsin.bootstrap import Container
from tocsin.catalog.models import User
from tocsin.config import Settings
from tocsin.db import utcnow
from tocsin.incidents import queries
from tocsin.incidents import service as incidents
from tocsin.incidents.models import Incident
from tocsin.notify import methods
from tocsin.notify.models import ActionToken
from tocsin.notify.service import page_user


def _paged(db: Session, container: Container, settings: Settings, smtp: SmtpServer, user: User):  # type: ignore[no-untyped-def]
    methods.create_contact_method(
        db, user, by=user, settings=settings, kind="email", target=user.email
    )
    incident = declare(db, user)
    page_user(db, incident=incident, user=user, reason="on call", key="k")
    db.commit()
    run_jobs(container)
    body = smtp.messages[-1].get_content()
    found = dict(
        re.findall(r"^(Acknowledge|Resolve): http://tocsin\.test(/act/[\w-]+)", body, re.M)
    )
    return incident, found["Acknowledge"], found["Resolve"]


def _status(db: Session, incident: Incident) -> str:
    db.rollback()  # end the test's read transaction: see what the server committed
    db.expire_all()
    return db.get(Incident, incident.id).status


def test_ack_link_confirms_on_get_acts_on_post_and_works_once(
    client: TestClient,
    db: Session,
    container: Container,
    settings: Settings,
    smtp: SmtpServer,
    responder: User,
) -> None:
    incident, ack, _ = _paged(db, container, settings, smtp, responder)
    assert "tocsin_session" not in client.cookies

    shown = client.get(ack)
    assert shown.status_code == 200
    assert "Acknowledge INC-1?" in shown.text and "Checkout is down" in shown.text
    assert _status(db, incident) == "triggered"  # a GET (a mail scanner) changes nothing

    done = client.post(ack)
    assert done.status_code == 200
    assert "INC-1 acknowledged by Rita Responder." in done.text
    assert _status(db, incident) == "acknowledged"
    entry = queries.timeline(db, incident)[-1]
    assert entry.summary.startswith("Rita Responder changed the status")

    again = client.post(ack)
    assert again.status_code == 410
    assert "already used" in again.text
    assert client.get(ack).status_code == 410


def test_resolve_link_after_acknowledging_elsewhere(
    client: TestClient,
    db: Session,
    container: Container,
    settings: Settings,
    smtp: SmtpServer,
    responder: User,
) -> None:
    incident, ack, resolve = _paged(db, container, settings, smtp, responder)
    incidents.acknowledge(db, db.get(Incident, incident.id), by=responder)
    db.commit()
    page = client.get(ack)
    assert (
        "INC-1 is already acknowledged" in page.text
        and "<form" not in page.text.split("<main", 1)[1]
    )
    refused = client.post(ack)
    assert refused.status_code == 409 and "already acknowledged" in refused.text
    resolved = client.post(resolve)
    assert resolved.status_code == 200, resolved.text
    assert _status(db, incident) == "resolved"
    assert "already resolved" in client.post(ack).text


def test_expired_and_unknown_links_get_a_clear_page(
    client: TestClient,
    db: Session,
    container: Container,
    settings: Settings,
    smtp: SmtpServer,
    responder: User,
) -> None:
    incident, ack, _ = _paged(db, container, settings, smtp, responder)
    db.execute(update(ActionToken).values(expires_at=utcnow() - timedelta(seconds=1)))
    db.commit()
    expired = client.post(ack)
    assert expired.status_code == 410 and "expired" in expired.text
    assert _status(db, incident) == "triggered"
    unknown = client.get("/act/not-a-real-token")
    assert unknown.status_code == 404 and "not valid" in unknown.text


def test_tokens_are_stored_hashed_and_expire_as_configured(
    db: Session, container: Container, settings: Settings, smtp: SmtpServer, responder: User
) -> None:
    _, ack, _ = _paged(db, container, settings, smtp, responder)
    raw = ack.removeprefix("/act/")
    rows = db.scalars(select(ActionToken)).all()
    assert {r.action for r in rows} == {"acknowledge", "resolve"}
    assert all(raw not in r.token_hash for r in rows)
    lifetime = rows[0].expires_at - rows[0].created_at
    assert lifetime == timedelta(hours=settings.action_link_hours)
