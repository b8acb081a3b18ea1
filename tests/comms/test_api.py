"""The REST API: the channel registry (admins write, everyone reads, secrets masked), and an
incident's stakeholders, communication panel and posting by hand."""

from __future__ import annotations

from datetime import timedelta

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from tests.comms.conftest import run_jobs
from tests.conftest import api_as
from tests.notify.conftest import Receiver
from tocsin.bootstrap import Container
from tocsin.catalog import service as catalog
from tocsin.catalog.models import User
from tocsin.comms.models import CommsChannel
from tocsin.db import utcnow

SLACK = "slack://T1AAAAAAA/B2BBBBBBB/SecretToken3CCCCCCCCCC/#incidents"


def _declare(api: TestClient, **body: object) -> str:
    response = api.post("/api/v1/incidents", json={"title": "Checkout is down", **body})
    assert response.status_code == 201, response.text
    return str(response.json()["reference"])


def test_the_registry_masks_tokens_and_names_bad_fields(
    api: TestClient, db: Session, viewer: User
) -> None:
    as_viewer = api_as(api, db, viewer)
    body = {
        "name": "#incidents", "kind": "apprise", "target": SLACK, "severities": ["SEV1", "SEV2"],
        "post_incident_roles": ["incident_commander"], "cadence_minutes": 30,
    }  # fmt: skip
    created = api.post("/api/v1/comms-channels", json=body)
    assert created.status_code == 201, created.text
    channel = created.json()
    assert "SecretToken3" not in created.text and channel["target"].startswith("slack://")
    assert channel["severities"] == ["SEV1", "SEV2"]
    assert channel["posters"] == "the Incident Commander"
    assert channel["conditions"] == "SEV1, SEV2"
    stored = db.get(CommsChannel, channel["id"])
    assert stored is not None and stored.target == SLACK  # kept, to send

    # Sending the masked value back keeps the stored URL.
    patched = api.patch(f"/api/v1/comms-channels/{channel['id']}",
                        json={"target": channel["target"], "cadence_minutes": None})  # fmt: skip
    assert patched.status_code == 200 and patched.json()["cadence_minutes"] is None
    db.expire_all()
    assert db.get(CommsChannel, channel["id"]).target == SLACK  # type: ignore[union-attr]

    cases = [
        ({**body, "name": "a", "severities": ["SEV9"]}, "severities", "no severity named 'SEV9'"),
        ({**body, "name": "b", "target": "nonsense://x"}, "target", "Apprise does not understand"),
        ({**body, "name": "c", "kind": "email", "target": "not-an-address"}, "target", "valid"),
        ({**body, "name": "e", "post_incident_roles": ["ceo"]}, "post_incident_roles",
         "no incident role named 'ceo'"),
        ({"name": "f", "kind": "manual"}, "instructions", "say how to post"),
        ({"name": "g", "kind": "email", "target": "x@example.com", "audience": "external",
          "include_restricted": True}, "include_restricted", "never go to an external"),
        ({**body, "name": "#incidents"}, "name", "already a channel named"),
    ]  # fmt: skip
    for bad, field, message in cases:
        answer = api.post("/api/v1/comms-channels", json=bad)
        assert answer.status_code in (404, 409, 422), (bad, answer.text)
        error = answer.json()["error"]
        assert error["field"] == field and message in error["message"], (bad, error)
    assert len(api.get("/api/v1/comms-channels").json()["items"]) == 1  # nothing half-written

    assert api.get("/api/v1/comms-channels", headers=as_viewer).status_code == 200
    refused = api.post("/api/v1/comms-channels", json={**body, "name": "z"}, headers=as_viewer)
    assert refused.status_code == 403


def test_a_webhook_channel_shows_its_secret_once(api: TestClient) -> None:
    body = {"name": "Ops bus", "kind": "webhook", "target": "http://127.0.0.1:9/T0/secret-path?k=1"}
    created = api.post("/api/v1/comms-channels", json=body)
    assert created.status_code == 201, created.text
    channel = created.json()
    assert channel["signing_secret"].startswith("whsec_")
    assert channel["target"] == "http://127.0.0.1:9/…"  # the path and query may hold tokens
    again = api.get(f"/api/v1/comms-channels/{channel['id']}").json()
    assert "signing_secret" not in again
    rotated = api.post(f"/api/v1/comms-channels/{channel['id']}/rotate-secret").json()
    assert rotated["signing_secret"] != channel["signing_secret"]


