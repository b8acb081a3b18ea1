"""Scheduled maintenance: a planned window on a page, with its components, moving from
scheduled to in progress, verifying and completed, by its timers or by hand.

Timers are jobs queued when the maintenance is scheduled (or rescheduled): at
`scheduled_for` it goes in progress (if `scheduled_auto_in_progress`), its components under
maintenance (if `auto_transition_to_maintenance_state`); at `scheduled_until` it completes (if
`scheduled_auto_completed`) and its components return to operational (if
`auto_transition_to_operational_state`); `scheduled_remind_prior_minutes` before the start,
subscribers are reminded. Each job looks at the maintenance as it is when it runs, so a
rescheduled, finished or removed maintenance ignores a stale timer.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from tocsin import validation as v
from tocsin.catalog.models import User
from tocsin.db import utcnow
from tocsin.errors import InvalidTransition, NotFound, ValidationFailed
from tocsin.jobs.queue import cancel, enqueue
from tocsin.statuspages.events import page_event
from tocsin.statuspages.models import (
    ChangeSource,
    ComponentChange,
    ComponentStatus,
    Impact,
    MaintenanceStatus,
    PageIncident,
    PageIncidentKind,
    PageIncidentUpdate,
    StatusPage,
)
from tocsin.statuspages.refresh import page_changed
from tocsin.statuspages.service import apply_status

START_JOB = "statuspages.maintenance_start"
END_JOB = "statuspages.maintenance_end"
REMIND_JOB = "statuspages.maintenance_remind"
NAME_MAX = 255
BODY_MAX = 10_000
REMIND_MAX_MINUTES = 7 * 24 * 60
# A timer that fires a little early (clock skew between workers) still counts.
EARLY = timedelta(seconds=5)

DEFAULT_BODIES = {
    MaintenanceStatus.scheduled.value: "We will be performing scheduled maintenance.",
    MaintenanceStatus.in_progress.value: (
        "Scheduled maintenance is currently in progress. We will provide updates as necessary."
    ),
    MaintenanceStatus.verifying.value: (
        "The maintenance work is done; we are verifying that everything works as expected."
    ),
    MaintenanceStatus.completed.value: "The scheduled maintenance has been completed.",
}
TRANSITIONS = {
    MaintenanceStatus.scheduled.value: {"scheduled", "in_progress", "completed"},
    MaintenanceStatus.in_progress.value: {"in_progress", "verifying", "completed"},
    MaintenanceStatus.verifying.value: {"in_progress", "verifying", "completed"},
    MaintenanceStatus.completed.value: set(),
}
FLAGS = (
    "scheduled_auto_in_progress",
    "scheduled_auto_completed",
    "auto_transition_to_maintenance_state",
    "auto_transition_to_operational_state",
    "auto_transition_deliver_notifications_at_start",
    "auto_transition_deliver_notifications_at_end",
)
FIELDS = {"name", "scheduled_for", "scheduled_until", "component_ids", "remind_minutes", *FLAGS}


def list_maintenances(session: Session, page: StatusPage) -> list[PageIncident]:
    return list(
        session.scalars(
            select(PageIncident)
            .where(
                PageIncident.page_id == page.id,
                PageIncident.kind == PageIncidentKind.maintenance.value,
            )
            .order_by(PageIncident.scheduled_for.desc(), PageIncident.id.desc())
        )
    )


def get_maintenance(session: Session, page: StatusPage, maintenance_id: int) -> PageIncident:
    found = session.get(PageIncident, maintenance_id)
    if found is None or found.page_id != page.id or not found.is_maintenance:
        raise NotFound(f"no scheduled maintenance {maintenance_id} on {page.name}")
    return found


def _window(start: datetime | None, end: datetime | None) -> tuple[datetime, datetime]:
    start = v.aware(start, "scheduled_for")
    end = v.aware(end, "scheduled_until")
    if start is None:
        raise ValidationFailed("scheduled_for is required", field="scheduled_for")
    if end is None:
        raise ValidationFailed("scheduled_until is required", field="scheduled_until")
    if end <= start:
        raise ValidationFailed(
            "scheduled_until must be after scheduled_for", field="scheduled_until"
        )
    if end <= utcnow():
        raise ValidationFailed("scheduled_until must be in the future", field="scheduled_until")
    return start, end


def _set_fields(session: Session, pi: PageIncident, data: dict[str, Any]) -> None:
    unknown = set(data) - FIELDS
    if unknown:
        raise ValidationFailed(f"unknown field(s): {', '.join(sorted(unknown))}")
    if "name" in data:
        pi.name = v.text(data["name"], "name", max_len=NAME_MAX, required=True)
    if "scheduled_for" in data or "scheduled_until" in data:
        pi.scheduled_for, pi.scheduled_until = _window(
            data.get("scheduled_for", pi.scheduled_for),
            data.get("scheduled_until", pi.scheduled_until),
        )
        pi.started_at = pi.scheduled_for
    if "component_ids" in data:
        on_page = {c.id: c for c in pi.page.components}
        chosen = []
        for component_id in dict.fromkeys(data["component_ids"] or []):
            if component_id not in on_page:
                raise ValidationFailed(
                    f"component {component_id} is not on {pi.page.name}", field="component_ids"
                )
            chosen.append(on_page[component_id])
        pi.components = chosen
    if "remind_minutes" in data:
        minutes = data["remind_minutes"]
        pi.scheduled_remind_prior_minutes = (
            None
            if minutes is None
            else v.integer(minutes, "remind_minutes", minimum=1, maximum=REMIND_MAX_MINUTES)
        )
    for flag in FLAGS:
        if flag in data:
            if not isinstance(data[flag], bool):
                raise ValidationFailed(f"{flag} must be true or false", field=flag)
            setattr(pi, flag, data[flag])


def _plan_timers(session: Session, pi: PageIncident) -> None:
    """(Re)queue the maintenance's start, end and reminder jobs for its current window."""
    cancel(session, key_prefix=f"spm:{pi.id}:", reason="maintenance rescheduled")
    assert pi.scheduled_for is not None and pi.scheduled_until is not None
    if pi.status == MaintenanceStatus.completed.value:
        return
    start, end = pi.scheduled_for, pi.scheduled_until
    payload = {"maintenance_id": pi.id}
    if pi.status == MaintenanceStatus.scheduled.value:
        enqueue(
            session, START_JOB, payload, run_at=start, key=f"spm:{pi.id}:start:{start.isoformat()}"
        )
        minutes = pi.scheduled_remind_prior_minutes
        if minutes is not None and pi.reminded_at is None:
            remind_at = start - timedelta(minutes=minutes)
            if remind_at > utcnow():
                enqueue(
                    session,
                    REMIND_JOB,
                    payload,
                    run_at=remind_at,
                    key=f"spm:{pi.id}:remind:{remind_at.isoformat()}",
                )
    enqueue(session, END_JOB, payload, run_at=end, key=f"spm:{pi.id}:end:{end.isoformat()}")


