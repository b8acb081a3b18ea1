"""The postmortems REST API as a script or another tool would use it."""

from __future__ import annotations

from datetime import timedelta

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from tests.conftest import api_as
from tests.postmortems.conftest import incident_of
from tocsin.catalog import service as catalog
from tocsin.catalog.models import User
from tocsin.db import utcnow
from tocsin.incidents import service as incidents
from tocsin.postmortems import service
from tocsin.postmortems.service import SECTION_MAX


def _sev_id(api: TestClient, name: str) -> int:
    return next(s["id"] for s in api.get("/api/v1/severities").json()["items"] if s["name"] == name)


def test_resolving_a_sev1_through_the_api_gives_its_postmortem(
    api: TestClient, admin: User
) -> None:
    incident = api.post(
        "/api/v1/incidents",
        json={
            "title": "Checkout failing",
            "severity_id": _sev_id(api, "SEV1"),
            "commander_id": admin.id,
        },
    ).json()
    ref = incident["reference"]
    assert api.get(f"/api/v1/incidents/{ref}/postmortem").status_code == 404
    resolved = api.post(f"/api/v1/incidents/{ref}/resolve", json={"summary": "Rolled back."})
    assert resolved.status_code == 200

    got = api.get(f"/api/v1/incidents/{ref}/postmortem")
    assert got.status_code == 200, got.text
    postmortem = got.json()
    assert postmortem["incident"]["reference"] == ref
    assert postmortem["owner"]["email"] == admin.email
    assert postmortem["status"] == "draft" and postmortem["overdue"] is False
    assert postmortem["meeting_due_at"] is not None
    assert postmortem["due_at"] == postmortem["draft_due_at"]
    sections = {s["key"]: s for s in postmortem["sections"]}
    assert sections["resolution"]["body"] == "Rolled back."
    assert sections["resolution"]["html"] == "<p>Rolled back.</p>\n"
    assert "<table>" in sections["timeline"]["html"]
    assert api.get(f"/api/v1/postmortems/{postmortem['id']}").json() == postmortem


def test_edit_a_section_and_meet_the_conflict(api: TestClient) -> None:
    ref = api.post("/api/v1/incidents", json={"title": "Search slow"}).json()["reference"]
    started = api.post(f"/api/v1/incidents/{ref}/postmortem")
    assert started.status_code == 201, started.text
    pm = started.json()["id"]
    # Starting again answers the same one.
    again = api.post(f"/api/v1/incidents/{ref}/postmortem")
    assert (again.status_code, again.json()["id"]) == (200, pm)

    url = f"/api/v1/postmortems/{pm}/sections/contributing_factors"
    first = api.put(
        url, json={"body": "A config push <script>alert(1)</script>", "base_version": 1}
    )
    assert first.status_code == 200, first.text
    assert first.json()["version"] == 2
    assert "<script" not in first.json()["html"]
    assert "&lt;script&gt;" in first.json()["html"]

    stale = api.put(url, json={"body": "A cache stampede", "base_version": 1})
    assert stale.status_code == 409
    error = stale.json()["error"]
    assert error["yours"] == "A cache stampede"
    assert error["saved"] == "A config push <script>alert(1)</script>"
    assert error["saved_version"] == 2 and error["field"] == "base_version"
    # Nothing lost, nothing overwritten.
    revisions = api.get(f"{url}/revisions").json()
    assert [r["version"] for r in revisions["items"]] == [2, 1]

    too_big = api.put(url, json={"body": "x" * (SECTION_MAX + 1), "base_version": 2})
    assert too_big.status_code == 422
    assert (
        api.put(
            f"/api/v1/postmortems/{pm}/sections/nope", json={"body": "", "base_version": 1}
        ).status_code
        == 404
    )


def test_status_owner_and_meeting(api: TestClient, db: Session, responder: User) -> None:
    ref = api.post("/api/v1/incidents", json={"title": "Search slow"}).json()["reference"]
    pm = api.post(f"/api/v1/incidents/{ref}/postmortem").json()["id"]
    bad = api.post(f"/api/v1/postmortems/{pm}/status", json={"status": "closed"})
    assert bad.status_code == 409
    assert "cannot move to closed" in bad.json()["error"]["message"]
    moved = api.post(f"/api/v1/postmortems/{pm}/status", json={"status": "in_review"})
    assert moved.json()["status"] == "in_review"

    patched = api.patch(
        f"/api/v1/postmortems/{pm}",
        json={
            "owner_id": responder.id,
            "meeting_at": "2026-12-09T14:00:00+01:00",
            "recording_url": "https://meet.example.com/r/9",
        },
    )
    assert patched.status_code == 200, patched.text
    body = patched.json()
    assert body["owner"]["email"] == responder.email
    assert body["meeting_at"] == "2026-12-09T13:00:00+00:00"
    assert body["recording_url"] == "https://meet.example.com/r/9"
    assert api.patch(f"/api/v1/postmortems/{pm}", json={"owner_id": 999999}).status_code == 404
    kinds = [e["field"] for e in api.get(f"/api/v1/incidents/{ref}/timeline").json()["items"]]
    assert {"postmortem", "postmortem_status", "postmortem_owner", "postmortem_meeting"} <= set(
        kinds
    )


