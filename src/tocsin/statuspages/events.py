"""What subscribers of a status page are told about: the seam between publishing and delivery.

Every code path that changes what a page's subscribers may want to hear about calls
`page_event` once, in the transaction that makes the change:

- publishing an update from an incident (`publish.publish`), with the new page incident
  update and the component changes it made;
- a maintenance being scheduled, moving on (by hand or by its timer) or updated
  (`maintenance`), with its update and component changes;
- a component's status set by hand (`service.set_component_status`), with that change;
- the reminder before a maintenance starts (`maintenance.remind`), with `reminder`.

`page_event` is where subscriber deliveries are enqueued (as jobs, in that same transaction,
so a rolled-back change tells nobody): it builds the event, hands it to
`tocsin.subscribers.service.on_page_event` (once for the update or reminder, once per
component change) and returns it. An update published with `deliver_notifications` off, like
Statuspage's, tells no subscriber, by email or webhook, and neither do the component changes
it made.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.orm import Session

from tocsin.statuspages.models import (
    ComponentChange,
    PageIncident,
    PageIncidentUpdate,
    StatusPage,
)
from tocsin.subscribers import service as subscribers

INCIDENT_UPDATE = "incident_update"
COMPONENT_CHANGE = "component_change"
MAINTENANCE_REMINDER = "maintenance_reminder"


@dataclass(frozen=True)
class PageEvent:
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
    """Build the event for one change on `page` (see the module docstring), enqueue its
    subscriber deliveries in the caller's transaction, and return it."""
    event = _event(
        session,
        page=page,
        page_incident_update=page_incident_update,
        component_changes=component_changes,
        reminder=reminder,
    )
    if reminder is not None:
        subscribers.on_page_event(session, reminder_for=reminder)
        return event
    if not event.deliver_notifications:
        return event
    if page_incident_update is not None:
        subscribers.on_page_event(session, page_incident_update=page_incident_update)
    for change in component_changes:
        subscribers.on_page_event(session, component_change=change)
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
