"""The follow-up list across incidents: its filters, sorting, and restricted incidents."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from tests.conftest import api_as, browser_login
from tocsin.catalog import service as catalog
from tocsin.catalog.models import Team, User
from tocsin.db import utcnow
from tocsin.incidents import actions
from tocsin.incidents import service as incidents
from tocsin.incidents.models import ActionItem


@dataclass
class World:
    payments: Team
    search: Team
    items: dict[str, ActionItem]


@pytest.fixture
def world(db: Session, admin: User, responder: User) -> World:
    """Payments' incident has two follow-ups (one 40 days overdue, one not yet due) and an item
    done during it; Search's has one done follow-up; a restricted incident has a secret one."""
    today = utcnow().date()
    payments = catalog.create_team(db, name="Payments", member_ids=[admin.id])
    search = catalog.create_team(db, name="Search")
    gateway = catalog.create_service(db, name="Gateway", team_id=payments.id)
    index = catalog.create_service(db, name="Index", team_id=search.id)
    inc1 = incidents.declare(db, by=admin, title="Payments down", service_ids=[gateway.id])
    inc2 = incidents.declare(db, by=admin, title="Search slow", service_ids=[index.id])
    secret = incidents.declare(db, by=admin, title="Keys leaked", restricted=True)

    def add(incident, title, **kw):  # type: ignore[no-untyped-def]
        return actions.add_action_item(db, incident, title=title, by=admin, **kw)

    items = {
        "failover": add(
            inc1,
            "Add failover for the payment provider",
            kind="follow_up",
            assignee_id=responder.id,
            due_date=today - timedelta(days=40),
            tags=["failover"],
        ),
        "runbook": add(inc1, "Write the runbook", kind="follow_up", due_date=today + timedelta(3)),
        "now": add(inc1, "Restart the gateway"),
        "reindex": add(inc2, "Reindex nightly", kind="follow_up"),
        "rotate": add(secret, "Rotate the keys", kind="follow_up", due_date=today),
    }
    actions.update_action_item(db, items["reindex"], {"status": "done"}, by=admin)
    items["runbook"].created_at = utcnow() - timedelta(days=10)
    db.commit()
    return World(payments, search, items)


def _titles(api: TestClient, **params: object) -> list[str]:
    response = api.get("/api/v1/follow-ups", params=params)
    assert response.status_code == 200, response.text
    return [i["title"] for i in response.json()["items"]]


def test_filters_by_team_service_status_owner_tag_and_overdue(
    api: TestClient, world: World, responder: User
) -> None:
    failover, runbook = "Add failover for the payment provider", "Write the runbook"
    assert _titles(api) == [failover, "Rotate the keys", runbook]  # soonest due first
    assert _titles(api, team=world.payments.id) == [failover, runbook]
    assert _titles(api, team=world.search.id) == []
    assert _titles(api, team=world.search.id, status="done") == ["Reindex nightly"]
    service_id = world.items["failover"].incident.services[0].id
    assert _titles(api, service=service_id, sort="age") == [runbook, failover]
    assert _titles(api, assignee=responder.id) == [failover]
    assert _titles(api, tag="FAILOVER") == [failover]
    assert _titles(api, tag="fail") == []  # a whole tag, not a part of one
    assert _titles(api, overdue="true") == [failover]
    first = api.get("/api/v1/follow-ups", params={"overdue": "true"}).json()["items"][0]
    assert first["days_overdue"] == 40 and first["overdue"] is True
    assert first["services"] == [{"id": service_id, "name": "Gateway"}]
    assert first["postmortem_id"] is None
    assert api.get("/api/v1/follow-ups", params={"status": "late"}).status_code == 422
    assert api.get("/api/v1/follow-ups", params={"sort": "x"}).status_code == 422


def test_restricted_incidents_items_only_for_those_who_may_see_them(
    client: TestClient, db: Session, world: World, responder: User
) -> None:
    as_responder = api_as(client, db, responder)
    listed = client.get("/api/v1/follow-ups", headers=as_responder).json()
    assert "Rotate the keys" not in [i["title"] for i in listed["items"]]
    assert listed["total"] == 2


def test_the_page_shows_age_how_overdue_and_links_to_the_incident(
    client: TestClient, db: Session, world: World, admin: User
) -> None:
    browser_login(client, admin.email)
    page = client.get("/follow-ups", params={"team": world.payments.id}).text
    assert "Add failover for the payment provider" in page
    assert "40 days overdue" in page
    assert f'href="/incidents/{world.items["failover"].incident.reference}"' in page
    assert "10 d" in page  # the runbook's age
    assert "Rotate the keys" not in page  # not on the team's services
    assert "Restart the gateway" not in page  # done during the incident, not a follow-up
    assert "Rotate the keys" in client.get("/follow-ups", params={"team": "junk"}).text


def test_a_follow_up_links_to_its_incidents_postmortem(api: TestClient, client: TestClient) -> None:
    sev2 = next(
        s["id"] for s in api.get("/api/v1/severities").json()["items"] if s["name"] == "SEV2"
    )
    ref = api.post("/api/v1/incidents", json={"title": "Checkout", "severity_id": sev2}).json()[
        "reference"
    ]
    body = {"title": "Add a circuit breaker", "kind": "follow_up"}
    assert api.post(f"/api/v1/incidents/{ref}/action-items", json=body).status_code == 201
    assert api.post(f"/api/v1/incidents/{ref}/resolve").status_code == 200  # SEV2: a postmortem
    item = api.get("/api/v1/follow-ups").json()["items"][0]
    postmortem = api.get(f"/api/v1/incidents/{ref}/postmortem").json()
    assert item["postmortem_id"] == postmortem["id"]
    assert (
        f'href="/postmortems/{postmortem["id"]}">postmortem</a>' in client.get("/follow-ups").text
    )
