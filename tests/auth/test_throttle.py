"""Login throttling: failed logins lock out the client's network, then the account, for a
growing but bounded time; a lockout refuses even the right password, ends by itself, and is
shared by every process through the database; success resets the account's count."""

from __future__ import annotations

import time
from datetime import timedelta

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tests.auth.conftest import in_parallel, login_call
from tests.conftest import ADMIN_PASSWORD
from tocsin.app import create_app
from tocsin.auth import throttle
from tocsin.auth.models import LoginThrottle
from tocsin.auth.throttle import LoginThrottled, Policy
from tocsin.bootstrap import Container, build
from tocsin.catalog.models import User
from tocsin.config import Settings
from tocsin.db import utcnow


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """Three failures lock an account, five a network, for 30 s (far longer than these tests
    take to look at a lockout)."""
    return settings.model_copy(
        update={
            "login_max_failures_per_account": 3,
            "login_max_failures_per_address": 5,
            "login_lockout_seconds": 30,
            "login_lockout_max_seconds": 60,
            "login_failure_window_seconds": 600,
        }
    )


def _post(client: TestClient, email: str, password: str) -> httpx.Response:
    return client.post(
        "/login", data={"email": email, "password": password}, follow_redirects=False
    )


def test_failures_lock_the_account_until_the_lockout_ends(
    client: TestClient, app: FastAPI, admin: User, settings: Settings
) -> None:
    # A lockout of 5 s, to wait it out: longer than a password check takes on a busy machine.
    app.state.settings = settings.model_copy(
        update={"login_max_failures_per_address": 50, "login_lockout_seconds": 5}
    )
    for n in range(3):
        wrong = _post(client, admin.email, f"wrong {n}")
        assert wrong.status_code == 400 and "wrong email or password" in wrong.text
    refused = _post(client, admin.email, ADMIN_PASSWORD)  # the right one, during the lockout
    assert refused.status_code == 429
    assert 1 <= int(refused.headers["retry-after"]) <= 5
    assert "Too many failed logins for this account" in refused.text
    assert 'role="alert"' in refused.text and f'value="{admin.email}"' in refused.text
    assert "set-cookie" not in refused.headers
    again = _post(client, admin.email, "wrong again")
    assert again.status_code == 429  # refused, and not counted: the lockout does not grow
    assert int(again.headers["retry-after"]) <= int(refused.headers["retry-after"])

    time.sleep(int(again.headers["retry-after"]) + 0.1)
    assert _post(client, admin.email, ADMIN_PASSWORD).status_code == 303
    # The success reset the account's count: two more failures do not lock it.
    for n in range(2):
        assert _post(client, admin.email, f"typo {n}").status_code == 400
    assert _post(client, admin.email, ADMIN_PASSWORD).status_code == 303


def test_one_network_is_stopped_before_it_can_lock_an_account_out(
    app: FastAPI, client: TestClient, admin: User, responder: User
) -> None:
    """Three failures lock the attacker's network, which then counts nothing more against
    the account (limit five), so its owner logs in from elsewhere."""
    app.state.settings = app.state.settings.model_copy(
        update={"login_max_failures_per_address": 3, "login_max_failures_per_account": 5}
    )
    attacker = TestClient(app, client=("203.0.113.7", 40000))
    answers = [_post(attacker, responder.email, f"guess {n}").status_code for n in range(12)]
    assert answers == [400] * 3 + [429] * 9  # refused attempts count nothing
    refused = _post(attacker, admin.email, ADMIN_PASSWORD)  # any account, from that network
    assert refused.status_code == 429 and "from your network" in refused.text
    owner = TestClient(app, client=("198.51.100.20", 40000))
    assert _post(owner, responder.email, ADMIN_PASSWORD).status_code == 303
    # IPv6 clients are counted per /64: another address of the same network is refused too.
    first = TestClient(app, client=("2001:db8:1:2::10", 40000))
    for n in range(3):
        assert _post(first, f"nobody{n}@example.com", "x").status_code == 400
    same_network = TestClient(app, client=("2001:db8:1:2::99", 40000))
    assert _post(same_network, admin.email, ADMIN_PASSWORD).status_code == 429


def test_a_lockout_holds_in_every_process(
    client: TestClient, settings: Settings, admin: User
) -> None:
    for n in range(3):
        assert _post(client, admin.email, f"wrong {n}").status_code == 400
    other: Container = build(settings)  # a second web process on the same database
    try:
        second = TestClient(create_app(settings, container=other))
        refused = _post(second, admin.email, ADMIN_PASSWORD)
        assert refused.status_code == 429 and "for this account" in refused.text
    finally:
        other.close()


