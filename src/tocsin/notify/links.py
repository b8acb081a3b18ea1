"""Acknowledge and resolve links that work from a phone without logging in.

Each link holds a random token; only its SHA-256 is stored. A token belongs to one incident,
one person and one action, expires (TOCSIN_ACTION_LINK_HOURS) and works once. Opening the
link (GET) only shows a confirmation: mail scanners fetch links, so only the POST acts."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from tocsin.catalog.models import User
from tocsin.db import utcnow
from tocsin.errors import InvalidTransition
from tocsin.escalation.engine import acknowledge_pages, open_runs
from tocsin.incidents import service as incidents
from tocsin.incidents.models import Incident, Status
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


def already_done(incident: Incident, action: str) -> str | None:
    """Why `action` no longer applies to the incident, or None if it does."""
    status = Status(incident.status)
    if status in (Status.resolved, Status.closed):
        return f"{incident.reference} is already {status.value}."
    if action == ActionKind.acknowledge and status != Status.triggered:
        if open_runs(incident):
            return None  # paged by hand after it was acknowledged: this acknowledges the page
        return f"{incident.reference} is already acknowledged ({status.value})."
    return None


def use(session: Session, raw: str) -> tuple[LinkState, str]:
    """Perform the link's action as the person it was sent to; marks the token used.

    Returns the link's state and a sentence for the result page."""
    state = look_up(session, raw)
    if state.problem is not None or state.token is None:
        return state, state.problem or "This link is not valid."
    token = state.token
    incident = token.incident
    done = already_done(incident, token.action)
    if done is not None:
        return LinkState(token, done, 409), done
    try:
        if token.action == ActionKind.acknowledge:
            # The incident if still triggered, and any paging in progress stops.
            acknowledge_pages(session, incident, by=token.user)
        else:
            incidents.resolve(session, incident, by=token.user)
    except InvalidTransition as exc:
        return LinkState(token, exc.message, 409), exc.message
    token.used_at = utcnow()
    session.flush()
    verb = "acknowledged" if token.action == ActionKind.acknowledge else "resolved"
    return state, f"{incident.reference} {verb} by {token.user.name}."
