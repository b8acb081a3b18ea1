"""API shapes for managing status pages (`/api/v1/status-pages`). The public, read-only
API in Statuspage's shapes is rendered to files instead (`statusjson.py`)."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from pydantic import BaseModel, Field
from pydantic.json_schema import SkipJsonSchema

from tocsin.catalog.schemas import Aware, Id, LongText, Name, Strict, Timestamp, TimeZoneName
from tocsin.statuspages.models import (
    Component,
    ComponentChange,
    ComponentGroup,
    PageIncident,
    PageIncidentUpdate,
    StatusPage,
)
from tocsin.validation import WHITESPACE

# A page's slug as the service takes one: it lower-cases it (and strips spaces) first.
SLUG = rf"^[{WHITESPACE}]*[a-zA-Z0-9]([a-zA-Z0-9-]{{0,62}}[a-zA-Z0-9])?[{WHITESPACE}]*$"
ComponentStatusName = Literal[
    "operational", "degraded_performance", "partial_outage", "major_outage", "under_maintenance"
]
PhaseName = Literal["investigating", "identified", "monitoring", "resolved"]
MaintenanceStatusName = Literal["scheduled", "in_progress", "verifying", "completed"]
Color = Annotated[
    str,
    Field(json_schema_extra={"pattern": rf"^[{WHITESPACE}]*#[0-9a-fA-F]{{6}}[{WHITESPACE}]*$"}),
]
Body = str


class PageIn(Strict):
    name: Name
    slug: str | None = Field(
        default=None,
        max_length=64,
        description="default: from the name",
        json_schema_extra={"pattern": SLUG},
    )
    description: LongText = ""
    visibility: Literal["public", "private"] = "public"
    time_zone: TimeZoneName = "UTC"
    public_url: str = Field(default="", max_length=500, description="where the page is served")
    brand_color: Color = Field(default="#1f4e79", max_length=7)
    accent_color: Color = Field(default="#0b6bcb", max_length=7)
    owner_team_id: Id | None = None
    owner_user_id: Id | None = None
    allow_subscribers: bool = True


class PagePatch(Strict):
    name: Name | SkipJsonSchema[None] = None  # null: refused, as it may not be cleared
    slug: str | None = Field(default=None, max_length=64, json_schema_extra={"pattern": SLUG})
    description: LongText | None = None
    visibility: Literal["public", "private"] | None = None
    time_zone: TimeZoneName | None = None
    public_url: str | None = Field(default=None, max_length=500)
    brand_color: Color | None = Field(default=None, max_length=7)
    accent_color: Color | None = Field(default=None, max_length=7)
    owner_team_id: Id | None = None
    owner_user_id: Id | None = None
    allow_subscribers: bool | None = None


class GroupIn(Strict):
    name: Name
    description: LongText = ""
    position: int | None = Field(default=None, ge=0, le=10_000)


class GroupPatch(Strict):
    name: Name | SkipJsonSchema[None] = None  # null: refused, as it may not be cleared
    description: LongText | None = None
    position: int | None = Field(default=None, ge=0, le=10_000)


class ComponentIn(Strict):
    name: Name
    description: LongText = ""
    group_id: Id | None = None
    service_id: Id | None = None
    position: int | None = Field(default=None, ge=0, le=10_000)
    showcase: bool = True
    only_show_if_degraded: bool = False
    start_date: date | None = None
    status: ComponentStatusName = "operational"


class ComponentPatch(Strict):
    """Any of these; `status` changes the status by hand (recorded, told to subscribers)."""

    name: Name | SkipJsonSchema[None] = None  # null: refused, as it may not be cleared
    description: LongText | None = None
    group_id: Id | None = None
    service_id: Id | None = None
    position: int | None = Field(default=None, ge=0, le=10_000)
    showcase: bool | None = None
    only_show_if_degraded: bool | None = None
    start_date: date | None = None
    status: ComponentStatusName | None = None
    reason: str = Field(default="", max_length=1000, description="why the status changed")


class GroupOut(BaseModel):
    id: int
    public_id: str
    name: str
    description: str
    position: int


class ComponentOut(BaseModel):
    id: int
    public_id: str
    name: str
    description: str
    status: str
    group_id: int | None
    service_id: int | None
    position: int
    showcase: bool
    only_show_if_degraded: bool
    start_date: date | None
    updated_at: Timestamp


class PageOut(BaseModel):
    id: int
    public_id: str
    slug: str
    name: str
    description: str
    visibility: str
    time_zone: str
    public_url: str
    brand_color: str
    accent_color: str
    has_logo: bool
    has_secret_link: bool
    owner_team_id: int | None
    owner_user_id: int | None
    allow_subscribers: bool
    rendered_at: Timestamp | None
    created_at: Timestamp
    updated_at: Timestamp
    groups: list[GroupOut]
    components: list[ComponentOut]


class SecretLinkOut(BaseModel):
    url: str = Field(description="shown once; anyone with it can read the page")


class PublishIn(Strict):
    """Publish an update of a Tocsin incident on the page (like Statuspage's
    `PATCH /incidents/{id}`): the first one creates the page's incident."""

    incident: str = Field(max_length=40, description="INC-42 or 42")
    status: PhaseName
    body: Body = Field(max_length=10_000)
    name: str | None = Field(default=None, max_length=255, description="public title")
    impact: Literal["auto", "none", "minor", "major", "critical"] = "auto"
    components: dict[int, ComponentStatusName] = Field(
        default_factory=dict,
        description="component id -> new status",
        json_schema_extra={"propertyNames": {"pattern": "^[0-9]+$"}},
    )
    deliver_notifications: bool = True
    display_at: Aware | None = Field(default=None, description="backfill: when it happened")


