"""What an event webhook says: the event kinds, and the versioned JSON body of each.

The body is `{"id", "event", "version", "occurred_at", "incident": {...}, "data": {...}}`
(docs/webhooks.md). It is built in the transaction of the change, from the domain event and
the incident as it stands then, and stored with the delivery: every attempt sends the same
bytes (only the signature's timestamp changes).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from tocsin.alerts.events import AlertOpened, AlertResolved
from tocsin.bus import Event
from tocsin.catalog.models import Service, User
from tocsin.definitions.models import IncidentType, Severity
from tocsin.escalation.events import PageAcknowledged
from tocsin.incidents import events as ev
from tocsin.incidents.models import Incident, Status, StatusUpdate
from tocsin.notify.events import NotificationSent
from tocsin.runbooks.events import RunbookAttached, RunbookStepChanged

VERSION = 1
TEST_EVENT = "webhook.test"

# Every kind a subscription may ask for, with what it means (shown in the UI and the docs).
EVENT_KINDS: dict[str, str] = {
    "incident.declared": "An incident (or drill) was declared.",
    "incident.acknowledged": "Someone took the incident on (triggered → acknowledged).",
    "incident.status_changed": "It moved to investigating, identified or monitoring.",
    "incident.resolved": "The incident was resolved.",
    "incident.closed": "The incident was closed.",
    "incident.reopened": "A resolved or closed incident was reopened.",
    "incident.severity_changed": "Its severity changed.",
    "incident.type_changed": "Its type changed.",
    "incident.fields_changed": "Custom field values changed.",
    "incident.edited": "Title, description, impact, priority, links, services or flags changed.",
    "incident.role_assigned": "A role was given, handed over or left unfilled.",
    "incident.update_posted": "A status update (internal or external) was posted.",
    "alert.opened": "An alert opened the incident or was grouped into it.",
    "alert.resolved": "One of the incident's alerts was resolved.",
    "page.sent": "A page reached one of a person's contact methods.",
    "page.acknowledged": "Someone acknowledged the paging of the incident.",
    "runbook.attached": "A runbook was attached to the incident (by hand or automatically).",
    "runbook.step_ticked": "A step of one of its runbooks was ticked.",
    "runbook.step_unticked": "A ticked step of one of its runbooks was unticked.",
}


def _user(session: Session, user_id: int | None) -> dict[str, Any] | None:
    user = session.get(User, user_id) if user_id is not None else None
    return {"id": user.id, "name": user.name} if user is not None else None


def _severity_name(session: Session, ident: int | None) -> str | None:
    row = session.get(Severity, ident) if ident is not None else None
    return row.name if row is not None else None


def _type_name(session: Session, ident: int | None) -> str | None:
    row = session.get(IncidentType, ident) if ident is not None else None
    return row.name if row is not None else None


def _services(session: Session, ids: tuple[int, ...]) -> list[str]:
    return [s.name for s in (session.get(Service, i) for i in ids) if s is not None]


def _status_kind(event: ev.IncidentStatusChanged) -> str:
    if event.acknowledged:
        return "incident.acknowledged"
    if event.reopened:
        return "incident.reopened"
    if event.new == Status.resolved:
        return "incident.resolved"
    if event.new == Status.closed:
        return "incident.closed"
    return "incident.status_changed"


Described = tuple[str, int | None, dict[str, Any]]  # (kind, incident id, data)


def _declared(s: Session, e: ev.IncidentDeclared) -> Described:
    data = {"urgency": e.urgency, "paging": e.paging, "commander": _user(s, e.commander_id)}
    return "incident.declared", e.incident_id, {**data, "by": _user(s, e.by_id)}


def _status(s: Session, e: ev.IncidentStatusChanged) -> Described:
    data = {"old_status": str(e.old), "new_status": str(e.new), "by": _user(s, e.by_id)}
    return _status_kind(e), e.incident_id, data


def _severity(s: Session, e: ev.IncidentSeverityChanged) -> Described:
    data = {"old": _severity_name(s, e.old_id), "new": _severity_name(s, e.new_id)}
    return "incident.severity_changed", e.incident_id, {**data, "by": _user(s, e.by_id)}


def _type(s: Session, e: ev.IncidentTypeChanged) -> Described:
    data = {"old": _type_name(s, e.old_id), "new": _type_name(s, e.new_id)}
    return "incident.type_changed", e.incident_id, {**data, "by": _user(s, e.by_id)}


def _fields(s: Session, e: ev.IncidentFieldsChanged) -> Described:
    changes = [{"key": c.key, "old": c.old, "new": c.new} for c in e.changes]
    return "incident.fields_changed", e.incident_id, {"changes": changes, "by": _user(s, e.by_id)}


def _edited(s: Session, e: ev.IncidentEdited) -> Described:
    data = {
        "fields": list(e.fields),
        "added_services": _services(s, e.added_service_ids),
        "removed_services": _services(s, e.removed_service_ids),
        "by": _user(s, e.by_id),
    }
    return "incident.edited", e.incident_id, data


def _role(s: Session, e: ev.RoleAssigned) -> Described:
    data = {
        "role": e.role_slug,
        "user": _user(s, e.user_id),
        "previous_user": _user(s, e.previous_user_id),
        "by": _user(s, e.by_id),
    }
    return "incident.role_assigned", e.incident_id, data


def _update(s: Session, e: ev.UpdatePosted) -> Described:
    update = s.get(StatusUpdate, e.update_id)
    data = {
        "update_id": e.update_id,
        "phase": e.phase,
        "visibility": e.visibility,
        "message": update.body if update is not None else "",
        "by": _user(s, e.by_id),
    }
    return "incident.update_posted", e.incident_id, data


def _alert_opened(s: Session, e: AlertOpened) -> Described:
    service = s.get(Service, e.service_id)
    data = {
        "alert_id": e.alert_id,
        "service": service.name if service is not None else None,
        "dedup_key": e.dedup_key,
        "severity": e.severity,
        "summary": e.summary,
        "joined": e.joined,
    }
    return "alert.opened", e.incident_id, data


def _alert_resolved(s: Session, e: AlertResolved) -> Described:
    service = s.get(Service, e.service_id)
    data = {"alert_id": e.alert_id, "service": service.name if service is not None else None}
    return "alert.resolved", e.incident_id, data


def _page_sent(s: Session, e: NotificationSent) -> Described:
    data = {"notification_id": e.notification_id, "user": _user(s, e.user_id), "channel": e.channel}
    return "page.sent", e.incident_id, data


def _page_acknowledged(s: Session, e: PageAcknowledged) -> Described:
    return "page.acknowledged", e.incident_id, {"by": _user(s, e.by_id)}


def _runbook_attached(s: Session, e: RunbookAttached) -> Described:
    data = {
        "attachment_id": e.attachment_id,
        "runbook": {"id": e.runbook_id, "title": e.title, "version": e.version},
        "steps": e.steps,
        "by": _user(s, e.by_id),
    }
    return "runbook.attached", e.incident_id, data


def _runbook_step(s: Session, e: RunbookStepChanged) -> Described:
    data = {
        "attachment_id": e.attachment_id,
        "runbook": {"id": e.runbook_id, "title": e.title},
        "step": {"number": e.step, "text": e.text, "role": e.role},
        "by": _user(s, e.by_id),
    }
    return ("runbook.step_ticked" if e.done else "runbook.step_unticked"), e.incident_id, data


# The domain events webhooks react to, and how each is described.
DESCRIBE: dict[type[Event], Callable[[Session, Any], Described]] = {
    ev.IncidentDeclared: _declared,
    ev.IncidentStatusChanged: _status,
    ev.IncidentSeverityChanged: _severity,
    ev.IncidentTypeChanged: _type,
    ev.IncidentFieldsChanged: _fields,
    ev.IncidentEdited: _edited,
    ev.RoleAssigned: _role,
    ev.UpdatePosted: _update,
    AlertOpened: _alert_opened,
    AlertResolved: _alert_resolved,
    NotificationSent: _page_sent,
    PageAcknowledged: _page_acknowledged,
    RunbookAttached: _runbook_attached,
    RunbookStepChanged: _runbook_step,
}


def incident_json(incident: Incident, base_url: str) -> dict[str, Any]:
    """The incident as every event shows it."""
    return {
        "reference": incident.reference,
        "title": incident.title,
        "status": incident.status,
        "severity": incident.severity.name if incident.severity is not None else None,
        "priority": incident.priority.name if incident.priority is not None else None,
        "type": incident.incident_type.name if incident.incident_type is not None else None,
        "services": [s.name for s in incident.services],
        "url": f"{base_url.rstrip('/')}/incidents/{incident.reference}",
        "drill": incident.drill,
        "restricted": incident.restricted,
    }


def body(
    delivery_uuid: str,
    kind: str,
    occurred_at: datetime,
    incident: dict[str, Any],
    data: dict[str, Any],
) -> dict[str, Any]:
    """The versioned JSON body of one delivery."""
    return {
        "id": delivery_uuid,
        "event": kind,
        "version": VERSION,
        "occurred_at": occurred_at.isoformat(),
        "incident": incident,
        "data": data,
    }


def test_incident(base_url: str) -> dict[str, Any]:
    """The sample incident a test event carries (a drill, so receivers can ignore it)."""
    return {
        "reference": "INC-0",
        "title": "Test event from Tocsin",
        "status": str(Status.triggered),
        "severity": None,
        "priority": None,
        "type": None,
        "services": [],
        "url": f"{base_url.rstrip('/')}/settings/webhooks",
        "drill": True,
        "restricted": False,
    }
