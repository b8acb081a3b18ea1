"""Provisioning as Okta and Entra ID do it, through the real routes: people and teams are
created, found by filter, changed by PATCH and deprovisioned; a deprovisioned person's
browser session and API token stop working at once."""

from __future__ import annotations

import json

import httpx
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.conftest import ADMIN_PASSWORD, browser_login, token_for
from tests.scim.conftest import GROUP_SCHEMA, SCIM, USER_SCHEMA, audit, patch_body
from tocsin.auth.models import ApiToken, WebSession
from tocsin.catalog.models import Team, User

ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"


def _user(db: Session, email: str) -> User:
    db.commit()
    db.expire_all()
    user = db.scalar(select(User).where(User.email == email))
    assert user is not None
    return user


def _find(scim: TestClient, path: str, filter: str) -> dict:
    response = scim.get(f"{SCIM}/{path}", params={"filter": filter})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/scim+json")
    body: dict = response.json()
    return body


def test_okta_provisions_a_person_and_a_team_then_deprovisions(
    scim: TestClient, db: Session
) -> None:
    # Okta looks the person up before creating them.
    assert _find(scim, "Users", 'userName eq "dana@example.com"')["totalResults"] == 0

    created = scim.post(
        f"{SCIM}/Users",
        headers={"Content-Type": "application/scim+json"},
        json={
            "schemas": [USER_SCHEMA],
            "userName": "Dana@Example.com",
            "name": {"givenName": "Dana", "familyName": "Scully"},
            "emails": [{"primary": True, "value": "dana@example.com", "type": "work"}],
            "displayName": "Dana Scully",
            "locale": "en-US",
            "externalId": "00u1abcd",
            "groups": [],
            "password": "trust-no-one-1013",
            "active": True,
        },
    )
    assert created.status_code == 201, created.text
    dana = created.json()
    assert dana["userName"] == "dana@example.com"
    assert dana["active"] is True and dana["externalId"] == "00u1abcd"
    assert "password" not in dana
    assert dana["meta"]["resourceType"] == "User"
    assert dana["meta"]["version"].startswith('W/"')
    assert created.headers["ETag"] == dana["meta"]["version"]
    assert created.headers["Location"] == dana["meta"]["location"]
    assert dana["meta"]["location"].endswith(f"/scim/v2/Users/{dana['id']}")
    person = _user(db, "dana@example.com")
    assert (person.name, person.active, person.role) == ("Dana Scully", True, "responder")

    found = _find(scim, "Users", 'userName eq "dana@example.com"')
    assert found["totalResults"] == 1 and found["Resources"][0]["id"] == dana["id"]
    assert scim.get(f"{SCIM}/Users/{dana['id']}").json()["name"]["givenName"] == "Dana"

    # Okta pushes a group with Dana in it, renames it, then takes her out.
    group = scim.post(
        f"{SCIM}/Groups",
        json={"schemas": [GROUP_SCHEMA], "displayName": "X-Files", "members": []},
    )
    assert group.status_code == 201, group.text
    team_id = group.json()["id"]
    added = scim.patch(
        f"{SCIM}/Groups/{team_id}",
        json=patch_body(
            {
                "op": "add",
                "path": "members",
                "value": [{"value": dana["id"], "display": "dana@example.com"}],
            }
        ),
    )
    assert added.status_code == 200, added.text
    assert [m["value"] for m in added.json()["members"]] == [dana["id"]]
    assert added.json()["meta"]["version"] != group.json()["meta"]["version"]
    renamed = scim.patch(
        f"{SCIM}/Groups/{team_id}",
        json=patch_body({"op": "replace", "value": {"id": team_id, "displayName": "Basement"}}),
    )
    assert renamed.status_code == 200, renamed.text
    db.commit()
    team = db.get(Team, int(team_id))
    assert team is not None and team.name == "Basement"
    assert [m.email for m in team.members] == ["dana@example.com"]
    assert scim.get(f"{SCIM}/Users/{dana['id']}").json()["groups"][0]["display"] == "Basement"
    removed = scim.patch(
        f"{SCIM}/Groups/{team_id}",
        json=patch_body({"op": "remove", "path": f'members[value eq "{dana["id"]}"]'}),
    )
    assert removed.status_code == 200 and removed.json()["members"] == []

    # Dana signs in (Okta synced her password) and has an API token.
    login = scim.post(
        "/login",
        data={"email": "dana@example.com", "password": "trust-no-one-1013"},
        follow_redirects=False,
    )
    assert login.status_code == 303
    cookie = scim.cookies.get("tocsin_session")
    assert cookie
    secret = token_for(db, _user(db, "dana@example.com"))
    browser = {"Cookie": f"tocsin_session={cookie}", "Authorization": ""}
    assert scim.get("/api/v1/me", headers={"Authorization": f"Bearer {secret}"}).status_code == 200

    # Okta deactivates her: a PATCH with no path.
    gone = scim.patch(
        f"{SCIM}/Users/{dana['id']}",
        json=patch_body({"op": "replace", "value": {"active": False}}),
    )
    assert gone.status_code == 200, gone.text
    assert gone.json()["active"] is False
    assert scim.get("/api/v1/me", headers={"Authorization": f"Bearer {secret}"}).status_code == 401
    page = scim.get("/incidents", headers=browser, follow_redirects=False)
    assert page.status_code in (303, 401), page.status_code
    db.commit()
    person = _user(db, "dana@example.com")
    assert person.active is False
    assert db.scalars(select(WebSession).where(WebSession.user_id == person.id)).all() == []
    tokens = db.scalars(select(ApiToken).where(ApiToken.user_id == person.id)).all()
    assert tokens and all(t.revoked_at is not None for t in tokens)

    # Okta deletes the group: the team goes, Dana stays (deactivated).
    assert scim.delete(f"{SCIM}/Groups/{team_id}").status_code == 204
    assert scim.get(f"{SCIM}/Groups/{team_id}").status_code == 404
    assert _user(db, "dana@example.com").active is False

    created_records = audit(db, "scim.user_created")
    assert [(r.target, r.via, r.outcome) for r in created_records] == [
        ("dana@example.com", "scim", "ok")
    ]
    assert "trust-no-one" not in created_records[0].detail
    deactivated = audit(db, "scim.user_deactivated")
    assert len(deactivated) == 1 and deactivated[0].actor_label.startswith("SCIM token Okta")
    assert '"sessions_ended":1' in deactivated[0].detail
    assert '"tokens_revoked":1' in deactivated[0].detail
    assert [r.action for r in audit(db, "scim.group_created")] == ["scim.group_created"]
    updates = audit(db, "scim.group_updated")
    assert ['"members_added":[' in r.detail for r in updates] == [True, False, False]
    assert '"members_removed":[' in updates[2].detail
    assert len(audit(db, "scim.group_deleted")) == 1


