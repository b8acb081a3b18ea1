"""The period's pages, read once for both parts of the on-call tab (insights.load and
insights.shifts), which count them a little differently.

A page is the deliveries of one page to one person for one incident (one `page_key`, user
and incident). Both parts leave drills out and keep the incidents of the service, severity
and type filters. Where they differ is when a page happened:

- the on-call load (`planned`): its first delivery with a rule position in the period (a
  fallback after a failure never starts a page);
- the rotations (`first`): its earliest delivery of any kind, looking back `PAGE_SPAN` before
  the period, so that a page whose first delivery came before the period is not counted
  because of a later one inside it.

One grouped query gives each page both times.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime, timedelta
from typing import NamedTuple

from sqlalchemy import ColumnElement, and_, case, func, select
from sqlalchemy.orm import Session

from tocsin.incidents.models import Incident, incident_services
from tocsin.insights.filters import Filters
from tocsin.notify.models import Notification

# Every delivery of one page is planned within a day of the first (fallbacks after failed
# attempts included), so looking back a day before the period finds each page's first one.
PAGE_SPAN = timedelta(days=1)
# More people than this: the period's pages of everyone are read (no IN list of them).
FEW_PEOPLE = 200


class Paged(NamedTuple):  # tuples: a quarter holds tens of thousands
    """One page: `user_id` paged for `incident_id` through `key`; `first` its earliest
    delivery (from `PAGE_SPAN` before the period), `planned` its first delivery with a rule
    position in the period (None: it has none there). Both aware UTC."""

    key: str
    user_id: int
    incident_id: int
    first: datetime
    planned: datetime | None


def incident_conditions(f: Filters) -> list[ColumnElement[bool]]:
    """Conditions on `Incident` for the pages in scope: no drills; the service, severity and
    type filters (the team filter selects people, not incidents)."""
    return [Incident.drill.is_(False), *_filtered(f)]


def _filtered(f: Filters) -> list[ColumnElement[bool]]:
    """Conditions on `Incident` of the service, severity and type filters."""
    found: list[ColumnElement[bool]] = []
    if f.severity is not None:
        found.append(Incident.severity_id == f.severity.id)
    if f.incident_type is not None:
        found.append(Incident.type_id == f.incident_type.id)
    if f.service is not None:
        found.append(
            Incident.id.in_(
                select(incident_services.c.incident_id).where(
                    incident_services.c.service_id == f.service.id
                )
            )
        )
    return found


def read(session: Session, f: Filters, people: Collection[int] | None) -> list[Paged]:
    """The pages in scope of `f` with a delivery in the period (or in the `PAGE_SPAN` before
    it), of `people` (None, or more than FEW_PEOPLE of them: of everyone), one row each."""
    in_period = and_(Notification.rule_position.is_not(None), Notification.created_at >= f.start)
    first = func.min(Notification.created_at)
    planned: ColumnElement[datetime | None] = func.min(case((in_period, Notification.created_at)))
    conditions = [
        Notification.created_at >= f.start - PAGE_SPAN,
        Notification.created_at < f.end,
        # Not a drill's, as a correlated NOT EXISTS: PostgreSQL then hashes the few drills
        # rather than every other incident, and SQLite looks each incident up by id.
        ~select(Incident.id)
        .where(Incident.id == Notification.incident_id, Incident.drill.is_(True))
        .exists(),
    ]
    about = _filtered(f)
    if about:
        conditions.append(Notification.incident_id.in_(select(Incident.id).where(*about)))
    if people is not None and len(people) <= FEW_PEOPLE:
        conditions.append(Notification.user_id.in_(sorted(people)))
    query = (
        select(
            Notification.page_key, Notification.user_id, Notification.incident_id, first, planned
        )
        .where(*conditions)
        .group_by(Notification.page_key, Notification.user_id, Notification.incident_id)
        # A page that began before the period, with no first delivery in it: neither counts it.
        .having((first >= f.start) | planned.is_not(None))
    )
    return [
        Paged(key, user_id, incident_id, at, planned_at)
        for key, user_id, incident_id, at, planned_at in session.execute(query)
    ]
