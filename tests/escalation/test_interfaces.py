"""Escalation through the API, the pages and the configuration file."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tests.conftest import api_as, browser_login
from tests.escalation.conftest import Org, recipients, work
from tests.notify.conftest import SmtpServer
from tocsin.bootstrap import Container
from tocsin.catalog.models import User
from tocsin.configfile.engine import apply_file, export_document
from tocsin.escalation.models import EscalationLevel, EscalationPolicy


def _levels(org: Org) -> list[dict]:
    return [
        {"delay_minutes": 3, "targets": [{"kind": "schedule", "id": org.primary.id}]},
        {
            "targets": [{"kind": "user", "id": org.carol.id}],
            "window": {
                "days": [0, 1, 2, 3, 4],
                "start": "09:00",
                "end": "17:00",
                "timezone": "Europe/London",
            },
        },
    ]


def test_policies_through_the_api(api: TestClient, db: Session, org: Org) -> None:
    created = api.post(
        "/api/v1/escalation-policies", json={"name": "Payments", "levels": _levels(org)}
    )
    assert created.status_code == 201, created.text
    body = created.json()
    assert [t["name"] for t in body["levels"][0]["targets"]] == ["Primary"]
    assert body["levels"][1]["window"]["timezone"] == "Europe/London"
    policy_id = body["id"]

    patched = api.patch(f"/api/v1/escalation-policies/{policy_id}", json={"repeat": 2})
    assert patched.json()["repeat"] == 2 and len(patched.json()["levels"]) == 2

    service_id = org.service.id
    put = api.put(
        f"/api/v1/services/{service_id}/paging",
        json={"policy_id": policy_id, "low_urgency": "page"},
    )
    assert put.status_code == 200 and put.json()["policy"] == "Payments"
    used = api.delete(f"/api/v1/escalation-policies/{policy_id}")
    assert used.status_code == 409 and "Checkout" in used.json()["error"]["message"]


def test_bad_policies_are_refused_naming_the_field_and_change_nothing(
    api: TestClient, db: Session, org: Org
) -> None:
    before = db.scalar(select(func.count()).select_from(EscalationLevel))
    cases = [
        ({"name": "X", "levels": []}, "levels"),
        ({"name": "X", "levels": [{"targets": []}]}, "levels[0].targets"),
        (
            {"name": "X", "levels": [{"targets": [{"kind": "user", "id": 999999}]}]},
            "levels[0].targets[0].id",
        ),
        (
            {
                "name": "X",
                "levels": [{"delay_minutes": 0, "targets": [{"kind": "user", "id": org.ann.id}]}],
            },
            "levels[0].delay_minutes",
        ),
        ({"name": "X", "repeat": 50, "levels": _levels(org)}, "repeat"),
        (
            {
                "name": "X",
                "levels": [
                    {
                        "targets": [{"kind": "user", "id": org.ann.id}],
                        "window": {"days": [0], "start": "25:00", "end": "17:00"},
                    }
                ],
            },
            "levels[0].window.start",
        ),
        (
            {
                "name": "X",
                "levels": [
                    {
                        "targets": [{"kind": "user", "id": org.ann.id}],
                        "window": {
                            "days": [0],
                            "start": "09:00",
                            "end": "17:00",
                            "timezone": "Mars/Base",
                        },
                    }
                ],
            },
            "levels[0].window.timezone",
        ),
        ({"name": "Checkout", "levels": _levels(org)}, "name"),
    ]
    for payload, field in cases:
        response = api.post("/api/v1/escalation-policies", json=payload)
        assert response.status_code in (404, 409, 422), (payload, response.text)
        error = response.json()["error"]
        assert error.get("field") == field, (payload, error)
    assert db.scalar(select(func.count()).select_from(EscalationLevel)) == before
    assert db.scalar(select(func.count()).select_from(EscalationPolicy)) == 1


def test_responders_escalate_and_page_through_the_api_viewers_cannot(
    client: TestClient,
    db: Session,
    container: Container,
    smtp: SmtpServer,
    org: Org,
    viewer: User,
) -> None:
    headers = api_as(client, db, org.ann)
    incident = client.post(
        "/api/v1/incidents",
        json={"title": "Slow checkout", "service_ids": [org.service.id]},
        headers=headers,
    ).json()
    ref = incident["reference"]
    work(db, container)
    escalated = client.post(f"/api/v1/incidents/{ref}/escalate", json={"level": 2}, headers=headers)
    assert escalated.status_code == 200, escalated.text
    paged = client.post(
        f"/api/v1/incidents/{ref}/page",
        json={"user_ids": [org.bob.id], "message": "second pair of eyes"},
        headers=headers,
    )
    assert paged.status_code == 200
    bad = client.post(f"/api/v1/incidents/{ref}/escalate", json={"level": 7}, headers=headers)
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "level"
    refused = client.post(
        f"/api/v1/incidents/{ref}/escalate", json={"level": 1}, headers=api_as(client, db, viewer)
    )
    assert refused.status_code == 403
    work(db, container)
    assert org.carol.email in recipients(smtp) and org.bob.email in recipients(smtp)
    record = client.get(f"/api/v1/incidents/{ref}/paging", headers=headers).json()
    assert [r["state"] for r in record["runs"]][:2] == ["superseded", "active"]
    assert {n["user"] for n in record["notifications"]} >= {"Carol", "Bob"}
    # Acknowledging through the API stops paging.
    ack = client.post(f"/api/v1/incidents/{ref}/acknowledge", headers=headers)
    assert ack.status_code == 200
    record = client.get(f"/api/v1/incidents/{ref}/paging", headers=headers).json()
    assert all(r["state"] != "active" for r in record["runs"])


def test_the_pages(
    client: TestClient, db: Session, container: Container, admin: User, smtp: SmtpServer, org: Org
) -> None:
    csrf = browser_login(client, admin.email)
    listing = client.get("/escalation-policies")
    assert listing.status_code == 200 and "Checkout" in listing.text
    editor = client.get(f"/escalation-policies/{org.policy.id}")
    assert editor.status_code == 200 and "Level 2" in editor.text
    form = {
        "csrf_token": csrf,
        "name": "Nights",
        "repeat": "1",
        "level_count": "2",
        "level-0-users": [str(org.carol.id)],
        "level-0-delay_minutes": "7",
        "level-0-position": "1",
        "level-1-schedules": [str(org.primary.id)],
        "level-1-position": "1",  # moved above the first: levels follow their positions
        "level-1-limited": "on",
        "level-1-window_days": ["sat", "sun"],
        "level-1-window_start": "22:00",
        "level-1-window_end": "06:00",
        "level-1-window_timezone": "America/New_York",
    }
    created = client.post("/escalation-policies", data=form, follow_redirects=False)
    assert created.status_code == 303, created.text
    policy = db.scalar(select(EscalationPolicy).where(EscalationPolicy.name == "Nights"))
    assert policy is not None
    assert [lvl.targets[0].kind for lvl in policy.levels] == ["user", "schedule"]
    assert policy.levels[1].window == {
        "days": ["sat", "sun"],
        "start": "22:00",
        "end": "06:00",
        "timezone": "America/New_York",
    }
    bad = client.post("/escalation-policies", data={**form, "name": ""}, follow_redirects=False)
    assert bad.status_code == 422 and "name is required" in bad.text

    saved = client.post(
        f"/services/{org.service.id}/paging",
        data={"csrf_token": csrf, "policy_id": str(policy.id), "low_urgency": "notify"},
        follow_redirects=False,
    )
    assert saved.status_code == 303
    assert "Nights" in client.get(f"/services/{org.service.id}/paging").text

    declared = client.post(
        "/incidents",
        data={"csrf_token": csrf, "title": "Cart empties", "service_ids": str(org.service.id)},
        follow_redirects=False,
    )
    assert declared.status_code == 303, declared.text
    work(db, container)
    page = client.get(declared.headers["location"])
    assert "Paging" in page.text and "Level 1: paged Carol" in page.text
    assert 'id="paging"' in page.text


def test_the_configuration_file(db: Session, org: Org, tmp_path: Path) -> None:
    path = tmp_path / "tocsin.yaml"
    path.write_text(
        """
