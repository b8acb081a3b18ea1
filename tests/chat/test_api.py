"""The chat connections' JSON API: admins write, credentials are write-only, each connection
shows the URLs to give its chat service; a Matrix connection's registration; people's own
links."""

from __future__ import annotations

import json
from typing import Any

import pytest
import yaml
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.orm import Session

from tests.chat.connecting import BASE_URL, BODIES, SECRETS, loopback_settings
from tests.conftest import api_as
from tocsin.app import create_app
from tocsin.bootstrap import Container
from tocsin.catalog.models import User
from tocsin.chat import connections, people
from tocsin.config import Settings

URL = "/api/v1/chat/connections"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return loopback_settings(settings)


def _create(api: TestClient, vendor: str, **changes: Any) -> dict[str, Any]:
    response = api.post(URL, json={**BODIES[vendor], **changes})
    assert response.status_code == 201, response.text
    return dict(response.json())


def test_connections_are_created_listed_changed_and_deleted(api: TestClient) -> None:
    slack = _create(api, "slack", channel_severities=["SEV2", "sev1"], archive_after_minutes=60)
    assert slack["label"] == "Slack" and slack["enabled"] is True
    assert slack["channel_severities"] == ["SEV1", "SEV2"]  # by rank, names in any case
    assert slack["naming"] == "inc-{number}-{title}" and slack["archive_after_minutes"] == 60
    assert slack["inbound_urls"] == {
        route: f"{BASE_URL}/chat/{slack['id']}/{route}"
        for route in ("commands", "interactivity", "events")
    }
    mm = _create(api, "mattermost", channel_severities=[slack["channel_severity_ids"][0]])
    assert mm["channel_severities"] == ["SEV1"]
    assert list(mm["inbound_urls"].values()) == [
        f"{BASE_URL}/chat/{mm['id']}/{route}" for route in ("commands", "actions", "dialogs")
    ]
    matrix = _create(api, "matrix")
    assert matrix["inbound_urls"] == {"appservice": f"{BASE_URL}/chat/{matrix['id']}"}

    listed = api.get(URL, params={"limit": 2}).json()
    assert listed["total"] == 3 and [c["name"] for c in listed["items"]] == [
        "Acme Matrix",
        "Acme Mattermost",
    ]
    changed = api.patch(
        f"{URL}/{slack['id']}",
        json={
            "name": "Ops Slack",
            "enabled": False,
            "channel_severities": [],
            "naming": "{reference}",
        },
    )
    assert changed.status_code == 200, changed.text
    got = api.get(f"{URL}/{slack['id']}").json()
    assert (got["name"], got["enabled"], got["channel_severities"], got["naming"]) == (
        "Ops Slack", False, [], "{reference}",
    )  # fmt: skip
    assert api.delete(f"{URL}/{slack['id']}").status_code == 204
    assert api.get(f"{URL}/{slack['id']}").status_code == 404
    assert api.get(URL).json()["total"] == 2


def test_credentials_are_write_only_and_kept_when_left_out(
    api: TestClient, db: Session, settings: Settings
) -> None:
    slack = _create(api, "slack")
    mm = _create(api, "mattermost")
    assert slack["secrets_set"] == ["bot_token", "signing_secret"]
    # Mattermost's action secret is generated when not given.
    assert mm["secrets_set"] == ["action_secret", "bot_token", "command_token"]
    answers = [
        json.dumps([slack, mm]),
        api.get(URL).text,
        api.get(f"{URL}/{slack['id']}").text,
        api.patch(f"{URL}/{slack['id']}", json={"secrets": {"bot_token": ""}}).text,
        api.get("/settings/chat").text,
    ]
    for answer in answers:
        for secret in SECRETS:
            assert secret not in answer
    db.commit()
    for row in db.execute(text("SELECT secrets_encrypted FROM chat_connections")):
        assert not any(secret in row[0] for secret in SECRETS)
    stored = connections.secrets_of(connections.get_connection(db, slack["id"]), settings)
    assert stored["bot_token"] == BODIES["slack"]["secrets"]["bot_token"]  # kept
    api.patch(f"{URL}/{slack['id']}", json={"secrets": {"bot_token": "xoxb-new"}})
    db.commit()
    stored = connections.secrets_of(connections.get_connection(db, slack["id"]), settings)
    assert stored == {
        "bot_token": "xoxb-new",
        "signing_secret": BODIES["slack"]["secrets"]["signing_secret"],
    }


@pytest.mark.parametrize(
    ("changes", "status", "field"),
    [
        ({"team": "not a workspace"}, 422, "team"),
        ({"bot_user_id": "tocsin"}, 422, "bot_user_id"),
        ({"channel_severities": ["SEV9"]}, 422, "channel_severities"),
        ({"naming": "incident"}, 422, "naming"),
        ({"naming": "inc-{number}-{owner}"}, 422, "naming"),
        ({"base_url": "ftp://example.org"}, 422, "base_url"),
        ({"secrets": {"bot_token": "xoxb-only"}}, 422, "secrets.signing_secret"),
        ({"secrets": {"as_token": "x", "bot_token": "a", "signing_secret": "b"}}, 422, "secrets"),
        ({"archive_after_minutes": -1}, 422, "archive_after_minutes"),
        ({"enabled": "yes"}, 422, None),  # refused by the body's shape, before the service
        ({"vendor": "irc"}, 422, "vendor"),
        ({"channel_severities": [True]}, 422, None),
    ],
)
def test_invalid_connections_are_refused_with_the_field(
    api: TestClient, changes: dict[str, Any], status: int, field: str | None
) -> None:
    response = api.post(URL, json={**BODIES["slack"], **changes})
    assert response.status_code == status, response.text
    if field is not None:
        assert response.json()["error"].get("field") == field, response.text
    assert api.get(URL).json()["total"] == 0


