"""Follow-ups' priority and tags, as people set and read them through the API and the page."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.conftest import browser_login
from tocsin.catalog.models import User
from tocsin.definitions.models import Severity
from tocsin.incidents import service as incidents

STARTED = datetime(2026, 12, 6, 23, 30, tzinfo=UTC)


def _incident(db: Session, by: User, severity: str | None) -> str:
    sev = db.scalar(select(Severity).where(Severity.name == severity)) if severity else None
    incident = incidents.declare(
        db,
        by=by,
        title="Payments failing",
        severity_id=sev.id if sev else None,
        started_at=STARTED,
    )
    db.commit()
    return incident.reference


def test_a_sev1_items_carry_pagerdutys_tags_and_a_sev3s_do_not(
    api: TestClient, db: Session, admin: User
) -> None:
    sev1 = _incident(db, admin, "SEV1")
    body = {"title": "Add failover for the payment provider", "kind": "follow_up"}
    item = api.post(f"/api/v1/incidents/{sev1}/action-items", json={**body, "tags": ["DB"]})
    assert item.status_code == 201, item.text
    assert item.json()["tags"] == ["sev1", "sev1_20261206", "db"]
    assert item.json()["priority"] == "medium"
    sev2 = _incident(db, admin, "SEV2")
    assert api.post(f"/api/v1/incidents/{sev2}/action-items", json=body).json()["tags"] == [
        "sev2",
        "sev2_20261206",
    ]
    sev3 = _incident(db, admin, "SEV3")
    assert api.post(f"/api/v1/incidents/{sev3}/action-items", json=body).json()["tags"] == []


def test_priority_and_tags_are_set_and_changed_through_the_api(
    api: TestClient, db: Session, admin: User
) -> None:
    ref = _incident(db, admin, None)
    created = api.post(
        f"/api/v1/incidents/{ref}/action-items",
        json={"title": "Alert on 5xx", "priority": "high", "tags": ["alerting", "gateway"]},
    ).json()
    assert (created["priority"], created["tags"]) == ("high", ["alerting", "gateway"])
    changed = api.patch(
        f"/api/v1/action-items/{created['id']}", json={"priority": "low", "tags": ["alerting"]}
    )
    assert changed.status_code == 200
    assert (changed.json()["priority"], changed.json()["tags"]) == ("low", ["alerting"])
    listed = api.get(f"/api/v1/incidents/{ref}/action-items").json()["items"]
    assert (listed[0]["priority"], listed[0]["tags"]) == ("low", ["alerting"])


def test_bad_priority_or_tags_are_a_clear_4xx_and_change_nothing(
    api: TestClient, db: Session, admin: User
) -> None:
    ref = _incident(db, admin, None)
    url = f"/api/v1/incidents/{ref}/action-items"
    for bad in (
        {"priority": "urgent"},
        {"tags": ["x" * 41]},
        {"tags": ["two words"]},
        {"tags": [f"t{n}" for n in range(21)]},
        {"tags": "not-a-list"},
    ):
        response = api.post(url, json={"title": "Something", **bad})
        assert response.status_code == 422, (bad, response.text)
        field = next(iter(bad))
        assert field in response.text
    assert api.get(url).json()["total"] == 0
    item = api.post(url, json={"title": "Something", "tags": ["keep"]}).json()
    bad = api.patch(f"/api/v1/action-items/{item['id']}", json={"tags": ["x" * 41]})
    assert bad.status_code == 422
    assert api.get(url).json()["items"][0]["tags"] == ["keep"]


def test_the_incident_page_takes_and_shows_priority_and_tags(
    client: TestClient, db: Session, admin: User
) -> None:
    ref = _incident(db, admin, "SEV1")
    token = browser_login(client, admin.email)
    response = client.post(
        f"/incidents/{ref}/action-items",
        data={
            "csrf_token": token,
            "title": "Add failover for the payment provider",
            "kind": "follow_up",
            "priority": "high",
            "tags": "payments, failover",
        },
        follow_redirects=False,
    )
    assert response.status_code == 303
    page = client.get(f"/incidents/{ref}").text
    assert "high priority" in page
    for tag in ("sev1", "sev1_20261206", "payments", "failover"):
        assert f">{tag}</a>" in page
    refused = client.post(
        f"/incidents/{ref}/action-items",
        data={"csrf_token": token, "title": "Another", "priority": "urgent"},
    )
    assert "priority must be one of high, medium, low" in refused.text
    assert client.get(f"/incidents/{ref}").text.count("Another") == 0
