"""A person's browser sessions: listed with where they were opened and last used, and ended
one by one, all but the current one, or all (a new password, an admin's action)."""

from __future__ import annotations

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from tocsin.audit.trail import record
from tocsin.auth.models import WebSession
from tocsin.catalog.models import User, UserRole
from tocsin.db import rows_affected, utcnow
from tocsin.errors import Forbidden, NotFound


def active_sessions(session: Session, user: User) -> list[WebSession]:
    """The person's sessions that have not expired, most recently used first."""
    rows = session.scalars(
        select(WebSession)
        .where(WebSession.user_id == user.id, WebSession.expires_at > utcnow())
        .order_by(WebSession.last_seen_at.desc(), WebSession.id.desc())
    )
    return list(rows.all())


def revoke(session: Session, owner: User, session_id: int, *, by: User) -> WebSession:
    """End one of `owner`'s sessions: your own, or anyone's for an admin. NotFound for a
    session that is not theirs (or not yours to see)."""
    _may_manage(owner, by)
    web = session.get(WebSession, session_id)
    if web is None or web.user_id != owner.id:
        raise NotFound(f"no session with id {session_id}")
    record(
        session,
        "auth.session_revoked",
        target_type="user",
        target_id=owner.id,
        target=owner.email,
        detail={"session_id": web.id, "address": web.address, "user_agent": web.user_agent},
    )
    session.delete(web)
    session.flush()
    return web


def revoke_all(
    session: Session, owner: User, *, by: User | None, keep: int | None = None, why: str
) -> int:
    """End every session of `owner` but `keep`; returns how many. `by` None: Tocsin itself
    (a password reset). `why` is recorded ("signed out everywhere else", "password changed")."""
    if by is not None:
        _may_manage(owner, by)
    query = delete(WebSession).where(WebSession.user_id == owner.id)
    if keep is not None:
        query = query.where(WebSession.id != keep)
    ended = rows_affected(session.execute(query.execution_options(synchronize_session=False)))
    session.expire_all()
    if ended:
        record(
            session,
            "auth.session_revoked",
            target_type="user",
            target_id=owner.id,
            target=owner.email,
            detail={"sessions": ended, "kept_current": keep is not None, "why": why},
        )
    session.flush()
    return ended


def _may_manage(owner: User, by: User) -> None:
    if owner.id != by.id and not by.can(UserRole.admin):
        raise Forbidden("only admins can end other people's sessions")