def test_parallel_attempts_cannot_slip_past_the_limit(admin: User, live_server: str) -> None:
    """Each attempt is counted before its password is checked: of ten at once, three are
    checked (and fail) and seven are refused."""
    threads, answers = in_parallel(
        [login_call(live_server, admin.email, f"wrong {n}") for n in range(10)]
    )
    for thread in threads:
        thread.join()
    statuses = sorted(a.status_code for a in answers)  # type: ignore[union-attr]
    assert statuses == [400] * 3 + [429] * 7
    assert login_call(live_server, admin.email, ADMIN_PASSWORD)().status_code == 429


# --- the throttle's rules, at chosen times --------------------------------------------------

POLICY = Policy(
    per_address=100,
    per_account=2,
    lockout=timedelta(seconds=60),
    max_lockout=timedelta(seconds=300),
    window=timedelta(seconds=600),
)


def _refused_for(db: Session, policy: Policy, when: timedelta, start) -> int | None:  # type: ignore[no-untyped-def]
    """Retry-After if an attempt at `start + when` is refused, else None (it is counted)."""
    try:
        throttle.admit(db, policy, network="192.0.2.1", email="ann@example.com", now=start + when)
    except LoginThrottled as exc:
        return exc.retry_after
    return None


def test_lockouts_double_up_to_the_maximum_and_failures_are_forgotten(db: Session) -> None:
    t0 = utcnow()
    s = timedelta(seconds=1)
    assert _refused_for(db, POLICY, 0 * s, t0) is None
    assert _refused_for(db, POLICY, 1 * s, t0) is None  # the second failure: locked for 60 s
    assert _refused_for(db, POLICY, 2 * s, t0) == 59
    assert _refused_for(db, POLICY, 60 * s, t0) == 1  # refused attempts do not extend it
    at = 61 * s
    for expected in (120, 240, 300, 300):  # doubling, bounded
        assert _refused_for(db, POLICY, at, t0) is None
        assert _refused_for(db, POLICY, at + s, t0) == expected - 1
        at += expected * s
    # Quiet for the window after the last lockout ended: the failures are forgotten.
    at += POLICY.window
    assert _refused_for(db, POLICY, at, t0) is None
    assert _refused_for(db, POLICY, at + s, t0) is None  # the first failure again: no lockout


def test_a_correct_password_takes_its_attempt_back(db: Session) -> None:
    policy = Policy(2, 100, timedelta(seconds=60), timedelta(seconds=60), timedelta(seconds=600))
    now = utcnow()
    throttle.admit(db, policy, network="192.0.2.9", email="a@example.com", now=now)
    attempt = throttle.admit(db, policy, network="192.0.2.9", email="b@example.com", now=now)
    assert attempt.address_lock_set is not None  # this attempt, if wrong, locks the network
    throttle.succeeded(db, attempt)
    row = db.get(LoginThrottle, throttle.address_key("192.0.2.9"))
    assert row is not None and row.failures == 1 and row.locked_until is None
    assert db.get(LoginThrottle, throttle.account_key("B@example.com")) is None


def test_forgotten_rows_are_purged(db: Session) -> None:
    now = utcnow()
    for n in range(5):
        throttle.admit(db, POLICY, network=f"192.0.2.{n}", email=f"u{n}@example.com", now=now)
    assert db.scalar(select(func.count()).select_from(LoginThrottle)) == 10
    later = now + POLICY.window + timedelta(seconds=1)
    throttle.admit(db, POLICY, network="198.51.100.1", email="new@example.com", now=later)
    assert {row.key for row in db.scalars(select(LoginThrottle))} == {
        throttle.address_key("198.51.100.1"),
        throttle.account_key("new@example.com"),
    }
    assert throttle.purge(db, now=later + POLICY.window + timedelta(seconds=1)) == 2


def test_one_network_never_locks_an_account_with_the_default_settings(
    db: Session, settings: Settings
) -> None:
    """A network that tries again the moment each of its lockouts ends, for two days: its
    failures come too slowly to pile up within the window, so the account stays open."""
    policy = Policy.from_settings(Settings())
    now = utcnow()
    end = now + timedelta(days=2)
    tries = 0
    while now < end:
        try:
            throttle.admit(db, policy, network="203.0.113.66", email="victim@example.com", now=now)
            tries += 1
            now += timedelta(seconds=1)
        except LoginThrottled as exc:
            assert "from your network" in exc.message
            now += timedelta(seconds=exc.retry_after)
    assert tries > 150  # it kept going (about one try every 15 minutes once at the maximum)
