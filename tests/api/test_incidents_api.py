"""The REST API as a script or another tool would use it."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from tests.conftest import api_as
from tocsin.catalog.models import User


def _declare(api: TestClient, **body) -> dict:  # type: ignore[no-untyped-def]
    response = api.post("/api/v1/incidents", json={"title": "Checkout failing", **body})
    assert response.status_code == 201, response.text
    return response.json()


def _sev_id(api: TestClient, name: str) -> int:
    return next(s["id"] for s in api.get("/api/v1/severities").json()["items"] if s["name"] == name)


def test_full_lifecycle_is_on_the_timeline(api: TestClient, admin: User) -> None:
    incident = _declare(api, severity_id=_sev_id(api, "SEV2"))
    ref = incident["reference"]
    assert ref == "INC-1" and incident["status"] == "triggered"
    assert incident["severity"]["name"] == "SEV2"
    assert incident["url"].endswith("/incidents/INC-1")

    assert api.post(f"/api/v1/incidents/{ref}/acknowledge").json()["status"] == "acknowledged"
    put = api.put(f"/api/v1/incidents/{ref}/roles/incident_commander", json={"user_id": admin.id})
    assert put.json()["commander"]["email"] == admin.email
    template = api.get(f"/api/v1/incidents/{ref}/template", params={"phase": "identified"})
    assert "identified the cause" in template.json()["body"]
    update = api.post(
        f"/api/v1/incidents/{ref}/updates",
        json={"phase": "identified", "body": template.json()["body"], "visibility": "external"},
    )
    assert update.status_code == 201
    assert api.get(f"/api/v1/incidents/{ref}").json()["status"] == "identified"
    assert api.post(f"/api/v1/incidents/{ref}/resolve").json()["resolved_at"] is not None
    closed = api.post(f"/api/v1/incidents/{ref}/close").json()
    assert closed["status"] == "closed" and closed["closed_at"] is not None

    kinds = [e["kind"] for e in api.get(f"/api/v1/incidents/{ref}/timeline").json()["items"]]
    assert kinds == [
        "created",
        "status_changed",
        "role_assigned",
        "status_changed",
        "update_posted",
        "status_changed",
        "postmortem",  # resolving a SEV2 starts its postmortem (postmortems' policy)
        "status_changed",
    ]


def test_invalid_transition_is_409_with_a_reason(api: TestClient) -> None:
    ref = _declare(api)["reference"]
    response = api.post(f"/api/v1/incidents/{ref}/close")
    assert response.status_code == 409
    assert "cannot move to closed" in response.json()["error"]["message"]
    bad = api.post(f"/api/v1/incidents/{ref}/status", json={"status": "on-fire"})
    assert bad.status_code == 422


def test_authentication_and_roles(
    client: TestClient, db: Session, admin: User, viewer: User, responder: User
) -> None:
    assert client.get("/api/v1/incidents").status_code == 401
    assert (
        client.get("/api/v1/incidents", headers={"Authorization": "Bearer tcs_nope"}).status_code
        == 401
    )
    as_viewer = api_as(client, db, viewer)
    assert client.get("/api/v1/incidents", headers=as_viewer).status_code == 200
    denied = client.post("/api/v1/incidents", json={"title": "x"}, headers=as_viewer)
    assert denied.status_code == 403 and "responder" in denied.json()["error"]["message"]
    as_responder = api_as(client, db, responder)
    assert (
        client.post("/api/v1/incidents", json={"title": "x"}, headers=as_responder).status_code
        == 201
    )
    assert client.post("/api/v1/teams", json={"name": "T"}, headers=as_responder).status_code == 403


def test_tokens_are_shown_once_revocable_and_record_use(
    api: TestClient, client: TestClient
) -> None:
    created = api.post("/api/v1/tokens", json={"name": "laptop"})
    assert created.status_code == 201
    secret, token_id = created.json()["secret"], created.json()["token"]["id"]
    assert secret.startswith("tcs_")
    listing = api.get("/api/v1/tokens").json()["items"]
    assert all("secret" not in t for t in listing)
    assert next(t for t in listing if t["id"] == token_id)["last_used_at"] is None
    headers = {"Authorization": f"Bearer {secret}"}
    assert client.get("/api/v1/me", headers=headers).status_code == 200
    used = next(t for t in api.get("/api/v1/tokens").json()["items"] if t["id"] == token_id)
    assert used["last_used_at"] is not None
    assert api.delete(f"/api/v1/tokens/{token_id}").json()["revoked_at"] is not None
    assert client.get("/api/v1/me", headers=headers).status_code == 401


def test_bad_input_gets_clear_errors_and_no_500(api: TestClient) -> None:
    not_json = api.post(
        "/api/v1/incidents", content=b"{nope", headers={"Content-Type": "application/json"}
    )
    assert not_json.status_code == 400 and "JSON" in not_json.json()["error"]["message"]
    deep = api.post(
        "/api/v1/incidents",
        content=b"[" * 100_000 + b"]" * 100_000,
        headers={"Content-Type": "application/json"},
    )
    assert deep.status_code == 400 and deep.json()["error"]["status"] == 400
    unknown = api.post("/api/v1/incidents", json={"title": "x", "colour": "red"})
    assert unknown.status_code == 422
    too_long = api.post("/api/v1/incidents", json={"title": "x" * 300})
    assert too_long.status_code == 422
    naive = api.post("/api/v1/incidents", json={"title": "x", "started_at": "2026-01-01T10:00:00"})
    assert naive.status_code == 422 and "time zone" in naive.json()["error"]["message"]
    blank = api.post("/api/v1/incidents", json={"title": "   "})
    assert blank.status_code == 422 and "title is required" in blank.json()["error"]["message"]
    assert api.post("/api/v1/incidents", json={"title": "x", "severity_id": 999}).status_code == 404
    assert api.get("/api/v1/incidents/INC-999").status_code == 404
    assert api.get("/api/v1/incidents/drop table").status_code == 404
    missing = api.get("/api/v1/nothing-here")
    assert missing.status_code == 404 and "error" in missing.json()
    assert api.get("/api/v1/incidents", params={"limit": 0}).status_code == 422
    # A filter naming nothing is a 404 naming the field, as an unknown id in a body is.
    assert api.get("/api/v1/incidents", params={"severity": "SEV9"}).status_code == 404
    assert (
        api.post(
            "/api/v1/incidents", json={"title": "x", "links": [{"url": "ftp://x"}]}
        ).status_code
        == 422
    )


def test_declaring_chooses_the_urgency_or_not_to_page(api: TestClient) -> None:
    """Without a choice the severity's default urgency applies; "none" declares without
    paging; the severity's default is set through the API."""
    sev4 = _sev_id(api, "SEV4")
    assert _declare(api, severity_id=sev4)["urgency"] == "low"
    assert _declare(api, severity_id=_sev_id(api, "SEV2"))["urgency"] == "high"
    chosen = _declare(api, severity_id=sev4, urgency="high")
    assert (chosen["urgency"], chosen["declared_without_paging"]) == ("high", False)
    quiet = _declare(api, urgency="none")
    assert (quiet["urgency"], quiet["declared_without_paging"]) == ("high", True)
    timeline = api.get(f"/api/v1/incidents/{quiet['reference']}/timeline").json()["items"]
    assert any(e["summary"].startswith("Declared without paging") for e in timeline)
    bad = api.post("/api/v1/incidents", json={"title": "x", "urgency": "urgent"})
    assert bad.status_code == 422 and "urgency" in bad.json()["error"]["message"]

    changed = api.patch(f"/api/v1/severities/{sev4}", json={"default_urgency": "high"})
    assert changed.status_code == 200 and changed.json()["default_urgency"] == "high"
    assert _declare(api, severity_id=sev4)["urgency"] == "high"
    refused = api.patch(f"/api/v1/severities/{sev4}", json={"default_urgency": "none"})
    assert refused.status_code == 422
    made = api.post("/api/v1/severities", json={"name": "SEV5", "default_urgency": "low"})
    assert made.status_code == 201 and made.json()["default_urgency"] == "low"


