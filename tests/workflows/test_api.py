"""The workflows API: CRUD with clear 422s, an incident's runs, test against an incident;
and the incident page's card."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from tests.conftest import api_as, browser_login
from tests.workflows.conftest import declare, enable_seeded, user, work
from tocsin.bootstrap import Container
from tocsin.catalog.models import User


def test_crud_and_bad_input(api: TestClient, db: Session) -> None:
    body = {
        "name": "Tell support",
        "trigger": "declared",
        "conditions": {"severities": ["SEV1"]},
        "actions": [{"kind": "create_action_item", "title": "Tell support"}],
    }
    created = api.post("/api/v1/workflows", json=body)
    assert created.status_code == 201, created.text
    wid = created.json()["id"]
    assert api.post("/api/v1/workflows", json=body).status_code == 409
    bad = api.post(
        "/api/v1/workflows",
        json={**body, "name": "Bad", "actions": [{"kind": "page", "target": "person"}]},
    )
    assert bad.status_code == 422
    assert bad.json()["error"]["field"] == "actions[0].user_id"
    patched = api.patch(f"/api/v1/workflows/{wid}", json={"enabled": False})
    assert patched.status_code == 200 and patched.json()["enabled"] is False
    names = [w["name"] for w in api.get("/api/v1/workflows").json()["items"]]
    assert "Tell support" in names and "SEV2: page the IC" in names
    assert api.delete(f"/api/v1/workflows/{wid}").status_code == 204
    assert api.get(f"/api/v1/workflows/{wid}").status_code == 404


def test_responders_read_but_only_admins_write(
    client: TestClient, db: Session, admin: User
) -> None:
    rita = user(db, "Rita")
    db.commit()
    headers = api_as(client, db, rita)
    assert client.get("/api/v1/workflows", headers=headers).status_code == 200
    refused = client.post(
        "/api/v1/workflows",
        headers=headers,
        json={"name": "X", "trigger": "declared", "actions": []},
    )
    assert refused.status_code == 403


def test_runs_and_preview_of_an_incident_and_its_card(
    api: TestClient, db: Session, container: Container, admin: User
) -> None:
    enable_seeded(db)
    incident = declare(db, admin, "SEV1")
    work(db, container)
    runs = api.get(f"/api/v1/incidents/{incident.reference}/workflow-runs").json()["items"]
    assert [r["workflow_name"] for r in runs] == [
        "SEV1: page the IC, tell stakeholders, prompt the external update"
    ]
    # Nobody on the roster: the page is skipped with the reason, the rest is done.
    assert runs[0]["outcomes"][0].startswith("skipped: the roster has no Incident Commander")
    preview = api.get(f"/api/v1/incidents/{incident.reference}/workflow-preview")
    assert preview.status_code == 200
    assert [p["name"] for p in preview.json()] == [runs[0]["workflow_name"]]
    page_client = TestClient(api.app)
    browser_login(page_client, admin.email)
    page = page_client.get(f"/incidents/{incident.reference}")
    assert 'id="workflows"' in page.text
    assert "skipped: the roster has no Incident Commander" in page.text