def test_entra_provisions_with_its_own_dialect(scim: TestClient, db: Session) -> None:
    # Entra ID first checks that a made-up user is not found.
    probe = _find(scim, "Users", 'userName eq "7c5c7b8e-7a4a-4c36-9f1e-1b3b54a1f5b0"')
    assert probe["totalResults"] == 0 and probe["Resources"] == []

    created = scim.post(
        f"{SCIM}/Users",
        json={
            "schemas": [USER_SCHEMA, ENTERPRISE],
            "externalId": "fox",
            "userName": "fox@example.com",
            "active": True,
            "displayName": "Fox Mulder",
            "emails": [{"primary": True, "type": "work", "value": "fox@example.com"}],
            "meta": {"resourceType": "User"},
            "name": {"formatted": "Fox Mulder", "familyName": "Mulder", "givenName": "Fox"},
            "title": "Special Agent",
            "preferredLanguage": "en-US",
            "phoneNumbers": [{"type": "work", "value": "+1 202 555 0143"}],
            ENTERPRISE: {"department": "Violent Crimes", "manager": {"value": "skinner"}},
        },
    )
    assert created.status_code == 201, created.text
    fox = created.json()
    assert fox[ENTERPRISE]["department"] == "Violent Crimes"
    assert ENTERPRISE in fox["schemas"]
    assert _find(scim, "Users", 'externalId eq "fox"')["Resources"][0]["id"] == fox["id"]
    assert _find(scim, "Users", 'emails[type eq "work" and value co "fox@"]')["totalResults"] == 1

    # Entra's PATCH: capitalised ops, a filtered path, dotted names, "False" as a string.
    changed = scim.patch(
        f"{SCIM}/Users/{fox['id']}",
        json=patch_body(
            {"op": "Replace", "path": "displayName", "value": "Fox W. Mulder"},
            {"op": "Replace", "path": "name.givenName", "value": "Fox William"},
            {"op": "Add", "path": 'phoneNumbers[type eq "mobile"].value', "value": "+1 555"},
            {"op": "Replace", "path": f"{ENTERPRISE}:department", "value": "X-Files"},
            {"op": "Replace", "path": "timezone", "value": "America/New_York"},
        ),
    )
    assert changed.status_code == 200, changed.text
    body = changed.json()
    assert body["displayName"] == "Fox W. Mulder"
    assert body["name"]["givenName"] == "Fox William"
    assert {"type": "mobile", "value": "+1 555"} in body["phoneNumbers"]
    assert body[ENTERPRISE]["department"] == "X-Files"
    person = _user(db, "fox@example.com")
    assert (person.name, person.timezone) == ("Fox W. Mulder", "America/New_York")
    updated = audit(db, "scim.user_updated")
    assert '"name":{"new":"Fox W. Mulder","old":"Fox Mulder"}' in updated[-1].detail

    # A group the Entra way: externalId, then members added and removed by value lists.
    group = scim.post(
        f"{SCIM}/Groups",
        json={"schemas": [GROUP_SCHEMA], "externalId": "grp-1", "displayName": "Lone Gunmen"},
    )
    assert group.status_code == 201, group.text
    gid = group.json()["id"]
    add = scim.patch(
        f"{SCIM}/Groups/{gid}",
        json=patch_body({"op": "Add", "path": "members", "value": [{"value": fox["id"]}]}),
    )
    assert add.status_code == 200, add.text
    listed = scim.get(
        f"{SCIM}/Groups",
        params={"filter": 'externalId eq "grp-1"', "excludedAttributes": "members"},
    ).json()
    assert listed["totalResults"] == 1 and "members" not in listed["Resources"][0]
    assert _find(scim, "Groups", f'members[value eq "{fox["id"]}"]')["totalResults"] == 1
    remove = scim.patch(
        f"{SCIM}/Groups/{gid}",
        json=patch_body({"op": "Remove", "path": "members", "value": [{"value": fox["id"]}]}),
    )
    assert remove.status_code == 200 and remove.json()["members"] == []

    # Soft delete: active "False"; then the hard delete.
    off = scim.patch(
        f"{SCIM}/Users/{fox['id']}",
        json=patch_body({"op": "Replace", "path": "active", "value": "False"}),
    )
    assert off.status_code == 200 and off.json()["active"] is False
    assert _user(db, "fox@example.com").active is False
    assert scim.delete(f"{SCIM}/Users/{fox['id']}").status_code == 204
    assert scim.get(f"{SCIM}/Users/{fox['id']}").status_code == 404
    assert _find(scim, "Users", 'userName eq "fox@example.com"')["totalResults"] == 0
    assert _user(db, "fox@example.com").active is False  # history keeps him

    # Provisioned again later, he comes back as the same person.
    again = scim.post(
        f"{SCIM}/Users",
        json={"schemas": [USER_SCHEMA], "userName": "fox@example.com", "displayName": "Fox"},
    )
    assert again.status_code == 201, again.text
    assert again.json()["id"] == fox["id"] and again.json()["active"] is True


