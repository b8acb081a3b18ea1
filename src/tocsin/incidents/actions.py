"""Action items: what must be done during the incident and what must follow it."""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Any

from sqlalchemy.orm import Session

from tocsin import validation as v
from tocsin.catalog.models import User
from tocsin.db import utcnow
from tocsin.errors import NotFound, ValidationFailed
from tocsin.incidents.access import can_see
from tocsin.incidents.models import (
    ActionItem,
    ActionKind,
    ActionPriority,
    ActionStatus,
    Incident,
)
from tocsin.incidents.timeline import actor_name, record

TITLE_MAX = 255
TEXT_MAX = 10_000
_DONE = (ActionStatus.done.value, ActionStatus.wont_do.value)
TAG_MAX = 40
TAGS_MAX = 20
# Lowercase, so `SEV1` and `sev1` are one tag; no spaces or quotes, so a tag reads the same in
# a URL, on the command line and inside the JSON column the list filters search.
TAG_RE = re.compile(r"^[a-z0-9][a-z0-9_.:-]*$")
# PagerDuty's convention: a follow-up of a SEV1 carries `sev1` and `sev1_<start date>`.
SEVERITY_TAGGED = ("SEV1", "SEV2")


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
    if not user.is_person:
        raise ValidationFailed(
            f"assignee_id: {user.name} is a service account, not a person", field="assignee_id"
        )
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


def _priority(value: Any) -> str:
    return v.one_of(value, "priority", [p.value for p in ActionPriority])


def _tags(value: Any) -> list[str]:
    """Tags as given, lowercased, without duplicates, in their first order."""
    if not isinstance(value, list | tuple):
        raise ValidationFailed("tags must be a list of short strings", field="tags")
    tags: list[str] = []
    for raw in value:
        if not isinstance(raw, str):
            raise ValidationFailed("tags must be a list of short strings", field="tags")
        tag = raw.strip().lower()
        if len(tag) > TAG_MAX:
            raise ValidationFailed(
                f"tag “{tag[:TAG_MAX]}…” is longer than {TAG_MAX} characters", field="tags"
            )
        if not TAG_RE.match(tag):
            raise ValidationFailed(
                f"tag “{tag}” may hold only letters, digits and _ . : - "
                "(and starts with a letter or digit)",
                field="tags",
            )
        if tag not in tags:
            tags.append(tag)
    if len(tags) > TAGS_MAX:
        raise ValidationFailed(f"at most {TAGS_MAX} tags", field="tags")
    return tags


def severity_tags(incident: Incident) -> list[str]:
    """`sev1` and `sev1_<YYYYMMDD>` (the day the incident started, UTC) for SEV1 and SEV2."""
    severity = incident.severity
    if severity is None or severity.name.upper() not in SEVERITY_TAGGED:
        return []
    name = severity.name.lower()
    started = incident.started_at or incident.created_at or utcnow()
    return [name, f"{name}_{started:%Y%m%d}"]


def add_action_item(
    session: Session,
    incident: Incident,
    *,
    title: str,
    description: str = "",
    assignee_id: int | None = None,
    due_date: date | None = None,
    kind: str = ActionKind.incident.value,
    priority: str = ActionPriority.medium.value,
    tags: list[str] | None = None,
    by: User | None,
    occurred_at: datetime | None = None,
) -> ActionItem:
    """Add an item; an item of a SEV1 or SEV2 incident also gets its severity's tags.
    `occurred_at` (not in the future) records an item agreed earlier, as at a postmortem's
    review meeting: its age counts from then."""
    now = utcnow()
    when = v.past(occurred_at, "occurred_at", now) or now
    title = v.text(title, "title", max_len=TITLE_MAX, required=True)
    given = _tags(tags or [])
    item = ActionItem(
        incident=incident,
        title=title,
        description=v.text(description, "description", max_len=TEXT_MAX),
        assignee=_assignee(session, incident, assignee_id),
        due_date=_due(due_date),
        kind=v.one_of(kind, "kind", [k.value for k in ActionKind]),
        priority=_priority(priority),
        tags=_tags(severity_tags(incident) + given),
        status=ActionStatus.open.value,
        created_at=when,
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
        occurred_at=when,
    )
    return item


def update_action_item(
    session: Session, item: ActionItem, changes: dict[str, Any], *, by: User | None
) -> ActionItem:
    """Edit an item; status and assignee changes are recorded on the incident's timeline."""
    allowed = {"title", "description", "assignee_id", "due_date", "status", "kind"}
    allowed |= {"priority", "tags"}
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
    if "priority" in changes:
        item.priority = _priority(changes["priority"])
    if "tags" in changes:
        item.tags = _tags(changes["tags"])
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
