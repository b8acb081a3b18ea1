"""The roster: each role's primary and backup (people or schedules), resolved at a time;
assigning from it; Page the IC paging the primary and the backup through real SMTP."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.conftest import api_as, browser_login
from tests.escalation.conftest import person, recipients, rotation, work
from tests.notify.conftest import SmtpServer, settings, smtp  # noqa: F401  (the fixtures)
from tocsin.bootstrap import Container
from tocsin.catalog.models import User
from tocsin.config import Settings
from tocsin.definitions.models import IncidentRole
from tocsin.errors import Conflict, UnknownReference, ValidationFailed
from tocsin.incidents import queries, service
from tocsin.roster import paging
from tocsin.roster import service as roster_service
from tocsin.schedules import service as schedules


def role(db: Session, slug: str) -> IncidentRole:
    return db.scalars(select(IncidentRole).where(IncidentRole.slug == slug)).one()


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


def test_a_schedule_slot_is_whoever_is_on_call_at_the_time(
    db: Session,
    settings: Settings,  # noqa: F811
) -> None:
    ann, bob, ben = (person(db, settings, n) for n in ("Ann", "Bob", "Ben"))
    ic_rotation = schedules.create_schedule(db, name="IC rotation", timezone="UTC")
    schedules.add_layer(
        db,
        ic_rotation,
        {"name": "Daily", "shift_length": 1, "shift_unit": "days", "handoff_time": "09:00",
         "start_date": "2026-01-05", "member_ids": [ann.id, bob.id]},
    )  # fmt: skip
    entry = roster_service.set_entry(
        db, role(db, "incident_commander").id,
        primary_schedule_id=ic_rotation.id, backup_user_id=ben.id,
    )  # fmt: skip
    monday, tuesday = utc(2026, 1, 5, 10), utc(2026, 1, 6, 10)
    primary, backup = roster_service.resolve(db, entry, monday)
    assert primary.people == (ann,) and backup.people == (ben,)
    assert roster_service.summary([primary, backup]) == (
        "primary Ann (on call for IC rotation), backup Ben"
    )
    assert roster_service.resolve(db, entry, tuesday)[0].people == (bob,)
    before = roster_service.resolve(db, entry, utc(2026, 1, 5, 8))[0]
    assert before.people == () and before.text == "nobody on call for IC rotation"


def test_bad_roster_input_is_refused(
    db: Session,
    settings: Settings,  # noqa: F811
) -> None:
    ann = person(db, settings, "Ann")
    sched = rotation(db, "IC rotation", [ann])
    ic = role(db, "incident_commander").id
    with pytest.raises(ValidationFailed, match="a person or a schedule, not both"):
        roster_service.set_entry(db, ic, primary_user_id=ann.id, primary_schedule_id=sched.id)
    with pytest.raises(UnknownReference, match="user 99999"):
        roster_service.set_entry(db, ic, backup_user_id=99999)
    with pytest.raises(UnknownReference, match="schedule 99999"):
        roster_service.set_entry(db, ic, primary_schedule_id=99999)
    ann.active = False
    with pytest.raises(ValidationFailed, match="Ann is deactivated"):
        roster_service.set_entry(db, ic, primary_user_id=ann.id)
    assert roster_service.entries(db) == []


def test_page_the_ic_pages_the_primary_and_the_backup_at_once(
    db: Session,
    container: Container,
    settings: Settings,  # noqa: F811
    smtp: SmtpServer,  # noqa: F811
) -> None:
    ann, ben, rita = (person(db, settings, n) for n in ("Ann", "Ben", "Rita"))
    sched = rotation(db, "IC rotation", [ann])
    roster_service.set_entry(
        db, role(db, "incident_commander").id, primary_schedule_id=sched.id, backup_user_id=ben.id
    )
    incident = service.declare(db, by=rita, title="Checkout down", urgency="none")
    page = paging.page_the_ic(db, incident, by=rita)
    assert page.paged == [ann, ben]
    work(db, container)
    assert sorted(recipients(smtp)) == ["ann@example.com", "ben@example.com"]
    summaries = [e.summary for e in queries.timeline(db, incident)]
    assert (
        "Rita paged Ann and Ben: Page the IC: primary Ann (on call for IC rotation), backup Ben"
        in summaries
    )


def test_page_the_ic_without_anyone_to_page_is_refused(
    db: Session,
    admin: User,
    settings: Settings,  # noqa: F811
) -> None:
    incident = service.declare(db, by=admin, title="Checkout down")
    with pytest.raises(Conflict, match="the roster has no Incident Commander"):
        paging.page_the_ic(db, incident, by=admin)
    empty = schedules.create_schedule(db, name="Empty", timezone="UTC")
    roster_service.set_entry(db, role(db, "incident_commander").id, primary_schedule_id=empty.id)
    with pytest.raises(Conflict, match="nobody to page as Incident Commander"):
        paging.page_the_ic(db, incident, by=admin)


def test_the_api_sets_reads_and_uses_the_roster(
    client: TestClient,
    db: Session,
    admin: User,
    responder: User,
    settings: Settings,  # noqa: F811
) -> None:
    ann = person(db, settings, "Ann")
    sched = rotation(db, "IC rotation", [ann])
    incident = service.declare(db, by=admin, title="Checkout down", urgency="none")
    db.commit()
    headers = api_as(client, db, admin)
    url = "/api/v1/roster/incident_commander"
    body = {"primary": {"schedule_id": sched.id}, "backup": {"user_id": responder.id}}
    answer = client.put(url, json=body, headers=headers)
    assert answer.status_code == 200, answer.text
    assert answer.json()["primary"]["now"][0]["name"] == "Ann"
    assert answer.json()["backup"]["text"] == "Rita Responder"
    for bad, status in [
        ({"primary": {"user_id": ann.id, "schedule_id": sched.id}}, 422),
        ({"backup": {"schedule_id": 99999}}, 404),
        ({"backup": {"user_id": 99999}}, 404),
    ]:
        refused = client.put(url, json=bad, headers=headers)
        assert refused.status_code == status and refused.json()["error"]["message"]
    listed = client.get("/api/v1/roster", headers=headers).json()["items"]
    assert [i["backup"]["user"]["name"] for i in listed] == ["Rita Responder"]
    as_responder = api_as(client, db, responder)
    assert client.put(url, json=body, headers=as_responder).status_code == 403
    ref = incident.reference
    assigned = client.post(
        f"/api/v1/incidents/{ref}/roles/incident_commander/from-roster", headers=as_responder
    )
    assert assigned.status_code == 200 and assigned.json()["incident"]["commander"]["name"] == "Ann"
    paged = client.post(f"/api/v1/incidents/{ref}/page-ic", headers=as_responder)
    assert paged.status_code == 200, paged.text
    assert [p["name"] for p in paged.json()["paged"]] == ["Ann", "Rita Responder"]
    assert client.delete(url, headers=headers).status_code == 204
    assert client.post(f"/api/v1/incidents/{ref}/page-ic", headers=headers).status_code == 409


def test_the_roster_is_edited_in_settings_and_shown_on_the_incident(
    client: TestClient,
    db: Session,
    admin: User,
    settings: Settings,  # noqa: F811
) -> None:
    ann = person(db, settings, "Ann")
    sched = rotation(db, "IC rotation", [ann])
    incident = service.declare(db, by=admin, title="Checkout down", urgency="none")
    db.commit()
    token = browser_login(client, admin.email)
    ic = role(db, "incident_commander")
    page = client.post(
        f"/settings/roster/{ic.id}",
        data={"csrf_token": token, "primary": f"schedule:{sched.id}", "backup": f"user:{admin.id}"},
    ).text
    assert "Roster saved." in page and "primary Ann (on call for IC rotation)" in page
    shown = client.get(f"/incidents/{incident.reference}").text
    assert (
        "Incident Commander</strong>: primary Ann (on call for IC rotation), backup Ada Admin"
        in shown
    )
    assert "Page the IC" in shown and "Assign from roster" in shown
    after = client.post(
        f"/incidents/{incident.reference}/roster/assign",
        data={"csrf_token": token, "role_id": str(ic.id)},
    ).text
    assert "<strong>Incident Commander</strong>: Ann" in after
    paged = client.post(f"/incidents/{incident.reference}/page-ic", data={"csrf_token": token}).text
    assert "Paging the Incident Commander" in paged
    refused = client.post(
        f"/settings/roster/{ic.id}", data={"csrf_token": token, "primary": "bogus"}
    ).text
    assert "choose a person or a schedule for the primary" in refused