def test_put_replaces_and_if_match_guards(scim: TestClient, db: Session) -> None:
    dana = scim.post(
        f"{SCIM}/Users",
        json={"schemas": [USER_SCHEMA], "userName": "dana@example.com", "title": "Agent"},
    ).json()
    stale = dana["meta"]["version"]
    replaced = scim.put(
        f"{SCIM}/Users/{dana['id']}",
        json={
            "schemas": [USER_SCHEMA],
            "userName": "dana.scully@example.com",
            "displayName": "Dana Scully",
        },
        headers={"If-Match": stale},
    )
    assert replaced.status_code == 200, replaced.text
    assert replaced.json()["userName"] == "dana.scully@example.com"
    assert "title" not in replaced.json()  # a PUT replaces: what is not sent is gone
    assert _user(db, "dana.scully@example.com").name == "Dana Scully"
    refused = scim.put(
        f"{SCIM}/Users/{dana['id']}",
        json={"schemas": [USER_SCHEMA], "userName": "other@example.com"},
        headers={"If-Match": stale},
    )
    assert refused.status_code == 412
    assert _user(db, "dana.scully@example.com").name == "Dana Scully"


def test_listing_pages_with_start_index_and_count(scim: TestClient, db: Session) -> None:
    for n in range(5):
        response = scim.post(
            f"{SCIM}/Users", json={"schemas": [USER_SCHEMA], "userName": f"agent{n}@fbi.gov"}
        )
        assert response.status_code == 201
    page = scim.get(
        f"{SCIM}/Users", params={"filter": 'userName ew "@fbi.gov"', "startIndex": 2, "count": 2}
    ).json()
    assert page["totalResults"] == 5 and page["startIndex"] == 2 and page["itemsPerPage"] == 2
    assert [r["userName"] for r in page["Resources"]] == ["agent1@fbi.gov", "agent2@fbi.gov"]
    everyone = scim.get(f"{SCIM}/Users").json()
    # Everyone Tocsin knows, SCIM-made or not (the admin too), so a provider can match them.
    assert "admin@example.com" in [r["userName"] for r in everyone["Resources"]]
    assert scim.get(f"{SCIM}/Users", params={"count": 0}).json()["Resources"] == []
    both = _find(scim, "Users", 'userName sw "agent0" or (userName sw "agent4" and active eq true)')
    assert sorted(r["userName"] for r in both["Resources"]) == ["agent0@fbi.gov", "agent4@fbi.gov"]
    assert (
        _find(scim, "Users", 'not (userName ew "@fbi.gov") and displayName pr')["totalResults"] == 1
    )


