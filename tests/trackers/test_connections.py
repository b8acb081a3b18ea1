"""Tracker connections: admins add them; credentials are stored encrypted and never shown back."""

from __future__ import annotations

import json

from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.orm import Session

from tests.conftest import api_as, browser_login
from tests.trackers import fake as vendors
from tests.trackers.conftest import WEBHOOK_SECRET, connect
from tocsin.catalog.models import User
from tocsin.config import Settings
from tocsin.crypto import Undecryptable, Vault

SECRETS = (vendors.JIRA_TOKEN, WEBHOOK_SECRET)


def test_credentials_are_write_only_and_encrypted_at_rest(
    api: TestClient, db: Session, tracker: vendors.Fake, settings: Settings
) -> None:
    made = connect(api, tracker, "jira")
    assert made["credential_set"] is True and made["webhook_secret_set"] is True
    assert made["webhook_url"] == f"http://tocsin.test/api/v1/trackers/{made['id']}/webhook"
    answers = [
        json.dumps(made),
        api.get("/api/v1/trackers").text,
        api.get(f"/api/v1/trackers/{made['id']}").text,
        api.patch(f"/api/v1/trackers/{made['id']}", json={"name": "Ops Jira"}).text,
        api.get("/settings/trackers").text,
    ]
    for answer in answers:
        for secret in SECRETS:
            assert secret not in answer
    db.commit()
    row = db.execute(
        text("SELECT credential_encrypted, webhook_secret_encrypted FROM tracker_connections")
    ).one()
    for column, secret in zip(row, SECRETS, strict=True):
        assert secret not in column and column
        assert Vault.from_settings(settings, "trackers").decrypt(column) == secret
    # Another install's key, or another purpose's, cannot read them.
    other = settings.model_copy(update={"secret_key": "another-secret"})
    for vault in (Vault.from_settings(other, "trackers"), Vault.from_settings(settings, "chat")):
        try:
            vault.decrypt(row[0])
        except Undecryptable:
            pass
        else:
            raise AssertionError("decrypted under the wrong key")


def test_an_empty_credential_keeps_the_stored_one_and_a_new_one_replaces_it(
    api: TestClient, db: Session, tracker: vendors.Fake, settings: Settings
) -> None:
    made = connect(api, tracker, "github")
    url = f"/api/v1/trackers/{made['id']}"
    db.commit()
    before = db.execute(text("SELECT credential_encrypted FROM tracker_connections")).scalar()
    assert api.patch(url, json={"credential": ""}).status_code == 200
    db.commit()
    assert (
        db.execute(text("SELECT credential_encrypted FROM tracker_connections")).scalar() == before
    )
    assert (
        api.patch(url, json={"credential": "new-token", "clear_webhook_secret": True}).json()[
            "webhook_secret_set"
        ]
        is False
    )
    db.commit()
    stored = db.execute(text("SELECT credential_encrypted FROM tracker_connections")).scalar()
    assert Vault.from_settings(settings, "trackers").decrypt(str(stored)) == "new-token"


def test_bad_connections_are_refused_with_the_field(
    api: TestClient, tracker: vendors.Fake, client: TestClient, settings: Settings
) -> None:
    base = {"name": "T", "base_url": tracker.url, "credential": "t"}
    cases = [
        ({**base, "kind": "github", "project": "not a repo"}, "project"),
        ({**base, "kind": "jira", "project": "OPS"}, "account"),
        ({**base, "kind": "jira", "project": "ops-lower", "account": "a@example.com"}, "project"),
        ({**base, "kind": "gitlab", "project": "a/b", "base_url": "ftp://x"}, "base_url"),
    ]
    for body, field in cases:
        response = api.post("/api/v1/trackers", json=body)
        assert response.status_code == 422, response.text
        assert response.json()["error"].get("field") == field, response.text
    connect(api, tracker, "github")
    same_name = {**base, "kind": "github", "project": "a/b", "name": "github tracker"}
    assert api.post("/api/v1/trackers", json=same_name).status_code == 409


def test_the_outbound_guard_refuses_a_private_tracker_unless_allowed(
    api: TestClient, tracker: vendors.Fake, client: TestClient, settings: Settings
) -> None:
    client.app.state.settings = settings.model_copy(update={"outbound_allow_private": False})  # type: ignore[attr-defined]
    body = {
        "name": "T",
        "kind": "gitlab",
        "base_url": tracker.url,
        "project": "a/b",
        "credential": "t",
    }
    response = api.post("/api/v1/trackers", json=body)
    assert response.status_code == 422
    assert "not a public internet address" in response.json()["error"]["message"]


def test_only_admins_change_connections(
    api: TestClient, client: TestClient, db: Session, responder: User, tracker: vendors.Fake
) -> None:
    made = connect(api, tracker, "linear")
    as_responder = api_as(client, db, responder)
    assert client.get("/api/v1/trackers", headers=as_responder).status_code == 200
    body = {"name": "x"}
    assert (
        client.patch(f"/api/v1/trackers/{made['id']}", json=body, headers=as_responder).status_code
        == 403
    )
    assert client.delete(f"/api/v1/trackers/{made['id']}", headers=as_responder).status_code == 403
    assert api.delete(f"/api/v1/trackers/{made['id']}").status_code == 204
    assert api.get(f"/api/v1/trackers/{made['id']}").status_code == 404


def test_the_settings_page_adds_a_connection_with_csrf_and_escapes_what_people_typed(
    client: TestClient, admin: User, tracker: vendors.Fake
) -> None:
    csrf = browser_login(client, admin.email)
    form = {
        "name": "<script>alert(1)</script>",
        "kind": "gitlab",
        "base_url": tracker.url,
        "project": "acme/platform",
        "credential": vendors.GITLAB_TOKEN,
    }
    refused = client.post("/settings/trackers", data=form, follow_redirects=False)
    assert refused.status_code == 403  # no CSRF token
    added = client.post(
        "/settings/trackers", data={**form, "csrf_token": csrf}, follow_redirects=False
    )
    assert added.status_code == 303, added.text
    page = client.get("/settings/trackers").text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "<script>alert(1)" not in page
    assert vendors.GITLAB_TOKEN not in page and "token set" in page
    bad = client.post(
        "/settings/trackers",
        data={**form, "name": "Other", "project": "bad project!", "csrf_token": csrf},
    )
    assert bad.status_code == 422 and "project" in bad.text
    assert vendors.GITLAB_TOKEN not in bad.text  # not even echoed in the form
