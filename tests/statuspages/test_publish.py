"""Publishing a Tocsin incident's updates on a status page, and what can never appear there."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tests.conftest import api_as, browser_login
from tests.statuspages.conftest import Acme, declare, queued, serve, work
from tocsin.bootstrap import Container
from tocsin.catalog.models import User
from tocsin.definitions.models import IncidentRole
from tocsin.errors import Conflict, InvalidTransition, ValidationFailed
from tocsin.incidents import roles as incident_roles
from tocsin.incidents import service as incidents
from tocsin.incidents import updates
from tocsin.incidents.models import StatusUpdate, TimelineEntry
from tocsin.statuspages import publish
from tocsin.statuspages.events import INCIDENT_UPDATE, page_event
from tocsin.statuspages.models import ComponentChange, PageIncident, PageIncidentUpdate
from tocsin.statuspages.refresh import RENDER_JOB


def _publish(db: Session, acme: Acme, incident, by: User, **kw):  # type: ignore[no-untyped-def]
    kw.setdefault("phase", "investigating")
    kw.setdefault("body", "We are looking into errors at checkout.")
    update = publish.publish(db, publish.check(db, acme.page, incident, **kw), by=by)
    db.commit()
    return update


def test_publishing_posts_an_external_update_and_changes_components(
    db: Session, admin: User, acme: Acme
) -> None:
    incident = declare(db, admin, "Checkout 500s")
    update = _publish(
        db,
        acme,
        incident,
        admin,
        components={acme.checkout.id: "major_outage"},
        name="Checkout errors",
    )
    pi = update.page_incident
    assert (pi.name, pi.status, pi.impact) == ("Checkout errors", "investigating", "major")
    assert incident.status == "investigating"
    status_update = db.get(StatusUpdate, update.status_update_id)
    assert status_update is not None and status_update.visibility == "external"
    assert status_update.body == "We are looking into errors at checkout."
    assert acme.checkout.status == "major_outage"
    assert update.affected_components == [
        {
            "component_id": acme.checkout.id,
            "code": acme.checkout.public_id,
            "name": "Checkout",
            "old_status": "operational",
            "new_status": "major_outage",
        }
    ]
    change = db.scalars(select(ComponentChange)).one()
    assert (change.source, change.page_incident_update_id) == ("incident", update.id)
    entry = db.scalars(
        select(TimelineEntry).where(TimelineEntry.kind == "statuspage_published")
    ).one()
    assert "on the status page Acme Status" in entry.summary
    assert queued(db, RENDER_JOB), "the page is rendered again after the change commits"


def test_resolved_returns_the_incidents_components_to_operational(
    db: Session, admin: User, acme: Acme
) -> None:
    incident = declare(db, admin)
    statuses = {
        acme.checkout.id: "partial_outage",
        acme.payments.id: "degraded_performance",
        acme.api.id: "degraded_performance",
    }
    _publish(db, acme, incident, admin, components=statuses)
    _publish(db, acme, incident, admin, phase="identified", body="Found it.")
    # Told otherwise for the API: it stays degraded.
    update = _publish(
        db, acme, incident, admin, phase="resolved", body="Fixed.",
        components={acme.api.id: "degraded_performance"},
    )  # fmt: skip
    assert (acme.checkout.status, acme.payments.status, acme.api.status) == (
        "operational", "operational", "degraded_performance",
    )  # fmt: skip
    pi = update.page_incident
    assert pi.status == "resolved" and pi.resolved_at is not None
    assert pi.impact == "minor", "an incident keeps the worst impact it had"
    assert incident.status == "resolved"
    assert {a["name"]: a["new_status"] for a in update.affected_components} == {
        "Checkout": "operational", "Payments": "operational", "API": "degraded_performance",
    }  # fmt: skip


@pytest.mark.parametrize("flag", ["drill", "restricted"])
def test_drills_and_restricted_incidents_are_refused(
    db: Session, admin: User, acme: Acme, flag: str
) -> None:
    incident = declare(db, admin, **{flag: True})
    with pytest.raises(Conflict, match=f"{flag}"):
        publish.check(db, acme.page, incident, phase="investigating", body="x")
    assert db.scalar(select(func.count(PageIncident.id))) == 0


def test_bad_requests_change_nothing(
    db: Session, admin: User, acme: Acme, container: Container
) -> None:
    from tests.statuspages.conftest import make_page

    other = make_page(db, admin, slug="other")
    incident = declare(db, admin)
    with pytest.raises(ValidationFailed, match="not on Acme Status"):
        publish.check(db, acme.page, incident, phase="identified", body="x",
                      components={other.api.id: "major_outage"})  # fmt: skip
    with pytest.raises(ValidationFailed, match="phase"):
        publish.check(db, acme.page, incident, phase="closed", body="x")
    with pytest.raises(ValidationFailed, match="body is required"):
        publish.check(db, acme.page, incident, phase="identified", body="  ")
    incidents.change_status(db, incident, "resolved", by=admin)
    incidents.close(db, incident, by=admin)
    db.commit()
    draft = publish.check(db, acme.page, incident, phase="resolved", body="x")
    with pytest.raises(InvalidTransition, match="closed"):
        publish.publish(db, draft, by=admin)
    db.rollback()
    assert db.scalar(select(func.count(PageIncidentUpdate.id))) == 0


def test_a_rolled_back_publish_renders_nothing(
    db: Session, admin: User, acme: Acme, container: Container
) -> None:
    work(db, container)  # the page's first render
    incident = declare(db, admin)
    publish.publish(
        db, publish.check(db, acme.page, incident, phase="investigating", body="x"), by=admin
    )
    db.rollback()
    assert queued(db, RENDER_JOB) == []
    assert db.scalar(select(func.count(PageIncident.id))) == 0


def test_page_event_is_the_seam_for_subscribers(db: Session, admin: User, acme: Acme) -> None:
    incident = declare(db, admin)
    update = _publish(db, acme, incident, admin, components={acme.payments.id: "partial_outage"})
    event = page_event(db, page=acme.page, page_incident_update=update,
                       component_changes=list(db.scalars(select(ComponentChange))))  # fmt: skip
    assert event.kind == INCIDENT_UPDATE
    assert event.component_ids == (acme.payments.id,)
    assert event.deliver_notifications is True


def _all_files(client: TestClient, slug: str = "acme") -> str:
    """Every file of the page as served, concatenated."""
    paths = [
        "", "history/", "api/v2/summary.json", "api/v2/incidents.json", "api/v2/components.json",
        "api/v2/incidents/unresolved.json", "api/v2/scheduled-maintenances.json",
        "history.rss", "history.atom",
    ]  # fmt: skip
    texts = []
    for path in paths:
        response = client.get(f"/status/{slug}/{path}")
        assert response.status_code == 200, path
        texts.append(response.text)
    return "\n".join(texts)


@pytest.mark.parametrize("flag", ["drill", "restricted"])
def test_an_incident_that_becomes_hidden_disappears_from_every_file(
    db: Session, admin: User, acme: Acme, container: Container, client: TestClient, flag: str
) -> None:
    incident = declare(db, admin)
    update = _publish(db, acme, incident, admin, name="Payments are failing",
                      components={acme.payments.id: "major_outage"})  # fmt: skip
    serve(db, container, client)
    assert "Payments are failing" in _all_files(client)
    assert client.get("/status/acme/api/v2/status.json").json()["status"]["indicator"] == "major"

    incidents.edit(db, incident, {flag: True}, by=admin)
    serve(db, container, client)
    everything = _all_files(client)
    assert "Payments are failing" not in everything
    assert update.page_incident.public_id not in everything
    assert (
        client.get(f"/status/acme/incidents/{update.page_incident.public_id}/").status_code == 404
    )
    # Its component impact is withdrawn too: the page does not show an unexplained outage.
    status = client.get("/status/acme/api/v2/status.json").json()["status"]
    assert status == {"indicator": "none", "description": "All Systems Operational"}

    incidents.edit(db, incident, {flag: False}, by=admin)
    serve(db, container, client)
    assert "Payments are failing" in _all_files(client)


def test_internal_updates_notes_and_the_timeline_never_reach_a_page(
    db: Session, admin: User, acme: Acme, container: Container, client: TestClient
) -> None:
    incident = declare(db, admin, "Internal title SECRET-TITLE")
    incidents.add_note(db, incident, "SECRET-NOTE root cause is the db", by=admin)
    updates.post_update(db, incident, phase="investigating", body="SECRET-INTERNAL", by=admin)
    updates.post_update(db, incident, phase="identified", body="SECRET-EXTERNAL-UNPUBLISHED",
                        visibility="external", by=admin)  # fmt: skip
    db.commit()
    _publish(
        db, acme, incident, admin, phase="monitoring", body="A fix is out.", name="Slow checkout"
    )
    serve(db, container, client)
    everything = _all_files(client)
    assert "A fix is out." in everything
    for secret in ("SECRET-TITLE", "SECRET-NOTE", "SECRET-INTERNAL", "SECRET-EXTERNAL-UNPUBLISHED"):
        assert secret not in everything


def test_the_composer_refuses_a_drill_whatever_is_posted(
    db: Session, admin: User, responder: User, acme: Acme, client: TestClient
) -> None:
    drill = declare(db, admin, "Game day", drill=True)
    csrf = browser_login(client, responder.email)
    page = client.get(f"/incidents/{drill.reference}")
    assert "drills never appear on a status page" in page.text
    assert f"/status-pages/{acme.page.id}/publish" not in page.text
    # Posting the form by hand anyway.
    form = {"csrf_token": csrf, "phase": "investigating", "body": "x", "name": "Game day",
            f"component_{acme.api.id}": "major_outage", "deliver_notifications": "on"}  # fmt: skip
    response = client.post(
        f"/incidents/{drill.reference}/status-pages/{acme.page.id}/publish", data=form,
        follow_redirects=False,
    )  # fmt: skip
    assert response.status_code == 303
    assert "drills never appear" in client.get(response.headers["location"]).text
    preview = client.post(
        f"/incidents/{drill.reference}/status-pages/{acme.page.id}/preview", data=form,
        follow_redirects=False,
    )  # fmt: skip
    assert preview.status_code == 303
    db.rollback()
    assert db.scalar(select(func.count(PageIncident.id))) == 0
    assert db.get(type(acme.api), acme.api.id).status == "operational"  # type: ignore[union-attr]


def test_the_api_refuses_a_restricted_incident(
    db: Session, admin: User, responder: User, acme: Acme, client: TestClient
) -> None:
    secret = declare(db, admin, "Breach", restricted=True)
    commander = db.scalar(select(IncidentRole).where(IncidentRole.slug == "incident_commander"))
    assert commander is not None
    body = {"incident": secret.reference, "status": "investigating", "body": "x"}
    path = f"/api/v1/status-pages/{acme.page.slug}/incidents"
    # A responder not involved: for them the incident does not exist.
    response = client.post(path, json=body, headers=api_as(client, db, responder))
    assert response.status_code == 404
    assert response.json()["error"]["message"] == f"no incident {secret.reference}"
    # Its commander sees it, and is refused.
    incident_roles.assign_role(db, secret, role_id=commander.id, user_id=responder.id, by=admin)
    db.commit()
    response = client.post(path, json=body, headers=api_as(client, db, responder))
    assert response.status_code == 409
    assert "restricted incidents never appear" in response.json()["error"]["message"]


def test_the_api_names_the_tocsin_incident_of_a_page_incident_only_to_those_who_may_see_it(
    db: Session, admin: User, responder: User, acme: Acme, client: TestClient
) -> None:
    incident = declare(db, admin, "Card data exposed")
    _publish(db, acme, incident, admin, name="Payments are failing")
    incidents.edit(db, incident, {"restricted": True}, by=admin)
    db.commit()
    path = f"/api/v1/status-pages/{acme.page.slug}/incidents"
    (seen,) = client.get(path, headers=api_as(client, db, admin)).json()
    (hidden,) = client.get(path, headers=api_as(client, db, responder)).json()
    assert seen["incident"] == incident.reference and seen["shown"] is False
    assert hidden["incident"] is None and hidden["public_id"] == seen["public_id"]
    assert "Card data exposed" not in str(hidden)


def test_composer_preview_shows_the_page_without_writing(
    db: Session, admin: User, responder: User, acme: Acme, client: TestClient
) -> None:
    incident = declare(db, admin, "Slow payments", service_ids=[acme.services["Payments"].id])
    csrf = browser_login(client, responder.email)
    page = client.get(f"/incidents/{incident.reference}")
    assert 'id="statuspage-composer"' in page.text
    assert 'value="Slow payments"' in page.text, "the public title starts as the incident's"
    assert "this incident's service" in page.text, "its own service's component comes first"
    # The message starts as the phase's template, filled from the incident.
    template = updates.render_template(db, incident, "investigating")
    assert "Payments (acme)" in template
    assert f"data-template-body>{template}</textarea>" in page.text.replace("&#39;", "'")
    form = {
        "csrf_token": csrf,
        "phase": "identified",
        "body": "Card payments **fail** for some.",
        "name": "Payments degraded",
        "impact": "auto",
        f"component_{acme.payments.id}": "partial_outage",
        "deliver_notifications": "on",
    }
    preview = client.post(
        f"/incidents/{incident.reference}/status-pages/{acme.page.id}/preview", data=form
    )
    assert preview.status_code == 200
    assert "Preview: not published yet" in preview.text
    assert "Card payments <strong>fail</strong> for some." in preview.text
    assert "Partial System Outage" in preview.text
    db.rollback()
    assert db.scalar(select(func.count(PageIncident.id))) == 0
    assert db.scalar(select(func.count(StatusUpdate.id))) == 0
    published = client.post(
        f"/incidents/{incident.reference}/status-pages/{acme.page.id}/publish", data=form,
        follow_redirects=False,
    )  # fmt: skip
    assert published.status_code == 303
    assert "Published on Acme Status" in client.get(published.headers["location"]).text
    db.rollback()
    pi = db.scalars(select(PageIncident)).one()
    assert (pi.name, pi.status) == ("Payments degraded", "identified")
