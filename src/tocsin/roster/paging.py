"""Paging the incident commander's primary and backup at once (PagerDuty's `!ic page`).

The roster says who they are now (a person, or whoever is on call for the IC rotation); they
are paged the way a person is paged by hand from the incident page
(`escalation.engine.page_people`): each one's own notification rules run, the page can be
acknowledged, and the timeline says who paged whom and why.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from tocsin.catalog.models import User, UserRole
from tocsin.definitions.models import IncidentRole
from tocsin.errors import Conflict
from tocsin.escalation.engine import page_people
from tocsin.escalation.models import EscalationRun
from tocsin.incidents.models import Incident
from tocsin.incidents.roles import COMMANDER
from tocsin.roster.models import RosterEntry
from tocsin.roster.service import Answerer, entry_for, resolve, summary


@dataclass(frozen=True)
class IcPage:
    """Who was paged, and the roster as it stood."""

    run: EscalationRun
    paged: list[User]
    entry: RosterEntry
    answerers: list[Answerer]


def page_the_ic(
    session: Session,
    incident: Incident,
    *,
    by: User,
    at: datetime | None = None,
    urgency: str | None = None,
) -> IcPage:
    """Page the IC roster's primary and backup at once. Conflict when the roster names
    nobody to page (no entry, or nobody on call and no person set)."""
    role = session.scalar(select(IncidentRole).where(IncidentRole.slug == COMMANDER))
    entry = entry_for(session, role.id) if role is not None else None
    if entry is None:
        raise Conflict("the roster has no Incident Commander: set a primary and a backup")
    answerers = resolve(session, entry, at)
    # Viewers only read: paging them to take command would be pointless.
    people = list(
        {p.id: p for a in answerers for p in a.people if p.role != UserRole.viewer}.values()
    )
    if not people:
        raise Conflict(f"nobody to page as Incident Commander: {summary(answerers)}")
    run = page_people(
        session,
        incident,
        by=by,
        user_ids=[p.id for p in people],
        message=f"Page the IC: {summary(answerers)}",
        urgency=urgency,
    )
    return IcPage(run, people, entry, answerers)
