"""The incident pages, driven through real form posts as a browser without JavaScript would."""

from __future__ import annotations

import re
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
from tocsin.definitions.models import IncidentType, Severity
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


def _type(db: Session, name: str) -> IncidentType:
    return db.scalars(select(IncidentType).where(IncidentType.name == name)).one()


def _severity_id(db: Session, name: str) -> int:
    return db.scalars(select(Severity.id).where(Severity.name == name)).one()


def _selected(page: str, name: str) -> list[str]:
    """The values selected in the <select name=...> of a page."""
    start = page.index(f'name="{name}"')
    block = page[start : page.index("</select>", start)]
    return re.findall(r'<option value="([^"]*)"[^>]*selected', block)


# --- the declare form: changing the type -------------------------------------------------


def test_changing_the_type_keeps_what_was_typed_and_brings_the_types_fields(
    client: TestClient, db: Session, responder: User
) -> None:
    token = browser_login(client, responder.email)
    outage, security = _type(db, "Service outage"), _type(db, "Security incident")
    checkout = catalog.create_service(db, name="Checkout")
    db.commit()
    typed = {
        "csrf_token": token,
        "defaults_of": str(outage.id),
        "type_id": str(security.id),
        "title": "Card payments <fail>",
        "description": "Since 09:10 every card payment fails.\nSee the dashboard.",
        "customer_impact": "Nobody can pay by card",
        "service_ids": [str(checkout.id)],
        "severity_id": str(_severity_id(db, "SEV2")),  # the outage type's default
        "drill": "on",
        "cf_detection_source": "Customer report",
        "cf_regions": ["EU", "US"],
    }
    page = client.post("/incidents/new", data=typed)
    assert page.status_code == 200
    assert 'value="Card payments &lt;fail&gt;"' in page.text
    assert "Since 09:10 every card payment fails.\nSee the dashboard.</textarea>" in page.text
    assert "Nobody can pay by card</textarea>" in page.text
    assert _selected(page.text, "service_ids") == [str(checkout.id)]
    assert 'name="drill" checked' in page.text
    # The security type's fields and defaults: SEV1 replaces the outage default, restricted.
    assert "Security lead" in page.text and "Attack vector" in page.text
    assert _selected(page.text, "type_id") == [str(security.id)]
    assert _selected(page.text, "severity_id") == [str(_severity_id(db, "SEV1"))]
    assert 'name="restricted" checked' in page.text
    # The outage fields' values ride along, and come back when the type does.
    assert '<input type="hidden" name="cf_regions" value="EU">' in page.text
    assert '<input type="hidden" name="cf_regions" value="US">' in page.text
    typed_again = {**typed, "type_id": str(outage.id), "defaults_of": str(security.id)}
    typed_again["severity_id"] = str(_severity_id(db, "SEV3"))  # picked by hand: it stays
    back = client.post("/incidents/new", data=typed_again).text
    assert "<option selected>Customer report</option>" in back
    assert 'value="EU" checked' in back and 'value="US" checked' in back
    assert _selected(back, "severity_id") == [str(_severity_id(db, "SEV3"))]
    assert db.scalar(select(Incident.id)) is None  # nothing was declared


def test_declaring_after_a_type_change_declares_with_the_new_type(
    client: TestClient, db: Session, responder: User
) -> None:
    token = browser_login(client, responder.email)
    outage = _type(db, "Service outage")
    changed = client.post(
        "/incidents/new",
        data={"csrf_token": token, "type_id": str(outage.id), "title": "Search is slow"},
    )
    assert 'value="Search is slow"' in changed.text
    declared = client.post(
        "/incidents",
        data={
            "csrf_token": token,
            "type_id": str(outage.id),
            "title": "Search is slow",
            "cf_regions": "EU",
        },
        follow_redirects=False,
    )
    assert declared.status_code == 303
    db.rollback()
    incident = db.scalars(select(Incident)).one()
    assert incident.incident_type is not None and incident.incident_type.name == "Service outage"
    assert incident.custom_fields["regions"] == ["EU"]


def test_the_type_change_needs_a_responder(client: TestClient, db: Session, viewer: User) -> None:
    token = browser_login(client, viewer.email)
    assert client.post("/incidents/new", data={"csrf_token": token}).status_code == 403


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
