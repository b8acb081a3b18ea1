"""Settings → Chat through its forms (CSRF in each), a person's chat links, and the one-time
page that links a chat user to the Tocsin account that opens it."""

from __future__ import annotations

from datetime import timedelta

import pytest
import yaml
from fastapi.testclient import TestClient
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from tests.chat.connecting import BASE_URL, BODIES, SECRETS, SLACK_TOKEN, loopback_settings
from tests.conftest import browser_login
from tocsin.catalog.models import User
from tocsin.chat import connections, people
from tocsin.chat.models import ChatConnection, ChatIdentity, ChatLinkRequest
from tocsin.config import Settings
from tocsin.db import utcnow
from tocsin.definitions import service as definitions


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return loopback_settings(settings)


def _connect(db: Session, settings: Settings, vendor: str) -> ChatConnection:
    connection = connections.create_connection(db, dict(BODIES[vendor]), settings=settings)
    db.commit()
    return connection


def _slack_form(csrf: str, **changes: str | list[str]) -> dict[str, str | list[str]]:
    body = BODIES["slack"]
    form: dict[str, str | list[str]] = {
        "csrf_token": csrf, "name": body["name"], "vendor": "slack",
        "base_url": body["base_url"], "team": body["team"], "bot_user_id": body["bot_user_id"],
        "naming": "inc-{number}", "archive_after_minutes": "90", "enabled": "on",
        "secret_bot_token": SLACK_TOKEN,
        "secret_signing_secret": body["secrets"]["signing_secret"],
    }  # fmt: skip
    form.update(changes)
    return form


def test_admins_add_edit_and_delete_connections_through_the_forms(
    client: TestClient, db: Session, admin: User, settings: Settings
) -> None:
    csrf = browser_login(client, admin.email)
    page = client.get("/settings/chat")
    assert page.status_code == 200
    assert 'href="/settings/chat" aria-current="page">Chat</a>' in page.text
    assert "No chat connected yet." in page.text
    sev1 = next(s for s in definitions.severities(db) if s.name == "SEV1")

    refused = client.post("/settings/chat", data={k: v for k, v in _slack_form(csrf).items()
                                                   if k != "csrf_token"})  # fmt: skip
    assert refused.status_code == 403
    wrong = client.post("/settings/chat", data=_slack_form(csrf, team="<b>nope</b>"))
    assert wrong.status_code == 422
    assert "team: the workspace id" in wrong.text and "&lt;b&gt;nope&lt;/b&gt;" in wrong.text
    assert SLACK_TOKEN not in wrong.text  # what was typed comes back, never the credentials

    form = _slack_form(csrf, channel_severities=[str(sev1.id)])
    added = client.post("/settings/chat", data=form, follow_redirects=False)
    assert added.status_code == 303, added.text
    db.commit()
    [connection] = connections.list_connections(db)
    assert (connection.naming, connection.archive_after_minutes, connection.enabled) == (
        "inc-{number}", 90, True,
    )  # fmt: skip
    assert connection.channel_severity_ids == [sev1.id]
    page = client.get("/settings/chat").text
    assert "Acme Slack connected." in page and "SEV1" in page
    for route in ("commands", "interactivity", "events"):
        assert f"<code>{BASE_URL}/chat/{connection.id}/{route}</code>" in page
    assert "Set. Leave empty to keep it." in page
    assert not any(secret in page for secret in SECRETS)

    # Edited with the credentials left empty: kept. The unticked box disables it.
    edit = {"csrf_token": csrf, "name": "Ops Slack", "base_url": connection.base_url,
            "team": connection.team, "bot_user_id": connection.bot_user_id,
            "naming": "{reference}", "archive_after_minutes": "0", "secret_bot_token": "",
            "secret_signing_secret": ""}  # fmt: skip
    saved = client.post(f"/settings/chat/{connection.id}", data=edit, follow_redirects=False)
    assert saved.status_code == 303
    db.commit()
    db.refresh(connection)
    assert (connection.name, connection.enabled, connection.channel_severity_ids) == (
        "Ops Slack", False, [],
    )  # fmt: skip
    assert connections.secrets_of(connection, settings)["bot_token"] == SLACK_TOKEN
    bad = client.post(f"/settings/chat/{connection.id}", data={**edit, "naming": "x"})
    assert "naming must contain {number} or {reference}" in bad.text

    deleted = client.post(
        f"/settings/chat/{connection.id}/delete", data={"csrf_token": csrf}, follow_redirects=False
    )
    assert deleted.status_code == 303
    db.commit()
    assert connections.list_connections(db) == []


