"""Logging in, browser sessions and API tokens. Secrets are random; only hashes are stored."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from tocsin import validation as v
from tocsin.audit.trail import record
from tocsin.auth.models import ApiToken, WebSession
from tocsin.auth.passwords import hash_password
from tocsin.catalog import service as catalog
from tocsin.catalog.models import User
from tocsin.db import utcnow
from tocsin.errors import Forbidden, NotFound, Unauthenticated

TOKEN_PREFIX = "tcs_"
# Record last use at most this often, so API reads do not all become writes.
LAST_USED_RESOLUTION = timedelta(seconds=60)
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
    if user is None or not user.active or not user.password_hash:
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
    if user is None or not user.active or user.password_hash != candidate.password_hash:
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
    if web is None or web.expires_at <= now or not web.user.active:
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


def create_api_token(session: Session, user: User, name: str) -> tuple[ApiToken, str]:
    """A new API token; the plaintext is returned once and never stored."""
    name = v.text(name, "name", max_len=120, required=True)
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(name=name, prefix=secret[:10], token_hash=_digest(secret), user=user)
    session.add(token)
    session.flush()
    return token, secret


def issue_api_token(
    session: Session, *, by: User, name: str, user_id: int | None = None
) -> tuple[ApiToken, str]:
    """A token for yourself, or (admins only) for another user; the secret is returned once."""
    owner = by
    if user_id is not None and user_id != by.id:
        if by.role != "admin":
            raise Forbidden("only admins can create tokens for other users")
        other = session.get(User, user_id)
        if other is None:
            raise NotFound(f"no user with id {user_id}", field="user_id")
        owner = other
    return create_api_token(session, owner, name)


def tokens_visible_to(session: Session, by: User, *, everyone: bool = False) -> list[ApiToken]:
    """Your own tokens; everyone's if you ask and are an admin."""
    if everyone and by.role != "admin":
        raise Forbidden("only admins can list everyone's tokens")
    return list_tokens(session, None if everyone else by)


def user_for_api_token(session: Session, secret: str, *, now: datetime | None = None) -> User:
    token = session.scalar(select(ApiToken).where(ApiToken.token_hash == _digest(secret)))
    if token is None or token.revoked_at is not None or not token.user.active:
        raise Unauthenticated("invalid or revoked API token")
    now = now or utcnow()
    if token.last_used_at is None or now - token.last_used_at > LAST_USED_RESOLUTION:
        token.last_used_at = now
    return token.user


def list_tokens(session: Session, user: User | None = None) -> list[ApiToken]:
    query = select(ApiToken).order_by(ApiToken.created_at.desc(), ApiToken.id.desc())
    if user is not None:
        query = query.where(ApiToken.user_id == user.id)
    return list(session.scalars(query).all())


def revoke_token(session: Session, token_id: int, *, by: User) -> ApiToken:
    """Revoke a token: your own, or anyone's if you are an admin."""
    token = session.get(ApiToken, token_id)
    if token is None or (token.user_id != by.id and by.role != "admin"):
        raise NotFound(f"no API token with id {token_id}")
    if token.revoked_at is None:
        token.revoked_at = utcnow()
    session.flush()
    return token


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
