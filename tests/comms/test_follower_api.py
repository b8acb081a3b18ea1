"""The REST API for a service's followers: follow yourself, responders add people and teams,
clear 4xx answers for bad input, and the reason on an incident's stakeholders."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tests.conftest import api_as
from tocsin.catalog import service as catalog
from tocsin.catalog.models import User
from tocsin.comms.models import ServiceFollower


def test_follow_add_list_and_remove_through_the_api(
    api: TestClient, db: Session, responder: User, viewer: User
) -> None:
    checkout = catalog.create_service(db, name="Checkout")
    team = catalog.create_team(db, name="Customer Support")
    db.commit()
    url = f"/api/v1/services/{checkout.id}/followers"
    as_viewer = api_as(api, db, viewer)
    as_responder = api_as(api, db, responder)

    mine = api.put(f"{url}/me", headers=as_viewer)
    assert mine.status_code == 200, mine.text
    assert mine.json()["name"] == "Vic Viewer" and mine.json()["kind"] == "user"
    assert api.put(f"{url}/me", headers=as_viewer).json()["id"] == mine.json()["id"]  # again

    refused = api.post(url, json={"team_id": team.id}, headers=as_viewer)
    assert refused.status_code == 403
    added = api.post(url, json={"team_id": team.id}, headers=as_responder)
    assert added.status_code == 201, added.text
    assert added.json()["created_by"] == "Rita Responder" and added.json()["kind"] == "team"
    duplicate = api.post(url, json={"team_id": team.id}, headers=as_responder)
    assert duplicate.status_code == 409
    assert duplicate.json()["error"]["message"] == (
        "the Customer Support team already follows Checkout"
    )

    listing = api.get(url, headers=as_viewer).json()
    assert [f["name"] for f in listing["items"]] == ["Vic Viewer", "Customer Support"]
    assert listing["total"] == 2

    # A viewer may remove only herself.
    team_row = added.json()["id"]
    assert api.delete(f"{url}/{team_row}", headers=as_viewer).status_code == 403
    assert api.delete(f"{url}/me", headers=as_viewer).status_code == 204
    assert api.delete(f"{url}/{team_row}", headers=as_responder).status_code == 204
    assert api.get(url).json()["items"] == []


def test_bad_input_is_a_clear_4xx_and_changes_nothing(
    api: TestClient, db: Session, viewer: User
) -> None:
    checkout = catalog.create_service(db, name="Checkout")
    gone = catalog.create_user(db, name="Gone", email="gone@example.com")
    catalog.update_user(db, gone, {"active": False})
    db.commit()
    url = f"/api/v1/services/{checkout.id}/followers"
    cases = [
        ({}, 422, "user_id", "give either user_id or team_id"),
        ({"user_id": viewer.id, "team_id": 1}, 422, "user_id", "give either"),
        ({"user_id": 999}, 404, "user_id", "no user with id 999"),
        ({"team_id": 999}, 404, "team_id", "no team with id 999"),
        ({"user_id": gone.id}, 422, "user_id", "deactivated"),
    ]
    for body, status, field, message in cases:
        response = api.post(url, json=body)
        assert response.status_code == status, (body, response.text)
        error = response.json()["error"]
        assert error["field"] == field and message in error["message"], (body, error)
    for body in ({"user_id": "me"}, {"user_id": 0}, {"person": 1}, [1]):
        response = api.post(url, json=body)
        assert response.status_code == 422, (body, response.text)
    assert (
        api.post("/api/v1/services/999/followers", json={"user_id": viewer.id}).status_code == 404
    )
    assert api.put("/api/v1/services/999/followers/me").status_code == 404
    assert api.delete(f"{url}/999").status_code == 404
    assert api.delete(f"{url}/abc").status_code == 422
    assert api.get(f"{url}?limit=0").status_code == 422
    assert db.scalar(select(func.count(ServiceFollower.id))) == 0


def test_an_incidents_stakeholders_say_which_service_brought_them_in(
    api: TestClient, db: Session, viewer: User
) -> None:
    checkout = catalog.create_service(db, name="Checkout")
    db.commit()
    assert (
        api.put(
            f"/api/v1/services/{checkout.id}/followers/me", headers=api_as(api, db, viewer)
        ).status_code
        == 200
    )
    created = api.post(
        "/api/v1/incidents", json={"title": "Checkout is down", "service_ids": [checkout.id]}
    )
    assert created.status_code == 201, created.text
    ref = created.json()["reference"]
    (row,) = api.get(f"/api/v1/incidents/{ref}/stakeholders").json()
    assert row["name"] == "Vic Viewer" and row["reason"] == "follows Checkout"
    assert row["via_service_id"] == checkout.id and row["added_by"] is None
    # Added by hand: no reason.
    api.put(f"/api/v1/incidents/{ref}/follow")
    rows = {r["name"]: r for r in api.get(f"/api/v1/incidents/{ref}/stakeholders").json()}
    assert rows["Ada Admin"]["reason"] == "" and rows["Ada Admin"]["via_service_id"] is None
