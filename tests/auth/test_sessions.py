"""A person's browser sessions through the real routes: listed with their client and last
use (the current one marked), ended one by one or everywhere else, by the API and the
Security page, and by an admin; each ending in the audit trail."""

from __future__ import annotations

from datetime import timedelta

from fastapi.testclient import TestClient
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from tests.auth.conftest import audit, detail
from tests.conftest import ADMIN_PASSWORD, api_as, browser_login
from tocsin.app import create_app
from tocsin.auth.models import WebSession
from tocsin.bootstrap import Container
from tocsin.catalog.models import User
from tocsin.config import Settings
from tocsin.db import utcnow


def browser(app: object, agent: str) -> TestClient:
    client = TestClient(app)  # type: ignore[arg-type]
    client.headers["User-Agent"] = agent
    return client


def test_sessions_are_listed_with_their_client_and_the_current_one_marked(
    app: object, db: Session, responder: User
) -> None:
    with (
        browser(app, "Firefox on the laptop") as laptop,
        browser(app, "Safari on a phone") as phone,
    ):
        csrf = browser_login(laptop, responder.email)
        browser_login(phone, responder.email)
        listed = laptop.get("/api/v1/me/sessions", headers={"X-CSRF-Token": csrf}).json()
        # Most recently used first: the phone signed in last.
        assert [(s["user_agent"], s["current"]) for s in listed] == [
            ("Safari on a phone", False),
            ("Firefox on the laptop", True),
        ]
        assert {s["address"] for s in listed} == {"testclient"}
        page = laptop.get("/me/security").text
        assert "Safari on a phone" in page and "this session" in page


def test_last_use_is_recorded_at_most_once_a_minute(
    app: object, db: Session, responder: User
) -> None:
    with browser(app, "Firefox") as laptop:
        browser_login(laptop, responder.email)
        long_ago = utcnow() - timedelta(hours=3)
        db.execute(update(WebSession).values(last_seen_at=long_ago))
        db.commit()
        laptop.get("/incidents")
        seen = db.scalar(select(WebSession.last_seen_at))
        db.commit()
        assert seen is not None and seen > long_ago + timedelta(hours=2)
        laptop.get("/incidents")
        assert db.scalar(select(WebSession.last_seen_at)) == seen  # within the minute


def test_signing_out_one_session_and_everywhere_else(
    app: object, db: Session, responder: User
) -> None:
    with (
        browser(app, "laptop") as laptop,
        browser(app, "phone") as phone,
        browser(app, "tablet") as tablet,
    ):
        csrf = browser_login(laptop, responder.email)
        browser_login(phone, responder.email)
        browser_login(tablet, responder.email)
        listed = laptop.get("/api/v1/me/sessions").json()
        phone_id = next(s["id"] for s in listed if s["user_agent"] == "phone")

        ended = laptop.delete(f"/api/v1/me/sessions/{phone_id}", headers={"X-CSRF-Token": csrf})
        assert ended.status_code == 200 and ended.json()["user_agent"] == "phone"
        assert phone.get("/api/v1/me/sessions").status_code == 401
        assert tablet.get("/api/v1/me/sessions").status_code == 200

        # The Security page's button keeps this session and ends the others.
        done = laptop.post(
            "/me/sessions/revoke-others", data={"csrf_token": csrf}, follow_redirects=False
        )
        assert done.status_code == 303
        assert tablet.get("/api/v1/me/sessions").status_code == 401
        assert [s["user_agent"] for s in laptop.get("/api/v1/me/sessions").json()] == ["laptop"]

    one, others = audit(db, "auth.session_revoked")
    assert one.actor_id == responder.id and detail(one)["user_agent"] == "phone"
    assert detail(others) == {
        "sessions": 1,
        "kept_current": True,
        "why": "signed out everywhere else",
    }


