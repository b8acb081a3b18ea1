"""Logging in with a password, without holding up the event loop or the database.

An attempt goes in three steps. A short transaction counts it with the throttle (or refuses
it) and reads the account, and is committed. The password is then checked by argon2 in the
hashing threads (auth/passwords.py), with no transaction open, so that on SQLite no lock is
held while it runs. Only a correct password opens a second short transaction: the session
starts, the throttle takes the attempt back. A failed login therefore writes one small
transaction and is answered while the event loop keeps serving everything else.

This owns the commit of the first step: the caller's session is used for both, and the caller
commits the second, as for any request.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from tocsin.auth import service, throttle
from tocsin.auth.passwords import (
    hash_password_off_loop,
    needs_rehash,
    verify_password_off_loop,
)
from tocsin.auth.service import LoginCandidate
from tocsin.auth.throttle import Attempt, Policy
from tocsin.catalog.models import User
from tocsin.errors import Unauthenticated


async def log_in(
    session: Session,
    *,
    email: str,
    password: str,
    network: str,
    policy: Policy,
    max_age: timedelta,
) -> tuple[User, str]:
    """Check `email` and `password` from a client on `network` and start a browser session:
    (the user, the session cookie's value). Raises LoginThrottled (429) while the network or
    the account is locked out, Unauthenticated for a wrong email or password."""
    attempt, candidate = await run_in_threadpool(_admit, session, email, network, policy)
    if not await verify_password_off_loop(candidate.hash_to_check, password or ""):
        raise Unauthenticated("wrong email or password")
    if candidate.user_id is None:  # the dummy hash matched: still no such account
        raise Unauthenticated("wrong email or password")
    new_hash = None
    if candidate.password_hash and needs_rehash(candidate.password_hash):
        new_hash = await hash_password_off_loop(password)
    return await run_in_threadpool(_complete, session, attempt, candidate, new_hash, max_age)


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
) -> tuple[User, str]:
    user = service.complete_login(session, candidate, new_hash=new_hash)
    throttle.succeeded(session, attempt)
    _, secret = service.start_web_session(session, user, max_age=max_age)
    return user, secret
