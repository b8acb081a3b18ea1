"""Password reset by email: a single-use link that expires.

Anyone may ask for a link for an email address; the answer is the same whether or not an
account has it (no one learns who has an account), and asking is throttled per client network
and per address (auth/throttle.py, kind "reset"). An admin may send a link to someone. The
link holds a random token, of which only the SHA-256 is stored; it works once, for
`password_reset_minutes`, and a new password ends every session of the person and every other
link outstanding. The mail goes after commit through notify's plain mails (the composition
root answers `PasswordResetRequested`).
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from tocsin import bus
from tocsin.audit.trail import record
from tocsin.auth import sessions, throttle
from tocsin.auth.events import PasswordResetRequested
from tocsin.auth.models import PasswordReset
from tocsin.auth.throttle import Policy
from tocsin.catalog import service as catalog
from tocsin.catalog.models import User, UserRole
from tocsin.config import Settings
from tocsin.db import utcnow
from tocsin.errors import Conflict, Forbidden

TOKEN_BYTES = 32
PATH = "/reset/"


def policy(settings: Settings) -> Policy:
    """How reset requests are throttled: an hour's lockout once a network or an address has
    asked too often within the hour."""
    hour = timedelta(hours=1)
    return Policy(
        per_address=settings.password_reset_max_per_address,
        per_account=settings.password_reset_max_per_account,
        lockout=hour,
        max_lockout=hour,
        window=hour,
    )


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def request_reset(session: Session, settings: Settings, *, email: str, network: str) -> None:
    """Someone asks for a reset link for `email` from `network`: a link is mailed if an active
    account has that address; nothing tells which. LoginThrottled (429) when asked too often,
    whether or not the account exists."""
    email = (email or "").strip().lower()[:254]
    throttle.admit(session, policy(settings), network=network, email=email, kind="reset")
    user = catalog.user_by_email(session, email) if email else None
    if user is None or not user.active:
        record(
            session,
            "auth.password_reset_requested",
            outcome="refused",
            detail={"email": email, "reason": "no active account"},
        )
        return
    _issue(session, settings, user, by=None)


def send_reset(session: Session, settings: Settings, user: User, *, by: User) -> None:
    """An admin sends `user` a reset link (they forgot their password, or never set one)."""
    if not by.can(UserRole.admin):
        raise Forbidden("only admins can send password reset links")
    if not user.active:
        raise Conflict(f"{user.name}'s account is deactivated")
    _issue(session, settings, user, by=by)


def _issue(session: Session, settings: Settings, user: User, *, by: User | None) -> None:
    raw = secrets.token_urlsafe(TOKEN_BYTES)
    now = utcnow()
    reset = PasswordReset(
        token_hash=_hash(raw),
        user_id=user.id,
        created_at=now,
        expires_at=now + timedelta(minutes=settings.password_reset_minutes),
        sent_by_id=by.id if by is not None else None,
    )
    session.add(reset)
    session.flush()
    record(
        session,
        "auth.password_reset_requested",
        target_type="user",
        target_id=user.id,
        target=user.email,
        detail={"reset_id": reset.id, "sent_by_admin": by is not None},
    )
    bus.emit(
        session,
        PasswordResetRequested(
            reset_id=reset.id,
            user_id=user.id,
            path=PATH + raw,
            minutes=settings.password_reset_minutes,
            by_id=by.id if by is not None else None,
        ),
    )


@dataclass(frozen=True)
class LinkState:
    """What a reset link can do now: `problem` is None when it can be used."""

    reset: PasswordReset | None
    problem: str | None
    status_code: int = 200


def look_up(session: Session, raw: str, *, lock: bool = False) -> LinkState:
    """The reset behind a link, and whether it can still be used, and if not, why."""
    if not raw or len(raw) > 200:
        return LinkState(None, "This password reset link is not valid.", 404)
    query = select(PasswordReset).where(PasswordReset.token_hash == _hash(raw))
    reset = session.scalar(query.with_for_update() if lock else query)
    if reset is None:
        return LinkState(None, "This password reset link is not valid.", 404)
    if reset.used_at is not None:
        return LinkState(
            reset, "This password reset link was already used; ask for a new one.", 410
        )
    if reset.expires_at <= utcnow():
        return LinkState(reset, "This password reset link has expired; ask for a new one.", 410)
    user = session.get(User, reset.user_id)
    if user is None or not user.active:
        return LinkState(reset, "The account this link was sent to is deactivated.", 403)
    return LinkState(reset, None)


def complete_reset(session: Session, reset: PasswordReset, password: str) -> User:
    """Set the new password through a usable link (checked with `look_up(lock=True)`): the
    link and every other one outstanding stop working, every session of the person ends."""
    user = session.get(User, reset.user_id)
    assert user is not None  # look_up checked it
    catalog.update_user(session, user, {"password": password})
    now = utcnow()
    session.execute(
        update(PasswordReset)
        .where(PasswordReset.user_id == user.id, PasswordReset.used_at.is_(None))
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )
    sessions.revoke_all(session, user, by=None, why="password reset")
    record(
        session,
        "auth.password_changed",
        target_type="user",
        target_id=user.id,
        target=user.email,
        detail={"through": "reset link", "reset_id": reset.id},
    )
    session.flush()
    return user


def change_password(
    session: Session, user: User, new_password: str, *, keep_session: int | None
) -> int:
    """The person sets a new password (the caller checked the current one): every other
    session of theirs ends. Returns how many ended."""
    catalog.update_user(session, user, {"password": new_password})
    ended = sessions.revoke_all(session, user, by=user, keep=keep_session, why="password changed")
    record(
        session,
        "auth.password_changed",
        target_type="user",
        target_id=user.id,
        target=user.email,
        detail={"through": "profile", "other_sessions_ended": ended},
    )
    session.flush()
    return ended
