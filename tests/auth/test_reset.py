"""Password reset by email, through the real routes and a real SMTP server (aiosmtpd): the
same answer whether or not the account exists, a link that works once and expires, sessions
ended by the new password, throttled requests, and the audit trail's records."""

from __future__ import annotations

import re
from datetime import timedelta
from email.message import EmailMessage

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from tests.auth.conftest import audit, detail
from tests.conftest import ADMIN_PASSWORD, browser_login
from tests.notify.conftest import SmtpServer, run_jobs
from tests.notify.conftest import smtp as smtp  # noqa: PLC0414
from tocsin.app import create_app
from tocsin.auth.models import PasswordReset
from tocsin.bootstrap import Container
from tocsin.catalog.models import User
from tocsin.config import Settings
from tocsin.db import utcnow

NEW_PASSWORD = "a-brand-new-passphrase"


@pytest.fixture
def settings(settings: Settings, smtp: SmtpServer) -> Settings:
    return settings.model_copy(
        update={
            "smtp_host": smtp.host,
            "smtp_port": smtp.port,
            "smtp_tls": "none",
            "smtp_from": "tocsin@example.com",
            "base_url": "http://tocsin.test",
            "password_reset_max_per_account": 3,
            "password_reset_max_per_address": 6,
        }
    )


def mails_to(smtp: SmtpServer, address: str) -> list[EmailMessage]:
    pairs = zip(smtp.messages, smtp.mailbox.recipients, strict=True)
    return [mail for mail, to in pairs if address in to]


def reset_path(mail: EmailMessage) -> str:
    match = re.search(r"http://tocsin\.test(/reset/[A-Za-z0-9_-]+)", mail.get_content())
    assert match, mail.get_content()
    return match.group(1)


def ask(client: TestClient, email: str) -> tuple[int, str]:
    response = client.post("/forgot", data={"email": email})
    return response.status_code, response.text


def set_password(client: TestClient, path: str, password: str = NEW_PASSWORD) -> int:
    response = client.post(
        path, data={"password": password, "confirm": password}, follow_redirects=False
    )
    return response.status_code


def can_log_in(app: object, email: str, password: str) -> bool:
    with TestClient(app) as other:  # type: ignore[arg-type]
        response = other.post(
            "/login", data={"email": email, "password": password}, follow_redirects=False
        )
        return response.status_code == 303


def test_a_reset_link_sets_a_new_password_once_and_ends_every_session(
    client: TestClient, app: object, db: Session, container: Container, smtp: SmtpServer,
    responder: User,
) -> None:  # fmt: skip
    with TestClient(app) as laptop:  # type: ignore[arg-type]
        browser_login(laptop, responder.email)
        assert laptop.get("/me/security").status_code == 200

        status, page = ask(client, responder.email)
        assert status == 200 and "If an account has that address" in page
        assert smtp.messages == []  # sent by a job, after the commit
        run_jobs(container)
        (mail,) = mails_to(smtp, responder.email)
        assert mail["Subject"] == "Reset your Tocsin password"
        assert "30 minutes" in mail.get_content()
        path = reset_path(mail)

        assert client.get(path).status_code == 200
        assert set_password(client, path) == 303
        # The new password works, the old one does not, and the laptop was signed out.
        assert can_log_in(app, responder.email, NEW_PASSWORD)
        assert not can_log_in(app, responder.email, ADMIN_PASSWORD)
        assert laptop.get("/me/security", follow_redirects=False).status_code in (303, 401)

    # Used once: the link works no more, for the page and for a second password.
    used = client.get(path)
    assert used.status_code == 410 and "already used" in used.text
    assert set_password(client, path, "yet-another-passphrase") == 410
    assert can_log_in(app, responder.email, NEW_PASSWORD)

    (asked,) = audit(db, "auth.password_reset_requested")
    assert asked.target_id == str(responder.id) and asked.via == "anonymous"
    (changed,) = audit(db, "auth.password_changed")
    assert changed.target_id == str(responder.id)
    assert detail(changed)["through"] == "reset link"
    assert NEW_PASSWORD not in changed.detail
    (ended,) = audit(db, "auth.session_revoked")
    assert detail(ended)["why"] == "password reset" and detail(ended)["sessions"] == 1
    (refused,) = audit(db, "auth.password_reset_refused")
    assert refused.outcome == "refused" and "already used" in detail(refused)["reason"]


