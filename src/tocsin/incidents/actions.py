"""Action items: what must be done during the incident and what must follow it."""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy.orm import Session

from tocsin import validation as v
from tocsin.catalog.models import User
from tocsin.db import utcnow
from tocsin.errors import NotFound, ValidationFailed
from tocsin.incidents.access import can_see
from tocsin.incidents.models import ActionItem, ActionKind, ActionStatus, Incident
from tocsin.incidents.timeline import actor_name, record

TITLE_MAX = 255
TEXT_MAX = 10_000
_DONE = (ActionStatus.done.value, ActionStatus.wont_do.value)


def _assignee(session: Session, incident: Incident, user_id: Any) -> User | None:
    """The person an item is given to: someone who may see the incident, or they could not
    see the item either (a restricted incident's items are as hidden as the incident)."""
    if user_id is None:
        return None
    if isinstance(user_id, bool) or not isinstance(user_id, int):
        raise ValidationFailed("assignee_id must be a user id", field="assignee_id")
    user = session.get(User, user_id)
    if user is None:
        raise NotFound(f"assignee_id: no user with id {user_id}", field="assignee_id")
    if not can_see(session, user, incident):
        raise ValidationFailed(
            f"assignee_id: {user.name} may not see {incident.reference}, which is restricted; "
            "give them a role on it or make them a stakeholder first",
            field="assignee_id",
        )
    return user


def _due(value: Any) -> date | None:
    if value is None or isinstance(value, date):
        return value
    raise ValidationFailed("due_date must be a date (YYYY-MM-DD)", field="due_date")


def add_action_item(
    session: Session,
    incident: Incident,
    *,
    title: str,
    description: str = "",
    assignee_id: int | None = None,
    due_date: date | None = None,
    kind: str = ActionKind.incident.value,
    by: User | None,
) -> ActionItem:
    title = v.text(title, "title", max_len=TITLE_MAX, required=True)
    item = ActionItem(
        incident=incident,
        title=title,
        description=v.text(description, "description", max_len=TEXT_MAX),
        assignee=_assignee(session, incident, assignee_id),
        due_date=_due(due_date),
        kind=v.one_of(kind, "kind", [k.value for k in ActionKind]),
        status=ActionStatus.open.value,
        created_at=utcnow(),
    )
    session.add(item)
    session.flush()
    label = "follow-up" if item.kind == ActionKind.follow_up.value else "action item"
    owner = f" for {item.assignee.name}" if item.assignee else ""
    record(
        session,
        incident,
        "action_item_added",
        f"{actor_name(by)} added {label} “{title}”{owner}",
        by=by,
        new={"action_item_id": item.id},
    )
    return item


def update_action_item(
    session: Session, item: ActionItem, changes: dict[str, Any], *, by: User | None
) -> ActionItem:
    """Edit an item; status and assignee changes are recorded on the incident's timeline."""
    allowed = {"title", "description", "assignee_id", "due_date", "status", "kind"}
    unknown = set(changes) - allowed
    if unknown:
        raise ValidationFailed(f"unknown field(s): {', '.join(sorted(unknown))}")
    who = actor_name(by)
    incident = item.incident
    if "title" in changes:
        item.title = v.text(changes["title"], "title", max_len=TITLE_MAX, required=True)
    if "description" in changes:
        item.description = v.text(changes["description"], "description", max_len=TEXT_MAX)
    if "due_date" in changes:
        item.due_date = _due(changes["due_date"])
    if "kind" in changes:
        item.kind = v.one_of(changes["kind"], "kind", [k.value for k in ActionKind])
    if "assignee_id" in changes:
        assignee = _assignee(session, incident, changes["assignee_id"])
        if assignee is not item.assignee:
            old = item.assignee.name if item.assignee else None
            item.assignee = assignee
            record(
                session,
                incident,
                "action_item_changed",
                f"{who} assigned “{item.title}” to {assignee.name if assignee else 'nobody'}",
                by=by,
                field="assignee",
                old=old,
                new=assignee.name if assignee else None,
            )
    if "status" in changes:
        status = v.one_of(changes["status"], "status", [s.value for s in ActionStatus])
        if status != item.status:
            old_status = item.status
            item.status = status
            item.completed_at = utcnow() if status in _DONE else None
            record(
                session,
                incident,
                "action_item_changed",
                f"{who} marked “{item.title}” {status.replace('_', ' ')}",
                by=by,
                field="status",
                old=old_status,
                new=status,
            )
    incident.updated_at = utcnow()
    session.flush()
    return item
