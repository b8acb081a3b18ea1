"""API token scopes, expiry and the audit of tokens, through the real routes."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from tocsin.audit.models import AuditRecord
from tocsin.auth import scopes
from tocsin.auth.models import ApiToken, ApiTokenAddress
from tocsin.catalog.models import Team, User
from tocsin.db import utcnow
from tocsin.incidents.models import Incident
from tocsin.web.forms import FLASH_COOKIE

from ..conftest import browser_login, token_for

WRITE_METHODS = {"post", "put", "patch", "delete"}


def _token(api: TestClient, *wanted: str, **extra: Any) -> tuple[dict[str, Any], str]:
    made = api.post("/api/v1/tokens", json={"name": "scoped", "scopes": list(wanted), **extra})
    assert made.status_code == 201, made.text
    body = made.json()
    return body["token"], body["secret"]


def _bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


def _records(db: Session, action: str) -> list[AuditRecord]:
    db.rollback()  # see what the server committed since
    query = select(AuditRecord).where(AuditRecord.action == action).order_by(AuditRecord.id)
    return list(db.scalars(query))


def test_every_api_route_is_classified(app: FastAPI) -> None:
    """A write under /api/v1 that no rule classifies is refused to every token: this fails
    until the new route gets its scope in auth/scopes.py."""
    paths = app.openapi()["paths"]
    unclassified, writes = [], 0
    for path, operations in paths.items():
        if not path.startswith("/api/v1/"):
            continue
        for method in operations:
            if method not in WRITE_METHODS:
                continue
            writes += 1
            try:
                assert scopes.needed(method.upper(), path) in scopes.ALL_SCOPES
            except scopes.Unclassified:
                unclassified.append(f"{method.upper()} {path}")
    assert writes > 150  # the whole API was enumerated
    assert not unclassified, f"give these routes a scope in auth/scopes.py: {unclassified}"


def test_an_unclassified_route_is_refused_to_tokens() -> None:
    with pytest.raises(scopes.Unclassified):
        scopes.needed("POST", "/api/v1/something-new")
    assert scopes.needed("GET", "/api/v1/something-new") is scopes.Scope.read
    assert scopes.needed("POST", "/incidents/INC-1/notes") is None  # a form: not for tokens
    assert scopes.needed("POST", "/api/v1/services/3/maintenance-windows") == "ingestion"
    assert scopes.needed("PATCH", "/api/v1/services/3") == "configuration"
    assert scopes.needed("POST", "/api/v1/incidents/INC-4/notes") == "incidents"


def test_read_only_token_reads_but_its_write_is_refused_and_recorded(
    api: TestClient, db: Session, admin: User
) -> None:
    token, secret = _token(api, "read")
    assert token["scopes"] == ["read"]
    assert api.get("/api/v1/incidents", headers=_bearer(secret)).status_code == 200

    refused = api.post("/api/v1/incidents", json={"title": "Nope"}, headers=_bearer(secret))

    assert refused.status_code == 403
    assert "incidents" in refused.json()["error"]["message"]
    db.rollback()
    assert db.scalar(select(func.count(Incident.id))) == 0
    [record] = _records(db, "token.refused")
    assert record.outcome == "refused"
    assert record.actor_id == admin.id and record.token_id == token["id"]
    assert record.via == "token"
    detail = json.loads(record.detail)
    assert detail == {
        "reason": "scope",
        "scope_needed": "incidents",
        "method": "POST",
        "path": "/api/v1/incidents",
    }


@pytest.mark.parametrize(
    ("scope", "allowed", "refused"),
    [
        ("incidents", ("POST", "/api/v1/incidents"), ("POST", "/api/v1/teams")),
        ("configuration", ("POST", "/api/v1/teams"), ("POST", "/api/v1/incidents")),
        ("ingestion", ("POST", "/api/v1/services/{service}/maintenance-windows"),
         ("POST", "/api/v1/teams")),
    ],
)  # fmt: skip
def test_each_scope_allows_its_routes_and_no_others(
    api: TestClient,
    db: Session,
    scope: str,
    allowed: tuple[str, str],
    refused: tuple[str, str],
) -> None:
    service = api.post("/api/v1/services", json={"name": "Checkout"}).json()["id"]
    bodies = {
        "/api/v1/incidents": {"title": "Checkout down"},
        "/api/v1/teams": {"name": "Payments"},
        "/api/v1/services/{service}/maintenance-windows": {"minutes": 30, "reason": "deploy"},
    }
    _, secret = _token(api, scope)

    method, path = allowed
    ok = api.request(
        method, path.format(service=service), json=bodies[path], headers=_bearer(secret)
    )
    assert ok.status_code == 201, ok.text

    method, path = refused
    teams_before = db.scalar(select(func.count(Team.id)))
    no = api.request(
        method, path.format(service=service), json=bodies[path], headers=_bearer(secret)
    )
    assert no.status_code == 403
    assert f"“{scopes.needed(method, path)}” scope" in no.json()["error"]["message"]
    db.rollback()
    assert db.scalar(select(func.count(Team.id))) == teams_before
    # Without `read`, a write scope cannot read.
    assert api.get("/api/v1/incidents", headers=_bearer(secret)).status_code == 403


def test_a_token_cannot_make_a_token_with_more_than_it_has(api: TestClient, db: Session) -> None:
    mine, secret = _token(
        api, "read", "configuration", expires_at=(utcnow() + timedelta(days=2)).isoformat()
    )

    wider = api.post(
        "/api/v1/tokens",
        json={"name": "wider", "scopes": ["read", "incidents"]},
        headers=_bearer(secret),
    )
    assert wider.status_code == 403 and "incidents" in wider.json()["error"]["message"]

    inherited = api.post("/api/v1/tokens", json={"name": "child"}, headers=_bearer(secret))
    assert inherited.status_code == 201
    child = inherited.json()["token"]
    assert child["scopes"] == ["read", "configuration"]
    assert child["expires_at"] == mine["expires_at"]  # not outliving its maker


def test_unknown_scope_is_a_clear_422(api: TestClient) -> None:
    response = api.post("/api/v1/tokens", json={"name": "x", "scopes": ["admin"]})
    assert response.status_code == 422
    empty = api.post("/api/v1/tokens", json={"name": "x", "scopes": []})
    assert empty.status_code == 422 and empty.json()["error"]["field"] == "scopes"


def test_expired_token_is_refused_and_recorded(api: TestClient, db: Session) -> None:
    token, secret = _token(api, "read", expires_at=(utcnow() + timedelta(minutes=5)).isoformat())
    assert api.get("/api/v1/incidents", headers=_bearer(secret)).status_code == 200
    db.rollback()
    # Time passes: the token's last day is behind it.
    db.execute(
        update(ApiToken)
        .where(ApiToken.id == token["id"])
        .values(expires_at=utcnow() - timedelta(seconds=1))
    )
    db.commit()

    response = api.get("/api/v1/incidents", headers=_bearer(secret))

    assert response.status_code == 401
    assert "expired" in response.json()["error"]["message"]
    [record] = _records(db, "token.refused")
    assert json.loads(record.detail)["reason"] == "expired"


def test_creating_and_revoking_are_recorded_without_the_secret(
    api: TestClient, db: Session, admin: User
) -> None:
    token, secret = _token(api, "read", "incidents")
    assert api.delete(f"/api/v1/tokens/{token['id']}").status_code == 200
    assert api.get("/api/v1/incidents", headers=_bearer(secret)).status_code == 401

    created = [r for r in _records(db, "token.created") if r.target_id == str(token["id"])]
    [revoked] = _records(db, "token.revoked")
    assert len(created) == 1
    detail = json.loads(created[0].detail)
    assert detail["scopes"] == ["incidents", "read"]
    assert detail["prefix"] == token["prefix"] and detail["owner_id"] == admin.id
    assert created[0].actor_id == admin.id and created[0].via == "token"
    assert revoked.target_id == str(token["id"]) and revoked.actor_id == admin.id
    for row in (*created, revoked):
        assert secret not in row.detail and secret[10:] not in row.detail


def test_first_use_from_a_new_address_is_recorded_once(
    live_server: str, db: Session, admin: User
) -> None:
    secret = token_for(db, admin)
    token_id = db.scalar(select(ApiToken.id).where(ApiToken.user_id == admin.id))

    def get(local: str) -> httpx.Response:
        transport = httpx.HTTPTransport(local_address=local)
        with httpx.Client(base_url=live_server, transport=transport, timeout=15) as http:
            return http.get("/api/v1/incidents", headers=_bearer(secret))

    for local in ("127.0.0.1", "127.0.0.1", "127.0.0.2", "127.0.0.1", "127.0.0.2"):
        assert get(local).status_code == 200

    records = [r for r in _records(db, "token.new_address") if r.target_id == str(token_id)]
    assert [json.loads(r.detail)["network"] for r in records] == ["127.0.0.1", "127.0.0.2"]
    assert [r.address for r in records] == ["127.0.0.1", "127.0.0.2"]
    seen = db.scalars(select(ApiTokenAddress.network).where(ApiTokenAddress.token_id == token_id))
    assert sorted(seen) == ["127.0.0.1", "127.0.0.2"]
    listed = httpx.get(f"{live_server}/api/v1/tokens", headers=_bearer(secret)).json()["items"]
    assert listed[0]["last_used_address"] == "127.0.0.1"
    assert listed[0]["last_used_at"] is not None


def test_a_browser_session_has_no_scope_limit(client: TestClient, db: Session, admin: User) -> None:
    csrf = browser_login(client, admin.email)
    made = client.post("/api/v1/teams", json={"name": "Payments"}, headers={"X-CSRF-Token": csrf})
    assert made.status_code == 201


def test_a_token_cannot_post_the_html_forms(api: TestClient, db: Session) -> None:
    _, secret = _token(api, "read", "incidents", "configuration", "ingestion")
    response = api.post(
        "/settings/tokens", data={"name": "sneaky"}, headers=_bearer(secret), follow_redirects=False
    )
    assert response.status_code == 403
    db.rollback()
    assert db.scalar(select(func.count(ApiToken.id)).where(ApiToken.name == "sneaky")) == 0


def test_the_tokens_page_creates_a_scoped_expiring_token(
    client: TestClient, db: Session, admin: User
) -> None:
    csrf = browser_login(client, admin.email)
    page = client.get("/settings/tokens")
    for scope in scopes.Scope:
        assert f'name="scopes" value="{scope.value}"' in page.text
    last_day = (utcnow() + timedelta(days=30)).date().isoformat()

    made = client.post(
        "/settings/tokens",
        data={
            "csrf_token": csrf,
            "name": "Grafana",
            "scopes": ["read", "ingestion"],
            "expires_on": last_day,
        },
    )

    assert made.status_code == 201
    assert "tcs_" in made.text
    db.rollback()
    token = db.scalar(select(ApiToken).where(ApiToken.name == "Grafana"))
    assert token is not None
    assert token.scopes == "read ingestion"
    assert token.expires_at is not None and token.expires_at.date().isoformat() == last_day
    none_ticked = client.post(
        "/settings/tokens",
        data={"csrf_token": csrf, "name": "Nothing"},
        follow_redirects=False,
    )
    assert none_ticked.status_code == 303
    assert "at least one scope" in none_ticked.cookies.get(FLASH_COOKIE, "").replace("%20", " ")
