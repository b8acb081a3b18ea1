"""What a status page publishes, as a domain event (`tocsin.bus`): the seam between
publishing and telling subscribers.

Every code path that changes what a page's subscribers may want to hear about calls
`page_event` once, in the transaction that makes the change:

- publishing an update from an incident (`publish.publish`), with the new page incident
  update and the component changes it made;
- a maintenance being scheduled, moving on (by hand or by its timer) or updated
  (`maintenance`), with its update and component changes;
- a component's status set by hand (`service.set_component_status`), with that change;
- the reminder before a maintenance starts (`maintenance.remind`), with `reminder`.

`page_event` builds the `PageEvent`, emits it and returns it. Subscribers react
(`tocsin.subscribers.service.on_page_event_published`, wired in `tocsin.wiring`) by queueing
their deliveries as jobs in that same transaction, so a rolled-back change tells nobody. An
update published with `deliver_notifications` off, like Statuspage's, tells no subscriber, by
email or webhook, and neither do the component changes it made.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.orm import Session

from tocsin.bus import Event, emit
from tocsin.statuspages.models import (
    ComponentChange,
    PageIncident,
    PageIncidentUpdate,
    StatusPage,
)

INCIDENT_UPDATE = "incident_update"
COMPONENT_CHANGE = "component_change"
MAINTENANCE_REMINDER = "maintenance_reminder"


@dataclass(frozen=True)
class PageEvent(Event):
    """Something a status page's subscribers may want to hear about was published."""

    page_id: int
    kind: str  # incident_update | component_change | maintenance_reminder
    page_incident_id: int | None
    page_incident_update_id: int | None
    component_change_ids: tuple[int, ...]
    # Components the event concerns: a subscriber to any of them (or to the whole page) is
    # interested. Empty for an incident that names no component (everyone is interested).
    component_ids: tuple[int, ...]
    deliver_notifications: bool


def page_event(
    session: Session,
    *,
    page: StatusPage,
    page_incident_update: PageIncidentUpdate | None = None,
    component_changes: Sequence[ComponentChange] = (),
    reminder: PageIncident | None = None,
) -> PageEvent:
    """Build the event for one change on `page` (see the module docstring), emit it in the
    caller's transaction, and return it."""
    event = _event(
        session,
        page=page,
        page_incident_update=page_incident_update,
        component_changes=component_changes,
        reminder=reminder,
    )
    emit(session, event)
    return event


def _event(
    session: Session,
    *,
    page: StatusPage,
    page_incident_update: PageIncidentUpdate | None,
    component_changes: Sequence[ComponentChange],
    reminder: PageIncident | None,
) -> PageEvent:
    session.flush()
    change_ids = tuple(c.id for c in component_changes)
    if reminder is not None:
        return PageEvent(
            page_id=page.id,
            kind=MAINTENANCE_REMINDER,
            page_incident_id=reminder.id,
            page_incident_update_id=None,
            component_change_ids=(),
            component_ids=tuple(c.id for c in reminder.components),
            deliver_notifications=True,
        )
    if page_incident_update is not None:
        page_incident = page_incident_update.page_incident
        concerned = dict.fromkeys(
            [c.id for c in page_incident.components]
            + [int(a["component_id"]) for a in page_incident_update.affected_components]
        )
        return PageEvent(
            page_id=page.id,
            kind=INCIDENT_UPDATE,
            page_incident_id=page_incident.id,
            page_incident_update_id=page_incident_update.id,
            component_change_ids=change_ids,
            component_ids=tuple(concerned),
            deliver_notifications=page_incident_update.deliver_notifications,
        )
    return PageEvent(
        page_id=page.id,
        kind=COMPONENT_CHANGE,
        page_incident_id=None,
        page_incident_update_id=None,
        component_change_ids=change_ids,
        component_ids=tuple(dict.fromkeys(c.component_id for c in component_changes)),
        deliver_notifications=True,
    )