version: 1
escalation_policies:
  - name: Database
    repeat: 1
    levels:
      - delay_minutes: 10
        targets: [{schedule: Primary}, {user: carol@example.com}]
      - targets: [{team: DBA}]
teams:
  - name: DBA
    members: [bob@example.com]
paging:
  - service: Checkout
    escalation_policy: Database
    low_urgency: support_hours
    support_hours:
      days: [mon, tue, wed, thu, fri]
      start: "08:00"
      end: "18:00"
      timezone: Europe/Paris
"""
    )
    changes = apply_file(db, path)
    assert "create escalation policy 'Database'" in changes
    db.commit()
    exported = export_document(db)
    (database,) = [p for p in exported["escalation_policies"] if p["name"] == "Database"]
    assert database["levels"][0]["targets"] == [
        {"schedule": "Primary"},
        {"user": "carol@example.com"},
    ]
    (paging,) = [p for p in exported["paging"] if p["service"] == "Checkout"]
    assert paging["escalation_policy"] == "Database"
    assert paging["support_hours"]["timezone"] == "Europe/Paris"
    assert apply_file(db, path) == []  # applying again changes nothing


def test_a_persons_page_lists_their_upcoming_shifts(
    client: TestClient, db: Session, admin: User, org: Org
) -> None:
    browser_login(client, admin.email)
    page = client.get(f"/users/{org.ann.id}/notifications")
    assert page.status_code == 200
    assert 'id="upcoming-shifts"' in page.text and "Primary" in page.text
    carol = client.get(f"/users/{org.carol.id}/notifications")
    assert "No shifts in the next 28 days" in carol.text