def test_discovery_endpoints(scim: TestClient) -> None:
    config = scim.get(f"{SCIM}/ServiceProviderConfig").json()
    assert config["patch"]["supported"] is True and config["filter"]["supported"] is True
    types = scim.get(f"{SCIM}/ResourceTypes").json()
    assert [t["id"] for t in types["Resources"]] == ["User", "Group"]
    schemas = scim.get(f"{SCIM}/Schemas").json()["Resources"]
    user = next(s for s in schemas if s["id"] == USER_SCHEMA)
    names = [a["name"] for a in user["attributes"]]
    assert "userName" in names and "active" in names and "favouriteColour" not in names
    one = scim.get(f"{SCIM}/Schemas/{GROUP_SCHEMA}")
    assert one.status_code == 200 and one.json()["name"] == "Group"


def test_admins_manage_scim_tokens_and_a_revoked_one_is_refused(
    api: TestClient, client: TestClient, db: Session, responder: User
) -> None:
    created = api.post("/api/v1/scim/tokens", json={"name": "Entra"})
    assert created.status_code == 201
    secret = created.json()["secret"]
    assert created.json()["base_url"].endswith("/scim/v2")
    listed = api.get("/api/v1/scim/tokens").json()["items"]
    assert [t["name"] for t in listed] == ["Entra"] and "secret" not in listed[0]
    headers = {"Authorization": f"Bearer {secret}"}
    assert client.get(f"{SCIM}/Users", headers=headers).status_code == 200
    other = {"Authorization": f"Bearer {token_for(db, responder)}"}
    assert client.post("/api/v1/scim/tokens", json={"name": "x"}, headers=other).status_code == 403
    assert api.delete(f"/api/v1/scim/tokens/{created.json()['token']['id']}").status_code == 200
    refused = client.get(f"{SCIM}/Users", headers=headers)
    assert refused.status_code == 401
    assert refused.json()["status"] == "401"
    # An API token is not a SCIM token.
    assert client.get(f"{SCIM}/Users", headers=other).status_code == 401
    assert [r.action for r in audit(db, "scim.token_revoked")] == ["scim.token_revoked"]


def test_the_provisioning_page_shows_a_new_token_once(client: TestClient, admin: User) -> None:
    csrf = browser_login(client, admin.email, ADMIN_PASSWORD)
    page = client.get("/settings/provisioning")
    assert page.status_code == 200 and "/scim/v2" in page.text
    made = client.post("/settings/provisioning/tokens", data={"name": "Okta", "csrf_token": csrf})
    assert made.status_code == 201
    start = made.text.index('id="new-token">') + len('id="new-token">')
    secret = made.text[start : made.text.index("<", start)]
    assert secret.startswith("scim_")
    again = client.get("/settings/provisioning")
    assert secret not in again.text and "Okta" in again.text
    users = client.get(f"{SCIM}/Users", headers={"Authorization": f"Bearer {secret}"})
    assert users.status_code == 200


def test_over_real_http_a_deprovisioned_person_is_refused_at_once(
    live_server: str, scim_token: str, db: Session
) -> None:
    """Served by uvicorn: the identity provider and the person are separate HTTP clients."""
    provider = httpx.Client(
        base_url=live_server, headers={"Authorization": f"Bearer {scim_token}"}, timeout=30
    )
    person = httpx.Client(base_url=live_server, timeout=30)
    with provider, person:
        created = provider.post(
            f"{SCIM}/Users",
            content=json.dumps(
                {
                    "schemas": [USER_SCHEMA],
                    "userName": "walter@example.com",
                    "password": "i-want-to-believe",
                }
            ),
            headers={"Content-Type": "application/scim+json"},
        )
        assert created.status_code == 201, created.text
        assert created.headers["content-type"].startswith("application/scim+json")
        login = person.post(
            "/login",
            data={"email": "walter@example.com", "password": "i-want-to-believe"},
            follow_redirects=False,
        )
        assert login.status_code == 303
        assert person.get("/api/v1/me").json()["email"] == "walter@example.com"
        gone = provider.delete(f"{SCIM}/Users/{created.json()['id']}")
        assert gone.status_code == 204
        assert person.get("/api/v1/me").status_code == 401
        again = person.post(
            "/login",
            data={"email": "walter@example.com", "password": "i-want-to-believe"},
            follow_redirects=False,
        )
        assert again.status_code != 303
