"""Follow-ups' priority and tags, as people set and read them through the API and the page."""

from __future__ import annotations

import html
from datetime import UTC, datetime

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.conftest import browser_login
from tocsin.catalog.models import User
from tocsin.definitions.models import Severity
from tocsin.incidents import actions, queries
from tocsin.incidents import service as incidents
from tocsin.incidents.models import ActionItem

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


def _item(db: Session, admin: User, title: str = "Alert on replica lag") -> tuple[str, int]:
    ref = _incident(db, admin, "SEV1")
    incident = queries.get_incident(db, ref, viewer=admin)
    item = actions.add_action_item(
        db, incident, title=title, kind="follow_up", tags=["db"], by=admin
    )
    db.commit()
    return ref, item.id


def _stored(db: Session, item_id: int) -> tuple[str, list[str]]:
    db.rollback()  # a new transaction sees what the requests committed
    item = db.get(ActionItem, item_id)
    assert item is not None
    return item.priority, item.tags


def test_priority_and_tags_are_edited_on_the_incident_page(
    client: TestClient, db: Session, admin: User
) -> None:
    ref, item_id = _item(db, admin)
    token = browser_login(client, admin.email)
    page = client.get(f"/incidents/{ref}").text
    assert f'action="/action-items/{item_id}"' in page
    assert 'value="sev1, sev1_20261206, db"' in page  # the form holds the tags as they are
    response = client.post(
        f"/action-items/{item_id}",
        data={
            "csrf_token": token,
            "back": f"/incidents/{ref}#action-items",
            "priority": "low",
            "tags": "db, Failover replica-lag",
        },
        follow_redirects=False,
    )
    assert response.status_code == 303
    assert response.headers["location"] == f"/incidents/{ref}#action-items"
    assert _stored(db, item_id) == ("low", ["db", "failover", "replica-lag"])
    page = client.get(f"/incidents/{ref}").text
    assert "Action item saved." in page and "low priority" in page
    assert ">replica-lag</a>" in page and ">sev1</a>" not in page  # the list replaced
    # An emptied field clears the tags.
    client.post(
        f"/action-items/{item_id}", data={"csrf_token": token, "priority": "low", "tags": ""}
    )
    assert _stored(db, item_id) == ("low", [])


def test_bad_priority_or_tags_on_the_page_are_shown_escaped_and_change_nothing(
    client: TestClient, db: Session, admin: User
) -> None:
    ref, item_id = _item(db, admin)
    before = _stored(db, item_id)
    token = browser_login(client, admin.email)
    for form, message in (
        ({"tags": "<script>alert(1)</script>"}, "may hold only letters, digits"),
        ({"tags": "x" * 41}, "is longer than 40 characters"),
        ({"tags": " ".join(f"t{n}" for n in range(21))}, "at most 20 tags"),
        ({"priority": "urgent"}, "priority must be one of high, medium, low"),
    ):
        page = client.post(
            f"/action-items/{item_id}", data={"csrf_token": token, "priority": "high", **form}
        ).text
        assert message in html.unescape(page), form
        assert "<script>alert(1)" not in page
        assert 'class="flash flash-error"' in page
        assert _stored(db, item_id) == before
    # Without the CSRF token nothing is read, let alone written.
    refused = client.post(f"/action-items/{item_id}", data={"priority": "low", "tags": "x"})
    assert refused.status_code == 403
    assert _stored(db, item_id) == before
    # A `back` leading off the site is ignored.
    for back in ("//evil.example/", "/\\evil.example/", "https://evil.example/"):
        response = client.post(
            f"/action-items/{item_id}",
            data={"csrf_token": token, "back": back, "priority": "medium", "tags": "db"},
            follow_redirects=False,
        )
        assert response.headers["location"] == f"/incidents/{ref}#action-items", back


def test_priority_and_tags_are_edited_on_the_follow_up_list(
    client: TestClient, db: Session, admin: User, viewer: User
) -> None:
    _, item_id = _item(db, admin, title="<b>Grow</b> the disk")
    token = browser_login(client, admin.email)
    here = "/follow-ups?tag=db&sort=age"
    raw = client.get(here).text
    assert "<b>Grow</b>" not in raw  # the title is escaped, in the list and in the form
    assert 'name="back" value="/follow-ups?tag=db&amp;sort=age"' in raw
    response = client.post(
        f"/action-items/{item_id}",
        data={"csrf_token": token, "back": here, "priority": "high", "tags": "db storage"},
        follow_redirects=False,
    )
    assert response.headers["location"] == here  # back to the same filtered list
    assert _stored(db, item_id) == ("high", ["db", "storage"])
    page = client.get(here).text
    assert ">storage</a>" in page and 'value="db, storage"' in page
    error = client.post(
        f"/action-items/{item_id}",
        data={"csrf_token": token, "back": here, "priority": "high", "tags": "a/b"},
    )
    assert error.url.path == "/follow-ups" and "tag “a/b” may hold only" in error.text

    client.cookies.clear()
    browser_login(client, viewer.email)
    page = client.get("/follow-ups").text
    assert "Grow" in page and f'action="/action-items/{item_id}"' not in page
