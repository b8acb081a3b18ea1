"""The REST API and the Settings pages: create (the secret once), refuse private addresses,
change, test, the delivery log, delete; admins only."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from tests.conftest import api_as, browser_login
from tests.webhooks.conftest import Receiver, run_jobs
from tocsin.bootstrap import Container
from tocsin.catalog.models import User
from tocsin.config import Settings
from tocsin.errors import ValidationFailed
from tocsin.incidents import service as incidents
from tocsin.webhooks import service as webhooks


def test_a_private_address_is_refused_unless_allowed(
    db: Session, admin: User, settings: Settings
) -> None:
    strict = settings.model_copy(update={"outbound_allow_private": False})
    for url in ("http://127.0.0.1:8080/hook", "http://10.1.2.3/", "http://169.254.169.254/"):
        with pytest.raises(ValidationFailed) as refused:
            webhooks.create_subscription(
                db, {"name": "x", "url": url, "events": ["incident.declared"]}, settings=strict
            )
        assert refused.value.field == "url"
        assert "not a public internet address" in refused.value.message
    db.rollback()
    allowed = settings.model_copy(
        update={"outbound_allow_private": False, "outbound_allow_cidrs": "127.0.0.0/8"}
    )
    created, _ = webhooks.create_subscription(
        db, {"name": "x", "url": "http://127.0.0.1:8080/hook", "events": ["incident.declared"]},
        settings=allowed,
    )  # fmt: skip
    assert created.id


def test_the_api_refuses_a_private_address_with_a_clear_422(
    app,
    db: Session,
    admin: User,
    settings: Settings,  # type: ignore[no-untyped-def]
) -> None:
    app.state.settings = settings.model_copy(update={"outbound_allow_private": False})
    with TestClient(app) as client:
        client.headers.update(api_as(client, db, admin))
        response = client.post(
            "/api/v1/webhooks",
            json={"name": "x", "url": "http://192.168.1.10/hook", "events": ["incident.declared"]},
        )
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["field"] == "url"
    assert "192.168.1.10" in error["message"]


def test_crud_test_event_and_delivery_log(
    api: TestClient,
    db: Session,
    admin: User,
    responder: User,
    container: Container,
    receiver: Receiver,
) -> None:
    created = api.post(
        "/api/v1/webhooks",
        json={
            "name": "Warehouse",
            "url": receiver.url("/secret-token"),
            "events": ["incident.declared"],
        },
    )
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["signing_secret"].startswith("whsec_")
    assert body["url"] == f"http://127.0.0.1:{receiver.port}/…"  # the token in the path masked
    ident = body["id"]
    got = api.get(f"/api/v1/webhooks/{ident}").json()
    assert "signing_secret" not in got
    assert api.get("/api/v1/webhooks").json()["total"] == 1
    assert len(api.get("/api/v1/webhook-events").json()) == 19

    # The masked URL sent back keeps the stored one.
    patched = api.patch(
        f"/api/v1/webhooks/{ident}", json={"url": body["url"], "include_drills": True}
    )
    assert patched.status_code == 200 and patched.json()["include_drills"] is True
    assert api.patch(f"/api/v1/webhooks/{ident}", json={"events": []}).status_code == 422
    assert api.patch(f"/api/v1/webhooks/{ident}", json={"severity_ids": [9999]}).status_code == 404

    queued = api.post(f"/api/v1/webhooks/{ident}/test")
    assert queued.status_code == 202 and queued.json()["state"] == "queued"
    run_jobs(container)
    [received] = receiver.requests
    assert received.path == "/secret-token"
    assert received.json()["event"] == "webhook.test"
    log = api.get(f"/api/v1/webhooks/{ident}/deliveries").json()
    assert log["total"] == 1
    assert log["items"][0]["state"] == "sent" and log["items"][0]["http_status"] == 200

    rotated = api.post(f"/api/v1/webhooks/{ident}/rotate-secret").json()["signing_secret"]
    assert rotated != body["signing_secret"]

    assert api.get("/api/v1/webhooks", headers=api_as(api, db, responder)).status_code == 403
    assert api.delete(f"/api/v1/webhooks/{ident}").status_code == 204
    assert api.get(f"/api/v1/webhooks/{ident}").status_code == 404


def test_the_settings_pages(
    client: TestClient,
    db: Session,
    admin: User,
    container: Container,
    receiver: Receiver,
) -> None:
    csrf = browser_login(client, admin.email)
    form = {
        "csrf_token": csrf,
        "name": "<script>alert(1)</script>",
        "url": receiver.url(),
        "events": ["incident.declared", "incident.resolved"],
        "enabled": "on",
    }
    page = client.post("/settings/webhooks", data=form)
    assert page.status_code == 201, page.text
    assert "whsec_" in page.text and "it will not be shown again" in page.text
    assert "<script>alert(1)</script>" not in page.text
    assert "&lt;script&gt;" in page.text
    assert page.headers["cache-control"] == "no-store"
    [subscription] = webhooks.list_subscriptions(db)
    db.commit()  # no read transaction left open while the server writes (SQLite)

    refused = client.post("/settings/webhooks", data={**form, "name": "other", "events": []})
    assert refused.status_code == 422 and "at least one event kind" in refused.text

    no_csrf = client.post(f"/settings/webhooks/{subscription.id}/test", follow_redirects=False)
    assert no_csrf.status_code == 403
    sent = client.post(
        f"/settings/webhooks/{subscription.id}/test", data={"csrf_token": csrf},
        follow_redirects=False,
    )  # fmt: skip
    assert sent.status_code == 303
    incidents.declare(db, by=admin, title="Seen in the log")
    db.commit()
    run_jobs(container)
    detail = client.get(f"/settings/webhooks/{subscription.id}")
    assert detail.status_code == 200
    assert "webhook.test" in detail.text and "incident.declared" in detail.text
    assert ">200<" in detail.text

    saved = client.post(
        f"/settings/webhooks/{subscription.id}",
        data={**form, "url": webhooks.display_url(subscription.url), "events": ["incident.closed"]},
        follow_redirects=False,
    )
    assert saved.status_code == 303
    db.expire_all()
    assert subscription.events == ["incident.closed"]
    assert subscription.url == receiver.url()  # the masked value kept it
    db.commit()

    deleted = client.post(
        f"/settings/webhooks/{subscription.id}/delete", data={"csrf_token": csrf},
        follow_redirects=False,
    )  # fmt: skip
    assert deleted.status_code == 303
    assert webhooks.list_subscriptions(db) == []
