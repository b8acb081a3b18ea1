"""Sign-ins through a real uvicorn server, from several loopback addresses (127.0.0.2, .3, …):
throttling counts per client address and per account, for passwords and for codes; every
sign-in and failure is in the audit trail with who, why and from where, never the password."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pyotp
import pytest
from sqlalchemy import update
from sqlalchemy.orm import Session

from tests.auth.conftest import TIMEOUT, audit, detail
from tests.conftest import ADMIN_PASSWORD
from tocsin.auth import totp
from tocsin.auth.models import TwoFactor
from tocsin.catalog.models import User
from tocsin.config import Settings
from tocsin.crypto import Vault


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """Three failures lock an address, five an account."""
    return settings.model_copy(
        update={
            "login_max_failures_per_address": 3,
            "login_max_failures_per_account": 5,
            "login_lockout_seconds": 60,
            "login_lockout_max_seconds": 120,
        }
    )


@contextmanager
def from_address(base: str, address: str) -> Iterator[httpx.Client]:
    """A client whose requests come from `address` (any 127.x.y.z reaches loopback)."""
    transport = httpx.HTTPTransport(local_address=address)
    with httpx.Client(base_url=base, transport=transport, timeout=TIMEOUT) as client:
        yield client


def log_in(client: httpx.Client, email: str, password: str) -> int:
    response = client.post(
        "/login", data={"email": email, "password": password}, follow_redirects=False
    )
    return response.status_code


def test_an_address_is_locked_out_and_others_still_log_in(
    live_server: str, db: Session, admin: User, responder: User
) -> None:
    with from_address(live_server, "127.0.0.2") as guesser:
        answers = [log_in(guesser, f"user{n}@example.com", "guess") for n in range(3)]
        assert answers == [400, 400, 400]
        # Locked out, however right the next attempt is.
        assert log_in(guesser, admin.email, ADMIN_PASSWORD) == 429
    with from_address(live_server, "127.0.0.3") as colleague:
        assert log_in(colleague, admin.email, ADMIN_PASSWORD) == 303

    failed = audit(db, "auth.login_failed")
    assert [(r.address, detail(r)["reason"]) for r in failed] == [
        ("127.0.0.2", "wrong email or password"),
        ("127.0.0.2", "wrong email or password"),
        ("127.0.0.2", "wrong email or password"),
        ("127.0.0.2", "throttled"),
    ]
    assert [detail(r)["email"] for r in failed][:2] == ["user0@example.com", "user1@example.com"]
    assert all("guess" not in r.detail and ADMIN_PASSWORD not in r.detail for r in failed)
    assert all(r.outcome == "refused" and r.via == "anonymous" for r in failed)
    (ok,) = audit(db, "auth.login")
    assert (ok.actor_id, ok.address, ok.via) == (admin.id, "127.0.0.3", "session")
    assert detail(ok)["second_factor"] == "none"


def test_an_account_is_locked_out_by_failures_from_several_addresses(
    live_server: str, db: Session, responder: User
) -> None:
    for n, address in enumerate(["127.0.0.4", "127.0.0.5", "127.0.0.6"]):
        with from_address(live_server, address) as client:
            for m in range(2 if n < 2 else 1):
                assert log_in(client, responder.email, f"guess {n}{m}") == 400
    with from_address(live_server, "127.0.0.7") as fresh:
        assert log_in(fresh, responder.email, ADMIN_PASSWORD) == 429
    assert detail(audit(db, "auth.login_failed")[-1])["reason"] == "throttled"


def enrolled(db: Session, settings: Settings, user: User) -> pyotp.TOTP:
    """Two-factor on for `user`, as the Security page leaves it (tested in test_totp)."""
    vault: Vault = totp.vault(settings)
    enrolment = totp.start_enrolment(db, user, vault)
    authenticator = pyotp.TOTP(enrolment.secret)
    totp.confirm(db, user, vault, authenticator.now())
    db.execute(update(TwoFactor).values(last_step=0))
    db.commit()
    return authenticator


def code_attempt(client: httpx.Client, email: str, code: str) -> int:
    assert log_in(client, email, ADMIN_PASSWORD) == 303
    response = client.post("/login/code", data={"code": code}, follow_redirects=False)
    return response.status_code


def test_wrong_codes_lock_an_address_then_the_account(
    live_server: str, db: Session, settings: Settings, responder: User
) -> None:
    authenticator = enrolled(db, settings, responder)
    with from_address(live_server, "127.0.0.8") as first:
        assert [code_attempt(first, responder.email, "000000") for _ in range(3)] == [400] * 3
        assert code_attempt(first, responder.email, authenticator.now()) == 429
    with from_address(live_server, "127.0.0.9") as second:
        assert [code_attempt(second, responder.email, "000000") for _ in range(2)] == [400] * 2
        # Five wrong codes for the account from two addresses: it is locked everywhere.
    with from_address(live_server, "127.0.0.10") as third:
        assert code_attempt(third, responder.email, authenticator.now()) == 429
    reasons = [(r.address, detail(r)["reason"]) for r in audit(db, "auth.login_failed")]
    assert reasons == [("127.0.0.8", "wrong code")] * 3 + [("127.0.0.8", "throttled (code)")] + [
        ("127.0.0.9", "wrong code")
    ] * 2 + [("127.0.0.10", "throttled (code)")]
    assert audit(db, "auth.login") == []
