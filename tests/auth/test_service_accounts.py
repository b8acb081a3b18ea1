"""Service accounts: not people, acting through their tokens, through the real routes."""

from __future__ import annotations

import json
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from tocsin.audit.models import AuditRecord
from tocsin.auth.passwords import hash_password
from tocsin.catalog.models import User

from ..conftest import ADMIN_PASSWORD, api_as, browser_login


def _account(api: TestClient, name: str = "Terraform", role: str = "responder") -> dict[str, Any]:
    made = api.post("/api/v1/service-accounts", json={"name": name, "role": role})
    assert made.status_code == 201, made.text
    return made.json()


def _token_for(api: TestClient, account: dict[str, Any], *scopes: str) -> str:
    body: dict[str, Any] = {"name": "ci", "user_id": account["id"]}
    if scopes:
        body["scopes"] = list(scopes)
    made = api.post("/api/v1/tokens", json=body)
    assert made.status_code == 201, made.text
    return str(made.json()["secret"])


def test_admins_create_and_list_them_apart_from_people(
    api: TestClient, client: TestClient, db: Session, responder: User
) -> None:
    account = _account(api)
    assert account["role"] == "responder" and account["active"] is True

    listed = api.get("/api/v1/service-accounts").json()
    assert [a["name"] for a in listed] == ["Terraform"]
    people = [u["name"] for u in api.get("/api/v1/users").json()["items"]]
    assert "Terraform" not in people and "Rita Responder" in people

    as_responder = api_as(client, db, responder)
    refused = client.post("/api/v1/service-accounts", json={"name": "Sneaky"}, headers=as_responder)
    assert refused.status_code == 403
    assert client.get("/api/v1/service-accounts", headers=as_responder).status_code == 403
    [created] = [
        r
        for r in db.scalars(
            select(AuditRecord).where(AuditRecord.action == "service_account.created")
        )
    ]
    assert created.target_id == str(account["id"])


def test_a_service_account_cannot_sign_in(api: TestClient, client: TestClient, db: Session) -> None:
    account = _account(api)
    email = db.get(User, account["id"]).email  # type: ignore[union-attr]

    no_password = api.patch(f"/api/v1/users/{account['id']}", json={"password": ADMIN_PASSWORD})
    assert no_password.status_code == 422
    assert "service account has no password" in no_password.json()["error"]["message"]

    # Even with a password hash put there behind Tocsin's back, the login form refuses it.
    db.rollback()
    db.execute(
        update(User).where(User.id == account["id"]).values(password_hash=hash_password("x" * 12))
    )
    db.commit()
    login = client.post(
        "/login", data={"email": email, "password": "x" * 12}, follow_redirects=False
    )
    assert login.status_code == 400
    assert "tocsin_session" not in login.cookies


def test_never_a_person_to_page_or_put_on_call(
    api: TestClient, client: TestClient, db: Session, admin: User, responder: User
) -> None:
    account = _account(api, "Deploy bot")
    browser_login(client, admin.email)
    for page in ("/incidents/new", "/escalation-policies/new", "/settings/users"):
        html = client.get(page).text
        assert "Rita Responder" in html, page  # the page does list people
        assert "Deploy bot" not in html, page

    schedule = api.post("/api/v1/schedules", json={"name": "Primary", "timezone": "UTC"}).json()
    layer = api.post(
        f"/api/v1/schedules/{schedule['id']}/layers",
        json={"name": "Weekly", "start_date": "2026-01-05", "member_ids": [account["id"]]},
    )
    assert layer.status_code == 422 and "service account" in layer.json()["error"]["message"]

    policy = api.post(
        "/api/v1/escalation-policies",
        json={"name": "Bots", "levels": [{"targets": [{"kind": "user", "id": account["id"]}]}]},
    )
    assert policy.status_code == 422 and "never paged" in policy.json()["error"]["message"]

    method = api.post(
        f"/api/v1/users/{account['id']}/contact-methods",
        json={"kind": "email", "target": "bot@example.com"},
    )
    assert method.status_code == 422 and "no contact methods" in method.json()["error"]["message"]


def test_its_token_acts_and_is_attributed_to_it(api: TestClient, db: Session) -> None:
    account = _account(api, "Deploy bot")
    secret = _token_for(api, account, "read", "incidents")
    bot = {"Authorization": f"Bearer {secret}"}

    declared = api.post("/api/v1/incidents", json={"title": "Deploy failed"}, headers=bot)
    assert declared.status_code == 201, declared.text
    ref = declared.json()["reference"]
    noted = api.post(f"/api/v1/incidents/{ref}/notes", json={"body": "rolling back"}, headers=bot)
    assert noted.status_code == 201, noted.text

    timeline = api.get(f"/api/v1/incidents/{ref}/timeline").json()["items"]
    actors = {entry["kind"]: entry["actor"] for entry in timeline}
    assert actors["created"] == {"id": account["id"], "name": "Deploy bot"}
    assert actors["note"] == {"id": account["id"], "name": "Deploy bot"}
    # What it may not do is refused with its own name in the trail.
    refused = api.post("/api/v1/teams", json={"name": "Bots"}, headers=bot)
    assert refused.status_code == 403
    db.rollback()
    [record] = db.scalars(select(AuditRecord).where(AuditRecord.action == "token.refused"))
    assert record.actor_id == account["id"]
    assert record.actor_label == "Deploy bot (service account)"
    assert json.loads(record.detail)["scope_needed"] == "configuration"


