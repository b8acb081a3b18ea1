"""Logging in with a password, without holding up the event loop or the database.

An attempt goes in three steps. A short transaction counts it with the throttle (or refuses
it) and reads the account, and is committed. The password is then checked by argon2 in the
hashing threads (auth/passwords.py), with no transaction open, so that on SQLite no lock is
held while it runs. Only a correct password opens a second short transaction: the session
starts, the throttle takes the attempt back. A failed login therefore writes one small
transaction and is answered while the event loop keeps serving everything else.

This owns the commit of the first step: the caller's session is used for both, and the caller
commits the second, as for any request.

A person with a second factor gets no session from their password: the login answers with a
pending sign-in instead (`pending_token`: encrypted, authenticated and timed by the vault,
naming the person and their current password), and `log_in_with_code` starts the session once
a code from their authenticator (or a recovery code) is right. Codes are counted by the
throttle like passwords, under their own keys (kind "code"), per network and per account.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import timedelta

from cryptography.fernet import InvalidToken
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from tocsin.audit.trail import Actor, acting, record
from tocsin.auth import service, throttle, totp
from tocsin.auth.passwords import (
    hash_password_off_loop,
    needs_rehash,
    verify_password_off_loop,
)
from tocsin.auth.service import LoginCandidate
from tocsin.auth.throttle import Attempt, Policy
from tocsin.catalog.models import User, UserRole
from tocsin.config import Settings
from tocsin.crypto import Vault
from tocsin.errors import NotFound, Unauthenticated, ValidationFailed

# How long the code step may wait after the password was right.
PENDING_SECONDS = 300


@dataclass(frozen=True)
class Client:
    """Where a login comes from: the network the throttle counts, the address and user agent
    the session and the audit trail keep."""

    network: str
    address: str
    user_agent: str


@dataclass(frozen=True)
class Pending:
    """A sign-in whose password was right, waiting for the second factor."""

    user_id: int
    password: str  # a fingerprint of the password hash: a new password voids it
    next: str


def pending_vault(settings: Settings) -> Vault:
    return Vault.from_settings(settings, "auth.pending")


def pending_token(vault: Vault, user: User, next: str) -> str:
    """The pending sign-in of `user` (whose password was right), for the code step."""
    body = {"u": user.id, "p": _fingerprint(user.password_hash), "n": next}
    return vault.encrypt(json.dumps(body))


def read_pending(vault: Vault, token: str | None) -> Pending | None:
    """The pending sign-in in `token`, or None if it is forged, altered or too old."""
    if not token or len(token) > 2000:
        return None
    try:
        body = json.loads(vault.fernet.decrypt(token.encode("ascii"), ttl=PENDING_SECONDS))
        return Pending(int(body["u"]), str(body["p"]), str(body["n"]))
    except (InvalidToken, UnicodeError, ValueError, KeyError, TypeError):
        return None


def _fingerprint(password_hash: str | None) -> str:
    return hashlib.sha256((password_hash or "").encode()).hexdigest()[:16]


async def log_in(
    session: Session,
    *,
    email: str,
    password: str,
    client: Client,
    policy: Policy,
    max_age: timedelta,
    require_two_factor: bool = False,
) -> tuple[User, str | None]:
    """Check `email` and `password` from `client` and start a browser session: (the user,
    the session cookie's value, or None when the person must give a code next). Raises
    LoginThrottled (429) while the network or the account is locked out, Unauthenticated for
    a wrong email or password. `require_two_factor`: an admin without a second factor gets
    no session either, and enrols at the code step."""
    attempt, candidate = await run_in_threadpool(_admit, session, email, client.network, policy)
    if not await verify_password_off_loop(candidate.hash_to_check, password or ""):
        raise Unauthenticated("wrong email or password")
    if candidate.user_id is None:  # the dummy hash matched: still no such account
        raise Unauthenticated("wrong email or password")
    new_hash = None
    if candidate.password_hash and needs_rehash(candidate.password_hash):
        new_hash = await hash_password_off_loop(password)
    return await run_in_threadpool(
        _complete, session, attempt, candidate, new_hash, max_age, client, require_two_factor
    )


def _admit(
    session: Session, email: str, network: str, policy: Policy
) -> tuple[Attempt, LoginCandidate]:
    attempt = throttle.admit(session, policy, network=network, email=email)
    candidate = service.login_candidate(session, email)
    session.commit()  # counted, and no transaction (nor SQLite's write lock) while hashing
    return attempt, candidate


def _complete(
    session: Session,
    attempt: Attempt,
    candidate: LoginCandidate,
    new_hash: str | None,
    max_age: timedelta,
    client: Client,
    require_two_factor: bool,
) -> tuple[User, str | None]:
    user = service.complete_login(session, candidate, new_hash=new_hash)
    throttle.succeeded(session, attempt)
    if totp.enabled(session, user.id) or must_enrol(user, require_two_factor):
        return user, None
    return user, _start(session, user, max_age, client, second_factor=None)


def must_enrol(user: User, require_two_factor: bool) -> bool:
    """Whether `user` must set up a second factor before getting a session."""
    return require_two_factor and user.can(UserRole.admin)


def log_in_with_code(
    session: Session,
    settings: Settings,
    *,
    pending: Pending,
    code: str,
    client: Client,
    policy: Policy,
    max_age: timedelta,
) -> tuple[User, str, list[str]]:
    """The second step: a right code for the pending sign-in starts the session. Returns the
    user, the session cookie's value and, for an admin who had to enrol here
    (`require_two_factor_for_admins`), the recovery codes their first code unlocked. Counted
    like a password first (committed), then checked; LoginThrottled while locked out,
    Unauthenticated for a wrong or reused code or a sign-in no longer valid (the caller's
    transaction is then rolled back: the count alone stays). Blocking: run off the loop."""
    user = session.get(User, pending.user_id)
    if user is None or not user.active or _fingerprint(user.password_hash) != pending.password:
        raise Unauthenticated("this sign-in is no longer valid; log in again")
    email = user.email
    attempt = throttle.admit(session, policy, network=client.network, email=email, kind="code")
    session.commit()  # counted, whatever the code turns out to be
    user = session.get(User, pending.user_id)
    if user is None:
        raise Unauthenticated("this sign-in is no longer valid; log in again")
    acting(session, Actor(user.id, user.email, "session", client.address or None))
    vault = totp.vault(settings)
    codes: list[str] = []
    if not totp.enabled(session, user.id) and must_enrol(
        user, settings.require_two_factor_for_admins
    ):
        try:
            codes = totp.confirm(session, user, vault, code)
        except (ValidationFailed, NotFound):
            session.rollback()
            raise Unauthenticated("that code is not right; check your app's clock") from None
        kind: str | None = "totp"
    else:
        kind = totp.check(session, user, vault, code)
    if kind is None:
        session.rollback()
        raise Unauthenticated("that code is not right (or was already used)")
    throttle.succeeded(session, attempt)
    return user, _start(session, user, max_age, client, second_factor=kind), codes


def _start(
    session: Session, user: User, max_age: timedelta, client: Client, *, second_factor: str | None
) -> str:
    web, secret = service.start_web_session(
        session, user, max_age=max_age, address=client.address, user_agent=client.user_agent
    )
    record(
        session,
        "auth.login",
        target_type="user",
        target_id=user.id,
        target=user.email,
        detail={"session_id": web.id, "second_factor": second_factor or "none"},
        actor=Actor(user.id, user.email, "session", client.address or None),
    )
    return secret
