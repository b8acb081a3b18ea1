"""Reading incidents: lookup by reference, search with filters, action item lists."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, func, or_, select
from sqlalchemy.orm import Session, selectinload

from tocsin.catalog.models import Service, Team, User
from tocsin.definitions.models import IncidentRole, IncidentType, Severity
from tocsin.errors import NotFound, UnknownReference, ValidationFailed
from tocsin.incidents.access import visible_filter
from tocsin.incidents.members import note_admin_read
from tocsin.incidents.models import (
    ActionItem,
    ActionStatus,
    Incident,
    Status,
    TimelineEntry,
    incident_services,
)
from tocsin.validation import digits

_REF_RE = re.compile(r"^(?:INC-?)?([0-9]{1,12})$", re.IGNORECASE)  # \d would take "٤٢"


def get_incident(session: Session, reference: str | int, *, viewer: User) -> Incident:
    """Find an incident `viewer` may see by INC-42, 42 or its number; NotFound otherwise,
    with the same message whether it does not exist or is hidden from them."""
    match = _REF_RE.match(str(reference).strip())
    incident = None
    if match:
        incident = session.scalar(
            select(Incident).where(Incident.number == int(match.group(1)), visible_filter(viewer))
        )
    if incident is None:
        raise NotFound(f"no incident {reference}")
    # An admin reading a private incident they are not a member of is recorded.
    note_admin_read(session, incident, viewer)
    return incident


@dataclass
class IncidentFilter:
    statuses: Sequence[str] = ()
    severity_ids: Sequence[int] = ()
    service_ids: Sequence[int] = ()
    team_ids: Sequence[int] = ()
    type_ids: Sequence[int] = ()
    text: str = ""
    since: datetime | None = None
    until: datetime | None = None
    open_only: bool = False
    include_drills: bool = True
    sort: str = "-created"
    extra: dict[str, str] = field(default_factory=dict)


SORTS: dict[str, tuple[ColumnElement[Any], ColumnElement[Any]]] = {
    "-created": (Incident.created_at.desc(), Incident.id.desc()),
    "created": (Incident.created_at.asc(), Incident.id.asc()),
    "-started": (Incident.started_at.desc(), Incident.id.desc()),
    "-updated": (Incident.updated_at.desc(), Incident.id.desc()),
    "severity": (Incident.severity_id.asc(), Incident.created_at.desc()),
}


def _filtered(flt: IncidentFilter, viewer: User) -> Select[Incident]:
    query = select(Incident).where(visible_filter(viewer))
    bad = [s for s in flt.statuses if s not in {st.value for st in Status}]
    if bad:
        raise ValidationFailed(f"unknown status {bad[0]!r}", field="status")
    if flt.statuses:
        query = query.where(Incident.status.in_(list(flt.statuses)))
    if flt.open_only:
        query = query.where(Incident.status.notin_([Status.resolved.value, Status.closed.value]))
    if flt.severity_ids:
        query = query.where(Incident.severity_id.in_(list(flt.severity_ids)))
    if flt.type_ids:
        query = query.where(Incident.type_id.in_(list(flt.type_ids)))
    if flt.service_ids or flt.team_ids:
        services = select(incident_services.c.incident_id)
        if flt.service_ids:
            services = services.where(incident_services.c.service_id.in_(list(flt.service_ids)))
        if flt.team_ids:
            services = services.join(Service, Service.id == incident_services.c.service_id).where(
                Service.team_id.in_(list(flt.team_ids))
            )
        query = query.where(Incident.id.in_(services))
    if not flt.include_drills:
        query = query.where(Incident.drill.is_(False))
    if flt.since is not None:
        query = query.where(Incident.started_at >= flt.since)
    if flt.until is not None:
        query = query.where(Incident.started_at < flt.until)
    text = flt.text.strip()
    if text:
        ref = _REF_RE.match(text)
        pattern = f"%{text.lower()}%"
        conditions: list[ColumnElement[bool]] = [
            func.lower(Incident.title).like(pattern),
            func.lower(Incident.description).like(pattern),
            func.lower(Incident.customer_impact).like(pattern),
        ]
        if ref:
            conditions.append(Incident.number == int(ref.group(1)))
        query = query.where(or_(*conditions))
    return query


def matching_ids(flt: IncidentFilter, viewer: User) -> Select[tuple[int]]:
    """The ids of the incidents `viewer` may see that match the filter, as a subquery."""
    return _filtered(flt, viewer).with_only_columns(Incident.id)


def search_incidents(
    session: Session, flt: IncidentFilter, *, viewer: User, limit: int = 50, offset: int = 0
) -> tuple[list[Incident], int]:
    """One page of the incidents `viewer` may see that match the filter, and how many match
    in all."""
    if flt.sort not in SORTS:
        raise ValidationFailed(f"sort must be one of {', '.join(SORTS)}", field="sort")
    if not 1 <= limit <= 500:
        raise ValidationFailed("limit must be between 1 and 500", field="limit")
    if offset < 0:
        raise ValidationFailed("offset cannot be negative", field="offset")
    query = _filtered(flt, viewer)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.scalars(
        query.order_by(*SORTS[flt.sort])
        .limit(limit)
        .offset(offset)
        .options(
            selectinload(Incident.services),
            selectinload(Incident.severity),
            selectinload(Incident.priority),
            selectinload(Incident.incident_type),
            selectinload(Incident.role_assignments),
        )
    ).all()
    return list(rows), total


def timeline(
    session: Session, incident: Incident, *, key_only: bool = False
) -> list[TimelineEntry]:
    """The incident's timeline in the order things happened."""
    query = select(TimelineEntry).where(TimelineEntry.incident_id == incident.id)
    if key_only:
        query = query.where(TimelineEntry.is_key_event.is_(True))
    return list(session.scalars(query.order_by(TimelineEntry.occurred_at, TimelineEntry.id)).all())