def schedule(
    session: Session,
    page: StatusPage,
    data: dict[str, Any],
    *,
    body: str = "",
    deliver_notifications: bool = True,
    by: User | None,
) -> PageIncident:
    """Schedule a maintenance on `page`: name, scheduled_for, scheduled_until, component_ids,
    remind_minutes and the auto-transition flags (see FIELDS)."""
    body = v.text(body, "body", max_len=BODY_MAX) or DEFAULT_BODIES["scheduled"]
    now = utcnow()
    pi = PageIncident(
        page_id=page.id,
        kind=PageIncidentKind.maintenance.value,
        status=MaintenanceStatus.scheduled.value,
        impact=Impact.maintenance.value,
        created_by_id=by.id if by else None,
        created_at=now,
        updated_at=now,
    )
    pi.page = page
    if "name" not in data:
        raise ValidationFailed("name is required", field="name")
    if "scheduled_for" not in data or "scheduled_until" not in data:
        raise ValidationFailed(
            "scheduled_for and scheduled_until are required", field="scheduled_for"
        )
    _set_fields(session, pi, data)
    session.add(pi)
    session.flush()
    update = _add_update(
        session, pi, MaintenanceStatus.scheduled.value, body, deliver_notifications, by, []
    )
    _plan_timers(session, pi)
    page_event(session, page=page, page_incident_update=update)
    page_changed(session, page)
    return pi


def reschedule(
    session: Session, pi: PageIncident, changes: dict[str, Any], *, by: User | None
) -> PageIncident:
    """Change the window, the components, the reminder or the flags of a maintenance that
    has not completed; its timers follow the new window."""
    if pi.status == MaintenanceStatus.completed.value:
        raise InvalidTransition("this maintenance has completed; schedule a new one")
    if "remind_minutes" in changes or "scheduled_for" in changes:
        pi.reminded_at = None if "scheduled_for" in changes else pi.reminded_at
    _set_fields(session, pi, changes)
    pi.updated_at = utcnow()
    session.flush()
    _plan_timers(session, pi)
    page_changed(session, pi.page)
    return pi


