"""What a page shows, as plain values: the one place that decides what is public.

`load_page_view` reads a page and keeps only what may be shown: incidents whose Tocsin
incident is a drill or restricted are dropped here, at every render, whatever was published
before. Both the HTML templates and the Statuspage-shaped JSON (`statusjson.py`) are built
from these views, and so is the composer's preview (from values not yet saved).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from tocsin.db import utcnow
from tocsin.statuspages.models import (
    Component,
    ComponentStatus,
    Impact,
    IncidentPhase,
    MaintenanceStatus,
    PageIncident,
    PageIncidentKind,
    StatusPage,
    Visibility,
)
from tocsin.statuspages.service import top_level

# Worst last. Under maintenance is planned, so it ranks below any outage.
SEVERITY = {
    ComponentStatus.operational.value: 0,
    ComponentStatus.under_maintenance.value: 1,
    ComponentStatus.degraded_performance.value: 2,
    ComponentStatus.partial_outage.value: 3,
    ComponentStatus.major_outage.value: 4,
}
STATUS_LABELS = {
    "operational": "Operational",
    "degraded_performance": "Degraded performance",
    "partial_outage": "Partial outage",
    "major_outage": "Major outage",
    "under_maintenance": "Under maintenance",
}
# The page's overall status from its worst component (Statuspage's indicator and wording).
COMPONENT_INDICATOR = {
    "operational": ("none", "All Systems Operational"),
    "under_maintenance": ("maintenance", "Service Under Maintenance"),
    "degraded_performance": ("minor", "Degraded System Performance"),
    "partial_outage": ("minor", "Partial System Outage"),
    "major_outage": ("major", "Major System Outage"),
}
# An unresolved incident can say more than its components (one published without any).
IMPACT_INDICATOR = {
    "minor": ("minor", "Minor Service Outage"),
    "major": ("major", "Major Service Outage"),
    "critical": ("critical", "Critical Service Outage"),
}
INDICATOR_RANK = {"none": 0, "maintenance": 1, "minor": 2, "major": 3, "critical": 4}
# An incident's impact when nobody set it: from the worst status it gave a component (as
# Statuspage does; "critical" is only ever chosen by a person).
STATUS_IMPACT = {
    "operational": "none",
    "under_maintenance": "none",
    "degraded_performance": "minor",
    "partial_outage": "minor",
    "major_outage": "major",
}
IMPACT_RANK = {"none": 0, "minor": 1, "major": 2, "critical": 3, "maintenance": 0}
PHASE_LABELS = {
    "investigating": "Investigating",
    "identified": "Identified",
    "monitoring": "Monitoring",
    "resolved": "Resolved",
    "scheduled": "Scheduled",
    "in_progress": "In progress",
    "verifying": "Verifying",
    "completed": "Completed",
}
UNRESOLVED = {p.value for p in IncidentPhase} - {IncidentPhase.resolved.value}
HISTORY_DAYS = 90


@dataclass
class ComponentView:
    db_id: int
    id: str
    name: str
    description: str
    status: str
    position: int
    group_id: str | None
    is_group: bool
    showcase: bool
    only_show_if_degraded: bool
    start_date: date | None
    created_at: datetime
    updated_at: datetime
    children: list[ComponentView] = field(default_factory=list)
    # Filled by history.py: the 90-day bar and uptime percentage.
    days: list[Any] = field(default_factory=list)
    uptime: float | None = None

    @property
    def label(self) -> str:
        return STATUS_LABELS.get(self.status, self.status)

    @property
    def shown(self) -> bool:
        return not self.only_show_if_degraded or self.status != "operational"


@dataclass
class UpdateView:
    id: str
    status: str
    body: str
    display_at: datetime
    created_at: datetime
    updated_at: datetime
    deliver_notifications: bool
    affected_components: list[dict[str, Any]]

    @property
    def label(self) -> str:
        return PHASE_LABELS.get(self.status, self.status)


@dataclass
class IncidentView:
    db_id: int | None
    id: str
    kind: str
    name: str
    status: str
    impact: str
    started_at: datetime
    created_at: datetime
    updated_at: datetime
    monitoring_at: datetime | None
    resolved_at: datetime | None
    scheduled_for: datetime | None
    scheduled_until: datetime | None
    flags: dict[str, Any]
    components: list[ComponentView]
    updates: list[UpdateView]  # newest first

    @property
    def is_maintenance(self) -> bool:
        return self.kind == PageIncidentKind.maintenance.value

    @property
    def label(self) -> str:
        return PHASE_LABELS.get(self.status, self.status)

    @property
    def unresolved(self) -> bool:
        return not self.is_maintenance and self.status in UNRESOLVED

    @property
    def active_maintenance(self) -> bool:
        return self.is_maintenance and self.status in (
            MaintenanceStatus.in_progress.value,
            MaintenanceStatus.verifying.value,
        )

    @property
    def upcoming_maintenance(self) -> bool:
        return self.is_maintenance and self.status == MaintenanceStatus.scheduled.value

    @property
    def ended_at(self) -> datetime | None:
        return self.resolved_at


@dataclass
class PageView:
    db_id: int
    id: str
    slug: str
    name: str
    description: str
    url: str
    time_zone: str
    visibility: str
    brand_color: str
    accent_color: str
    logo_content_type: str | None
    logo: bytes | None
    allow_subscribers: bool
    updated_at: datetime
    generated_at: datetime
    components: list[ComponentView]  # every component, flat, in page order
    layout: list[ComponentView]  # top level: groups (with children) and ungrouped ones
    incidents: list[IncidentView]  # incidents and maintenances, newest first
    indicator: str = "none"
    description_text: str = "All Systems Operational"

    @property
    def is_public(self) -> bool:
        return self.visibility == Visibility.public.value

    @property
    def unresolved(self) -> list[IncidentView]:
        return [i for i in self.incidents if i.unresolved]

    @property
    def active_maintenances(self) -> list[IncidentView]:
        return [i for i in self.incidents if i.active_maintenance]

    @property
    def upcoming_maintenances(self) -> list[IncidentView]:
        found = [i for i in self.incidents if i.upcoming_maintenance]
        return sorted(found, key=lambda i: i.scheduled_for or i.started_at)

    @property
    def past(self) -> list[IncidentView]:
        """Resolved incidents and completed maintenances, newest first."""
        return [
            i
            for i in self.incidents
            if not i.unresolved and not i.active_maintenance and not i.upcoming_maintenance
        ]


def page_url(page: StatusPage, base_url: str) -> str:
    return page.public_url or f"{base_url.rstrip('/')}/status/{page.slug}"


def component_view(component: Component, group_public_ids: dict[int, str]) -> ComponentView:
    return ComponentView(
        db_id=component.id,
        id=component.public_id,
        name=component.name,
        description=component.description,
        status=component.status,
        position=component.position,
        group_id=group_public_ids.get(component.group_id) if component.group_id else None,
        is_group=False,
        showcase=component.showcase,
        only_show_if_degraded=component.only_show_if_degraded,
        start_date=component.start_date,
        created_at=component.created_at,
        updated_at=component.updated_at,
    )


def worst(statuses: list[str]) -> str:
    return max(statuses, key=lambda s: SEVERITY.get(s, 0), default="operational")


def _layout(page: StatusPage) -> tuple[list[ComponentView], list[ComponentView]]:
    groups = {g.id: g.public_id for g in page.groups}
    flat: list[ComponentView] = []
    layout: list[ComponentView] = []
    for item in top_level(page):
        if isinstance(item, Component):
            view = component_view(item, groups)
            flat.append(view)
            layout.append(view)
            continue
        children = [component_view(c, groups) for c in item.components]
        group_view = ComponentView(
            db_id=item.id,
            id=item.public_id,
            name=item.name,
            description=item.description,
            status=worst([c.status for c in children]),
            position=item.position,
            group_id=None,
            is_group=True,
            showcase=False,
            only_show_if_degraded=False,
            start_date=None,
            created_at=item.created_at,
            updated_at=item.updated_at,
            children=children,
        )
        flat.extend(children)
        layout.append(group_view)
    for index, view in enumerate(_json_order(layout), start=1):
        view.position = index
    return flat, layout


def _json_order(layout: list[ComponentView]) -> list[ComponentView]:
    out = []
    for item in layout:
        out.append(item)
        out.extend(item.children)
    return out


def incident_view(pi: PageIncident, components: dict[int, ComponentView]) -> IncidentView:
    return IncidentView(
        db_id=pi.id,
        id=pi.public_id,
        kind=pi.kind,
        name=pi.name,
        status=pi.status,
        impact=pi.impact,
        started_at=pi.started_at,
        created_at=pi.created_at,
        updated_at=pi.updated_at,
        monitoring_at=pi.monitoring_at,
        resolved_at=pi.resolved_at,
        scheduled_for=pi.scheduled_for,
        scheduled_until=pi.scheduled_until,
        flags={
            "scheduled_remind_prior": pi.scheduled_remind_prior_minutes is not None,
            "scheduled_auto_in_progress": pi.scheduled_auto_in_progress,
            "scheduled_auto_completed": pi.scheduled_auto_completed,
            "auto_transition_to_maintenance_state": pi.auto_transition_to_maintenance_state,
            "auto_transition_to_operational_state": pi.auto_transition_to_operational_state,
            "auto_transition_deliver_notifications_at_start": (
                pi.auto_transition_deliver_notifications_at_start
            ),
            "auto_transition_deliver_notifications_at_end": (
                pi.auto_transition_deliver_notifications_at_end
            ),
        },
        components=[components[c.id] for c in pi.components if c.id in components],
        updates=[
            UpdateView(
                id=u.public_id,
                status=u.status,
                body=u.body,
                display_at=u.display_at,
                created_at=u.created_at,
                updated_at=u.updated_at,
                deliver_notifications=u.deliver_notifications,
                affected_components=[
                    {
                        "code": a.get("code", ""),
                        "name": a.get("name", ""),
                        "old_status": a.get("old_status", ""),
                        "new_status": a.get("new_status", ""),
                    }
                    for a in u.affected_components
                ],
            )
            for u in pi.updates
        ],
    )


def visible_incidents(session: Session, page: StatusPage) -> list[PageIncident]:
    """The page's incidents and maintenances that may be shown, newest first: never one
    whose Tocsin incident is (now) a drill or restricted."""
    found = session.scalars(
        select(PageIncident)
        .where(PageIncident.page_id == page.id)
        .options(
            selectinload(PageIncident.updates),
            selectinload(PageIncident.components),
            selectinload(PageIncident.incident),
        )
        .order_by(PageIncident.started_at.desc(), PageIncident.id.desc())
    ).all()
    return [pi for pi in found if not pi.hidden]


def load_page_view(
    session: Session, page: StatusPage, base_url: str, *, now: datetime | None = None
) -> PageView:
    """Everything the page shows, filtered, as plain values."""
    flat, layout = _layout(page)
    by_db_id = {c.db_id: c for c in flat}
    incidents = [incident_view(pi, by_db_id) for pi in visible_incidents(session, page)]
    view = PageView(
        db_id=page.id,
        id=page.public_id,
        slug=page.slug,
        name=page.name,
        description=page.description,
        url=page_url(page, base_url),
        time_zone=page.time_zone,
        visibility=page.visibility,
        brand_color=page.brand_color,
        accent_color=page.accent_color,
        logo_content_type=page.logo_content_type,
        logo=page.logo,
        allow_subscribers=page.allow_subscribers,
        updated_at=page.updated_at,
        generated_at=now or utcnow(),
        components=flat,
        layout=layout,
        incidents=incidents,
    )
    set_indicator(view)
    return view


def set_indicator(view: PageView) -> None:
    """The page's overall status: its worst component, raised by an unresolved incident's
    impact when that is worse."""
    indicator, text = COMPONENT_INDICATOR[worst([c.status for c in view.components])]
    for incident in view.unresolved:
        by_impact = IMPACT_INDICATOR.get(incident.impact)
        if by_impact and INDICATOR_RANK[by_impact[0]] > INDICATOR_RANK[indicator]:
            # The components' wording stays when they show a problem themselves.
            indicator, text = by_impact[0], text if indicator != "none" else by_impact[1]
    view.indicator, view.description_text = indicator, text


def impact_for(statuses: list[str], current: str = Impact.none.value) -> str:
    """An incident's impact from the statuses it gave its components: never lowered by a
    later update (a resolved incident keeps the impact it had)."""
    computed = max(
        (STATUS_IMPACT.get(s, "none") for s in statuses),
        key=lambda i: IMPACT_RANK.get(i, 0),
        default="none",
    )
    return max(current, computed, key=lambda i: IMPACT_RANK.get(i, 0))
