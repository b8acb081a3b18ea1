"""The tokens behind the acknowledge and resolve links in a page, which work from a phone
without logging in (what a link does is `escalation.links`).

Each link holds a random token; only its SHA-256 is stored. A token belongs to one incident,
one person and one action, expires (TOCSIN_ACTION_LINK_HOURS) and works once."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from tocsin.catalog.models import User
from tocsin.db import utcnow
from tocsin.incidents.models import Incident
from tocsin.notify.models import ActionKind, ActionToken

TOKEN_BYTES = 32


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def issue(
    session: Session, *, incident: Incident, user: User, action: ActionKind, hours: int
) -> tuple[str, ActionToken]:
    """A new single-use token for `action`; the raw token is returned once, for the link."""
    raw = secrets.token_urlsafe(TOKEN_BYTES)
    now = utcnow()
    row = ActionToken(
        token_hash=_hash(raw),
        incident_id=incident.id,
        user_id=user.id,
        action=action.value,
        expires_at=now + timedelta(hours=hours),
        created_at=now,
    )
    session.add(row)
    session.flush()
    return raw, row


@dataclass(frozen=True)
class LinkState:
    """What a link can do now: `problem` is None when it can be used."""

    token: ActionToken | None
    problem: str | None
    status_code: int = 200


def look_up(session: Session, raw: str) -> LinkState:
    """Find the token behind a link and say whether it can still be used, and if not, why."""
    if not raw or len(raw) > 200:
        return LinkState(None, "This link is not valid.", 404)
    token = session.scalar(select(ActionToken).where(ActionToken.token_hash == _hash(raw)))
    if token is None:
        return LinkState(None, "This link is not valid. Open the incident in Tocsin instead.", 404)
    if token.used_at is not None:
        return LinkState(token, "This link was already used; each link works once.", 410)
    if token.expires_at <= utcnow():
        return LinkState(
            token, "This link has expired. Open the incident in Tocsin to act on it.", 410
        )
    if not token.user.active:
        return LinkState(token, "The account this link was sent to is deactivated.", 403)
    return LinkState(token, None)


def spend(session: Session, token: ActionToken) -> None:
    """The link was used: it works no more."""
    token.used_at = utcnow()
    session.flush()
