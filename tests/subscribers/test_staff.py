"""Staff see a page's subscribers with their delivery state and act on them, in the UI and
through the REST API; viewers do not see subscribers (personal data)."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.conftest import api_as, browser_login
from tests.notify.conftest import Receiver, SmtpServer
from tests.subscribers.conftest import (
    Acme,
    active,
    change_component,
    fresh,
    run_jobs,
    subscribe,
)
from tocsin.bootstrap import Container
from tocsin.catalog.models import User
from tocsin.config import Settings
from tocsin.subscribers import service
from tocsin.subscribers.models import Subscriber


def _by_address(db: Session) -> dict[str, Subscriber]:
    fresh(db)
    return {s.address: s for s in db.scalars(select(Subscriber))}


def test_the_list_shows_every_state_and_masks_webhook_secrets(
    client: TestClient, db: Session, container: Container, receiver: Receiver, acme: Acme,
    settings: Settings, admin: User, responder: User,
) -> None:  # fmt: skip
    subscribe(client, email="pending@example.com")
    hook = active(
        db, acme.page, settings, admin,
        endpoint=f"{receiver.url}/hooks/abcdefghijklmnopqrstuvwxyz123456?key=topsecret",
        components=[acme.api],
    )  # fmt: skip
    gone = active(db, acme.page, settings, admin, email="gone@example.com")
    service.unsubscribe(db, db.get(Subscriber, gone.id))
    broken = active(db, acme.page, settings, admin, endpoint=f"{receiver.url}/broken")
    service.quarantine(db, db.get(Subscriber, broken.id), reason="HTTP 500 since Monday",
                       tell_owner=False)  # fmt: skip
    db.commit()
    change_component(db, acme.api, "partial_outage")
    db.commit()
    run_jobs(container)

    browser_login(client, responder.email)
    page = client.get(f"/status-pages/{acme.page.id}/subscribers")
    assert page.status_code == 200
    html = page.text
    assert "topsecret" not in html and "abcdefghijklmnop" not in html
    assert f"http://127.0.0.1:{receiver.port}/hooks/abcd…?…" in html
    for state in ("unconfirmed", "active", "quarantined", "unsubscribed"):
        assert f'class="badge sub-{state}"' in html
    assert "HTTP 500 since Monday" in html
    assert "HTTP 200" in html  # the webhook's last delivery and its result
    assert "Re-activate" in html and "Resend confirmation" in html
    only = client.get(f"/status-pages/{acme.page.id}/subscribers?state=quarantined").text
    assert "/broken" in only and "pending@example.com" not in only

    detail = client.get(f"/status-pages/{acme.page.id}/subscribers/{hook.id}")
    assert detail.status_code == 200
    assert "component update" in detail.text and "HTTP 200" in detail.text
    assert "topsecret" not in detail.text


def test_viewers_see_no_subscribers(
    client: TestClient, db: Session, acme: Acme, viewer: User
) -> None:
    browser_login(client, viewer.email)
    assert client.get(f"/status-pages/{acme.page.id}/subscribers").status_code == 403
    headers = api_as(client, db, viewer)
    url = f"/api/v1/status-pages/{acme.page.id}/subscribers"
    assert client.get(url, headers=headers).status_code == 403
    response = client.post(url, headers=headers, json={"email": "x@example.com"})
    assert response.status_code == 403


def _csrf(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found is not None
    return found.group(1)


def test_staff_actions_in_the_ui(
    client: TestClient, db: Session, container: Container, smtp: SmtpServer, acme: Acme,
    settings: Settings, admin: User, responder: User,
) -> None:  # fmt: skip
    broken = active(db, acme.page, settings, admin, endpoint="http://127.0.0.1:9/broken")
    service.quarantine(db, db.get(Subscriber, broken.id), reason="down", tell_owner=False)
    db.commit()
    browser_login(client, responder.email)
    client.follow_redirects = False
    base = f"/status-pages/{acme.page.id}/subscribers"
    csrf = _csrf(client.get(base).text)

    # A responder adds an address: it gets the confirmation mail, nothing else.
    added = client.post(
        base,
        data={"csrf_token": csrf, "mode": "email", "email": "new@example.com",
              "components": [acme.database.public_id]},
    )  # fmt: skip
    assert added.status_code == 303
    assert _by_address(db)["new@example.com"].state == "unconfirmed"
    # Skipping the confirmation is for admins.
    refused = client.post(
        base,
        data={"csrf_token": csrf, "mode": "email", "email": "skip@example.com",
              "skip_confirmation": "on"},
    )  # fmt: skip
    assert refused.status_code == 403 and "only admins" in refused.text
    assert "skip@example.com" not in _by_address(db)
    bad = client.post(base, data={"csrf_token": csrf, "mode": "email", "email": "nope"})
    assert bad.status_code == 422 and "not a valid address" in bad.text

    new = _by_address(db)["new@example.com"]
    again = client.post(f"{base}/{new.id}/resend", data={"csrf_token": csrf})
    assert again.status_code == 303 and "recently" in client.get(base).text
    new.confirmation_sent_at = None
    db.commit()
    assert client.post(f"{base}/{new.id}/resend", data={"csrf_token": csrf}).status_code == 303
    db.rollback()
    run_jobs(container)
    assert [str(m["To"]) for m in smtp.messages] == ["new@example.com", "new@example.com"]

    assert (
        client.post(f"{base}/{broken.id}/reactivate", data={"csrf_token": csrf}).status_code == 303
    )
    assert _by_address(db)["http://127.0.0.1:9/broken"].state == "active"
    assert client.post(f"{base}/{new.id}/remove", data={"csrf_token": csrf}).status_code == 303
    assert "new@example.com" not in _by_address(db)
    # Without the CSRF token nothing happens.
    assert client.post(f"{base}/{broken.id}/remove").status_code == 403
    assert "http://127.0.0.1:9/broken" in _by_address(db)


def test_the_rest_api(
    client: TestClient, db: Session, container: Container, smtp: SmtpServer, acme: Acme,
    receiver: Receiver, admin: User, responder: User,
) -> None:  # fmt: skip
    as_admin, as_responder = api_as(client, db, admin), api_as(client, db, responder)
    url = f"/api/v1/status-pages/{acme.page.id}/subscribers"

    created = client.post(
        url, headers=as_responder,
        json={"email": "Api@Example.com", "component_ids": [acme.api.public_id]},
    )  # fmt: skip
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["address"] == "api@example.com" and body["state"] == "unconfirmed"
    assert body["scope"] == "components" and body["component_ids"] == [acme.api.public_id]
    assert body["confirmation_sent_at"] is not None

    skip = {"email": "vip@example.com", "skip_confirmation": True}
    assert client.post(url, headers=as_responder, json=skip).status_code == 403
    vip = client.post(url, headers=as_admin, json=skip)
    assert vip.status_code == 201 and vip.json()["state"] == "active"
    assert vip.json()["scope"] == "page" and vip.json()["component_ids"] == []

    duplicate = client.post(url, headers=as_admin, json={"email": "vip@example.com"})
    assert duplicate.status_code == 409
    for payload, field in [
        ({"email": "a@example.com", "endpoint": "https://example.com/"}, "email"),
        ({"email": "a@example.com", "component_ids": ["missing"]}, "component_ids"),
        ({"endpoint": "gopher://example.com"}, "endpoint"),
        ({"email": "a@example.com", "unknown": 1}, "unknown"),
    ]:
        response = client.post(url, headers=as_admin, json=payload)
        assert response.status_code == 422, payload
        assert field in str(response.json()["error"]), payload

    hook = client.post(url, headers=as_admin, json={"endpoint": f"{receiver.url}/h?t=secret"})
    assert hook.status_code == 201
    assert hook.json()["state"] == "active" and "secret" not in hook.json()["address"]

    listed = client.get(url, headers=as_responder, params={"limit": 2})
    assert listed.status_code == 200
    assert listed.json()["total"] == 3 and len(listed.json()["items"]) == 2
    actives = client.get(url, headers=as_responder, params={"state": "active"}).json()
    assert {s["address"] for s in actives["items"]} == {
        "vip@example.com", f"http://127.0.0.1:{receiver.port}/h?…",
    }  # fmt: skip
    assert client.get(url, headers=as_responder, params={"state": "bogus"}).status_code == 422

    sub_id = body["id"]
    assert client.get(f"{url}/{sub_id}", headers=as_responder).json()["id"] == sub_id
    db.rollback()
    run_jobs(container)
    deliveries = client.get(f"{url}/{sub_id}/deliveries", headers=as_responder).json()
    assert [(d["kind"], d["state"]) for d in deliveries] == [("confirmation", "sent")]

    resend = client.post(f"{url}/{sub_id}/resend-confirmation", headers=as_responder)
    assert resend.status_code == 409 and "recently" in resend.json()["error"]["message"]
    hook_id = hook.json()["id"]
    assert client.post(f"{url}/{hook_id}/reactivate", headers=as_responder).status_code == 409
    service.quarantine(db, db.get(Subscriber, hook_id), reason="x", tell_owner=False)
    db.commit()
    again = client.post(f"{url}/{hook_id}/reactivate", headers=as_responder)
    assert again.status_code == 200 and again.json()["state"] == "active"

    assert client.delete(f"{url}/{sub_id}", headers=as_responder).status_code == 204
    assert client.get(f"{url}/{sub_id}", headers=as_responder).status_code == 404
    assert client.get("/api/v1/status-pages/999/subscribers", headers=as_admin).status_code == 404


def test_the_rest_api_and_the_ui_refuse_webhooks_to_inside_addresses(
    client: TestClient, db: Session, acme: Acme, admin: User, settings: Settings
) -> None:
    """The outbound guard as installed (the fixture allows loopback for the receivers)."""
    client.app.state.settings = settings.model_copy(update={"outbound_allow_private": False})
    as_admin = api_as(client, db, admin)
    url = f"/api/v1/status-pages/{acme.page.id}/subscribers"
    for endpoint in (
        "http://100.100.100.200/",
        "http://[2002:7f00:1::1]/hook",
        "http://[64:ff9b::7f00:1]/hook",
        "http://localhost:9/hook",
    ):
        response = client.post(url, headers=as_admin, json={"endpoint": endpoint})
        assert response.status_code == 422, endpoint
        error = response.json()["error"]
        assert error["field"] == "endpoint" and "not a public internet address" in error["message"]
    csrf = browser_login(client, admin.email)
    response = client.post(
        f"/status-pages/{acme.page.id}/subscribers",
        data={"csrf_token": csrf, "mode": "webhook", "endpoint": "http://100.100.100.200/"},
    )
    assert "not a public internet address" in response.text
    assert _by_address(db) == {}
