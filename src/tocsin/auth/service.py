"""Logging in and browser sessions (API tokens: auth/tokens.py). Secrets are random; only
hashes are stored."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from tocsin.audit.trail import record
from tocsin.auth.models import ApiToken, WebSession
from tocsin.auth.passwords import hash_password

# API tokens live in auth/tokens.py; these names stay importable from here.
from tocsin.auth.tokens import create_api_token as create_api_token
from tocsin.auth.tokens import issue_api_token as issue_api_token
from tocsin.auth.tokens import list_tokens as list_tokens
from tocsin.auth.tokens import revoke_token as revoke_token
from tocsin.auth.tokens import tokens_visible_to as tokens_visible_to
from tocsin.auth.tokens import user_for_api_token as user_for_api_token
from tocsin.catalog import service as catalog
from tocsin.catalog.models import User
from tocsin.db import utcnow
from tocsin.errors import Unauthenticated

# Record a browser session's last use at most this often.
SEEN_RESOLUTION = timedelta(seconds=60)
# Checked in place of a missing user's hash, so that an unknown email costs the same.
DUMMY_HASH = hash_password("timing-equaliser")


@dataclass(frozen=True)
class LoginCandidate:
    """Who a login names: the active user's id and password hash, or neither (an unknown,
    deactivated or password-less account fails like a wrong password)."""

    user_id: int | None
    password_hash: str | None

    @property
    def hash_to_check(self) -> str:
        return self.password_hash or DUMMY_HASH


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def login_candidate(session: Session, email: str) -> LoginCandidate:
    """Read the account `email` names, for its password to be checked outside the
    transaction."""
    user = session.scalar(select(User).where(User.email == (email or "").strip().lower()))
    if user is None or not user.active or not user.password_hash or not user.is_person:
        return LoginCandidate(None, None)
    return LoginCandidate(user.id, user.password_hash)


def complete_login(
    session: Session, candidate: LoginCandidate, *, new_hash: str | None = None
) -> User:
    """The candidate's user, whose password was found right; Unauthenticated if the account
    was deactivated or its password changed meanwhile. `new_hash` replaces a hash made with
    outdated parameters."""
    user = None
    if candidate.user_id is not None:
        user = session.get(User, candidate.user_id, populate_existing=True)
    if (
        user is None
        or not user.active
        or not user.is_person
        or user.password_hash != candidate.password_hash
    ):
        raise Unauthenticated("wrong email or password")
    if new_hash is not None:
        user.password_hash = new_hash
    session.flush()
    return user


def start_web_session(
    session: Session,
    user: User,
    *,
    max_age: timedelta,
    address: str = "",
    user_agent: str = "",
) -> tuple[WebSession, str]:
    """A new browser session from the client at `address`; returns it and the cookie value
    (never stored)."""
    secret = secrets.token_urlsafe(32)
    now = utcnow()
    web = WebSession(
        token_hash=_digest(secret),
        csrf_token=secrets.token_urlsafe(32),
        user=user,
        expires_at=now + max_age,
        last_seen_at=now,
        address=address[:64],
        user_agent=user_agent[:300],
    )
    session.add(web)
    session.flush()
    return web, secret


def web_session(session: Session, cookie: str | None) -> WebSession | None:
    if not cookie:
        return None
    web = session.scalar(select(WebSession).where(WebSession.token_hash == _digest(cookie)))
    now = utcnow()
    # A service account never holds a browser session, however one came to be.
    if web is None or web.expires_at <= now or not web.user.active or not web.user.is_person:
        return None
    if web.last_seen_at is None or now - web.last_seen_at > SEEN_RESOLUTION:
        web.last_seen_at = now
    return web


def end_web_session(session: Session, cookie: str | None) -> None:
    """Log out: the session of `cookie` ends (recorded as `auth.logout`)."""
    if not cookie:
        return
    web = session.scalar(select(WebSession).where(WebSession.token_hash == _digest(cookie)))
    if web is not None:
        record(
            session,
            "auth.logout",
            target_type="user",
            target_id=web.user_id,
            target=web.user.email,
            detail={"session_id": web.id},
        )
        session.delete(web)
        session.flush()


def deactivate_user(session: Session, user: User) -> tuple[int, int]:
    """Deactivate `user` (kept, for history) and end their access at once: every browser
    session deleted, every API token revoked, in the caller's transaction. Returns (sessions
    ended, tokens revoked). Conflict if they are the last active admin."""
    catalog.update_user(session, user, {"active": False})
    sessions = list(session.scalars(select(WebSession).where(WebSession.user_id == user.id)))
    for web in sessions:
        session.delete(web)
    now = utcnow()
    tokens = list(
        session.scalars(
            select(ApiToken).where(ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None))
        )
    )
    for token in tokens:
        token.revoked_at = now
    session.flush()
    return len(sessions), len(tokens)
