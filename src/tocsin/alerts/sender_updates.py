"""Changes a sender makes to an alert it raised, besides acknowledging and closing it: a new
message, description or priority, or a note (the Opsgenie Alert API's updates and notes).

Applied in the caller's transaction, which holds the event processor's lock so the change
never interleaves with a batch; the caller waits first until the events stored before it for
the same alert are applied (an update right after a create must find the alert). Each request
is kept as an event with its outcome, like the events the processor applies, so "what did the
sender do?" and Opsgenie's request status have an answer.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from tocsin.alerts.models import PENDING, Alert, AlertStatus, Event, Outcome
from tocsin.alerts.opsgenie import NOTE, PRIORITY_SEVERITY
from tocsin.alerts.pagerduty import SUMMARY_MAX, ParsedEvent
from tocsin.alerts.pipeline import event_row
from tocsin.db import utcnow, wait_for_event_processor
from tocsin.incidents.models import Incident
from tocsin.incidents.timeline import record


def find_alert(
    session: Session,
    integration_id: int,
    *,
    dedup_key: str | None = None,
    alert_id: int | None = None,
    for_update: bool = False,
) -> Alert | None:
    """The integration's alert with this id; or by dedup key (Opsgenie's alias), the open
    alert with it, else the latest one that had it."""
    query = select(Alert).where(Alert.integration_id == integration_id)
    if alert_id is not None:
        query = query.where(Alert.id == alert_id)
    else:
        query = query.where(Alert.dedup_key == (dedup_key or "")).order_by(
            (Alert.status == AlertStatus.resolved.value).asc(), Alert.id.desc()
        )
    if for_update:
        query = query.with_for_update(of=Alert)
    return session.scalars(query.limit(1)).first()


def waiting_before(session: Session, integration_id: int, dedup_key: str) -> bool:
    """Whether an event for this key of the integration still waits to be applied."""
    return (
        session.scalar(
            select(Event.id)
            .where(PENDING, Event.integration_id == integration_id, Event.dedup_key == dedup_key)
            .limit(1)
        )
        is not None
    )


def update_alert(
    session: Session,
    integration_id: int,
    change: ParsedEvent,
    *,
    raw: str | None,
    request_id: str | None,
    received_at: datetime | None = None,
) -> Event:
    """Apply a sender's change to the alert it names (`change.action`: message, description,
    priority or note; the new value in `change.details`, the note in `change.note`) and keep
    it as an event with its outcome: `updated`, or `ignored` when no alert has that id or
    alias. Message and priority changes and notes go on the incident's timeline; a
    description only on the alert (Alertmanager sends one with every notification)."""
    wait_for_event_processor(session)
    received_at = received_at or utcnow()
    alert = find_alert(
        session,
        integration_id,
        dedup_key=change.dedup_key,
        alert_id=change.alert_id,
        for_update=True,
    )
    stored = Event(
        **event_row(integration_id, change, raw=raw, received_at=received_at, request_id=request_id)
    )
    stored.processed_at = utcnow()
    if alert is None:
        what = f"alias {change.dedup_key!r}"
        if change.alert_id is not None:
            what = f"id {change.alert_id}"
        stored.outcome = Outcome.ignored.value
        stored.outcome_detail = f"no alert with {what}"
    else:
        stored.alert_id = alert.id
        stored.service_id = alert.service_id
        stored.dedup_key = alert.dedup_key
        stored.outcome = Outcome.updated.value
        stored.outcome_detail = _apply(session, alert, change, received_at)
    session.add(stored)
    session.flush()
    return stored


def _apply(session: Session, alert: Alert, change: ParsedEvent, at: datetime) -> str:
    """Change the alert; returns what happened, in words."""
    if alert.last_event_at < at:
        alert.last_event_at = at
    incident = session.get(Incident, alert.incident_id) if alert.incident_id else None
    details = dict(alert.details or {})
    by = f" by {change.details['user']}" if change.details.get("user") else ""
    if change.action == NOTE:
        if incident is not None:
            record(
                session,
                incident,
                "alert",
                f"Note from the sender{by} on alert {alert.id}: {alert.summary}",
                by=None,
                body=change.note,
                new={"alert_id": alert.id},
            )
        return f"noted alert {alert.id}"
    value = str(change.details.get(change.action, ""))
    if change.action == "message":
        if value == alert.summary:
            return f"alert {alert.id} already had this message"
        old, alert.summary = alert.summary, value[:SUMMARY_MAX]
        if incident is not None:
            record(
                session,
                incident,
                "alert",
                f"Alert message changed by the sender{by}: {alert.summary}",
                by=None,
                field="alert message",
                old=old,
                new=alert.summary,
            )
        return f"changed the message of alert {alert.id}"
    if change.action == "description":
        if value == details.get("description", ""):
            return f"alert {alert.id} already had this description"
        details["description"] = value
        alert.details = details
        return f"changed the description of alert {alert.id}"
    # priority
    if value == details.get("priority") and alert.severity == PRIORITY_SEVERITY[value]:
        return f"alert {alert.id} already had priority {value}"
    old_priority = details.get("priority") or alert.severity
    details["priority"] = value
    alert.details = details
    alert.severity = PRIORITY_SEVERITY[value]
    if incident is not None:
        record(
            session,
            incident,
            "alert",
            f"Alert priority changed by the sender{by} to {value} ({alert.severity}): "
            f"{alert.summary}",
            by=None,
            field="alert priority",
            old=old_priority,
            new=value,
        )
    return f"changed the priority of alert {alert.id} to {value} ({alert.severity})"
