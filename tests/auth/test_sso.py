"""Single sign-on's shared part: group rules to a role and teams, signing in (just-in-time
accounts, linking by subject, removal from groups), and the identity providers' REST API and
Settings → Sign-in page. The protocols are tested end to end in test_oidc.py and
test_saml.py."""

from __future__ import annotations

import json
import threading
import time

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.conftest import ADMIN_PASSWORD, api_as, browser_login
from tocsin.app import create_app
from tocsin.audit.models import AuditRecord
from tocsin.auth import saml, sso
from tocsin.auth.sso_models import SsoGroupRule, SsoIdentity, SsoProvider
from tocsin.bootstrap import Container
from tocsin.catalog import service as catalog
from tocsin.catalog.models import User
from tocsin.config import Settings
from tocsin.errors import Conflict, ValidationFailed

# --- the mapping ---------------------------------------------------------------------------


def rules() -> list[SsoGroupRule]:
    return [
        SsoGroupRule(group="sre", role="admin", team_id=1),
        SsoGroupRule(group="payments", role="responder", team_id=2),
        SsoGroupRule(group="payments-readers", team_id=2),
        SsoGroupRule(group="staff", role="viewer"),
    ]


def test_the_highest_role_of_the_matching_rules_wins() -> None:
    access = sso.access_for(
        rules(), ["staff", "payments", "other"], default_role="viewer", require_group=False
    )
    assert access.role == "responder"
    assert access.team_ids == {2}
    assert access.managed_team_ids == {1, 2}


def test_no_matching_rule_gives_the_default_role_and_no_mapped_team() -> None:
    access = sso.access_for(rules(), ["other"], default_role="viewer", require_group=False)
    assert (access.role, access.team_ids) == ("viewer", frozenset())


def test_groups_match_exactly() -> None:
    access = sso.access_for(rules(), ["SRE", "sre-x"], default_role="viewer", require_group=False)
    assert access.role == "viewer"


def test_a_required_group_refuses_people_in_none() -> None:
    with pytest.raises(sso.SsoForbidden, match="not in any group"):
        sso.access_for(rules(), ["other"], default_role="viewer", require_group=True)
    # A rule that only maps a team still counts as access.
    access = sso.access_for(
        rules(), ["payments-readers"], default_role="viewer", require_group=True
    )
    assert (access.role, access.team_ids) == ("viewer", {2})


# --- signing in ----------------------------------------------------------------------------


@pytest.fixture
def provider(db: Session, settings: Settings) -> SsoProvider:
    payments = catalog.create_team(db, name="Payments")
    catalog.create_team(db, name="Unmapped")
    made = sso.create_provider(
        db,
        {
            "kind": "oidc",
            "name": "Okta",
            "issuer": "https://93.184.216.34/oauth2",
            "client_id": "tocsin",
            "client_secret": "s3cret-value",
            "rules": [{"group": "payments", "role": "responder", "team_id": payments.id}],
        },
        settings=settings,
        check_metadata=saml.check_metadata,
    )
    db.commit()
    return made


def claims(groups: list[str], **changes: object) -> sso.Claims:
    base = {
        "subject": "00u1",
        "email": "Pat@Example.com",
        "name": "Pat  Smith",
        "groups": tuple(groups),
    }
    return sso.Claims(**{**base, **changes})  # type: ignore[arg-type]


def test_sign_in_links_by_subject_not_by_email(db: Session, provider: SsoProvider) -> None:
    user = sso.sign_in(db, provider, claims(["payments"]), address="10.0.0.1")
    assert (user.email, user.name, user.role) == ("pat@example.com", "Pat Smith", "responder")
    # The provider changed Pat's email: still the same account, found by subject.
    again = sso.sign_in(
        db, provider, claims(["payments"], email="pat.smith@example.com"), address=None
    )
    assert again.id == user.id
    assert db.scalar(select(SsoIdentity.subject).where(SsoIdentity.user_id == user.id)) == "00u1"


def test_leaving_the_group_removes_only_the_mapped_team(db: Session, provider: SsoProvider) -> None:
    user = sso.sign_in(db, provider, claims(["payments"]), address=None)
    unmapped = next(t for t in catalog.list_teams(db)[0] if t.name == "Unmapped")
    catalog.update_user(db, user, {"team_ids": [t.id for t in user.teams] + [unmapped.id]})
    sso.sign_in(db, provider, claims([]), address=None)
    assert [t.name for t in user.teams] == ["Unmapped"]
    assert user.role == "viewer"
    changes = db.scalars(select(AuditRecord).where(AuditRecord.action == "permission.changed"))
    details = [json.loads(change.detail) for change in changes]
    assert {"scope": "org", "old_role": "responder", "new_role": "viewer"} in details
    assert [d["team_id"] for d in details if d["scope"] == "team" and d["new_role"] is None] == [
        next(t.id for t in catalog.list_teams(db)[0] if t.name == "Payments")
    ]


