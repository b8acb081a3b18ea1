"""Configuring Tocsin through the API: catalog and vocabulary."""

from __future__ import annotations

from fastapi.testclient import TestClient


def test_users_teams_services(api: TestClient) -> None:
    user = api.post(
        "/api/v1/users",
        json={
            "name": "Grace",
            "email": "Grace@Example.com",
            "timezone": "Europe/London",
            "password": "s3cret-pass",
        },
    )
    assert user.status_code == 201 and user.json()["email"] == "grace@example.com"
    assert "password_hash" not in user.json()
    assert (
        api.post("/api/v1/users", json={"name": "G", "email": "grace@example.com"}).status_code
        == 409
    )
    assert (
        api.post(
            "/api/v1/users", json={"name": "G", "email": "g@x.io", "timezone": "Mars/Base"}
        ).status_code
        == 422
    )
    team = api.post("/api/v1/teams", json={"name": "SRE", "member_ids": [user.json()["id"]]})
    assert team.json()["members"][0]["name"] == "Grace"
    assert api.post("/api/v1/teams", json={"name": "sre"}).status_code == 409
    svc = api.post(
        "/api/v1/services", json={"name": "API", "team_id": team.json()["id"], "tier": 1}
    )
    assert svc.json()["team"]["name"] == "SRE"
    assert api.post("/api/v1/services", json={"name": "B", "tier": 9}).status_code == 422
    renamed = api.patch(f"/api/v1/services/{svc.json()['id']}", json={"description": "Public"})
    assert renamed.json()["description"] == "Public" and renamed.json()["tier"] == 1
    deactivated = api.patch(f"/api/v1/users/{user.json()['id']}", json={"active": False})
    assert deactivated.json()["active"] is False


def test_vocabulary(api: TestClient) -> None:
    sevs = api.get("/api/v1/severities").json()["items"]
    assert [s["name"] for s in sevs] == ["SEV1", "SEV2", "SEV3", "SEV4"]
    assert sevs[0]["response_target_minutes"] == 60
    assert sevs[3]["response_target"] == "next business day"
    created = api.post(
        "/api/v1/severities",
        json={
            "name": "SEV0",
            "label": "Catastrophic",
            "rank": 0 + 1,
            "response_target_minutes": 15,
        },
    )
    assert created.status_code == 201
    assert api.post("/api/v1/severities", json={"name": "SEV0"}).status_code == 409
    assert [p["name"] for p in api.get("/api/v1/priorities").json()["items"]] == [
        "P1",
        "P2",
        "P3",
        "P4",
    ]
    roles = api.get("/api/v1/roles").json()["items"]
    assert roles[0]["slug"] == "incident_commander" and roles[0]["responsibilities"]
    role = api.post("/api/v1/roles", json={"name": "Liaison", "responsibilities": ["Talk"]})
    assert role.json()["slug"] == "liaison"
    itype = api.post(
        "/api/v1/incident-types",
        json={
            "name": "Payment failure",
            "role_ids": [role.json()["id"]],
            "fields": [
                {
                    "key": "provider",
                    "label": "Provider",
                    "kind": "single_select",
                    "options": ["Stripe", "Adyen"],
                    "required": True,
                }
            ],
        },
    )
    assert itype.status_code == 201, itype.text
    assert itype.json()["fields"][0]["options"] == ["Stripe", "Adyen"]
    bad = api.post(
        "/api/v1/incident-types",
        json={"name": "Bad", "fields": [{"key": "x", "kind": "single_select"}]},
    )
    assert bad.status_code == 422 and "needs options" in bad.json()["error"]["message"]
    put = api.put("/api/v1/templates/monitoring", json={"body": "Watching {services}."})
    assert put.json()["body"] == "Watching {services}."
    assert api.get("/api/v1/templates").json()["monitoring"] == "Watching {services}."
    assert api.put("/api/v1/templates/panicking", json={"body": "x"}).status_code == 422


def test_duplicate_non_ascii_names_are_conflicts(api: TestClient) -> None:
    assert api.post("/api/v1/teams", json={"name": "Équipe Ü"}).status_code == 201
    again = api.post("/api/v1/teams", json={"name": "Équipe Ü"})
    assert again.status_code == 409 and "already exists" in again.json()["error"]["message"]
    assert api.post("/api/v1/roles", json={}).status_code == 422