def action_items(
    session: Session,
    *,
    viewer: User,
    assignee_id: int | None = None,
    overdue_on: date | None = None,
    open_only: bool = False,
    kind: str | None = None,
    limit: int = 200,
    offset: int = 0,
) -> tuple[list[ActionItem], int]:
    """Action items across the incidents `viewer` may see; `overdue_on` keeps those past
    due on that day."""
    query = (
        select(ActionItem)
        .join(Incident, Incident.id == ActionItem.incident_id)
        .where(visible_filter(viewer))
    )
    if assignee_id is not None:
        query = query.where(ActionItem.assignee_id == assignee_id)
    open_states = [ActionStatus.open.value, ActionStatus.in_progress.value]
    if open_only or overdue_on is not None:
        query = query.where(ActionItem.status.in_(open_states))
    if overdue_on is not None:
        query = query.where(ActionItem.due_date.is_not(None), ActionItem.due_date < overdue_on)
    if kind is not None:
        query = query.where(ActionItem.kind == kind)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.scalars(
        query.order_by(ActionItem.due_date.is_(None), ActionItem.due_date, ActionItem.id)
        .limit(limit)
        .offset(offset)
        .options(selectinload(ActionItem.incident))
    ).all()
    return list(rows), total


def get_action_item(session: Session, item_id: int, *, viewer: User) -> ActionItem:
    """An action item of an incident `viewer` may see, by id; NotFound otherwise."""
    item = session.scalar(
        select(ActionItem)
        .join(Incident, Incident.id == ActionItem.incident_id)
        .where(ActionItem.id == item_id, visible_filter(viewer))
    )
    if item is None:
        raise NotFound(f"no action item with id {item_id}")
    return item


def counts_by_status_and_severity(
    session: Session,
) -> list[tuple[str, str | None, bool, int]]:
    """(status, severity name, drill, count) for the metrics endpoint: counts only, never a
    title or a reference, so restricted incidents are counted like the others."""
    rows = session.execute(
        select(Incident.status, Severity.name, Incident.drill, func.count(Incident.id))
        .outerjoin(Severity, Severity.id == Incident.severity_id)
        .group_by(Incident.status, Severity.name, Incident.drill)
    ).all()
    return [(r[0], r[1], bool(r[2]), r[3]) for r in rows]


def ids_by_name(
    session: Session,
    model: type[Severity | Service | Team | IncidentType],
    values: Sequence[str],
    field: str,
) -> list[int]:
    """Turn filter values that are ids or names (any case) into ids; unknown names refused."""
    ids: list[int] = []
    for value in values:
        value = value.strip()
        number = digits(value)
        if number is not None:
            ids.append(number)
            continue
        found = session.scalar(select(model.id).where(func.lower(model.name) == value.lower()))
        if found is None:
            raise UnknownReference(f"{field}: nothing named {value!r}", field=field)
        ids.append(found)
    return ids


def role_by_slug(session: Session, slug: str) -> IncidentRole:
    role = session.scalar(select(IncidentRole).where(IncidentRole.slug == slug))
    if role is None:
        raise NotFound(f"no incident role {slug!r}")
    return role
