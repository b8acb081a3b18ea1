"""The runbook routes: CRUD and versions, attaching, ticking; bad input refused with nothing
changed."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from tests.conftest import api_as
from tests.runbooks.conftest import BODY, incident, timeline_kinds
from tocsin.catalog.models import User


def _create(api: TestClient, **extra: object) -> dict:  # type: ignore[type-arg]
    response = api.post("/api/v1/runbooks", json={"name": "Checkout", "body": BODY, **extra})
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


def test_crud_and_versions(api: TestClient) -> None:
    created = _create(api)
    assert created["current_version"] == 1
    assert [s["role"] for s in created["steps"]] == ["incident_commander"] * 2 + [None]
    rid = created["id"]
    patched = api.patch(f"/api/v1/runbooks/{rid}", json={"body": "- [ ] Only step\n"})
    assert patched.status_code == 200 and patched.json()["current_version"] == 2
    versions = api.get(f"/api/v1/runbooks/{rid}/versions").json()["items"]
    assert [v["number"] for v in versions] == [2, 1]
    assert api.get(f"/api/v1/runbooks/{rid}/versions/1").json()["body"] == BODY.strip("\n")
    assert api.get(f"/api/v1/runbooks/{rid}/versions/3").status_code == 404
    names = [r["name"] for r in api.get("/api/v1/runbooks").json()["items"]]
    assert "Checkout" in names and "Security incident checklist" in names
    assert api.delete(f"/api/v1/runbooks/{rid}").status_code == 204
    assert api.get(f"/api/v1/runbooks/{rid}").status_code == 404
    assert api.delete(f"/api/v1/runbooks/{rid}").status_code == 404


def test_bad_input_is_a_clear_4xx_and_changes_nothing(api: TestClient) -> None:
    unknown_role = api.post(
        "/api/v1/runbooks", json={"name": "X", "body": "- [ ] Cast (role: wizard)"}
    )
    assert unknown_role.status_code == 422
    assert "wizard" in unknown_role.json()["error"]["message"]
    assert unknown_role.json()["error"]["field"] == "body"
    huge = api.post("/api/v1/runbooks", json={"name": "X", "body": "- [ ] a\n" + "b" * 60_000})
    assert huge.status_code == 422 and "too long" in huge.json()["error"]["message"]
    missing_type = api.post(
        "/api/v1/runbooks", json={"name": "X", "body": BODY, "incident_type_id": 999}
    )
    assert missing_type.status_code == 404
    assert "X" not in [r["name"] for r in api.get("/api/v1/runbooks").json()["items"]]
    rid = _create(api)["id"]
    refused = api.patch(f"/api/v1/runbooks/{rid}", json={"body": "- [ ] x (role: wizard)"})
    assert refused.status_code == 422
    assert api.get(f"/api/v1/runbooks/{rid}").json()["current_version"] == 1


def test_attach_tick_untick(api: TestClient, db: Session, admin: User) -> None:
    rid = _create(api)["id"]
    inc = incident(db, admin)
    db.commit()
    url = f"/api/v1/incidents/{inc.reference}/runbooks"
    attached = api.post(url, json={"runbook_id": rid})
    assert attached.status_code == 201
    aid = attached.json()["id"]
    assert api.post(url, json={"runbook_id": rid}).status_code == 200  # already there
    ticked = api.put(f"{url}/{aid}/steps/1")
    assert ticked.status_code == 200
    first = ticked.json()["steps"][0]
    assert first["done"] and first["ticked_by"]["name"] == "Ada Admin" and first["ticked_at"]
    assert api.put(f"{url}/{aid}/steps/1").status_code == 200  # idempotent
    listed = api.get(url).json()["items"]
    assert [s["done"] for s in listed[0]["steps"]] == [True, False, False]
    assert api.delete(f"{url}/{aid}/steps/1").json()["steps"][0]["done"] is False
    assert api.put(f"{url}/{aid}/steps/9").status_code == 404
    assert api.put(f"{url}/99/steps/1").status_code == 404
    db.expire_all()
    assert len(timeline_kinds(db, inc, "runbook_step")) == 2


def test_deleted_runbook_is_not_attached(api: TestClient, db: Session, admin: User) -> None:
    rid = _create(api)["id"]
    api.delete(f"/api/v1/runbooks/{rid}")
    inc = incident(db, admin)
    db.commit()
    response = api.post(f"/api/v1/incidents/{inc.reference}/runbooks", json={"runbook_id": rid})
    assert response.status_code == 404
    assert api.get(f"/api/v1/incidents/{inc.reference}/runbooks").json()["items"] == []


def test_viewers_read_but_do_not_write(
    client: TestClient, api: TestClient, db: Session, viewer: User
) -> None:
    rid = _create(api)["id"]
    headers = api_as(client, db, viewer)
    assert client.get(f"/api/v1/runbooks/{rid}", headers=headers).status_code == 200
    refused = client.patch(f"/api/v1/runbooks/{rid}", json={"name": "Y"}, headers=headers)
    assert refused.status_code == 403
