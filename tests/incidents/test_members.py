"""A private incident's members: who becomes one, who manages them, what is recorded, and
what people outside are told (its codename)."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.conftest import api_as, browser_login
from tocsin.audit.models import AuditRecord
from tocsin.catalog import service as catalog
from tocsin.catalog.models import User
from tocsin.incidents import access, members, queries
from tocsin.incidents import roles as incident_roles
from tocsin.incidents import service as incidents
from tocsin.incidents.models import Incident
from tocsin.notify.messages import page_message

TITLE = "Payroll export reached a stranger's inbox"
CODENAME = "Operation Bluebird"
PASSWORD = "correct horse battery"


def _person(db: Session, name: str, role: str = "responder") -> User:
    return catalog.create_user(
        db, name=name, email=name.split()[0].lower() + "@example.com", role=role
    )


def _private(db: Session, declarer: User, commander: User) -> Incident:
    incident = incidents.declare(db, by=declarer, title=TITLE, restricted=True, codename=CODENAME)
    role = queries.role_by_slug(db, "incident_commander")
    incident_roles.assign_role(db, incident, role_id=role.id, user_id=commander.id, by=declarer)
    db.commit()
    return incident


def _records(db: Session, action: str) -> list[AuditRecord]:
    db.rollback()
    return list(
        db.scalars(select(AuditRecord).where(AuditRecord.action == action).order_by(AuditRecord.id))
    )


def test_the_declarer_and_role_holders_are_members_and_paging_is_not_enough(
    db: Session, responder: User
) -> None:
    dora, cal = _person(db, "Dora Declarer"), _person(db, "Cal Commander")
    incident = _private(db, dora, cal)
    assert [m.user.name for m in members.members(db, incident)] == [dora.name, cal.name]
    assert access.can_see(db, cal, incident) and access.can_see(db, dora, incident)
    assert not access.can_see(db, responder, incident)
    (declared,) = _records(db, "incident.made_private")
    assert declared.actor_id is None or declared.actor_id == dora.id
    assert '"at_declaration":true' in declared.detail and CODENAME in declared.detail
    # Taking the role away leaves Cal a member; an admin then takes him off the list.
    role = queries.role_by_slug(db, "incident_commander")
    incident_roles.assign_role(db, incident, role_id=role.id, user_id=None, by=dora)
    assert access.can_see(db, cal, incident)


def test_the_commander_manages_members_through_the_api_and_each_change_is_recorded(
    client: TestClient, db: Session, admin: User, responder: User
) -> None:
    dora, cal, mia = (_person(db, n) for n in ("Dora Declarer", "Cal Commander", "Mia Member"))
    incident = _private(db, dora, cal)
    url = f"/api/v1/incidents/{incident.reference}/members"
    as_cal, as_dora = api_as(client, db, cal), api_as(client, db, dora)
    as_mia = api_as(client, db, mia)
    assert client.get(f"/api/v1/incidents/{incident.reference}", headers=as_mia).status_code == 404

    # The declarer is a member but not the commander: refused, and nothing changes.
    refused = client.post(url, json={"user_id": mia.id}, headers=as_dora)
    assert refused.status_code == 403
    assert "commander" in refused.json()["error"]["message"]
    added = client.post(url, json={"user_id": mia.id}, headers=as_cal)
    assert added.status_code == 200
    assert [m["user"]["name"] for m in added.json()["items"]] == [dora.name, cal.name, mia.name]
    shown = client.get(f"/api/v1/incidents/{incident.reference}", headers=as_mia)
    assert shown.status_code == 200
    assert shown.json()["private"] is True and shown.json()["codename"] == CODENAME
    # Again: nothing new; an unknown person: 404; a role holder cannot be removed: 409.
    assert len(client.post(url, json={"user_id": mia.id}, headers=as_cal).json()["items"]) == 3
    assert client.post(url, json={"user_id": 999999}, headers=as_cal).status_code == 404
    assert client.delete(f"{url}/{cal.id}", headers=as_cal).status_code == 409
    assert client.delete(f"{url}/{responder.id}", headers=as_cal).status_code == 404

    removed = client.delete(f"{url}/{mia.id}", headers=as_cal)
    assert removed.status_code == 200 and len(removed.json()["items"]) == 2
    assert client.get(f"/api/v1/incidents/{incident.reference}", headers=as_mia).status_code == 404

    added_records = _records(db, "incident.member_added")
    assert [(r.actor_id, r.target, r.outcome) for r in added_records] == [
        (dora.id, incident.reference, "refused"),  # not the commander: 403, recorded
        (cal.id, incident.reference, "ok"),
        (cal.id, incident.reference, "refused"),  # an unknown person
    ]
    assert '"user":"mia@example.com"' in added_records[1].detail
    removed_records = _records(db, "incident.member_removed")
    assert [(r.actor_id, r.outcome) for r in removed_records] == [
        (cal.id, "refused"),  # Cal himself, a role holder: 409
        (cal.id, "refused"),  # not a member: 404
        (cal.id, "ok"),
    ]
    assert "holds a role" in removed_records[0].detail
    timeline = client.get(f"{url.removesuffix('/members')}/timeline", headers=as_cal).json()
    summaries = [e["summary"] for e in timeline["items"]]
    assert f"{cal.name} added {mia.name} to the members" in summaries
    assert f"{cal.name} removed {mia.name} from the members" in summaries


def test_making_it_private_or_public_is_recorded_with_the_old_and_new_value(
    client: TestClient, db: Session, admin: User, responder: User
) -> None:
    incident = incidents.declare(db, by=responder, title="Login page slow")
    db.commit()
    url = f"/api/v1/incidents/{incident.reference}"
    headers = api_as(client, db, responder)
    made = client.patch(url, json={"private": True, "codename": CODENAME}, headers=headers)
    assert made.status_code == 200 and made.json()["private"] is True
    # The former name is still accepted.
    assert client.patch(url, json={"restricted": False}, headers=headers).json()["private"] is False
    made_private = _records(db, "incident.made_private")
    made_public = _records(db, "incident.made_public")
    assert [r.actor_id for r in made_private] == [responder.id]
    assert '"new":{"private":true}' in made_private[0].detail
    assert '"old":{"private":false}' in made_private[0].detail
    assert [r.actor_id for r in made_public] == [responder.id]
    assert client.patch(url, json={"private": "yes"}, headers=headers).status_code == 422


def test_an_admin_outside_it_is_told_and_recorded_once_an_hour(
    client: TestClient, db: Session, admin: User
) -> None:
    dora, cal = _person(db, "Dora Declarer"), _person(db, "Cal Commander")
    incident = _private(db, dora, cal)
    browser_login(client, admin.email)
    for _ in range(3):
        page = client.get(f"/incidents/{incident.reference}")
        assert page.status_code == 200
        assert "You are reading a private incident; this access is recorded" in page.text
    viewed = _records(db, "incident.private_viewed")
    assert [(r.actor_id, r.target) for r in viewed] == [(admin.id, incident.reference)]
    # An hour later, the next read is recorded again.
    viewed[0].at = datetime(2020, 1, 1, tzinfo=UTC)
    db.commit()
    client.get(f"/api/v1/incidents/{incident.reference}", headers=api_as(client, db, admin))
    assert len(_records(db, "incident.private_viewed")) == 2
    # Once a member, the admin reads it like anyone working it: no banner, no record.
    members.add_member(db, incident, user_id=admin.id, by=cal)
    db.commit()
    page = client.get(f"/incidents/{incident.reference}")
    assert "this access is recorded" not in page.text
    assert len(_records(db, "incident.private_viewed")) == 2


def test_the_commander_adds_and_removes_members_on_the_incident_page(
    client: TestClient, db: Session, responder: User
) -> None:
    dora = _person(db, "Dora Declarer")
    cal = catalog.create_user(
        db, name="Cal Commander", email="cal@example.com", role="responder", password=PASSWORD
    )
    incident = _private(db, dora, cal)
    token = browser_login(client, cal.email, PASSWORD)
    page = client.get(f"/incidents/{incident.reference}").text
    assert 'id="members"' in page and "Add member" in page
    assert "this access is recorded" not in page  # a member, not an admin reading
    form = f"/incidents/{incident.reference}/members"
    client.post(form, data={"csrf_token": token, "user_id": str(responder.id)})
    page = client.get(f"/incidents/{incident.reference}").text
    assert f"Remove {responder.name}" in page
    db.rollback()
    assert access.can_see(db, responder, incident)
    # Without the CSRF token nothing changes.
    refused = client.post(f"{form}/{responder.id}/remove", data={})
    assert refused.status_code == 403
    db.rollback()
    assert access.can_see(db, responder, incident)
    client.post(f"{form}/{responder.id}/remove", data={"csrf_token": token})
    db.rollback()
    assert not access.can_see(db, responder, incident)
    # Removing the commander himself, a role holder, is refused on the page too, and recorded.
    held = client.post(f"{form}/{cal.id}/remove", data={"csrf_token": token})
    assert "holds a role" in held.text or "holds+a+role" in held.headers.get("location", "")
    last = _records(db, "incident.member_removed")[-1]
    assert (last.actor_id, last.outcome, last.via) == (cal.id, "refused", "session")
    assert "holds a role" in last.detail


def test_a_page_to_someone_outside_names_it_by_its_codename_only(
    db: Session, responder: User
) -> None:
    dora, cal = _person(db, "Dora Declarer"), _person(db, "Cal Commander")
    incident = _private(db, dora, cal)
    told = page_message(
        incident,
        recipient_name=responder.name,
        reason="You are on call",
        base_url="http://tocsin.test",
        acknowledge_url="http://tocsin.test/act/a",
        resolve_url="http://tocsin.test/act/r",
        links_expire_at=datetime(2030, 1, 1, tzinfo=UTC),
        outside_name=access.outside_name(incident),
    )
    for shape in (told.subject, told.headline, told.text(), str(told.as_json())):
        assert CODENAME in shape
        assert TITLE not in shape and incident.reference not in shape
    assert "http://tocsin.test/act/a" in told.text()