def test_deactivating_it_stops_its_tokens(api: TestClient, db: Session) -> None:
    account = _account(api)
    secret = _token_for(api, account)
    bot = {"Authorization": f"Bearer {secret}"}
    assert api.get("/api/v1/incidents", headers=bot).status_code == 200

    off = api.patch(f"/api/v1/service-accounts/{account['id']}", json={"active": False})
    assert off.status_code == 200 and off.json()["active"] is False
    assert api.get("/api/v1/incidents", headers=bot).status_code == 401

    back = api.patch(
        f"/api/v1/service-accounts/{account['id']}", json={"role": "viewer", "active": True}
    )
    assert back.status_code == 200
    assert api.get("/api/v1/incidents", headers=bot).status_code == 200
    db.rollback()
    actions = list(
        db.scalars(
            select(AuditRecord.action)
            .where(AuditRecord.target_type == "user", AuditRecord.target_id == str(account["id"]))
            # The rows' changes are also recorded as configuration (config.user.…).
            .where(AuditRecord.action.not_like("config.%"))
            .order_by(AuditRecord.id)
        )
    )
    assert actions == [
        "service_account.created",
        "service_account.deactivated",
        "permission.changed",
        "service_account.reactivated",
    ]


def test_the_settings_page_creates_and_deactivates(
    client: TestClient, db: Session, admin: User
) -> None:
    csrf = browser_login(client, admin.email)
    made = client.post(
        "/settings/service-accounts",
        data={"csrf_token": csrf, "name": "Grafana <alerts>", "role": "viewer"},
    )
    assert made.status_code == 200
    assert "Grafana &lt;alerts&gt;" in made.text and "<alerts>" not in made.text
    db.rollback()
    account = db.scalar(select(User).where(User.name == "Grafana <alerts>"))
    assert account is not None and not account.is_person and account.password_hash is None

    offered = "Grafana &lt;alerts&gt; (service account)"
    assert offered in client.get("/settings/tokens").text  # may be given a token
    client.post(
        f"/settings/service-accounts/{account.id}", data={"csrf_token": csrf, "active": "false"}
    )
    db.rollback()
    assert db.get(User, account.id, populate_existing=True).active is False  # type: ignore[union-attr]
    # A deactivated account is not offered as a new token's owner.
    assert offered not in client.get("/settings/tokens").text


def test_never_given_an_incident_role_an_action_item_or_a_roster_slot(
    api: TestClient, db: Session
) -> None:
    account = _account(api, "Deploy bot")
    ref = api.post("/api/v1/incidents", json={"title": "Disk full"}).json()["reference"]
    before = api.get(f"/api/v1/incidents/{ref}").json()

    role = api.put(f"/api/v1/incidents/{ref}/roles/scribe", json={"user_id": account["id"]})
    assert role.status_code == 422 and "service account" in role.json()["error"]["message"]
    item = api.post(
        f"/api/v1/incidents/{ref}/action-items",
        json={"title": "Grow the disk", "assignee_id": account["id"]},
    )
    assert item.status_code == 422 and "service account" in item.json()["error"]["message"]
    roster = api.put("/api/v1/roster/scribe", json={"primary": {"user_id": account["id"]}})
    assert roster.status_code == 422 and "service account" in roster.json()["error"]["message"]
    declared = api.post(
        "/api/v1/incidents", json={"title": "Another", "commander_id": account["id"]}
    )
    assert declared.status_code == 422, declared.text

    # Nothing changed.
    assert api.get(f"/api/v1/incidents/{ref}").json()["roles"] == before["roles"]
    assert api.get(f"/api/v1/incidents/{ref}/action-items").json()["items"] == []
    assert api.get("/api/v1/roster/scribe").status_code == 404  # still no entry


def test_a_team_role_lets_it_change_only_that_team_s_things(api: TestClient, db: Session) -> None:
    """Automation for one team (Terraform in its repository): a responder service account
    that is a responder of team Payments changes Payments' schedules and nothing else's."""
    teams = {
        name: api.post("/api/v1/teams", json={"name": name}).json()["id"]
        for name in ("Payments", "Search")
    }
    schedules = {
        name: api.post(
            "/api/v1/schedules",
            json={"name": f"{name} primary", "timezone": "UTC", "team_id": team_id},
        ).json()["id"]
        for name, team_id in teams.items()
    }
    account = _account(api)
    joined = api.put(
        f"/api/v1/teams/{teams['Payments']}/members/{account['id']}", json={"role": "responder"}
    )
    assert joined.status_code == 200, joined.text
    headers = {"Authorization": f"Bearer {_token_for(api, account, 'read', 'configuration')}"}
    mine = api.patch(
        f"/api/v1/schedules/{schedules['Payments']}",
        json={"description": "managed by Terraform"},
        headers=headers,
    )
    assert mine.status_code == 200, mine.text
    theirs = api.patch(
        f"/api/v1/schedules/{schedules['Search']}",
        json={"description": "managed by Terraform"},
        headers=headers,
    )
    assert theirs.status_code == 403 and "team Search" in theirs.text
    db.commit()
    refused = db.scalars(select(AuditRecord).where(AuditRecord.action == "config.refused")).one()
    assert (refused.via, refused.target) == ("token", "Search")
    assert refused.actor_label.startswith("Terraform")
