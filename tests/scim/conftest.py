"""A client that speaks SCIM with a token an admin created through the API, and a way to
read the audit trail and the state a refusal must leave as it was."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tocsin.audit.models import AuditRecord
from tocsin.auth.models import ApiToken, WebSession
from tocsin.catalog.models import Team, User, team_members
from tocsin.scim.models import ScimGroup, ScimUser

SCIM = "/scim/v2"
USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:Group"
PATCH_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
ERROR_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:Error"


@pytest.fixture
def scim_token(api: TestClient) -> str:
    response = api.post("/api/v1/scim/tokens", json={"name": "Okta"})
    assert response.status_code == 201, response.text
    secret: str = response.json()["secret"]
    return secret


@pytest.fixture
def scim(client: TestClient, scim_token: str) -> TestClient:
    """The test client as an identity provider, with its SCIM token in place of the admin's
    API token (SCIM must not need one)."""
    client.headers["Authorization"] = f"Bearer {scim_token}"
    return client


def patch_body(*operations: dict[str, Any]) -> dict[str, Any]:
    return {"schemas": [PATCH_SCHEMA], "Operations": list(operations)}


def audit(db: Session, action: str) -> list[AuditRecord]:
    db.commit()  # a fresh snapshot
    return list(
        db.scalars(select(AuditRecord).where(AuditRecord.action == action).order_by(AuditRecord.id))
    )


def state(db: Session) -> dict[str, Any]:
    """Everything SCIM may change, to compare before and after a refusal."""
    db.commit()
    db.expire_all()
    return {
        "users": [
            (u.id, u.email, u.name, u.active, u.timezone, u.password_hash)
            for u in db.scalars(select(User).order_by(User.id))
        ],
        "teams": [(t.id, t.name) for t in db.scalars(select(Team).order_by(Team.id))],
        "members": sorted(db.execute(select(team_members)).all()),
        "scim_users": [
            (s.user_id, s.external_id, s.document, s.deleted_at)
            for s in db.scalars(select(ScimUser).order_by(ScimUser.user_id))
        ],
        "scim_groups": [
            (g.team_id, g.external_id)
            for g in db.scalars(select(ScimGroup).order_by(ScimGroup.team_id))
        ],
        "sessions": db.scalar(select(func.count(WebSession.id))),
        "tokens": [
            (t.id, t.revoked_at) for t in db.scalars(select(ApiToken).order_by(ApiToken.id))
        ],
    }