def test_filters_and_pagination(api: TestClient) -> None:
    team = api.post("/api/v1/teams", json={"name": "Payments"}).json()
    svc = api.post("/api/v1/services", json={"name": "Gateway", "team_id": team["id"]}).json()
    old = datetime.now(UTC) - timedelta(days=10)
    _declare(
        api,
        title="Card declines",
        service_ids=[svc["id"]],
        severity_id=_sev_id(api, "SEV1"),
        started_at=old.isoformat(),
    )
    for i in range(3):
        _declare(api, title=f"Search slow {i}", severity_id=_sev_id(api, "SEV3"))

    def refs(**params):  # type: ignore[no-untyped-def]
        return [i["reference"] for i in api.get("/api/v1/incidents", params=params).json()["items"]]

    assert refs(severity="sev1") == ["INC-1"]
    assert refs(service="Gateway") == ["INC-1"]
    assert refs(team=str(team["id"])) == ["INC-1"]
    assert refs(q="card") == ["INC-1"]
    assert refs(q="INC-3") == ["INC-3"]
    assert "INC-1" not in refs(since=(old + timedelta(days=1)).isoformat())
    page = api.get("/api/v1/incidents", params={"limit": 2, "offset": 2}).json()
    assert page["total"] == 4 and len(page["items"]) == 2
    api.post("/api/v1/incidents/INC-2/resolve")
    assert "INC-2" not in refs(open="true")
    assert refs(status="resolved") == ["INC-2"]


