"""Every refused SCIM request answers a SCIM error naming what is wrong, is recorded in the
audit trail as `scim.refused`, and changes nothing."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from tests.scim.conftest import (
    ERROR_SCHEMA,
    GROUP_SCHEMA,
    SCIM,
    USER_SCHEMA,
    audit,
    patch_body,
    state,
)


@pytest.fixture
def people(scim: TestClient) -> dict[str, str]:
    """Dana and Fox, provisioned; a team "X-Files" with Dana in it. Their ids."""
    ids = {}
    for name in ("dana", "fox"):
        response = scim.post(
            f"{SCIM}/Users",
            json={"schemas": [USER_SCHEMA], "userName": f"{name}@example.com", "externalId": name},
        )
        assert response.status_code == 201, response.text
        ids[name] = response.json()["id"]
    team = scim.post(
        f"{SCIM}/Groups",
        json={
            "schemas": [GROUP_SCHEMA],
            "displayName": "X-Files",
            "members": [{"value": ids["dana"]}],
        },
    )
    assert team.status_code == 201, team.text
    ids["team"] = team.json()["id"]
    return ids


def _cases(ids: dict[str, str]) -> list[tuple[str, str, Any, int, str | None, str]]:
    """(method, path, body, status, scimType, a word the detail must contain)."""
    fox, team = ids["fox"], ids["team"]
    return [
        (
            "POST",
            "/Users",
            {"schemas": [USER_SCHEMA], "userName": "new@example.com", "favouriteColour": "red"},
            400,
            "invalidSyntax",
            "favouriteColour",
        ),
        (
            "POST",
            "/Users",
            {"schemas": [USER_SCHEMA], "userName": "new@example.com", "name": {"nick": "x"}},
            400,
            "invalidSyntax",
            "name.nick",
        ),
        (
            "POST",
            "/Users",
            {"schemas": [USER_SCHEMA, "urn:example:custom"], "userName": "new@example.com"},
            400,
            "invalidSyntax",
            "urn:example:custom",
        ),
        (
            "POST",
            "/Users",
            {"schemas": [USER_SCHEMA], "userName": "DANA@example.com"},
            409,
            "uniqueness",
            "dana@example.com",
        ),
        (
            "POST",
            "/Users",
            {
                "schemas": [USER_SCHEMA],
                "userName": "new@example.com",
                "emails": [{"value": "fox@example.com", "primary": True}],
            },
            409,
            "uniqueness",
            "fox@example.com",
        ),
        ("POST", "/Users", {"schemas": [USER_SCHEMA]}, 400, "invalidValue", "userName"),
        (
            "POST",
            "/Users",
            {"schemas": [USER_SCHEMA], "userName": "not an email"},
            400,
            "invalidValue",
            "userName",
        ),
        (
            "POST",
            "/Users",
            {"schemas": [USER_SCHEMA], "userName": "new@example.com", "active": "maybe"},
            400,
            "invalidValue",
            "active",
        ),
        (
            "POST",
            "/Users",
            {"schemas": [USER_SCHEMA], "userName": "new@example.com", "timezone": "Mars/Base"},
            400,
            "invalidValue",
            "Mars/Base",
        ),
        ("POST", "/Users", "{not json", 400, "invalidSyntax", "JSON"),
        (
            "PUT",
            f"/Users/{fox}",
            {"schemas": [USER_SCHEMA], "userName": "dana@example.com"},
            409,
            "uniqueness",
            "dana@example.com",
        ),
        (
            "PATCH",
            f"/Users/{fox}",
            patch_body({"op": "replace", "path": "userName", "value": "dana@example.com"}),
            409,
            "uniqueness",
            "dana@example.com",
        ),
        (
            "PATCH",
            f"/Users/{fox}",
            patch_body(
                {"op": "replace", "path": "displayName", "value": "Changed"},
                {"op": "replace", "path": "shoeSize", "value": 44},
            ),
            400,
            "invalidPath",
            "shoeSize",
        ),
        (
            "PATCH",
            f"/Users/{fox}",
            patch_body({"op": "replace", "value": {"active": False, "shoeSize": 44}}),
            400,
            "invalidPath",
            "shoeSize",
        ),
        (
            "PATCH",
            f"/Users/{fox}",
            patch_body({"op": "replace", "path": 'emails[type eq "work"', "value": "x"}),
            400,
            "invalidPath",
            "emails",
        ),
        (
            "PATCH",
            f"/Users/{fox}",
            patch_body({"op": "move", "path": "displayName", "value": "x"}),
            400,
            "invalidSyntax",
            "move",
        ),
        ("PATCH", f"/Users/{fox}", patch_body({"op": "remove"}), 400, "noTarget", "path"),
        ("PATCH", f"/Users/{fox}", {"Operations": []}, 400, "invalidSyntax", "Operations"),
        ("GET", "/Users?filter=userName%20eq", None, 400, "invalidFilter", "filter"),
        ("GET", "/Users?filter=userName%20like%20%22a%22", None, 400, "invalidFilter", "operator"),
        ("GET", "/Users?filter=shoeSize%20gt%2040", None, 400, "invalidFilter", "shoeSize"),
        (
            "GET",
            "/Users?filter=(userName%20eq%20%22a%22",
            None,
            400,
            "invalidFilter",
            "filter",
        ),
        ("GET", "/Users?filter=active%20gt%20true", None, 400, "invalidFilter", "true or false"),
        ("GET", "/Users?filter=title%20lt%20false", None, 400, "invalidFilter", "true or false"),
        (
            "GET",
            "/Users?filter=emails%5Bprimary%20sw%20%22x%22%5D",
            None,
            400,
            "invalidFilter",
            "true or false",
        ),
        ("GET", "/Users/999999", None, 404, None, "999999"),
        ("GET", "/Users/abc", None, 404, None, "abc"),
        ("DELETE", "/Users/999999", None, 404, None, "999999"),
        (
            "POST",
            "/Groups",
            {"schemas": [GROUP_SCHEMA], "displayName": "x-files"},
            409,
            "uniqueness",
            "x-files",
        ),
        (
            "POST",
            "/Groups",
            {"schemas": [GROUP_SCHEMA], "displayName": "Ghosts", "members": [{"value": "999"}]},
            400,
            "invalidValue",
            "999",
        ),
        (
            "POST",
            "/Groups",
            {
                "schemas": [GROUP_SCHEMA],
                "displayName": "Nested",
                "members": [{"value": team, "type": "Group"}],
            },
            400,
            "invalidValue",
            "nested",
        ),
        (
            "PATCH",
            f"/Groups/{team}",
            patch_body(
                {"op": "add", "path": "members", "value": [{"value": fox}]},
                {"op": "add", "path": "members", "value": [{"value": "12345678"}]},
            ),
            400,
            "invalidValue",
            "12345678",
        ),
        (
            "PATCH",
            f"/Groups/{team}",
            patch_body({"op": "replace", "path": "owner", "value": "x"}),
            400,
            "invalidPath",
            "owner",
        ),
        ("PUT", f"/Groups/{team}", {"schemas": [GROUP_SCHEMA]}, 400, "invalidValue", "displayName"),
    ]


def _send(scim: TestClient, method: str, path: str, body: Any) -> Any:
    if isinstance(body, str):
        return scim.request(
            method, SCIM + path, content=body, headers={"Content-Type": "application/scim+json"}
        )
    return scim.request(method, SCIM + path, json=body)


def test_each_bad_request_is_refused_clearly_recorded_and_changes_nothing(
    scim: TestClient, db: Session, people: dict[str, str]
) -> None:
    cases = _cases(people)
    before = state(db)
    for method, path, body, status, scim_type, word in cases:
        response = _send(scim, method, path, body)
        case = f"{method} {path} {body!r}"
        assert response.status_code == status, (case, response.text)
        assert response.headers["content-type"].startswith("application/scim+json"), case
        error = response.json()
        assert error["schemas"] == [ERROR_SCHEMA], case
        assert error["status"] == str(status), case
        assert error.get("scimType") == scim_type, (case, error)
        assert word.lower() in error["detail"].lower(), (case, error)
        assert state(db) == before, case
    refused = audit(db, "scim.refused")
    assert len(refused) == len(cases)
    assert {r.outcome for r in refused} == {"refused"}
    assert {r.via for r in refused} == {"scim"}
    assert '"scimType":"uniqueness"' in refused[3].detail
    assert refused[3].target == "POST /scim/v2/Users"


def test_without_a_valid_token_nothing_is_read_or_changed(
    client: TestClient, db: Session, admin: Any
) -> None:
    before = state(db)
    attempts = [
        ({}, "GET", "/Users"),
        ({"Authorization": "Bearer scim_forged"}, "POST", "/Users"),
        ({"Authorization": "Basic YWRtaW46eA=="}, "DELETE", f"/Users/{admin.id}"),
    ]
    for headers, method, path in attempts:
        response = client.request(
            method,
            SCIM + path,
            headers=headers,
            json={"schemas": [USER_SCHEMA], "userName": "intruder@example.com"},
        )
        assert response.status_code == 401, response.text
        assert response.json()["schemas"] == [ERROR_SCHEMA]
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert state(db) == before
    refused = audit(db, "scim.refused")
    assert [(r.via, r.outcome) for r in refused] == [("anonymous", "refused")] * 3


def test_deactivating_the_last_admin_is_refused(scim: TestClient, db: Session, admin: Any) -> None:
    before = state(db)
    response = scim.patch(
        f"{SCIM}/Users/{admin.id}",
        json=patch_body({"op": "replace", "path": "active", "value": False}),
    )
    assert response.status_code == 409 and "admin" in response.json()["detail"]
    assert state(db) == before
