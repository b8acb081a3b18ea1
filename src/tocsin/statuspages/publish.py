"""Publishing a Tocsin incident's external updates on a status page.

A responder publishes from the incident: a phase, a public title and body, the components
concerned and their new status. The update is posted on the incident as an external status
update (`incidents.updates.post_update`) in the same transaction, and the page shows it.
Drills and restricted incidents are refused here, and filtered out again at every render
(`present.visible_incidents`), so one that becomes a drill or restricted later disappears.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from tocsin import validation as v
from tocsin.catalog.models import User
from tocsin.db import utcnow
from tocsin.errors import Conflict, ValidationFailed
from tocsin.incidents.events import IncidentEdited
from tocsin.incidents.models import Incident
from tocsin.incidents.timeline import actor_name, record
from tocsin.incidents.updates import BODY_MAX, post_update
from tocsin.statuspages.events import page_event
from tocsin.statuspages.models import (
    ChangeSource,
    Component,
    ComponentChange,
    ComponentStatus,
    Impact,
    IncidentPhase,
    PageIncident,
    PageIncidentKind,
    PageIncidentUpdate,
    StatusPage,
)
from tocsin.statuspages.present import (
    IncidentView,
    PageView,
    UpdateView,
    impact_for,
    set_indicator,
    worst,
)
from tocsin.statuspages.refresh import page_changed
from tocsin.statuspages.service import STATUSES, apply_status

PHASES = [p.value for p in IncidentPhase]
IMPACTS = ["none", "minor", "major", "critical"]
NAME_MAX = 255


def refusal(incident: Incident) -> str | None:
    """Why this incident can never appear on a status page, or None if it can."""
    if incident.drill:
        return f"{incident.reference} is a drill: drills never appear on a status page"
    if incident.restricted:
        return (
            f"{incident.reference} is restricted: restricted incidents never appear on a "
            "status page"
        )
    return None


def page_incident_for(
    session: Session, page: StatusPage, incident: Incident
) -> PageIncident | None:
    return session.scalar(
        select(PageIncident).where(
            PageIncident.page_id == page.id, PageIncident.incident_id == incident.id
        )
    )


def published_on(session: Session, incident: Incident) -> list[PageIncident]:
    return list(
        session.scalars(
            select(PageIncident)
            .where(PageIncident.incident_id == incident.id)
            .order_by(PageIncident.id)
        )
    )


@dataclass(frozen=True)
class Draft:
    """A checked publish request, before anything is written."""

    page: StatusPage
    incident: Incident
    existing: PageIncident | None
    name: str
    phase: str
    body: str
    impact: str | None  # None: worked out from the components
    # component -> new status, in page order, including the ones a Resolved update
    # returns to operational
    statuses: list[tuple[Component, str]]
    deliver_notifications: bool
    display_at: datetime


def check(
    session: Session,
    page: StatusPage,
    incident: Incident,
    *,
    phase: str,
    body: str,
    name: str | None = None,
    impact: str | None = None,
    components: dict[int, str] | None = None,
    deliver_notifications: bool = True,
    display_at: datetime | None = None,
) -> Draft:
    """Validate a publish request (for `publish` and for the preview); writes nothing."""
    reason = refusal(incident)
    if reason:
        raise Conflict(reason, field="incident")
    phase = v.one_of(phase, "phase", PHASES)
    body = v.text(body, "body", max_len=BODY_MAX, required=True)
    existing = page_incident_for(session, page, incident)
    default_name = existing.name if existing else incident.title
    name = v.text(name or default_name, "name", max_len=NAME_MAX, required=True)
    impact = None if impact in (None, "", "auto") else v.one_of(impact, "impact", IMPACTS)
    now = utcnow()
    when = v.aware(display_at, "display_at") or now
    if when > now + timedelta(minutes=1):
        raise ValidationFailed("display_at cannot be in the future", field="display_at")
    on_page = {c.id: c for c in page.components}
    wanted: dict[int, str] = {}
    for component_id, status in (components or {}).items():
        if component_id not in on_page:
            raise ValidationFailed(
                f"component {component_id} is not on {page.name}", field="components"
            )
        wanted[component_id] = v.one_of(status, "components", STATUSES)
    if phase == IncidentPhase.resolved.value and existing is not None:
        # Resolving returns the incident's components to operational unless told otherwise.
        for component in existing.components:
            wanted.setdefault(component.id, ComponentStatus.operational.value)
    statuses = [(c, wanted[c.id]) for c in page.components if c.id in wanted]
    return Draft(
        page=page,
        incident=incident,
        existing=existing,
        name=name,
        phase=phase,
        body=body,
        impact=impact,
        statuses=statuses,
        deliver_notifications=bool(deliver_notifications),
        display_at=when,
    )


def publish(session: Session, draft: Draft, *, by: User | None) -> PageIncidentUpdate:
    """Post the draft: an external status update on the incident, the page incident and its
    update, the component changes, a timeline entry, the page event and the render."""
    incident, page = draft.incident, draft.page
    status_update = post_update(
        session, incident, phase=draft.phase, body=draft.body, visibility="external", by=by
    )
    pi = draft.existing
    if pi is None:
        pi = PageIncident(
            page_id=page.id,
            kind=PageIncidentKind.incident.value,
            incident_id=incident.id,
            name=draft.name,
            status=draft.phase,
            started_at=min(draft.display_at, incident.started_at or draft.display_at),
            created_by_id=by.id if by else None,
            created_at=utcnow(),
        )
        session.add(pi)
        session.flush()
    pi.name = draft.name
    update = PageIncidentUpdate(
        page_incident=pi,
        status=draft.phase,
        body=draft.body,
        deliver_notifications=draft.deliver_notifications,
        status_update_id=status_update.id,
        author_id=by.id if by else None,
        display_at=draft.display_at,
        created_at=utcnow(),
        updated_at=utcnow(),
    )
    session.add(update)
    session.flush()
    changes: list[ComponentChange] = []
    affected = []
    for component, new_status in draft.statuses:
        old_status = component.status
        change = apply_status(
            session, component, new_status, source=ChangeSource.incident, by=by, update=update
        )
        if change is not None:
            changes.append(change)
        affected.append(
            {
                "component_id": component.id,
                "code": component.public_id,
                "name": component.name,
                "old_status": old_status,
                "new_status": new_status,
            }
        )
        if component not in pi.components:
            pi.components.append(component)
    update.affected_components = affected
    _move_incident(pi, draft, [s for _, s in draft.statuses])
    session.flush()
    record(
        session,
        incident,
        "statuspage_published",
        f"{actor_name(by)} published a {draft.phase.capitalize()} update on the status page "
        f"{page.name}",
        by=by,
        body=draft.body,
        new={
            "page_id": page.id,
            "page_incident": pi.public_id,
            "update": update.public_id,
            "components": {a["name"]: a["new_status"] for a in affected},
        },
        key_event=True,
    )
    page_event(session, page=page, page_incident_update=update, component_changes=changes)
    page_changed(session, page)
    return update


def _move_incident(pi: PageIncident, draft: Draft, new_statuses: list[str]) -> None:
    pi.status = draft.phase
    pi.updated_at = utcnow()
    if draft.impact is not None:
        pi.impact = draft.impact
    else:
        pi.impact = impact_for(new_statuses, pi.impact or Impact.none.value)
    if draft.phase == IncidentPhase.monitoring.value and pi.monitoring_at is None:
        pi.monitoring_at = draft.display_at
    if draft.phase == IncidentPhase.resolved.value:
        pi.resolved_at = draft.display_at
    else:
        pi.resolved_at = None


def preview(draft: Draft, view: PageView) -> tuple[PageView, IncidentView]:
    """The page as it would look once the draft is published: `view` (the page as it is)
    with the components' new statuses and the incident with its new update on top."""
    new_status = {c.id: s for c, s in draft.statuses}
    for component in view.components:
        if component.db_id in new_status:
            component.status = new_status[component.db_id]
    for item in view.layout:
        if item.is_group:
            item.status = worst([c.status for c in item.children])
    by_db_id = {c.db_id: c for c in view.components}
    existing = next(
        (i for i in view.incidents if draft.existing and i.db_id == draft.existing.id), None
    )
    update = UpdateView(
        id="preview",
        status=draft.phase,
        body=draft.body,
        display_at=draft.display_at,
        created_at=draft.display_at,
        updated_at=draft.display_at,
        deliver_notifications=draft.deliver_notifications,
        affected_components=[
            {"code": c.public_id, "name": c.name, "old_status": c.status, "new_status": s}
            for c, s in draft.statuses
        ],
    )
    component_ids = [c.id for c in draft.existing.components] if draft.existing else []
    component_ids += [c.id for c, _ in draft.statuses if c.id not in component_ids]
    current_impact = draft.existing.impact if draft.existing else Impact.none.value
    incident = IncidentView(
        db_id=draft.existing.id if draft.existing else None,
        id=draft.existing.public_id if draft.existing else "preview",
        kind=PageIncidentKind.incident.value,
        name=draft.name,
        status=draft.phase,
        impact=draft.impact or impact_for([s for _, s in draft.statuses], current_impact),
        started_at=existing.started_at if existing else draft.display_at,
        created_at=existing.created_at if existing else draft.display_at,
        updated_at=draft.display_at,
        monitoring_at=existing.monitoring_at if existing else None,
        resolved_at=draft.display_at if draft.phase == IncidentPhase.resolved.value else None,
        scheduled_for=None,
        scheduled_until=None,
        flags={},
        components=[by_db_id[i] for i in component_ids if i in by_db_id],
        updates=[update, *(existing.updates if existing else [])],
    )
    view.incidents = [incident, *(i for i in view.incidents if i is not existing)]
    set_indicator(view)
    return view, incident