def test_viewers_see_connections_and_urls_but_no_forms(
    client: TestClient, db: Session, viewer: User, settings: Settings
) -> None:
    connection = _connect(db, settings, "matrix")
    csrf = browser_login(client, viewer.email)
    page = client.get("/settings/chat").text
    assert "Acme Matrix" in page and f"<code>{BASE_URL}/chat/{connection.id}</code>" in page
    assert "Connect a chat service" not in page and "matrix-registration" not in page
    refused = client.post(
        f"/settings/chat/{connection.id}/delete", data={"csrf_token": csrf}, follow_redirects=False
    )
    assert refused.status_code == 403
    assert client.get(f"/settings/chat/{connection.id}/matrix-registration.yaml").status_code == 403


def test_admins_download_the_matrix_registration(
    client: TestClient, db: Session, admin: User, settings: Settings
) -> None:
    connection = _connect(db, settings, "matrix")
    browser_login(client, admin.email)
    page = client.get("/settings/chat").text
    link = f"/settings/chat/{connection.id}/matrix-registration.yaml"
    assert f'href="{link}"' in page
    download = client.get(link)
    assert download.status_code == 200
    assert "attachment" in download.headers["content-disposition"]
    reg = yaml.safe_load(download.text)
    stored = connections.secrets_of(connection, settings)
    assert (reg["as_token"], reg["hs_token"]) == (stored["as_token"], stored["hs_token"])
    assert reg["url"] == f"{BASE_URL}/chat/{connection.id}"


def test_a_chat_user_is_linked_by_opening_the_link_signed_in(
    client: TestClient, db: Session, responder: User, settings: Settings
) -> None:
    connection = _connect(db, settings, "slack")
    path = people.start_link(db, connection, "U0000RITA", "rita.s")
    db.commit()
    to_login = client.get(path, follow_redirects=False)
    assert to_login.status_code == 303
    assert to_login.headers["location"] == f"/login?next={path}"

    csrf = browser_login(client, responder.email)
    page = client.get(path)
    assert page.status_code == 200
    assert "Link the Slack user <strong>rita.s</strong> in Acme Slack" in page.text
    assert "your Tocsin account <strong>Rita Responder</strong>" in page.text
    assert client.post(path, data={}).status_code == 403  # no CSRF token
    done = client.post(path, data={"csrf_token": csrf})
    assert done.status_code == 200 and "is now linked" in done.text
    db.commit()
    linked = db.scalar(select(ChatIdentity).where(ChatIdentity.chat_user_id == "U0000RITA"))
    assert linked is not None and (linked.user_id, linked.via) == (responder.id, "link")

    used = client.post(path, data={"csrf_token": csrf})
    assert used.status_code == 404 and "already used" in used.text
    assert client.get(path).status_code == 404
    assert client.get("/chat/link/never-issued").status_code == 404

    expired = people.start_link(db, connection, "U0000OTHER")
    db.execute(update(ChatLinkRequest).values(expires_at=utcnow() - timedelta(minutes=1)))
    db.commit()
    late = client.get(expired)
    assert late.status_code == 404 and "expired" in late.text
    assert client.post(expired, data={"csrf_token": csrf}).status_code == 404
    db.commit()
    assert people.identity(db, connection, "U0000OTHER") is None


def test_people_see_and_unlink_their_own_links(
    client: TestClient, db: Session, admin: User, responder: User, settings: Settings
) -> None:
    connection = _connect(db, settings, "mattermost")
    people.link(db, connection, "rita-mm", responder, via="email")
    people.link(db, connection, "ada-mm", admin, via="link")
    db.commit()
    csrf = browser_login(client, responder.email)
    page = client.get("/chat/links").text
    assert "Acme Mattermost" in page and "rita-mm" in page and "ada-mm" not in page
    done = client.post(f"/chat/links/{connection.id}/unlink", data={"csrf_token": csrf})
    assert done.status_code == 200 and "Unlinked from Acme Mattermost." in done.text
    assert "No chat account is linked to yours." in done.text
    db.commit()
    assert [i.chat_user_id for i in people.links_of(db, admin)] == ["ada-mm"]
    assert people.links_of(db, responder) == []
