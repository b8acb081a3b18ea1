"""Appending to an incident's timeline. Called only from service functions."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from tocsin.catalog.models import User
from tocsin.db import utcnow
from tocsin.incidents.models import Incident, TimelineEntry


def record(
    session: Session,
    incident: Incident,
    kind: str,
    summary: str,
    *,
    by: User | None,
    field: str | None = None,
    old: Any = None,
    new: Any = None,
    body: str = "",
    key_event: bool = False,
    occurred_at: datetime | None = None,
) -> TimelineEntry:
    """Append one entry and mark the incident as changed (live views poll updated_at).

    The entry is written at the session's next flush (any query, or the commit); a caller
    that hands the entry on and needs its id flushes."""
    now = utcnow()
    entry = TimelineEntry(
        incident_id=incident.id,
        kind=kind,
        summary=summary,
        body=body,
        field=field,
        old_value=old,
        new_value=new,
        is_key_event=key_event,
        actor_id=by.id if by else None,
        occurred_at=occurred_at or now,
        created_at=now,
    )
    session.add(entry)
    incident.updated_at = now
    return entry


def actor_name(user: User | None) -> str:
    return user.name if user else "Tocsin"