class UpdateOut(BaseModel):
    id: int
    public_id: str
    status: str
    body: str
    display_at: Timestamp
    deliver_notifications: bool
    affected_components: list[dict[str, object]]
    status_update_id: int | None


class PageIncidentOut(BaseModel):
    id: int
    public_id: str
    kind: str
    incident: str | None = Field(
        description="The Tocsin incident it was published from; null for maintenance, and for "
        "a restricted incident the caller may not see"
    )
    name: str
    status: str
    impact: str
    started_at: Timestamp
    resolved_at: Timestamp | None
    scheduled_for: Timestamp | None
    scheduled_until: Timestamp | None
    scheduled_remind_prior_minutes: int | None
    scheduled_auto_in_progress: bool
    scheduled_auto_completed: bool
    component_ids: list[int]
    shown: bool = Field(description="false while its incident is a drill or restricted")
    updates: list[UpdateOut]


class MaintenanceIn(Strict):
    name: str = Field(max_length=255)
    body: Body = Field(default="", max_length=10_000)
    scheduled_for: Aware
    scheduled_until: Aware
    component_ids: list[Id] = Field(default_factory=list, max_length=500)
    remind_minutes: int | None = Field(default=None, description="remind subscribers before")
    scheduled_auto_in_progress: bool = True
    scheduled_auto_completed: bool = True
    auto_transition_to_maintenance_state: bool = True
    auto_transition_to_operational_state: bool = True
    auto_transition_deliver_notifications_at_start: bool = True
    auto_transition_deliver_notifications_at_end: bool = True
    deliver_notifications: bool = True


class MaintenancePatch(Strict):
    name: str | None = Field(default=None, max_length=255)
    scheduled_for: Aware | None = None
    scheduled_until: Aware | None = None
    component_ids: list[Id] | None = Field(default=None, max_length=500)
    remind_minutes: int | None = None
    scheduled_auto_in_progress: bool | None = None
    scheduled_auto_completed: bool | None = None
    auto_transition_to_maintenance_state: bool | None = None
    auto_transition_to_operational_state: bool | None = None
    auto_transition_deliver_notifications_at_start: bool | None = None
    auto_transition_deliver_notifications_at_end: bool | None = None


class MaintenanceUpdateIn(Strict):
    status: MaintenanceStatusName
    body: Body = Field(default="", max_length=10_000)
    deliver_notifications: bool = True


class ComponentChangeOut(BaseModel):
    id: int
    component_id: int
    old_status: str
    new_status: str
    source: str
    reason: str
    created_at: Timestamp


def group_out(group: ComponentGroup) -> GroupOut:
    return GroupOut(
        id=group.id,
        public_id=group.public_id,
        name=group.name,
        description=group.description,
        position=group.position,
    )


def component_out(c: Component) -> ComponentOut:
    return ComponentOut(
        id=c.id,
        public_id=c.public_id,
        name=c.name,
        description=c.description,
        status=c.status,
        group_id=c.group_id,
        service_id=c.service_id,
        position=c.position,
        showcase=c.showcase,
        only_show_if_degraded=c.only_show_if_degraded,
        start_date=c.start_date,
        updated_at=c.updated_at,
    )


def page_out(page: StatusPage) -> PageOut:
    return PageOut(
        id=page.id,
        public_id=page.public_id,
        slug=page.slug,
        name=page.name,
        description=page.description,
        visibility=page.visibility,
        time_zone=page.time_zone,
        public_url=page.public_url,
        brand_color=page.brand_color,
        accent_color=page.accent_color,
        has_logo=page.logo is not None,
        has_secret_link=page.secret_link_hash is not None,
        owner_team_id=page.owner_team_id,
        owner_user_id=page.owner_user_id,
        allow_subscribers=page.allow_subscribers,
        rendered_at=page.rendered_at,
        created_at=page.created_at,
        updated_at=page.updated_at,
        groups=[group_out(g) for g in page.groups],
        components=[component_out(c) for c in page.components],
    )


def update_out(u: PageIncidentUpdate) -> UpdateOut:
    return UpdateOut(
        id=u.id,
        public_id=u.public_id,
        status=u.status,
        body=u.body,
        display_at=u.display_at,
        deliver_notifications=u.deliver_notifications,
        affected_components=list(u.affected_components),
        status_update_id=u.status_update_id,
    )


def page_incident_out(pi: PageIncident, *, show_incident: bool = True) -> PageIncidentOut:
    """The page incident; `show_incident` False leaves out which Tocsin incident it is
    (one the caller may not see)."""
    return PageIncidentOut(
        id=pi.id,
        public_id=pi.public_id,
        kind=pi.kind,
        incident=pi.incident.reference if pi.incident and show_incident else None,
        name=pi.name,
        status=pi.status,
        impact=pi.impact,
        started_at=pi.started_at,
        resolved_at=pi.resolved_at,
        scheduled_for=pi.scheduled_for,
        scheduled_until=pi.scheduled_until,
        scheduled_remind_prior_minutes=pi.scheduled_remind_prior_minutes,
        scheduled_auto_in_progress=pi.scheduled_auto_in_progress,
        scheduled_auto_completed=pi.scheduled_auto_completed,
        component_ids=[c.id for c in pi.components],
        shown=not pi.hidden,
        updates=[update_out(u) for u in pi.updates],
    )


def change_out(change: ComponentChange) -> ComponentChangeOut:
    return ComponentChangeOut(
        id=change.id,
        component_id=change.component_id,
        old_status=change.old_status,
        new_status=change.new_status,
        source=change.source,
        reason=change.reason,
        created_at=change.created_at,
    )