def test_names_are_unique_and_the_vendor_cannot_change(api: TestClient) -> None:
    slack = _create(api, "slack")
    clash = api.post(URL, json={**BODIES["matrix"], "name": "Acme Slack"})
    assert clash.status_code == 409 and clash.json()["error"]["field"] == "name"
    assert api.patch(f"{URL}/{slack['id']}", json={"vendor": "matrix"}).status_code == 422
    assert api.patch(f"{URL}/{slack['id']}", json={"name": None}).status_code == 422


def test_the_outbound_guard_refuses_a_private_server(
    container: Container, db: Session, admin: User, settings: Settings
) -> None:
    guarded = create_app(
        settings.model_copy(update={"outbound_allow_private": False}), container=container
    )
    with TestClient(guarded) as client:
        response = client.post(URL, json=BODIES["mattermost"], headers=api_as(client, db, admin))
    assert response.status_code == 422, response.text
    assert response.json()["error"]["field"] == "base_url"
    assert "not a public internet address" in response.json()["error"]["message"]


def test_viewers_and_responders_read_but_do_not_change(
    api: TestClient, client: TestClient, db: Session, viewer: User, responder: User
) -> None:
    matrix = _create(api, "matrix")
    for user in (viewer, responder):
        headers = api_as(client, db, user)
        assert client.get(URL, headers=headers).status_code == 200
        assert client.get(f"{URL}/{matrix['id']}", headers=headers).json()["name"] == "Acme Matrix"
        assert client.post(URL, json=BODIES["slack"], headers=headers).status_code == 403
        patched = client.patch(f"{URL}/{matrix['id']}", json={"enabled": False}, headers=headers)
        assert patched.status_code == 403
        assert client.delete(f"{URL}/{matrix['id']}", headers=headers).status_code == 403
        registration = client.get(f"{URL}/{matrix['id']}/matrix-registration", headers=headers)
        assert registration.status_code == 403
        assert "as_token" not in registration.text
    assert api.get(f"{URL}/{matrix['id']}").json()["enabled"] is True


def test_the_matrix_registration_holds_the_tokens_and_the_appservice_url(
    api: TestClient, db: Session, settings: Settings
) -> None:
    matrix = _create(api, "matrix", secrets={"as_token": "as-given-token"})
    response = api.get(f"{URL}/{matrix['id']}/matrix-registration")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/yaml")
    reg = yaml.safe_load(response.text)
    stored = connections.secrets_of(connections.get_connection(db, matrix["id"]), settings)
    assert reg["url"] == f"{BASE_URL}/chat/{matrix['id']}"
    assert reg["as_token"] == "as-given-token" and reg["hs_token"] == stored["hs_token"]
    assert len(stored["hs_token"]) >= 32  # generated
    assert reg["sender_localpart"] == "tocsin"
    assert reg["namespaces"]["users"] == [{"exclusive": True, "regex": r"^@tocsin:example\.org$"}]
    slack = _create(api, "slack")
    assert api.get(f"{URL}/{slack['id']}/matrix-registration").status_code == 404
    assert api.get(f"{URL}/99999/matrix-registration").status_code == 404


def test_people_list_and_remove_their_own_links(
    api: TestClient, client: TestClient, db: Session, admin: User, responder: User
) -> None:
    slack = _create(api, "slack")
    connection = connections.get_connection(db, slack["id"])
    people.link(db, connection, "U0000RITA", responder, via="link")
    people.link(db, connection, "U0000ADA", admin, via="email")
    db.commit()
    headers = api_as(client, db, responder)
    mine = client.get("/api/v1/chat/links", headers=headers).json()
    assert mine["total"] == 1
    [link] = mine["items"]
    assert (link["connection_id"], link["connection_name"], link["vendor"]) == (
        slack["id"], "Acme Slack", "slack",
    )  # fmt: skip
    assert (link["chat_user_id"], link["via"]) == ("U0000RITA", "link")
    assert client.delete(f"/api/v1/chat/links/{slack['id']}", headers=headers).status_code == 204
    assert client.delete(f"/api/v1/chat/links/{slack['id']}", headers=headers).status_code == 404
    assert client.get("/api/v1/chat/links", headers=headers).json()["total"] == 0
    # The admin's own link is untouched.
    assert api.get("/api/v1/chat/links").json()["items"][0]["chat_user_id"] == "U0000ADA"
    db.expire_all()
    assert [i.chat_user_id for i in people.links_of(db, admin)] == ["U0000ADA"]