def test_someone_elses_session_is_not_found_and_stays(
    app: object, client: TestClient, db: Session, responder: User, viewer: User
) -> None:
    with browser(app, "rita's laptop") as rita:
        browser_login(rita, responder.email)
        (theirs,) = db.scalars(select(WebSession.id)).all()
        db.commit()
        refused = client.delete(f"/api/v1/me/sessions/{theirs}", headers=api_as(client, db, viewer))
        assert refused.status_code == 404
        assert (
            client.get(
                f"/api/v1/users/{responder.id}/sessions", headers=api_as(client, db, viewer)
            ).status_code
            == 403
        )
        assert rita.get("/api/v1/me/sessions").status_code == 200
    assert audit(db, "auth.session_revoked") == []


def test_an_admin_ends_someones_sessions(
    app: object, client: TestClient, db: Session, admin: User, responder: User
) -> None:
    with browser(app, "rita's laptop") as rita:
        browser_login(rita, responder.email)
        headers = api_as(client, db, admin)
        (listed,) = client.get(f"/api/v1/users/{responder.id}/sessions", headers=headers).json()
        assert listed["user_agent"] == "rita's laptop"
        ended = client.delete(f"/api/v1/users/{responder.id}/sessions", headers=headers)
        assert ended.json() == {"ended": 1}
        assert rita.get("/api/v1/me/sessions").status_code == 401
    (record,) = audit(db, "auth.session_revoked")
    assert record.actor_id == admin.id and record.via == "token"
    assert record.target_id == str(responder.id)
    assert detail(record)["why"] == "ended by an admin"


def test_logging_out_is_recorded(app: object, db: Session, responder: User) -> None:
    with browser(app, "laptop") as laptop:
        csrf = browser_login(laptop, responder.email)
        laptop.post("/logout", data={"csrf_token": csrf})
        assert laptop.get("/api/v1/me/sessions").status_code == 401
    (out,) = audit(db, "auth.logout")
    assert out.actor_id == responder.id and out.via == "session"
    assert out.address == "testclient"


def test_changing_the_password_needs_the_current_one_and_ends_the_other_sessions(
    app: object, db: Session, responder: User
) -> None:
    with browser(app, "laptop") as laptop, browser(app, "phone") as phone:
        csrf = browser_login(laptop, responder.email)
        browser_login(phone, responder.email)
        new = "a-brand-new-passphrase"
        wrong = laptop.post(
            "/me/password",
            data={"csrf_token": csrf, "current": "not it", "password": new, "confirm": new},
        )
        assert "current password is not right" in wrong.text
        assert phone.get("/api/v1/me/sessions").status_code == 200
        assert audit(db, "auth.password_changed") == []

        laptop.post(
            "/me/password",
            data={"csrf_token": csrf, "current": ADMIN_PASSWORD, "password": new, "confirm": new},
        )
        assert phone.get("/api/v1/me/sessions").status_code == 401
        assert laptop.get("/api/v1/me/sessions").status_code == 200
    (changed,) = audit(db, "auth.password_changed")
    assert detail(changed) == {"through": "profile", "other_sessions_ended": 1}
    assert new not in changed.detail and ADMIN_PASSWORD not in changed.detail


def test_wrong_current_passwords_are_throttled_like_failed_logins(
    settings: Settings, container: Container, db: Session, responder: User
) -> None:
    strict = settings.model_copy(update={"login_max_failures_per_account": 3})
    with TestClient(create_app(strict, container=container)) as laptop:
        csrf = browser_login(laptop, responder.email)
        new = "a-brand-new-passphrase"

        def attempt(current: str) -> str:
            return laptop.post(
                "/me/password",
                data={"csrf_token": csrf, "current": current, "password": new, "confirm": new},
            ).text

        assert all("not right" in attempt(f"guess {n}") for n in range(3))
        assert "Too many failed logins" in attempt(ADMIN_PASSWORD)  # locked, even when right
    assert audit(db, "auth.password_changed") == []