def test_viewers_read_and_cannot_write(
    api: TestClient, client: TestClient, db: Session, viewer: User
) -> None:
    ref = api.post("/api/v1/incidents", json={"title": "Search slow"}).json()["reference"]
    as_viewer = api_as(client, db, viewer)
    assert client.post(f"/api/v1/incidents/{ref}/postmortem", headers=as_viewer).status_code == 403
    pm = api.post(f"/api/v1/incidents/{ref}/postmortem").json()["id"]
    assert client.get(f"/api/v1/postmortems/{pm}", headers=as_viewer).status_code == 200
    put = client.put(
        f"/api/v1/postmortems/{pm}/sections/overview",
        json={"body": "mine", "base_version": 1},
        headers=as_viewer,
    )
    assert put.status_code == 403
    status = client.post(
        f"/api/v1/postmortems/{pm}/status", json={"status": "in_review"}, headers=as_viewer
    )
    assert status.status_code == 403


def test_a_restricted_incidents_postmortem_is_hidden_from_others(
    api: TestClient, client: TestClient, db: Session, admin: User, responder: User
) -> None:
    hidden = incident_of(db, admin, "SEV3", restricted=True)
    visible = incident_of(db, admin, "SEV3")
    hidden_pm = service.start(db, hidden, by=admin)
    service.start(db, visible, by=admin)
    db.commit()
    as_rita = api_as(client, db, responder)
    listed = client.get("/api/v1/postmortems", headers=as_rita).json()
    assert [p["incident"]["reference"] for p in listed["items"]] == [visible.reference]
    assert listed["total"] == 1
    assert client.get(f"/api/v1/postmortems/{hidden_pm.id}", headers=as_rita).status_code == 404
    revisions = f"/api/v1/postmortems/{hidden_pm.id}/sections/overview/revisions"
    assert client.get(revisions, headers=as_rita).status_code == 404
    assert (
        client.get(f"/api/v1/incidents/{hidden.reference}/postmortem", headers=as_rita).status_code
        == 404
    )
    # The admin sees both.
    assert api.get("/api/v1/postmortems").json()["total"] == 2


def test_the_list_shows_overdue_ones_first(api: TestClient, db: Session, admin: User) -> None:
    now = utcnow()
    # Resolved 10 days ago: its draft and meeting are long overdue.
    late = incident_of(db, admin, "SEV2", started=now - timedelta(days=10, hours=1))
    incidents.change_status(db, late, "resolved", by=admin, occurred_at=now - timedelta(days=10))
    # Resolved now: due in a few days.
    fresh = incident_of(db, admin, "SEV1", started=now - timedelta(hours=1))
    incidents.resolve(db, fresh, by=admin)
    optional = incident_of(db, admin, "SEV3")
    service.start(db, optional, by=admin)
    db.commit()

    listed = api.get("/api/v1/postmortems").json()["items"]
    assert [p["incident"]["reference"] for p in listed] == [
        late.reference,
        fresh.reference,
        optional.reference,
    ]
    assert [p["overdue"] for p in listed] == [True, False, False]
    overdue = api.get("/api/v1/postmortems", params={"overdue": "true"}).json()
    assert [p["incident"]["reference"] for p in overdue["items"]] == [late.reference]
    drafts = api.get("/api/v1/postmortems", params={"status": "in_review"}).json()
    assert drafts["total"] == 0


def test_deactivated_owner_is_refused(api: TestClient, db: Session, admin: User) -> None:
    gone = catalog.create_user(db, name="Gone", email="gone@example.com")
    gone.active = False
    db.commit()
    ref = api.post("/api/v1/incidents", json={"title": "Search slow"}).json()["reference"]
    pm = api.post(f"/api/v1/incidents/{ref}/postmortem").json()["id"]
    refused = api.patch(f"/api/v1/postmortems/{pm}", json={"owner_id": gone.id})
    assert refused.status_code == 422
    assert refused.json()["error"]["field"] == "owner_id"


def test_policies_per_severity(
    api: TestClient, client: TestClient, db: Session, admin: User, responder: User
) -> None:
    listed = api.get("/api/v1/postmortem-policies").json()
    assert [
        (p["severity"], p["required"], p["meeting_within"], p["meeting_unit"])
        for p in listed["items"]
    ] == [
        ("SEV1", True, 3, "calendar_days"),
        ("SEV2", True, 5, "business_days"),
        ("SEV3", False, 5, "business_days"),
        ("SEV4", False, 5, "business_days"),
    ]
    assert {p["draft_hours_before"] for p in listed["items"]} == {24}

    sev3 = _sev_id(api, "SEV3")
    body = {"required": True, "meeting_within": 2, "meeting_unit": "business_days"}
    as_rita = api_as(client, db, responder)
    refused = client.put(f"/api/v1/postmortem-policies/{sev3}", json=body, headers=as_rita)
    assert refused.status_code == 403
    assert api.put("/api/v1/postmortem-policies/999999", json=body).status_code == 404
    changed = api.put(f"/api/v1/postmortem-policies/{sev3}", json=body)
    assert changed.status_code == 200, changed.text
    assert changed.json()["required"] is True and changed.json()["draft_hours_before"] == 24

    # Now resolving a SEV3 starts its postmortem, due two business days later.
    ref = api.post("/api/v1/incidents", json={"title": "Search slow", "severity_id": sev3}).json()[
        "reference"
    ]
    api.post(f"/api/v1/incidents/{ref}/resolve")
    postmortem = api.get(f"/api/v1/incidents/{ref}/postmortem")
    assert postmortem.status_code == 200
    assert postmortem.json()["meeting_due_at"] is not None
