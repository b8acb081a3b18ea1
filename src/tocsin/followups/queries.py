"""Reading follow-ups across incidents, always through the incidents' visibility rules."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from typing import Any, Literal

from sqlalchemy import ColumnElement, String, cast, exists, func, select
from sqlalchemy.orm import InstrumentedAttribute, Session, selectinload

from tocsin.catalog.models import Service, User
from tocsin.incidents.access import visible_filter
from tocsin.incidents.models import (
    ActionItem,
    ActionKind,
    ActionStatus,
    Incident,
    incident_services,
)
from tocsin.postmortems.models import Postmortem

Sort = Literal["due", "age", "newest"]
StatusFilter = Literal["unfinished", "open", "in_progress", "done", "wont_do", "any"]
UNFINISHED = (ActionStatus.open.value, ActionStatus.in_progress.value)


def on_team(team_id: int) -> ColumnElement[bool]:
    """A condition on `ActionItem`: its incident affects one of the team's services."""
    return exists(
        select(incident_services.c.incident_id)
        .join(Service, Service.id == incident_services.c.service_id)
        .where(
            incident_services.c.incident_id == ActionItem.incident_id,
            Service.team_id == team_id,
        )
    )


def on_service(service_id: int) -> ColumnElement[bool]:
    """A condition on `ActionItem`: its incident affects the service."""
    return exists(
        select(incident_services.c.incident_id).where(
            incident_services.c.incident_id == ActionItem.incident_id,
            incident_services.c.service_id == service_id,
        )
    )


def tagged(tag: str) -> ColumnElement[bool]:
    """A condition on `ActionItem`: it carries `tag`. Tags hold no quotes (actions.TAG_RE), so
    the quoted tag found in the JSON text is that whole tag on SQLite and PostgreSQL alike."""
    return cast(ActionItem.tags, String).contains(f'"{tag.strip().lower()}"', autoescape=True)


def follow_ups(
    session: Session,
    *,
    viewer: User,
    team_id: int | None = None,
    service_id: int | None = None,
    status: StatusFilter = "unfinished",
    assignee_id: int | None = None,
    tag: str | None = None,
    overdue_on: date | None = None,
    sort: Sort = "due",
    limit: int = 200,
    offset: int = 0,
) -> tuple[list[ActionItem], int]:
    """Follow-ups (items of kind follow_up) of the incidents `viewer` may see; `overdue_on`
    keeps the unfinished ones past due on that day. Sorted soonest due first (`due`), oldest
    first (`age`) or newest first."""
    query = (
        select(ActionItem)
        .join(Incident, Incident.id == ActionItem.incident_id)
        .where(visible_filter(viewer), ActionItem.kind == ActionKind.follow_up.value)
    )
    if status == "unfinished":
        query = query.where(ActionItem.status.in_(UNFINISHED))
    elif status != "any":
        query = query.where(ActionItem.status == status)
    if overdue_on is not None:
        query = query.where(
            ActionItem.status.in_(UNFINISHED),
            ActionItem.due_date.is_not(None),
            ActionItem.due_date < overdue_on,
        )
    if team_id is not None:
        query = query.where(on_team(team_id))
    if service_id is not None:
        query = query.where(on_service(service_id))
    if assignee_id is not None:
        query = query.where(ActionItem.assignee_id == assignee_id)
    if tag:
        query = query.where(tagged(tag))
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    order: list[ColumnElement[Any] | InstrumentedAttribute[Any]]
    if sort == "age":
        order = [ActionItem.created_at, ActionItem.id]
    elif sort == "newest":
        order = [ActionItem.created_at.desc(), ActionItem.id.desc()]
    else:
        order = [ActionItem.due_date.is_(None), ActionItem.due_date, ActionItem.id]
    rows = session.scalars(
        query.order_by(*order)
        .limit(limit)
        .offset(offset)
        .options(selectinload(ActionItem.incident).selectinload(Incident.services))
    ).all()
    return list(rows), total


def postmortems_of(session: Session, incident_ids: Iterable[int]) -> dict[int, int]:
    """{incident id: its postmortem's id} for those that have one, in one query."""
    wanted = set(incident_ids)
    if not wanted:
        return {}
    rows = session.execute(
        select(Postmortem.incident_id, Postmortem.id).where(Postmortem.incident_id.in_(wanted))
    )
    return {incident_id: postmortem_id for incident_id, postmortem_id in rows}
