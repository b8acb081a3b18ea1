"""Roles on an incident: several holders, a single commander, hand-over, bad input."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.conftest import ADMIN_PASSWORD, api_as
from tocsin.catalog import service as catalog
from tocsin.catalog.models import User
from tocsin.definitions.models import IncidentRole
from tocsin.errors import Conflict, NotFound, UnknownReference, ValidationFailed
from tocsin.incidents import queries, roles, service
from tocsin.incidents.models import Incident


def role(db: Session, slug: str) -> IncidentRole:
    return db.scalars(select(IncidentRole).where(IncidentRole.slug == slug)).one()


def person(db: Session, name: str, role: str = "responder") -> User:
    email = f"{name.split()[0].lower()}@example.com"
    return catalog.create_user(db, name=name, email=email, role=role, password=ADMIN_PASSWORD)


def kinds(db: Session, incident: Incident) -> list[str]:
    return [e.summary for e in queries.timeline(db, incident)]


def test_several_subject_matter_experts_hold_the_role_at_once(
    db: Session, admin: User, responder: User
) -> None:
    incident = service.declare(db, by=admin, title="Checkout down")
    sme = role(db, "sme")
    assert sme.multiple and not role(db, "incident_commander").multiple
    ben = person(db, "Ben Backend")
    for user in (responder, ben):
        roles.assign_role(db, incident, role_id=sme.id, user_id=user.id, by=admin)
    assert incident.holders("sme") == [responder, ben]
    again = roles.assign_role(db, incident, role_id=sme.id, user_id=ben.id, by=admin)
    assert again.entry is None and len(incident.holders("sme")) == 2
    roles.unassign_role(db, incident, role_id=sme.id, user_id=responder.id, by=admin)
    assert incident.holders("sme") == [ben]
    assert "Ada Admin removed Rita Responder as Subject Matter Expert" in kinds(db, incident)


def test_the_commander_stays_single_and_a_hand_over_records_both_names(
    db: Session, admin: User, responder: User
) -> None:
    incident = service.declare(db, by=admin, title="Checkout down", commander_id=admin.id)
    change = roles.hand_over_command(db, incident, to_user_id=responder.id, by=admin)
    assert incident.holders("incident_commander") == [responder]
    assert change.entry is not None and change.entry.is_key_event
    assert change.entry.summary == "Ada Admin handed command to Rita Responder"
    assert (change.entry.old_value, change.entry.new_value) == ("Ada Admin", "Rita Responder")
    # Someone else handing over on the commander's behalf: both names still.
    carl = person(db, "Carl Coordinator")
    change = roles.hand_over_command(db, incident, to_user_id=carl.id, by=admin)
    assert change.entry is not None
    assert (
        change.entry.summary == "Ada Admin handed command from Rita Responder to Carl Coordinator"
    )
    # Assigning the single role to someone else is a hand-over too, never a second holder.
    commander = role(db, "incident_commander")
    roles.assign_role(db, incident, role_id=commander.id, user_id=admin.id, by=admin)
    assert incident.holders("incident_commander") == [admin]
    with pytest.raises(Conflict, match="already holds command"):
        roles.hand_over_command(db, incident, to_user_id=admin.id, by=admin)


def test_handing_over_needs_someone_in_command(db: Session, admin: User, responder: User) -> None:
    incident = service.declare(db, by=admin, title="Checkout down")
    with pytest.raises(Conflict, match="nobody holds command"):
        roles.hand_over_command(db, incident, to_user_id=responder.id, by=admin)


def test_a_viewer_may_hold_a_role_with_a_warning(db: Session, admin: User, viewer: User) -> None:
    incident = service.declare(db, by=admin, title="Checkout down")
    change = roles.assign_role(
        db, incident, role_id=role(db, "scribe").id, user_id=viewer.id, by=admin
    )
    assert incident.holders("scribe") == [viewer]
    assert change.warnings and "Vic Viewer is a viewer" in change.warnings[0]


def test_bad_input_is_refused_and_changes_nothing(db: Session, admin: User) -> None:
    incident = service.declare(db, by=admin, title="Checkout down")
    gone = person(db, "Gus Gone")
    gone.active = False
    sme = role(db, "sme").id
    with pytest.raises(UnknownReference, match="user 99999 does not exist"):
        roles.assign_role(db, incident, role_id=sme, user_id=99999, by=admin)
    with pytest.raises(ValidationFailed, match="Gus Gone is deactivated"):
        roles.assign_role(db, incident, role_id=sme, user_id=gone.id, by=admin)
    with pytest.raises(UnknownReference, match="role 99999 does not exist"):
        roles.assign_role(db, incident, role_id=99999, user_id=admin.id, by=admin)
    with pytest.raises(NotFound, match="does not hold"):
        roles.unassign_role(db, incident, role_id=sme, user_id=admin.id, by=admin)
    assert incident.role_assignments == []


def test_the_api_adds_holders_hands_over_and_refuses_bad_input(
    client: TestClient, db: Session, admin: User, responder: User, viewer: User
) -> None:
    incident = service.declare(db, by=admin, title="Checkout down", commander_id=admin.id)
    db.commit()
    ref = incident.reference
    headers = api_as(client, db, admin)
    url = f"/api/v1/incidents/{ref}/roles/sme/holders"
    for user in (responder, viewer):
        answer = client.post(url, json={"user_id": user.id}, headers=headers)
        assert answer.status_code == 200, answer.text
    body = answer.json()
    assert "Vic Viewer is a viewer" in body["warnings"][0]
    smes = [r["user"]["name"] for r in body["incident"]["roles"] if r["role"]["slug"] == "sme"]
    assert smes == ["Rita Responder", "Vic Viewer"]
    handed = client.post(
        f"/api/v1/incidents/{ref}/command", json={"to_user_id": responder.id}, headers=headers
    )
    assert handed.status_code == 200 and handed.json()["warnings"] == []
    assert handed.json()["incident"]["commander"]["name"] == "Rita Responder"
    removed = client.delete(f"{url}/{viewer.id}", headers=headers)
    assert removed.status_code == 200
    before = client.get(f"/api/v1/incidents/{ref}", headers=headers).json()
    for bad_url, bad_body, status in [
        (url, {"user_id": 99999}, 404),  # an unknown reference names its field
        (f"/api/v1/incidents/{ref}/roles/nonsense/holders", {"user_id": admin.id}, 404),
        (f"/api/v1/incidents/{ref}/command", {"to_user_id": 99999}, 404),
        (f"/api/v1/incidents/{ref}/command", {"to_user_id": responder.id}, 409),
    ]:
        answer = client.post(bad_url, json=bad_body, headers=headers)
        assert answer.status_code == status, (bad_url, answer.text)
        assert answer.json()["error"]["message"]
    gone = person(db, "Gus Gone")
    gone.active = False
    db.commit()
    answer = client.post(url, json={"user_id": gone.id}, headers=headers)
    assert answer.status_code == 422 and "Gus Gone is deactivated" in answer.text
    assert client.delete(f"{url}/{viewer.id}", headers=headers).status_code == 404
    after = client.get(f"/api/v1/incidents/{ref}", headers=headers).json()
    assert after["roles"] == before["roles"]


def test_a_role_made_single_while_several_hold_it_is_handed_to_one(
    db: Session, admin: User, responder: User
) -> None:
    incident = service.declare(db, by=admin, title="Checkout down")
    scribe = role(db, "scribe")
    for user in (admin, responder):
        roles.assign_role(db, incident, role_id=scribe.id, user_id=user.id, by=admin)
    scribe.multiple = False
    roles.assign_role(db, incident, role_id=scribe.id, user_id=responder.id, by=admin)
    assert incident.holders("scribe") == [responder]
    assert kinds(db, incident)[-1] == "Ada Admin handed Scribe from Ada Admin to Rita Responder"
