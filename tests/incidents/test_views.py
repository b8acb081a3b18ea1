"""The incident pages, driven through real form posts as a browser without JavaScript would."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.conftest import ADMIN_PASSWORD, browser_login
from tocsin.catalog import service as catalog
from tocsin.catalog.models import User
from tocsin.db import utcnow
from tocsin.incidents import service
from tocsin.incidents.models import Incident, StatusUpdate

PARIS = ZoneInfo("Europe/Paris")


@pytest.fixture
def paris_responder(db: Session) -> User:
    user = catalog.create_user(
        db,
        name="Paula Paris",
        email="paula@example.com",
        role="responder",
        timezone="Europe/Paris",
        password=ADMIN_PASSWORD,
    )
    db.commit()
    return user


def _incident(db: Session, by: User, title: str = "Checkout failing") -> Incident:
    incident = service.declare(db, by=by, title=title)
    db.commit()
    return incident


# --- the update composer: {next_update} -------------------------------------------------


def _next_update_local() -> tuple[str, str]:
    """A "Next update by" two hours from now as the form sends it (Paris wall clock), and
    how the update must write it."""
    when = (utcnow() + timedelta(hours=2)).astimezone(PARIS).replace(second=0, microsecond=0)
    return when.strftime("%Y-%m-%dT%H:%M"), when.strftime("%H:%M %Z on %d %b %Y")


def test_the_composer_keeps_next_update_for_the_time_picked_in_the_same_form(
    client: TestClient, db: Session, paris_responder: User
) -> None:
    incident = _incident(db, paris_responder)
    browser_login(client, paris_responder.email)
    page = client.get(f"/incidents/{incident.reference}").text
    # The phase's template is filled in, except the time nobody has picked yet.
    assert "We are investigating reports of problems" in page or "identified the cause" in page
    assert "{next_update}" in page and "update by soon" not in page
    phase = client.get(f"/incidents/{incident.reference}/template?phase=monitoring").json()
    assert phase["body"].endswith("Next update by {next_update}.")


def test_preview_and_post_write_the_next_update_in_the_authors_time_zone(
    client: TestClient, db: Session, paris_responder: User
) -> None:
    incident = _incident(db, paris_responder)
    token = browser_login(client, paris_responder.email)
    picked, written = _next_update_local()
    assert written.split(" ")[1] in ("CET", "CEST")
    form = {
        "csrf_token": token,
        "phase": "identified",
        "visibility": "internal",
        "next_update_at": picked,
        "body": "We found it. Next update by {next_update}.",
    }
    preview = client.post(f"/incidents/{incident.reference}/updates/preview", data=form)
    assert preview.status_code == 200
    assert f"We found it. Next update by {written}." in preview.text
    # What was typed comes back as typed, to change and preview again; nothing is posted.
    assert "Next update by {next_update}.</textarea>" in preview.text
    assert f'value="{picked}"' in preview.text
    assert db.scalar(select(StatusUpdate.id)) is None
    db.rollback()
    assert db.get(Incident, incident.id).status == "triggered"  # type: ignore[union-attr]

    posted = client.post(f"/incidents/{incident.reference}/updates", data=form)
    assert posted.status_code == 200 and "Update posted." in posted.text
    db.rollback()
    update = db.scalars(select(StatusUpdate)).one()
    assert update.body == f"We found it. Next update by {written}."
    assert update.next_update_at is not None
    expected = datetime.strptime(picked, "%Y-%m-%dT%H:%M").replace(tzinfo=PARIS)
    assert update.next_update_at == expected
    assert f"Next update by {written}." in posted.text


def test_without_a_next_update_time_the_update_says_soon(
    client: TestClient, db: Session, paris_responder: User
) -> None:
    incident = _incident(db, paris_responder)
    token = browser_login(client, paris_responder.email)
    form = {"csrf_token": token, "phase": "investigating", "body": "Back by {next_update}."}
    preview = client.post(f"/incidents/{incident.reference}/updates/preview", data=form)
    assert "Back by soon." in preview.text
    client.post(f"/incidents/{incident.reference}/updates", data=form)
    assert db.scalars(select(StatusUpdate.body)).one() == "Back by soon."


def test_a_bad_preview_says_why_and_keeps_the_text(
    client: TestClient, db: Session, paris_responder: User
) -> None:
    incident = _incident(db, paris_responder)
    token = browser_login(client, paris_responder.email)
    form = {
        "csrf_token": token,
        "phase": "identified",
        "next_update_at": "2020-01-01T10:00",
        "body": "<b>Typed</b> text",
    }
    preview = client.post(f"/incidents/{incident.reference}/updates/preview", data=form)
    assert preview.status_code == 422
    assert "next_update_at must be in the future" in preview.text
    assert "&lt;b&gt;Typed&lt;/b&gt; text</textarea>" in preview.text
