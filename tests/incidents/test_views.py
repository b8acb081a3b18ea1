"""The incident pages, driven through real form posts as a browser without JavaScript would."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.conftest import ADMIN_PASSWORD, browser_login, token_for
from tests.statuspages.conftest import make_page
from tocsin.bootstrap import Container
from tocsin.catalog import service as catalog
from tocsin.catalog.models import User
from tocsin.db import utcnow
from tocsin.definitions.models import IncidentRole, IncidentType, Severity
from tocsin.incidents import queries, service
from tocsin.incidents.models import Incident, StatusUpdate
from tocsin.statuspages import publish
from tocsin.statuspages.models import PageIncident

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


def fresh(db: Session) -> None:
    """See what the requests committed since: end the read snapshot, forget loaded rows."""
    db.rollback()
    db.expire_all()


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
    db: Session, responder: User, client: TestClient
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
    db: Session, responder: User, client: TestClient
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
    fresh(db)
    incident = db.scalars(select(Incident)).one()
    assert incident.incident_type is not None and incident.incident_type.name == "Service outage"
    assert incident.custom_fields["regions"] == ["EU"]


def test_the_type_change_needs_a_responder(db: Session, viewer: User, client: TestClient) -> None:
    token = browser_login(client, viewer.email)
    assert client.post("/incidents/new", data={"csrf_token": token}).status_code == 403


# --- the update composer: {next_update} -------------------------------------------------


def _next_update_local() -> tuple[str, str]:
    """A "Next update by" two hours from now as the form sends it (Paris wall clock), and
    how the update must write it."""
    when = (utcnow() + timedelta(hours=2)).astimezone(PARIS).replace(second=0, microsecond=0)
    return when.strftime("%Y-%m-%dT%H:%M"), when.strftime("%H:%M %Z on %d %b %Y")


def test_the_composer_keeps_next_update_for_the_time_picked_in_the_same_form(
    db: Session, paris_responder: User, client: TestClient
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
    db: Session, paris_responder: User, client: TestClient
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
    fresh(db)
    assert db.get(Incident, incident.id).status == "triggered"  # type: ignore[union-attr]

    posted = client.post(f"/incidents/{incident.reference}/updates", data=form)
    assert posted.status_code == 200 and "Update posted." in posted.text
    fresh(db)
    update = db.scalars(select(StatusUpdate)).one()
    assert update.body == f"We found it. Next update by {written}."
    assert update.next_update_at is not None
    expected = datetime.strptime(picked, "%Y-%m-%dT%H:%M").replace(tzinfo=PARIS)
    assert update.next_update_at == expected
    assert f"Next update by {written}." in posted.text


def test_without_a_next_update_time_the_update_says_soon(
    db: Session, paris_responder: User, client: TestClient
) -> None:
    incident = _incident(db, paris_responder)
    token = browser_login(client, paris_responder.email)
    form = {"csrf_token": token, "phase": "investigating", "body": "Back by {next_update}."}
    preview = client.post(f"/incidents/{incident.reference}/updates/preview", data=form)
    assert "Back by soon." in preview.text
    client.post(f"/incidents/{incident.reference}/updates", data=form)
    assert db.scalars(select(StatusUpdate.body)).one() == "Back by soon."


def test_a_bad_preview_says_why_and_keeps_the_text(
    db: Session, paris_responder: User, client: TestClient
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


# --- the incident page: status and severity at the top, roles, resolving -----------------


def _section(page: str, section_id: str) -> str:
    start = page.index(f'id="{section_id}"')
    return page[start : page.index("</section>", start)]


def test_status_and_severity_change_from_the_header(
    db: Session, responder: User, client: TestClient
) -> None:
    incident = _incident(db, responder)
    token = browser_login(client, responder.email)
    header = _section(client.get(f"/incidents/{incident.reference}").text, "incident-header")
    # Both controls are plain forms in the header, labelled, with the current values chosen.
    assert 'action="/incidents/INC-1/severity"' in header and 'for="severity-control"' in header
    assert 'action="/incidents/INC-1/status"' in header and 'for="status-control"' in header
    assert _selected(header, "status") == ["triggered"]
    assert "resolved</option>" not in header  # resolving goes through its own form
    sev1 = _severity_id(db, "SEV1")
    page = client.post(
        f"/incidents/{incident.reference}/severity",
        data={"csrf_token": token, "severity_id": str(sev1)},
    ).text
    assert _selected(_section(page, "incident-header"), "severity_id") == [str(sev1)]
    assert "changed the severity from none to SEV1" in page
    page = client.post(
        f"/incidents/{incident.reference}/status",
        data={"csrf_token": token, "status": "identified"},
    ).text
    assert "badge status-identified" in _section(page, "incident-header")
    cleared = client.post(
        f"/incidents/{incident.reference}/severity", data={"csrf_token": token, "severity_id": ""}
    ).text
    assert _selected(_section(cleared, "incident-header"), "severity_id") == [""]
    bad = client.post(
        f"/incidents/{incident.reference}/severity", data={"csrf_token": token, "severity_id": "x"}
    ).text
    assert "severity_id must be a number" in bad


def test_roles_list_who_holds_what_and_keep_the_empty_ones_folded(
    db: Session, responder: User, admin: User, client: TestClient
) -> None:
    outage = _type(db, "Service outage")  # wants a commander, an external comms lead, an SME
    incident = service.declare(db, by=responder, title="Checkout down", type_id=outage.id)
    db.commit()
    token = browser_login(client, responder.email)
    roles = _section(client.get(f"/incidents/{incident.reference}").text, "roles")
    assert "Nobody holds a role yet." in roles and "Needed:</strong> Incident Commander" in roles
    assert roles.count("<select") == 2  # one form: the role and the person
    commander = re.search(r'<option value="(\d+)">Incident Commander</option>', roles)
    assert commander is not None
    page = client.post(
        f"/incidents/{incident.reference}/roles",
        data={"csrf_token": token, "role_id": commander.group(1), "user_id": str(admin.id)},
    ).text
    roles = _section(page, "roles")
    assert "<strong>Incident Commander</strong>: Ada Admin" in roles
    assert "Needed:</strong> Communications" in roles or "Needed:</strong>" in roles
    assert "Incident Commander</option>" not in roles  # no longer empty: a hand-over
    assert "Incident Commander (now Ada Admin)</option>" in roles
    # However many roles there are: the assign form, and handing over command.
    assert roles.count("<select") == 3 and "Hand over command" in roles
    assert "Ada Admin" in _section(page, "incident-header")  # the commander fact
    removed = client.post(
        f"/incidents/{incident.reference}/roles/remove",
        data={"csrf_token": token, "role_id": commander.group(1), "user_id": str(admin.id)},
    ).text
    assert "Nobody holds a role yet." in _section(removed, "roles")
    assert "removed Ada Admin as Incident Commander" in removed


def test_several_experts_hold_a_role_and_a_viewer_is_assigned_with_a_warning(
    db: Session, responder: User, admin: User, viewer: User, client: TestClient
) -> None:
    incident = service.declare(db, by=responder, title="Checkout down")
    db.commit()
    sme = db.scalars(select(IncidentRole).where(IncidentRole.slug == "sme")).one()
    token = browser_login(client, responder.email)
    url = f"/incidents/{incident.reference}/roles"
    client.post(url, data={"csrf_token": token, "role_id": str(sme.id), "user_id": str(admin.id)})
    page = client.post(
        url, data={"csrf_token": token, "role_id": str(sme.id), "user_id": str(viewer.id)}
    ).text
    assert 'class="flash flash-warning"' in page and "is a viewer" in page
    roles = _section(page, "roles")
    assert f"<strong>Subject Matter Expert</strong>: Ada Admin, {viewer.name}" in roles
    assert f"Remove {viewer.name} as Subject Matter Expert" in roles
    page = client.post(
        f"{url}/remove",
        data={"csrf_token": token, "role_id": str(sme.id), "user_id": str(admin.id)},
    ).text
    assert f"<strong>Subject Matter Expert</strong>: {viewer.name}" in _section(page, "roles")


def test_resolving_without_javascript_asks_for_the_summary(
    db: Session, responder: User, client: TestClient
) -> None:
    incident = _incident(db, responder)
    token = browser_login(client, responder.email)
    header = _section(client.get(f"/incidents/{incident.reference}").text, "incident-header")
    assert 'href="/incidents/INC-1/resolve"' in header  # a page of its own without JavaScript
    form = client.get(f"/incidents/{incident.reference}/resolve")
    assert form.status_code == 200 and "Resolution summary" in form.text
    assert 'class="tell-customers"' not in form.text  # on no status page: nothing to tell
    summary = "Rolled back the **gateway** deploy <v2.3>."
    done = client.post(
        f"/incidents/{incident.reference}/resolve", data={"csrf_token": token, "summary": summary}
    )
    assert done.status_code == 200 and "INC-1 resolved." in done.text
    assert "<strong>gateway</strong>" in done.text and "&lt;v2.3&gt;" in done.text
    fresh(db)
    resolved = db.get(Incident, incident.id)
    assert resolved is not None and resolved.status == "resolved"
    assert resolved.resolution_summary == summary
    note = [e for e in resolved_timeline(db, resolved) if e.kind == "resolution_note"]
    assert len(note) == 1 and note[0].body == summary and note[0].is_key_event
    # Resolved: nothing more to resolve, and the page says so.
    again = client.get(f"/incidents/{incident.reference}/resolve").text
    assert "already resolved" in again


def resolved_timeline(db: Session, incident: Incident) -> list[Any]:
    return list(queries.timeline(db, incident))


def test_resolving_tells_customers_on_the_status_page_it_was_published_on(
    db: Session, admin: User, client: TestClient, container: Container
) -> None:
    acme = make_page(db, admin)
    incident = service.declare(
        db, by=admin, title="Checkout errors", service_ids=[acme.services["Checkout"].id]
    )
    draft = publish.check(
        db, acme.page, incident, phase="identified", body="We found it.",
        components={acme.checkout.id: "major_outage"},
    )  # fmt: skip
    publish.publish(db, draft, by=admin)
    other = make_page(db, admin, slug="internal-tools")  # not published there: not offered
    db.commit()
    token = browser_login(client, admin.email)
    form = client.get(f"/incidents/{incident.reference}/resolve").text
    pid = acme.page.id
    assert "Status page Acme Status" in form and f'name="tell_{pid}" checked' in form
    assert f'name="tell_{other.page.id}"' not in form
    assert "have been resolved and everything is working" in form  # the Resolved template

    # A bad message comes back with what was typed, and nothing is resolved.
    refused = client.post(
        f"/incidents/{incident.reference}/resolve",
        data={"csrf_token": token, "summary": "Fixed <it>", f"tell_{pid}": "on",
              f"body_{pid}": "   "},
    )  # fmt: skip
    assert refused.status_code == 422 and "body is required" in refused.text
    assert "Fixed &lt;it&gt;</textarea>" in refused.text
    fresh(db)
    assert db.get(Incident, incident.id).status == "identified"  # type: ignore[union-attr]

    done = client.post(
        f"/incidents/{incident.reference}/resolve",
        data={"csrf_token": token, "summary": "Rolled back.", f"tell_{pid}": "on",
              f"body_{pid}": "All good again.", f"notify_{pid}": "on"},
    )  # fmt: skip
    assert "INC-1 resolved. Customers told on Acme Status." in done.text
    fresh(db)
    pi = db.scalars(select(PageIncident).where(PageIncident.incident_id == incident.id)).one()
    assert pi.status == "resolved" and pi.resolved_at is not None
    assert pi.updates[0].body == "All good again." and pi.updates[0].deliver_notifications
    db.refresh(acme.checkout)
    assert acme.checkout.status == "operational"
    external = db.scalars(
        select(StatusUpdate).where(StatusUpdate.visibility == "external").order_by(StatusUpdate.id)
    ).all()
    assert [u.phase for u in external] == ["identified", "resolved"]
    assert db.get(Incident, incident.id).resolution_summary == "Rolled back."  # type: ignore[union-attr]


def test_resolving_can_leave_customers_untold(db: Session, admin: User, client: TestClient) -> None:
    acme = make_page(db, admin)
    incident = service.declare(db, by=admin, title="Checkout errors")
    publish.publish(db, publish.check(db, acme.page, incident, phase="investigating",
                                      body="Looking."), by=admin)  # fmt: skip
    db.commit()
    token = browser_login(client, admin.email)
    done = client.post(
        f"/incidents/{incident.reference}/resolve",
        data={"csrf_token": token, f"body_{acme.page.id}": "All good."},  # tell_ unticked
    )
    assert "INC-1 resolved." in done.text and "Customers told" not in done.text
    fresh(db)
    pi = db.scalars(select(PageIncident).where(PageIncident.incident_id == incident.id)).one()
    assert pi.status == "investigating"
    assert db.get(Incident, incident.id).status == "resolved"  # type: ignore[union-attr]


def test_the_api_resolves_with_a_summary(db: Session, admin: User, client: TestClient) -> None:
    incident = _incident(db, admin)
    second = _incident(db, admin, "Another")
    headers = {"Authorization": f"Bearer {token_for(db, admin)}"}
    done = client.post(
        f"/api/v1/incidents/{incident.reference}/resolve",
        json={"summary": "Rolled back."},
        headers=headers,
    )
    assert done.status_code == 200
    assert done.json()["status"] == "resolved"
    assert done.json()["resolution_summary"] == "Rolled back."
    edited = client.patch(
        f"/api/v1/incidents/{incident.reference}",
        json={"resolution_summary": "Rolled back the gateway."},
        headers=headers,
    )
    assert edited.json()["resolution_summary"] == "Rolled back the gateway."
    bare = client.post(f"/api/v1/incidents/{second.reference}/resolve", headers=headers)
    assert bare.status_code == 200 and bare.json()["resolution_summary"] == ""
