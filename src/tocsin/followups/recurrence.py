"""Recurrence memory: earlier incidents like this one, and what they left undone.

"Like this one": an earlier incident (a lower number) that affected one of the same services
or had an alert with one of the same dedup keys. The incident page shows the most recent few
the viewer may see, with their unfinished follow-ups and how overdue each is."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from sqlalchemy import or_, select
from sqlalchemy.orm import Session, selectinload

from tocsin.alerts.models import Alert
from tocsin.catalog.models import User
from tocsin.followups.queries import UNFINISHED
from tocsin.incidents.access import visible_filter
from tocsin.incidents.models import ActionItem, ActionKind, Incident, incident_services

SHOWN = 5


@dataclass
class Earlier:
    incident: Incident
    services: list[str]  # the services it shares with this one
    same_alert: bool  # it had an alert with one of this one's dedup keys
    follow_ups: list[ActionItem] = field(default_factory=list)  # unfinished, most overdue first


def earlier_like(
    session: Session, incident: Incident, *, viewer: User, limit: int = SHOWN
) -> list[Earlier]:
    """The most recent earlier incidents sharing a service or an alert dedup key with
    `incident` that `viewer` may see, newest first (five queries whatever the count)."""
    service_ids = {s.id for s in incident.services}
    keys = set(session.scalars(select(Alert.dedup_key).where(Alert.incident_id == incident.id)))
    if not service_ids and not keys:
        return []
    same_service = Incident.id.in_(
        select(incident_services.c.incident_id).where(
            incident_services.c.service_id.in_(service_ids)
        )
    )
    same_key = Incident.id.in_(
        select(Alert.incident_id).where(Alert.dedup_key.in_(keys), Alert.incident_id.is_not(None))
    )
    conditions = ([same_service] if service_ids else []) + ([same_key] if keys else [])
    found = session.scalars(
        select(Incident)
        .where(Incident.number < incident.number, or_(*conditions), visible_filter(viewer))
        .order_by(Incident.number.desc())
        .limit(limit)
        .options(selectinload(Incident.services))
    ).all()
    if not found:
        return []
    ids = [i.id for i in found]
    keyed = set(
        session.scalars(
            select(Alert.incident_id).where(Alert.incident_id.in_(ids), Alert.dedup_key.in_(keys))
        )
    ) if keys else set()  # fmt: skip
    items = session.scalars(
        select(ActionItem)
        .where(
            ActionItem.incident_id.in_(ids),
            ActionItem.kind == ActionKind.follow_up.value,
            ActionItem.status.in_(UNFINISHED),
        )
        .order_by(ActionItem.due_date.is_(None), ActionItem.due_date, ActionItem.id)
    ).all()
    by_incident: dict[int, list[ActionItem]] = {}
    for item in items:
        by_incident.setdefault(item.incident_id, []).append(item)
    return [
        Earlier(
            incident=other,
            services=[s.name for s in other.services if s.id in service_ids],
            same_alert=other.id in keyed,
            follow_ups=by_incident.get(other.id, []),
        )
        for other in found
    ]


def describe(item: ActionItem, today: date) -> str:
    """ "INC-12's follow-up “add failover” is 40 days overdue" (or open, due when)."""
    head = f"{item.incident.reference}'s follow-up “{item.title}”"
    late = item.days_overdue(today)
    if late:
        return f"{head} is {late} day{'s' if late != 1 else ''} overdue"
    if item.due_date is not None:
        return f"{head} is open, due {item.due_date.isoformat()}"
    return f"{head} is open, with no due date"
