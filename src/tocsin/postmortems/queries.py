"""Reading postmortems, as the viewer may see them: a restricted incident's postmortem
exists only for the people who may see the incident (`incidents.access`)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import ColumnElement, and_, case, func, or_, select
from sqlalchemy.orm import Session

from tocsin.catalog.models import User
from tocsin.errors import NotFound
from tocsin.incidents.access import can_see, visible_filter
from tocsin.incidents.models import Incident
from tocsin.incidents.queries import IncidentFilter, matching_ids
from tocsin.postmortems.models import (
    Postmortem,
    PostmortemRevision,
    PostmortemSection,
    PostmortemStatus,
)

_DRAFT = PostmortemStatus.draft.value
_REFERENCE = re.compile(r"(?:inc-?)?([0-9]{1,9})")  # not \d, which takes "٤٢"
_IN_REVIEW = PostmortemStatus.in_review.value


def due_at(postmortem: Postmortem) -> datetime | None:
    """The next deadline: the draft's while it is a draft, else the meeting's until it is
    reviewed."""
    if postmortem.status == _DRAFT:
        return postmortem.draft_due_at or postmortem.meeting_due_at
    if postmortem.status == _IN_REVIEW:
        return postmortem.meeting_due_at
    return None


def is_overdue(postmortem: Postmortem, now: datetime) -> bool:
    due = due_at(postmortem)
    return due is not None and due < now


def _due_column() -> ColumnElement[datetime | None]:
    return case(
        (
            Postmortem.status == _DRAFT,
            func.coalesce(Postmortem.draft_due_at, Postmortem.meeting_due_at),
        ),
        (Postmortem.status == _IN_REVIEW, Postmortem.meeting_due_at),
        else_=None,
    )


def list_postmortems(
    session: Session,
    *,
    viewer: User,
    now: datetime,
    statuses: Sequence[str] = (),
    overdue_only: bool = False,
    published: bool | None = None,
    text: str = "",
    incidents: IncidentFilter | None = None,
    limit: int = 50,
    offset: int = 0,
) -> tuple[list[Postmortem], int]:
    """One page of the postmortems `viewer` may see: overdue ones first (longest overdue
    first), then the next due, then the newest. `text` matches the incident's reference or
    title or any section's text, in any case; `incidents` keeps those whose incident matches
    it (severity, type, services, teams, started between `since` and `until`); `published`
    keeps the published ones (True) or the others (False)."""
    due = _due_column()
    overdue = and_(due.is_not(None), due < now)
    query = select(Postmortem).join(Incident, Incident.id == Postmortem.incident_id)
    query = query.where(visible_filter(viewer))
    if statuses:
        query = query.where(Postmortem.status.in_(list(statuses)))
    if overdue_only:
        query = query.where(overdue)
    if published is not None:
        column = Postmortem.published_at
        query = query.where(column.is_not(None) if published else column.is_(None))
    if incidents is not None and incidents != IncidentFilter():
        query = query.where(Postmortem.incident_id.in_(matching_ids(incidents, viewer)))
    if text.strip():
        query = query.where(_text_matches(text.strip().lower()))
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    ordered = query.order_by(
        case((overdue, 0), else_=1),
        case((due.is_(None), 1), else_=0),
        due.asc(),
        Postmortem.created_at.desc(),
        Postmortem.id.desc(),
    )
    rows = list(session.scalars(ordered.limit(limit).offset(offset)).unique())
    return rows, int(total)


def _text_matches(needle: str) -> ColumnElement[bool]:
    """A case-insensitive substring match (LIKE, `%` and `_` escaped) on the incident's
    title and reference and on the sections' text: the same on SQLite and PostgreSQL."""
    in_sections = select(PostmortemSection.postmortem_id).where(
        func.lower(PostmortemSection.body).contains(needle, autoescape=True)
    )
    conditions = [
        func.lower(Incident.title).contains(needle, autoescape=True),
        Postmortem.id.in_(in_sections),
    ]
    reference = _REFERENCE.fullmatch(needle)
    if reference:
        conditions.append(Incident.number == int(reference[1]))
    return or_(*conditions)


def get_postmortem(session: Session, postmortem_id: int, *, viewer: User) -> Postmortem:
    """The postmortem if `viewer` may see its incident; NotFound otherwise, alike."""
    postmortem = session.get(Postmortem, postmortem_id)
    if postmortem is None or not can_see(session, viewer, postmortem.incident):
        raise NotFound(f"no postmortem {postmortem_id}")
    return postmortem


def of_incident(session: Session, incident: Incident) -> Postmortem:
    """The incident's postmortem (the caller has checked the viewer may see the incident)."""
    postmortem = session.scalar(select(Postmortem).where(Postmortem.incident_id == incident.id))
    if postmortem is None:
        raise NotFound(f"{incident.reference} has no postmortem")
    return postmortem


def revisions(session: Session, postmortem: Postmortem, key: str) -> list[PostmortemRevision]:
    """Every saved version of a section, newest first."""
    if postmortem.section(key) is None:
        raise NotFound(f"the postmortem has no section {key!r}")
    return list(
        session.scalars(
            select(PostmortemRevision)
            .where(
                PostmortemRevision.postmortem_id == postmortem.id,
                PostmortemRevision.section_key == key,
            )
            .order_by(PostmortemRevision.version.desc())
        )
    )


def revision(
    session: Session, postmortem: Postmortem, key: str, version: int
) -> PostmortemRevision:
    """One saved version of a section (404 if there is none)."""
    if postmortem.section(key) is None:
        raise NotFound(f"the postmortem has no section {key!r}")
    found = session.scalar(
        select(PostmortemRevision).where(
            PostmortemRevision.postmortem_id == postmortem.id,
            PostmortemRevision.section_key == key,
            PostmortemRevision.version == version,
        )
    )
    if found is None:
        raise NotFound(f"the section {key!r} has no version {version}")
    return found