def test_the_answer_is_the_same_whether_or_not_the_account_exists(
    client: TestClient, db: Session, container: Container, smtp: SmtpServer, responder: User
) -> None:
    known = ask(client, responder.email)
    unknown = ask(client, "nobody@example.com")
    assert known == unknown
    run_jobs(container)
    assert [to for to in smtp.mailbox.recipients] == [[responder.email]]
    # The trail (for admins) says which was which; the asker never learns it.
    records = audit(db, "auth.password_reset_requested")
    assert [(r.outcome, detail(r).get("email")) for r in records] == [
        ("ok", None),
        ("refused", "nobody@example.com"),
    ]


def test_expired_and_forged_links_are_refused_and_change_nothing(
    client: TestClient, app: object, db: Session, container: Container, smtp: SmtpServer,
    responder: User,
) -> None:  # fmt: skip
    ask(client, responder.email)
    run_jobs(container)
    path = reset_path(mails_to(smtp, responder.email)[0])
    db.execute(update(PasswordReset).values(expires_at=utcnow() - timedelta(seconds=1)))
    db.commit()

    expired = client.get(path)
    assert expired.status_code == 410 and "expired" in expired.text
    assert set_password(client, path) == 410

    forged = path[:-4] + ("AAAA" if not path.endswith("AAAA") else "BBBB")
    assert client.get(forged).status_code == 404
    assert set_password(client, forged) == 404
    assert set_password(client, "/reset/" + "x" * 300) == 404

    assert can_log_in(app, responder.email, ADMIN_PASSWORD)
    assert not can_log_in(app, responder.email, NEW_PASSWORD)
    assert audit(db, "auth.password_changed") == []
    assert len(audit(db, "auth.password_reset_refused")) == 3


def test_a_short_or_mistyped_password_is_refused_and_the_link_still_works(
    client: TestClient, app: object, container: Container, smtp: SmtpServer, responder: User
) -> None:
    ask(client, responder.email)
    run_jobs(container)
    path = reset_path(mails_to(smtp, responder.email)[0])
    short = client.post(path, data={"password": "short", "confirm": "short"})
    assert short.status_code == 422 and "at least" in short.text
    differ = client.post(path, data={"password": NEW_PASSWORD, "confirm": NEW_PASSWORD + "!"})
    assert differ.status_code == 422 and "differ" in differ.text
    assert set_password(client, path) == 303
    assert can_log_in(app, responder.email, NEW_PASSWORD)


def test_requests_are_throttled_per_account_whether_or_not_it_exists(
    client: TestClient, container: Container, smtp: SmtpServer, responder: User
) -> None:
    for email in (responder.email, "nobody@example.com"):
        answers = [ask(client, email)[0] for _ in range(4)]
        assert answers == [200, 200, 200, 429]
    run_jobs(container)
    assert len(mails_to(smtp, responder.email)) == 3


def test_requests_are_throttled_per_address(
    settings: Settings, container: Container, smtp: SmtpServer
) -> None:
    app = create_app(
        settings.model_copy(update={"password_reset_max_per_address": 2}), container=container
    )
    with TestClient(app) as client:
        answers = [ask(client, f"person{n}@example.com")[0] for n in range(3)]
    assert answers == [200, 200, 429]


def test_an_admin_sends_a_reset_link(
    client: TestClient, db: Session, container: Container, smtp: SmtpServer, admin: User,
    responder: User, viewer: User,
) -> None:  # fmt: skip
    csrf = browser_login(client, viewer.email)
    refused = client.post(
        f"/settings/users/{responder.id}/send-reset",
        data={"csrf_token": csrf},
        follow_redirects=False,
    )
    assert refused.status_code == 403
    client.post("/logout", data={"csrf_token": csrf})

    csrf = browser_login(client, admin.email)
    sent = client.post(
        f"/settings/users/{responder.id}/send-reset",
        data={"csrf_token": csrf},
        follow_redirects=False,
    )
    assert sent.status_code == 303
    run_jobs(container)
    (mail,) = mails_to(smtp, responder.email)
    assert "An admin asked" in mail.get_content()
    (asked,) = audit(db, "auth.password_reset_requested")
    assert asked.actor_id == admin.id and detail(asked)["sent_by_admin"] is True
    assert db.scalar(select(PasswordReset.sent_by_id)) == admin.id