def test_custom_fields_through_the_api(api: TestClient, admin: User) -> None:
    types = api.get("/api/v1/incident-types").json()["items"]
    security = next(t for t in types if t["name"] == "Security incident")
    missing = api.post("/api/v1/incidents", json={"title": "Key leak", "type_id": security["id"]})
    assert missing.status_code == 422 and "Security lead" in missing.json()["error"]["message"]
    incident = _declare(
        api,
        title="Key leak",
        type_id=security["id"],
        custom_fields={"security_lead": admin.id, "data_exposed": True},
    )
    assert incident["restricted"] is True and incident["severity"]["name"] == "SEV1"
    patched = api.patch(
        f"/api/v1/incidents/{incident['reference']}",
        json={"custom_fields": {"attack_vector": "phishing"}},
    )
    assert patched.json()["custom_fields"]["attack_vector"] == "phishing"


def test_notes_backfill_key_events_and_timestamps(api: TestClient) -> None:
    ref = _declare(api)["reference"]
    earlier = datetime.now(UTC) - timedelta(hours=2)
    note = api.post(
        f"/api/v1/incidents/{ref}/notes",
        json={"body": "Deploy 118 went out", "occurred_at": earlier.isoformat()},
    )
    assert note.status_code == 201
    entries = api.get(f"/api/v1/incidents/{ref}/timeline").json()["items"]
    assert entries[0]["body"] == "Deploy 118 went out"
    flagged = api.patch(
        f"/api/v1/incidents/{ref}/timeline/{note.json()['id']}", json={"is_key_event": True}
    )
    assert flagged.json()["is_key_event"] is True
    key = api.get(f"/api/v1/incidents/{ref}/timeline", params={"key_only": "true"}).json()
    assert "Deploy 118 went out" in [e["body"] for e in key["items"]]
    moved = api.patch(
        f"/api/v1/incidents/{ref}/timestamps", json={"started_at": earlier.isoformat()}
    )
    assert moved.status_code == 200
    assert datetime.fromisoformat(moved.json()["started_at"]) == earlier
    bad = api.patch(
        f"/api/v1/incidents/{ref}/timestamps",
        json={"detected_at": (earlier - timedelta(hours=1)).isoformat()},
    )
    assert bad.status_code == 422


def test_action_items_and_overdue_list(api: TestClient, responder: User) -> None:
    ref = _declare(api)["reference"]
    item = api.post(
        f"/api/v1/incidents/{ref}/action-items",
        json={
            "title": "Alert on gateway 5xx",
            "assignee_id": responder.id,
            "due_date": (date.today() - timedelta(days=2)).isoformat(),
            "kind": "follow_up",
        },
    )
    assert item.status_code == 201 and item.json()["overdue"] is True
    overdue = api.get("/api/v1/action-items", params={"overdue": "true"}).json()
    assert [i["title"] for i in overdue["items"]] == ["Alert on gateway 5xx"]
    done = api.patch(f"/api/v1/action-items/{item.json()['id']}", json={"status": "done"})
    assert done.json()["status"] == "done" and done.json()["overdue"] is False
    assert api.get("/api/v1/action-items", params={"overdue": "true"}).json()["total"] == 0
    assert api.patch("/api/v1/action-items/999", json={"status": "done"}).status_code == 404


def test_health_metrics_and_openapi(client: TestClient, api: TestClient) -> None:
    bare = TestClient(client.app)
    assert bare.get("/healthz").json()["status"] == "ok"
    assert bare.get("/readyz").json()["database"] == "ok"
    assert bare.get("/metrics").status_code == 401
    _declare(api)
    metrics = api.get("/metrics").text
    assert 'tocsin_incidents{severity="none",status="triggered"} 1.0' in metrics
    assert "tocsin_http_requests_total" in metrics
    spec = api.get("/api/v1/openapi.json").json()
    assert "/api/v1/incidents/{ref}/acknowledge" in spec["paths"]
    assert bare.get("/api/v1/openapi.json").status_code == 401
    docs = api.get("/api/v1/docs")
    assert docs.status_code == 200 and "/api/v1/docs-assets/swagger-ui-bundle.js" in docs.text
    assert api.get("/api/v1/docs-assets/swagger-ui-bundle.js").status_code == 200


def test_out_of_range_numbers_are_422_not_500(api: TestClient) -> None:
    huge = 10**20
    body = {"title": "x", "severity_id": huge}
    assert api.post("/api/v1/incidents", json=body).status_code == 422
    assert api.get(f"/api/v1/users/{huge}").status_code == 422
    assert api.patch(f"/api/v1/action-items/{huge}", json={"status": "done"}).status_code == 422
    assert api.get("/api/v1/incidents").json()["total"] == 0  # nothing was written