def test_stakeholders_and_following_through_the_api(
    api: TestClient, db: Session, responder: User, viewer: User
) -> None:
    team = catalog.create_team(db, name="Payments")
    db.commit()
    ref = _declare(api)
    as_viewer, as_responder = api_as(api, db, viewer), api_as(api, db, responder)
    followed = api.put(f"/api/v1/incidents/{ref}/follow", headers=as_viewer)
    assert followed.status_code == 200 and followed.json()["name"] == "Vic Viewer"
    assert api.put(f"/api/v1/incidents/{ref}/follow", headers=as_viewer).status_code == 200
    added = api.post(f"/api/v1/incidents/{ref}/stakeholders", json={"team_id": team.id},
                     headers=as_responder)  # fmt: skip
    assert added.status_code == 201 and added.json()["kind"] == "team"
    twice = api.post(f"/api/v1/incidents/{ref}/stakeholders", json={"team_id": team.id})
    assert twice.status_code == 409
    refused = api.post(f"/api/v1/incidents/{ref}/stakeholders", json={"team_id": team.id},
                       headers=as_viewer)  # fmt: skip
    assert refused.status_code == 403
    names = [s["name"] for s in api.get(f"/api/v1/incidents/{ref}/stakeholders").json()]
    assert names == ["Vic Viewer", "Payments"]
    # A viewer may remove themselves but not the team.
    team_id = added.json()["id"]
    path = f"/api/v1/incidents/{ref}/stakeholders/{team_id}"
    assert api.delete(path, headers=as_viewer).status_code == 403
    assert api.delete(f"/api/v1/incidents/{ref}/follow", headers=as_viewer).status_code == 204
    panel = api.get(f"/api/v1/incidents/{ref}/communication", headers=as_viewer).json()
    assert panel["following"] is False
    assert [s["name"] for s in panel["stakeholders"]] == ["Payments"]

    restricted = _declare(api, restricted=True)
    answer = api.put(f"/api/v1/incidents/{restricted}/follow", headers=as_viewer)
    assert answer.status_code == 404  # not involved: for them it does not exist
    answer = api.post(f"/api/v1/incidents/{restricted}/stakeholders",
                      json={"user_id": viewer.id})  # fmt: skip
    assert answer.status_code == 422 and answer.json()["error"]["field"] == "user_id"


def test_the_communication_panel_posting_by_hand_and_sending_on_request(
    api: TestClient,
    db: Session,
    container: Container,
    receiver: Receiver,
    responder: User,
) -> None:
    as_responder = api_as(api, db, responder)
    briefing = api.post("/api/v1/comms-channels", json={
        "name": "Exec briefing", "kind": "manual", "instructions": "Call the CEO's office.",
        "cadence_minutes": 30, "post_user_roles": ["admin"],
    }).json()  # fmt: skip
    chat = api.post("/api/v1/comms-channels", json={
        "name": "#leadership", "kind": "apprise", "automatic": False,
        "target": f"json://127.0.0.1:{receiver.port}/lead",
    }).json()  # fmt: skip
    ref = _declare(api)
    panel = api.get(f"/api/v1/incidents/{ref}/communication").json()
    rows = {c["name"]: c for c in panel["channels"]}
    assert rows["Exec briefing"]["posters"] == "admins" and rows["Exec briefing"]["can_post"]
    assert rows["Exec briefing"]["due_because"] == "every 30 min"
    assert rows["#leadership"]["due_at"] is None and rows["#leadership"]["last_at"] is None

    path = f"/api/v1/incidents/{ref}/communication/{briefing['id']}/posted"
    assert api.post(path, json={}, headers=as_responder).status_code == 403
    marked = api.post(path, json={"note": "Briefed the CEO at 10:00"})
    assert marked.status_code == 201 and marked.json()["purpose"] == "manual"
    panel = api.get(f"/api/v1/incidents/{ref}/communication").json()
    row = next(c for c in panel["channels"] if c["name"] == "Exec briefing")
    assert row["last_at"] == marked.json()["sent_at"] and row["overdue"] is False

    send = f"/api/v1/incidents/{ref}/communication/{chat['id']}/send"
    nothing = api.post(send)
    assert nothing.status_code == 422 and "no internal update" in nothing.json()["error"]["message"]
    update = api.post(f"/api/v1/incidents/{ref}/updates", json={
        "phase": "investigating", "body": "Looking.", "visibility": "internal",
        "next_update_at": (utcnow() + timedelta(minutes=20)).isoformat(),
    })  # fmt: skip
    assert update.status_code == 201
    run_jobs(container)
    assert receiver.requests == []  # on request only
    assert api.post(send).status_code == 202
    assert api.post(send).status_code == 409  # already went there
    run_jobs(container)
    (sent,) = receiver.requests
    assert "Looking." in sent.body.decode()
    panel = api.get(f"/api/v1/incidents/{ref}/communication").json()
    row = next(c for c in panel["channels"] if c["name"] == "#leadership")
    assert row["last_delivery"]["state"] == "sent"
    assert row["due_because"].startswith("promised in the ")
    assert any(d["recipient"] == "#leadership" for d in panel["deliveries"])