def test_an_existing_account_is_linked_only_with_a_verified_email(
    db: Session, provider: SsoProvider, responder: User
) -> None:
    with pytest.raises(sso.SsoForbidden, match="not say that the address is verified"):
        sso.sign_in(
            db,
            provider,
            claims(["payments"], email=responder.email, email_verified=False),
            address=None,
        )
    user = sso.sign_in(db, provider, claims(["payments"], email=responder.email), address=None)
    assert user.id == responder.id


def test_a_deactivated_account_is_refused(db: Session, provider: SsoProvider) -> None:
    user = sso.sign_in(db, provider, claims(["payments"]), address=None)
    catalog.update_user(db, user, {"active": False})
    with pytest.raises(sso.SsoForbidden, match="deactivated"):
        sso.sign_in(db, provider, claims(["payments"]), address=None)


def test_the_client_secret_is_encrypted_at_rest(db: Session, provider: SsoProvider) -> None:
    assert "s3cret-value" not in provider.client_secret_encrypted
    stored = db.scalar(select(AuditRecord.detail).where(AuditRecord.action.like("sso.provider%")))
    assert stored is not None and "s3cret-value" not in stored


# --- the REST API and the settings page ----------------------------------------------------
# Issuers are public IP addresses: the outbound guard resolves them without DNS.


def oidc_body(**changes: object) -> dict[str, object]:
    return {
        "kind": "oidc",
        "name": "Keycloak",
        "issuer": "https://93.184.216.34/realms/acme",
        "client_id": "tocsin",
        "client_secret": "kc-secret",
        "rules": [{"group": "/ops", "role": "responder"}],
        **changes,
    }


def test_api_creates_lists_changes_and_deletes_providers(api: TestClient) -> None:
    made = api.post("/api/v1/sso/providers", json=oidc_body())
    assert made.status_code == 201, made.text
    body = made.json()
    assert body["client_secret_set"] is True and "client_secret" not in body
    assert body["redirect_uri"].endswith(f"/sso/{body['id']}/oidc/callback")
    listed = api.get("/api/v1/sso/providers").json()
    assert [p["name"] for p in listed["items"]] == ["Keycloak"]
    changed = api.patch(f"/api/v1/sso/providers/{body['id']}", json={"require_group": True})
    assert changed.status_code == 200 and changed.json()["require_group"] is True
    assert changed.json()["client_secret_set"] is True  # kept when left out
    assert api.delete(f"/api/v1/sso/providers/{body['id']}").status_code == 204
    assert api.get(f"/api/v1/sso/providers/{body['id']}").status_code == 404


@pytest.mark.parametrize(
    ("body", "status", "words"),
    [
        (oidc_body(colour="blue"), 422, "colour"),
        (oidc_body(client_secret=None), 422, "client_secret is required"),
        (oidc_body(issuer="http://127.0.0.1:9/"), 422, "not a public internet address"),
        (oidc_body(rules=[{"group": "x", "team_id": 999}]), 404, "no team with id 999"),
        (oidc_body(rules=[{"group": "x"}]), 422, "a role, a team or both"),
        ({"kind": "saml", "name": "S", "idp_metadata": "<nope"}, 422, "not SAML metadata"),
    ],
)
def test_api_refuses_bad_providers_and_changes_nothing(
    api: TestClient, body: dict[str, object], status: int, words: str
) -> None:
    answer = api.post("/api/v1/sso/providers", json=body)
    assert answer.status_code == status, answer.text
    assert words in answer.text
    assert api.get("/api/v1/sso/providers").json()["items"] == []


def test_api_refuses_a_second_provider_of_the_same_name(api: TestClient) -> None:
    assert api.post("/api/v1/sso/providers", json=oidc_body()).status_code == 201
    again = api.post("/api/v1/sso/providers", json=oidc_body())
    assert again.status_code == 409


def test_only_admins_manage_providers(client: TestClient, db: Session, responder: User) -> None:
    headers = api_as(client, db, responder)
    assert client.get("/api/v1/sso/providers", headers=headers).status_code == 403
    made = client.post("/api/v1/sso/providers", json=oidc_body(), headers=headers)
    assert made.status_code == 403
    assert db.scalar(select(SsoProvider)) is None