def on_incident_edited(session: Session, event: IncidentEdited) -> None:
    """An incident became, or stopped being, a drill or restricted: status pages drop such
    incidents when they render, so render them again (`withdraw_hidden`)."""
    if not event.visibility_changed:
        return
    incident = session.get(Incident, event.incident_id)
    if incident is not None:
        by = session.get(User, event.by_id) if event.by_id is not None else None
        withdraw_hidden(session, incident, by=by)


def withdraw_hidden(session: Session, incident: Incident, *, by: User | None) -> set[int]:
    """After an incident became a drill or restricted (or stopped being one): re-render the
    pages it was published on. When it is now hidden, the component statuses it set and
    still holds return to operational (the page must not show an outage it cannot explain).
    Returns the ids of the pages concerned."""
    pages: set[int] = set()
    for pi in published_on(session, incident):
        pages.add(pi.page_id)
        if not pi.hidden:
            continue
        changes = []
        for component in pi.components:
            latest = session.scalar(
                select(ComponentChange)
                .where(ComponentChange.component_id == component.id)
                .order_by(ComponentChange.id.desc())
                .limit(1)
            )
            came_from_here = (
                latest is not None
                and latest.page_incident_update is not None
                and latest.page_incident_update.page_incident_id == pi.id
            )
            if came_from_here and component.status != ComponentStatus.operational.value:
                change = apply_status(
                    session,
                    component,
                    ComponentStatus.operational.value,
                    source=ChangeSource.withdrawn,
                    by=by,
                    reason=f"{incident.reference} is no longer shown on status pages",
                )
                if change is not None:
                    changes.append(change)
        if changes:
            session.flush()
            page_event(session, page=pi.page, component_changes=changes)
    for page_id in sorted(pages):
        page = session.get(StatusPage, page_id)
        if page is not None:
            page_changed(session, page)
    return pages
