"""Setting an incident's response due time and timing it (docs/response-targets.md).

The reactions (subscribed in `wiring.build_bus`, with the organisation's working week) set
the due time through `incidents.response.set_response_due` and queue two timers for it, each
keyed by the incident and the due time: the reminder when `WARN_AT` of the span from
detection to due has gone (`remind`), and the breach check at the due time (`check`). A timer
whose due time is no longer the incident's does nothing (a changed due time also cancels the
queued timers of the old one), nor does one for an incident that already responded. Drills
are timed like any incident; their emails say DRILL.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from tocsin.catalog.models import User
from tocsin.db import utcnow
from tocsin.incidents.events import (
    IncidentDeclared,
    IncidentSeverityChanged,
    IncidentTimestampsEdited,
)
from tocsin.incidents.models import Incident
from tocsin.incidents.response import (
    WARN_AT,
    detected,
    first_response,
    record_reminder_sent,
    record_target_missed,
    set_response_due,
    state,
)
from tocsin.incidents.roles import COMMANDER
from tocsin.jobs.queue import cancel, enqueue
from tocsin.targets import reminders
from tocsin.targets.due import WorkWeek, due_at, stamp, target_text

REMIND_JOB = "targets.remind"
CHECK_JOB = "targets.check"


def _key_prefix(incident_id: int) -> str:
    return f"target:{incident_id}:"


def plan(session: Session, incident: Incident, week: WorkWeek, *, reason: str | None) -> None:
    """Set the due time from the incident's severity and detection, and queue its timers
    (cancelling those of an earlier due time)."""
    old = incident.response_due_at
    due = due_at(incident.severity, detected(incident), week)
    if set_response_due(session, incident, due, reason=reason) and old is not None:
        cancel(session, key_prefix=_key_prefix(incident.id), reason="the response due time changed")
    schedule(session, incident)


def schedule(session: Session, incident: Incident, *, now: datetime | None = None) -> None:
    """Queue the reminder and the breach check of the incident's current due time (each once:
    their keys name the due time). Nothing once it responded."""
    due = incident.response_due_at
    if due is None or first_response(incident) is not None:
        return
    now = now or utcnow()
    start = detected(incident)
    payload = {"incident_id": incident.id, "due_at": stamp(due)}
    key = f"{_key_prefix(incident.id)}{stamp(due)}:"
    if due > now:
        remind_at = max(start + (due - start) * WARN_AT, now)
        enqueue(session, REMIND_JOB, payload, run_at=remind_at, key=key + "remind")
    enqueue(session, CHECK_JOB, payload, run_at=due, key=key + "check")


def on_incident_declared(session: Session, event: IncidentDeclared, *, week: WorkWeek) -> None:
    """A new incident: its due time, and its timers."""
    incident = session.get(Incident, event.incident_id)
    if incident is not None:
        plan(session, incident, week, reason=None)


def on_incident_severity_changed(
    session: Session, event: IncidentSeverityChanged, *, week: WorkWeek
) -> None:
    """Before the first response the due time moves with the severity; after it, it stays."""
    incident = session.get(Incident, event.incident_id)
    if incident is None or first_response(incident) is not None:
        return
    name = incident.severity.name if incident.severity else "none"
    plan(session, incident, week, reason=f"the severity changed to {name}")


def on_incident_timestamps_edited(
    session: Session, event: IncidentTimestampsEdited, *, week: WorkWeek
) -> None:
    """A corrected detection time moves the due time (from the current severity); a
    corrected acknowledgement may turn a met target into a missed one, recorded at once when
    the due time has passed."""
    if not {"detected_at", "acknowledged_at", "resolved_at"} & set(event.fields):
        return
    incident = session.get(Incident, event.incident_id)
    if incident is None:
        return
    if "detected_at" in event.fields:
        plan(session, incident, week, reason="the detection time was corrected")
    else:
        schedule(session, incident)
    due = incident.response_due_at
    if due is not None and due <= utcnow():
        check(session, incident.id, stamp(due))


def _current(session: Session, incident_id: int, due_at: str) -> Incident | None:
    """The incident, if `due_at` is still its due time."""
    incident = session.get(Incident, incident_id)
    if incident is None or incident.response_due_at is None:
        return None
    return incident if stamp(incident.response_due_at) == due_at else None


def check(session: Session, incident_id: int, due_at: str) -> None:
    """At the due time: if the first response did not come in time, the timeline says so
    (a key event, once per due time)."""
    incident = _current(session, incident_id, due_at)
    if incident is None:
        return
    due = incident.response_due_at
    assert due is not None
    # Judged by the response alone, not by this process's clock: the check runs at the due
    # time, and a response by then is the only way to meet it.
    responded = first_response(incident)
    if responded is not None and responded <= due:
        return
    record_target_missed(session, incident, due, target_text(incident.severity))


def recipients(incident: Incident) -> list[User]:
    """Who is reminded: the incident commander(s), then the members of the teams owning the
    affected services; each once, active accounts only."""
    people: dict[int, User] = {}
    for user in incident.holders(COMMANDER):
        people.setdefault(user.id, user)
    for service in incident.services:
        if service.team is not None:
            for user in service.team.members:
                people.setdefault(user.id, user)
    return [u for u in people.values() if u.active]


def remind(session: Session, incident_id: int, due_at: str) -> None:
    """When most of the time to respond has gone and nobody has: one email per person
    (a plain mail of notify's, sent after commit) and an entry on the timeline."""
    incident = _current(session, incident_id, due_at)
    if incident is None or state(incident) != "pending":
        return
    due = incident.response_due_at
    assert due is not None
    if reminders.reminded(session, incident, due):
        return
    people = recipients(incident)
    reminders.plan(session, incident, due, people)
    record_reminder_sent(session, incident, len(people))


def remind_job(session: Session, payload: dict[str, Any]) -> None:
    remind(session, int(payload["incident_id"]), str(payload["due_at"]))


def check_job(session: Session, payload: dict[str, Any]) -> None:
    check(session, int(payload["incident_id"]), str(payload["due_at"]))