def test_settings_page_adds_a_provider_and_the_login_page_offers_it(
    client: TestClient, admin: User
) -> None:
    csrf = browser_login(client, admin.email)
    added = client.post(
        "/settings/sign-in",
        data={
            "csrf_token": csrf,
            "kind": "oidc",
            "name": "Google <Workspace>",
            "enabled": "on",
            "issuer": "https://93.184.216.34/realms/acme",
            "client_id": "abc",
            "client_secret": "def",
            "rules": "ops, responder,\n",
        },
        follow_redirects=False,
    )
    assert added.status_code == 303, added.text
    page = client.get("/settings/sign-in")
    assert "Google &lt;Workspace&gt;" in page.text and "/oidc/callback" in page.text
    assert "def" not in page.text.split("<main", 1)[-1].split("client_secret", 1)[-1][:200]
    client.post("/logout", data={"csrf_token": csrf})
    login = client.get("/login")
    assert "Sign in with Google &lt;Workspace&gt;" in login.text


def test_settings_page_refuses_an_unknown_team(client: TestClient, admin: User) -> None:
    csrf = browser_login(client, admin.email)
    answer = client.post(
        "/settings/sign-in",
        data={
            "csrf_token": csrf,
            "kind": "oidc",
            "name": "X",
            "issuer": "https://93.184.216.34",
            "client_id": "a",
            "client_secret": "b",
            "rules": "ops, responder, Nowhere",
        },
    )
    assert answer.status_code == 422
    assert "no team named" in answer.text


def test_update_provider_cannot_change_its_kind(db: Session, provider: SsoProvider) -> None:
    with pytest.raises(ValidationFailed, match="kind cannot change"):
        sso.update_provider(
            db,
            provider,
            {"kind": "saml"},
            settings=Settings(),
            check_metadata=saml.check_metadata,
        )


def test_two_providers_cannot_share_a_name(
    db: Session, provider: SsoProvider, settings: Settings
) -> None:
    with pytest.raises(Conflict):
        sso.create_provider(
            db,
            {"kind": "saml", "name": "Okta", "idp_metadata": "x"},
            settings=settings,
            check_metadata=saml.check_metadata,
        )


def test_password_sign_in_can_be_kept_for_admins(
    settings: Settings, container: Container, admin: User, responder: User
) -> None:
    app = create_app(settings.model_copy(update={"password_login": "admins"}), container=container)
    with TestClient(app, base_url="http://testserver") as http:
        refused = http.post(
            "/login",
            data={"email": responder.email, "password": ADMIN_PASSWORD},
            follow_redirects=False,
        )
        assert refused.status_code == 403
        assert "for admins only" in refused.text
        assert "tocsin_session" not in refused.cookies
        # A wrong password says nothing about the account's role.
        wrong = http.post("/login", data={"email": responder.email, "password": "nope-nope"})
        assert wrong.status_code == 400 and "admins only" not in wrong.text
        assert http.get("/incidents", follow_redirects=False).status_code in (303, 401)
        allowed = http.post(
            "/login",
            data={"email": admin.email, "password": ADMIN_PASSWORD},
            follow_redirects=False,
        )
        assert allowed.status_code == 303 and "tocsin_session" in allowed.cookies


def test_two_first_sign_ins_at_once_end_in_one_account(
    container: Container, provider: SsoProvider
) -> None:
    """Two tabs, or a double click: the second first sign-in of the same person waits for
    the first (its insert meets the first's), then signs in to the account the first made."""
    provider_id = provider.id
    first = container.sessionmaker()
    made = sso.sign_in(first, first.get(SsoProvider, provider_id), claims([]), address=None)
    outcome: list[object] = []

    def second() -> None:
        with container.sessionmaker() as session:
            try:
                user = sso.sign_in(
                    session, session.get(SsoProvider, provider_id), claims([]), address=None
                )
                session.commit()
                outcome.append(user.id)
            except Exception as exc:  # noqa: BLE001 - the test reports what it was
                outcome.append(exc)

    thread = threading.Thread(target=second)
    thread.start()
    time.sleep(0.5)  # the second sign-in is now waiting on the first's uncommitted rows
    first.commit()
    made_id = made.id
    first.close()
    thread.join(timeout=30)
    assert outcome == [made_id]
    with container.sessionmaker() as session:
        assert session.scalars(select(SsoIdentity.user_id)).all() == [made_id]
