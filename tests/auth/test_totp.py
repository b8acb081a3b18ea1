"""TOTP two-factor through the real routes: enrolling from the Security page, logging in in
two steps (no session before the code), codes that cannot be replayed, recovery codes that
work once, throttled wrong codes, turning it off, an admin's reset, and the audit trail."""

from __future__ import annotations

import re

import httpx
import pyotp
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from tests.auth.conftest import audit, detail
from tests.conftest import ADMIN_PASSWORD, browser_login
from tocsin.app import create_app
from tocsin.auth import login as login_flow
from tocsin.auth.models import RecoveryCode, TwoFactor
from tocsin.bootstrap import Container
from tocsin.catalog.models import User
from tocsin.config import Settings


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """Four wrong codes lock the account's codes, six the network's."""
    return settings.model_copy(
        update={
            "login_max_failures_per_account": 4,
            "login_max_failures_per_address": 6,
            "login_lockout_seconds": 60,
            "login_lockout_max_seconds": 120,
        }
    )


def csrf_of(page: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert match
    return match.group(1)


def enrol(client: TestClient, email: str) -> tuple[pyotp.TOTP, list[str]]:
    """Turn two-factor on from the Security page, as a person would; returns the
    authenticator and the recovery codes shown."""
    csrf = browser_login(client, email)
    client.post("/me/two-factor/start", data={"csrf_token": csrf})
    page = client.get("/me/security").text
    assert "<svg" in page  # the QR code, drawn inline
    secret = re.search(r'id="totp-secret">([A-Z2-7]+)<', page)
    assert secret
    app = pyotp.TOTP(secret.group(1))
    done = client.post("/me/two-factor/confirm", data={"csrf_token": csrf, "code": app.now()})
    assert done.status_code == 200
    codes = re.findall(r"<li><code>([a-z0-9-]+)</code></li>", done.text)
    assert len(codes) == 10
    client.post("/logout", data={"csrf_token": csrf})
    return app, codes


def password_step(client: TestClient, email: str, password: str = ADMIN_PASSWORD) -> httpx.Response:
    return client.post(
        "/login", data={"email": email, "password": password}, follow_redirects=False
    )


def code_step(client: TestClient, code: str) -> httpx.Response:
    return client.post("/login/code", data={"code": code}, follow_redirects=False)


def signed_in(client: TestClient) -> bool:
    return client.get("/me/security", follow_redirects=False).status_code == 200


def test_enrolled_login_asks_for_a_code_before_any_session(
    client: TestClient, app: object, db: Session, responder: User
) -> None:
    authenticator, _ = enrol(client, responder.email)
    db.execute(update(TwoFactor).values(last_step=0))  # the enrolment's code is not reused
    db.commit()
    first = password_step(client, responder.email)
    assert first.status_code == 303 and first.headers["location"] == "/login/code"
    assert "tocsin_session" not in first.cookies
    assert not signed_in(client)  # the right password alone opens nothing
    assert "Enter your code" in client.get("/login/code").text

    wrong = code_step(client, "000000" if authenticator.now() != "000000" else "111111")
    assert wrong.status_code == 400 and "not right" in wrong.text
    assert not signed_in(client)

    done = code_step(client, authenticator.now())
    assert done.status_code == 303 and done.headers["location"] == "/incidents"
    assert signed_in(client)

    logins = audit(db, "auth.login")
    assert detail(logins[-1])["second_factor"] == "totp"
    assert logins[-1].actor_id == responder.id and logins[-1].address == "testclient"
    failed = audit(db, "auth.login_failed")
    assert [detail(r)["reason"] for r in failed] == ["wrong code"]
    assert failed[0].target_id == str(responder.id)
    (enabled,) = audit(db, "auth.totp_enabled")
    assert enabled.actor_id == responder.id


def test_a_code_is_not_accepted_twice(
    client: TestClient, app: object, db: Session, responder: User
) -> None:
    authenticator, _ = enrol(client, responder.email)
    # The enrolment spent its step's code: neither it nor an earlier step's is accepted.
    step = db.scalar(select(TwoFactor.last_step))
    db.commit()
    assert step
    password_step(client, responder.email)
    assert code_step(client, authenticator.at(step * authenticator.interval)).status_code == 400
    assert (
        code_step(client, authenticator.at((step - 1) * authenticator.interval)).status_code == 400
    )
    assert not signed_in(client)
    db.execute(update(TwoFactor).values(last_step=0))  # as if enrolled long ago
    db.commit()
    code = authenticator.now()
    assert code_step(client, code).status_code == 303
    with TestClient(app) as other:  # type: ignore[arg-type]
        password_step(other, responder.email)
        replay = code_step(other, code)
        assert replay.status_code == 400 and not signed_in(other)


def test_a_recovery_code_works_once(
    client: TestClient, app: object, db: Session, responder: User
) -> None:
    _, codes = enrol(client, responder.email)
    password_step(client, responder.email)
    assert code_step(client, codes[0].upper().replace("-", "")).status_code == 303
    assert detail(audit(db, "auth.login")[-1])["second_factor"] == "recovery"
    with TestClient(app) as other:  # type: ignore[arg-type]
        password_step(other, responder.email)
        assert code_step(other, codes[0]).status_code == 400
        assert code_step(other, codes[1]).status_code == 303
    # Only hashes are stored, and the secret only encrypted.
    stored = db.scalars(select(RecoveryCode.code_hash)).all()
    assert len(stored) == 10 and not {c.replace("-", "") for c in codes} & set(stored)
    page = client.get("/me/security").text
    assert 'id="totp-secret"' not in page and "8 recovery codes left" in page


def test_the_secret_is_encrypted_at_rest(client: TestClient, db: Session, responder: User) -> None:
    authenticator, _ = enrol(client, responder.email)
    row = db.scalar(select(TwoFactor).where(TwoFactor.user_id == responder.id))
    assert row is not None and authenticator.secret not in row.secret_encrypted


def test_a_forged_or_stale_pending_sign_in_is_refused(
    client: TestClient, settings: Settings, db: Session, responder: User
) -> None:
    authenticator, _ = enrol(client, responder.email)
    client.cookies.set("tocsin_pending", "not-a-real-token", path="/login")
    refused = code_step(client, authenticator.now())
    assert refused.status_code == 303 and refused.headers["location"] == "/login"
    assert not signed_in(client)
    # A pending sign-in made under another key (a forgery) or for a changed password.
    other = Settings(**{**settings.model_dump(), "secret_key": "another-secret"})
    user = db.get(User, responder.id)
    assert user is not None
    forged = login_flow.pending_token(login_flow.pending_vault(other), user, "/incidents")
    client.cookies.set("tocsin_pending", forged, path="/login")
    assert code_step(client, authenticator.now()).headers["location"] == "/login"
    assert not signed_in(client)
    assert "sign-in expired or forged" in [
        detail(r)["reason"] for r in audit(db, "auth.login_failed")
    ]


def test_wrong_codes_are_throttled_per_account_and_per_address(
    client: TestClient, app: object, db: Session, responder: User
) -> None:
    authenticator, _ = enrol(client, responder.email)
    db.execute(update(TwoFactor).values(last_step=0))
    db.commit()
    password_step(client, responder.email)
    answers = [code_step(client, f"99999{n}").status_code for n in range(4)]
    assert answers == [400, 400, 400, 400]
    locked = code_step(client, authenticator.now())  # the right code, during the lockout
    assert locked.status_code == 429 and "Too many wrong codes" in locked.text
    assert "retry-after" in locked.headers and not signed_in(client)
    reasons = [detail(r)["reason"] for r in audit(db, "auth.login_failed")]
    assert reasons == ["wrong code"] * 4 + ["throttled (code)"]
    # Password failures keep their own count: the password step still answers.
    with TestClient(app) as other:  # type: ignore[arg-type]
        assert password_step(other, responder.email).status_code == 303


def test_turning_it_off_needs_the_password_or_a_code(
    client: TestClient, db: Session, responder: User
) -> None:
    authenticator, _ = enrol(client, responder.email)
    db.execute(update(TwoFactor).values(last_step=0))
    db.commit()
    password_step(client, responder.email)
    code_step(client, authenticator.now())
    csrf = csrf_of(client.get("/me/security").text)
    refused = client.post("/me/two-factor/off", data={"csrf_token": csrf, "password": "nope"})
    assert "Give your password" in refused.text
    db.commit()
    assert db.scalar(select(TwoFactor)) is not None
    client.post("/me/two-factor/off", data={"csrf_token": csrf, "password": ADMIN_PASSWORD})
    db.commit()
    assert db.scalar(select(TwoFactor)) is None
    assert db.scalar(select(RecoveryCode)) is None
    client.post("/logout", data={"csrf_token": csrf})
    assert password_step(client, responder.email).headers["location"] == "/incidents"
    (off,) = audit(db, "auth.totp_disabled")
    assert detail(off) == {"by_admin": False}


def test_an_admin_removes_someones_second_factor(
    client: TestClient, app: object, db: Session, admin: User, responder: User
) -> None:
    enrol(client, responder.email)
    with TestClient(app) as ops:  # type: ignore[arg-type]
        csrf = browser_login(ops, admin.email)
        done = ops.post(
            f"/settings/users/{responder.id}/reset-two-factor",
            data={"csrf_token": csrf},
            follow_redirects=False,
        )
        assert done.status_code == 303
    assert password_step(client, responder.email).headers["location"] == "/incidents"
    (off,) = audit(db, "auth.totp_disabled")
    assert off.actor_id == admin.id and off.target_id == str(responder.id)
    assert detail(off) == {"by_admin": True}


def test_admins_must_enrol_while_logging_in_when_the_install_requires_it(
    settings: Settings, container: Container, db: Session, admin: User, responder: User
) -> None:
    required = settings.model_copy(update={"require_two_factor_for_admins": True})
    with TestClient(create_app(required, container=container)) as client:
        # A responder is not concerned.
        assert password_step(client, responder.email).headers["location"] == "/incidents"
        client.cookies.clear()

        first = password_step(client, admin.email)
        assert first.headers["location"] == "/login/code" and not signed_in(client)
        page = client.get("/login/code").text
        assert "Set up two-factor to continue" in page and "<svg" in page
        secret = re.search(r'id="totp-secret">([A-Z2-7]+)<', page)
        assert secret
        authenticator = pyotp.TOTP(secret.group(1))
        wrong = code_step(client, "000000" if authenticator.now() != "000000" else "111111")
        assert wrong.status_code == 400 and "Set up two-factor" in wrong.text
        assert not signed_in(client)

        done = code_step(client, authenticator.now())
        assert done.status_code == 200
        assert len(re.findall(r"<li><code>([a-z0-9-]+)</code></li>", done.text)) == 10
        assert signed_in(client)
        # Turning it off is refused while the install requires it.
        csrf = csrf_of(client.get("/me/security").text)
        client.post("/me/two-factor/off", data={"csrf_token": csrf, "password": ADMIN_PASSWORD})
    db.commit()
    assert db.scalar(select(TwoFactor.confirmed_at).where(TwoFactor.user_id == admin.id))
    (enabled,) = audit(db, "auth.totp_enabled")
    assert enabled.actor_id == admin.id and enabled.via == "session"
    assert detail(audit(db, "auth.login")[-1])["second_factor"] == "totp"