def _add_update(
    session: Session,
    pi: PageIncident,
    status: str,
    body: str,
    deliver_notifications: bool,
    by: User | None,
    changes: list[tuple[Any, str, str]],
) -> PageIncidentUpdate:
    now = utcnow()
    update = PageIncidentUpdate(
        page_incident=pi,
        status=status,
        body=body,
        deliver_notifications=deliver_notifications,
        author_id=by.id if by else None,
        display_at=now,
        created_at=now,
        updated_at=now,
        affected_components=[
            {
                "component_id": component.id,
                "code": component.public_id,
                "name": component.name,
                "old_status": old,
                "new_status": new,
            }
            for component, old, new in changes
        ],
    )
    session.add(update)
    session.flush()
    return update


def transition(
    session: Session,
    pi: PageIncident,
    status: str,
    *,
    body: str = "",
    deliver_notifications: bool = True,
    by: User | None,
) -> PageIncidentUpdate:
    """Post an update on a maintenance, moving it to `status` (or keeping it there):
    in progress puts its components under maintenance, completed returns them to
    operational, as its flags say."""
    status = v.one_of(status, "status", [s.value for s in MaintenanceStatus])
    allowed = TRANSITIONS[pi.status]
    if status not in allowed:
        raise InvalidTransition(
            f"this maintenance is {pi.status.replace('_', ' ')} and cannot move to "
            f"{status.replace('_', ' ')}"
        )
    body = v.text(body, "body", max_len=BODY_MAX) or DEFAULT_BODIES[status]
    planned: list[tuple[Any, str]] = []
    if status == MaintenanceStatus.in_progress.value and pi.auto_transition_to_maintenance_state:
        planned = [(c, ComponentStatus.under_maintenance.value) for c in pi.components]
    if status == MaintenanceStatus.completed.value and pi.auto_transition_to_operational_state:
        planned = [
            (c, ComponentStatus.operational.value)
            for c in pi.components
            if c.status == ComponentStatus.under_maintenance.value
        ]
    now = utcnow()
    recorded: list[ComponentChange] = []
    shown: list[tuple[Any, str, str]] = []
    update = _add_update(session, pi, status, body, deliver_notifications, by, [])
    for component, new_status in planned:
        old_status = component.status
        change = apply_status(
            session, component, new_status, source=ChangeSource.maintenance, by=by, update=update
        )
        if change is not None:
            recorded.append(change)
            shown.append((component, old_status, new_status))
    update.affected_components = [
        {
            "component_id": c.id,
            "code": c.public_id,
            "name": c.name,
            "old_status": old,
            "new_status": new,
        }
        for c, old, new in shown
    ]
    pi.status = status
    pi.updated_at = now
    if status == MaintenanceStatus.completed.value:
        pi.resolved_at = now
        cancel(session, key_prefix=f"spm:{pi.id}:", reason="maintenance completed")
    session.flush()
    page_event(session, page=pi.page, page_incident_update=update, component_changes=recorded)
    page_changed(session, pi.page)
    return update


def start_due(session: Session, maintenance_id: int) -> bool:
    """Job: at its start, an automatic maintenance goes in progress."""
    pi = session.get(PageIncident, maintenance_id)
    if pi is None or pi.status != MaintenanceStatus.scheduled.value:
        return False
    if not pi.scheduled_auto_in_progress or pi.scheduled_for is None:
        return False
    if utcnow() + EARLY < pi.scheduled_for:
        return False  # rescheduled later; that timer will come
    transition(
        session,
        pi,
        MaintenanceStatus.in_progress.value,
        deliver_notifications=pi.auto_transition_deliver_notifications_at_start,
        by=None,
    )
    return True


def end_due(session: Session, maintenance_id: int) -> bool:
    """Job: at its end, an automatic maintenance completes."""
    pi = session.get(PageIncident, maintenance_id)
    if pi is None or pi.status == MaintenanceStatus.completed.value:
        return False
    if not pi.scheduled_auto_completed or pi.scheduled_until is None:
        return False
    if utcnow() + EARLY < pi.scheduled_until:
        return False
    transition(
        session,
        pi,
        MaintenanceStatus.completed.value,
        deliver_notifications=pi.auto_transition_deliver_notifications_at_end,
        by=None,
    )
    return True


def remind(session: Session, maintenance_id: int) -> bool:
    """Job: remind subscribers of a maintenance that has not started yet, once."""
    pi = session.get(PageIncident, maintenance_id)
    if pi is None or pi.status != MaintenanceStatus.scheduled.value:
        return False
    if pi.reminded_at is not None or pi.scheduled_remind_prior_minutes is None:
        return False
    pi.reminded_at = utcnow()
    page_event(session, page=pi.page, reminder=pi)
    return True
