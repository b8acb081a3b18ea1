"""API shapes for incidents, timelines, status updates and action items."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field

from tocsin.catalog.schemas import (
    NOT_BLANK_TEXT,
    Aware,
    Id,
    Out,
    Ref,
    Strict,
    Timestamp,
    UserRef,
    omittable,
    user_ref,
)
from tocsin.definitions.schemas import PhaseName, RoleRef
from tocsin.incidents import response
from tocsin.incidents.models import (
    ActionItem,
    Incident,
    IncidentMember,
    StatusUpdate,
    TimelineEntry,
)
from tocsin.validation import WHITESPACE

StatusName = Literal[
    "triggered", "acknowledged", "investigating", "identified", "monitoring", "resolved", "closed"
]
Visibility = Literal["internal", "external"]
ResponseTargetState = Literal["pending", "met", "missed", "none"]
ActionKindName = Literal["incident", "follow_up"]
ActionStatusName = Literal["open", "in_progress", "done", "wont_do"]
ActionPriorityName = Literal["high", "medium", "low"]
# As incidents/actions.py checks them (lowercased there): short, no spaces or quotes.
Tag = Annotated[str, Field(min_length=1, max_length=40, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]*$")]
Tags = Annotated[list[Tag], Field(max_length=20)]
SortName = Literal["-created", "created", "-started", "-updated", "severity"]
UrgencyName = Literal["high", "low"]
UrgencyChoice = Literal["high", "low", "none"]

Title = Annotated[str, Field(max_length=255, json_schema_extra=NOT_BLANK_TEXT)]
Text = Annotated[str, Field(max_length=20_000)]
ShortText = Annotated[str, Field(max_length=10_000)]
FieldKey = Annotated[str, Field(max_length=64)]
CustomValues = dict[FieldKey, Any]

# --- requests ---------------------------------------------------------------------------
# PATCH models: a field left out is not changed; fields typed without None refuse null.


# An http(s) URL with a host, as validation.url takes one (after stripping spaces).
HTTP_URL = rf"^[{WHITESPACE}]*[Hh][Tt][Tt][Pp][Ss]?://[^/?#\x00{WHITESPACE}][^\x00]*$"


class Link(Strict):
    title: str = Field(default="", max_length=255)
    url: str = Field(
        max_length=2048, description="http or https", json_schema_extra={"pattern": HTTP_URL}
    )


Codename = Annotated[str, Field(max_length=80)]


class IncidentIn(Strict):
    title: Title
    description: Text = ""
    type_id: Id | None = None
    severity_id: Id | None = Field(default=None, description="Defaults to the type's")
    priority_id: Id | None = None
    service_ids: list[Id] = Field(default=[], max_length=200)
    customer_impact: Text = ""
    links: list[Link] = Field(default=[], max_length=50)
    custom_fields: CustomValues = Field(default={}, description="By field key")
    drill: bool = False
    private: bool | None = Field(
        default=None,
        description="Visible only to its members and admins. Defaults to the type's",
    )
    restricted: bool | None = Field(
        default=None, description="The former name of private, still accepted"
    )
    codename: Codename = Field(
        default="", description="What people outside a private incident are told of it"
    )
    started_at: Aware | None = Field(default=None, description="Defaults to now")
    detected_at: Aware | None = None
    commander_id: Id | None = None
    urgency: UrgencyChoice | None = Field(
        default=None,
        description='"high" or "low"; "none" declares without paging anyone. Defaults to the '
        "severity's default urgency (high without a severity)",
    )


class IncidentPatch(Strict):
    title: Title = omittable()
    description: Text = omittable()
    type_id: Id | None = None
    severity_id: Id | None = None
    priority_id: Id | None = None
    service_ids: list[Id] = omittable(max_length=200)
    customer_impact: Text = omittable()
    links: list[Link] = omittable(max_length=50)
    custom_fields: CustomValues = omittable(description="Merged into the current")
    drill: bool = omittable()
    private: bool = omittable(description="Visible only to its members and admins")
    restricted: bool = omittable(description="The former name of private, still accepted")
    codename: Codename = omittable(description='"" for none')
    resolution_summary: Text = omittable(description="How it ended (Markdown)")


class ResolveIn(Strict):
    summary: Text = Field(
        default="",
        description="How it ended and what fixed it (Markdown): the resolution note on the "
        "timeline, kept on the incident as resolution_summary",
    )


class StatusIn(Strict):
    status: StatusName


class TimestampsIn(Strict):
    started_at: Aware | None = None
    detected_at: Aware | None = None
    acknowledged_at: Aware | None = None
    resolved_at: Aware | None = None
    closed_at: Aware | None = None


class RoleAssignIn(Strict):
    user_id: Id | None = Field(
        description="The holder: replaces a single role's holder, adds one to a role that "
        "allows several; null removes every holder"
    )


class RoleHolderIn(Strict):
    user_id: Id = Field(description="The person to add as a holder of the role")


class HandOverIn(Strict):
    to_user_id: Id = Field(description="The person taking command")


class NoteIn(Strict):
    body: Text
    occurred_at: Aware | None = Field(default=None, description="Backfill: when it happened")
    key_event: bool = False


class KeyEventIn(Strict):
    is_key_event: bool


class UpdateIn(Strict):
    phase: PhaseName
    body: ShortText
    visibility: Visibility = "internal"
    next_update_at: Aware | None = None


class ActionItemIn(Strict):
    title: Title
    description: ShortText = ""
    assignee_id: Id | None = None
    due_date: date | None = None
    kind: ActionKindName = "incident"
    priority: ActionPriorityName = "medium"
    tags: Tags = []


class ActionItemPatch(Strict):
    title: Title = omittable()
    description: ShortText = omittable()
    assignee_id: Id | None = None
    due_date: date | None = None
    status: ActionStatusName = omittable()
    kind: ActionKindName = omittable()
    priority: ActionPriorityName = omittable()
    tags: Tags = omittable()


# --- responses --------------------------------------------------------------------------


class SeverityRef(Out):
    id: int
    name: str
    label: str


class LinkOut(Out):
    title: str
    url: str


class RoleAssignmentOut(Out):
    """One holder of one role (a role that allows several appears once per holder)."""

    role: RoleRef
    user: UserRef
    assigned_at: Timestamp


class IncidentOut(BaseModel):
    id: int
    number: int
    reference: str
    url: str
    title: str
    description: str
    status: StatusName
    severity: SeverityRef | None
    priority: Ref | None
    type: Ref | None
    services: list[Ref]
    urgency: UrgencyName
    declared_without_paging: bool
    customer_impact: str
    resolution_summary: str
    links: list[LinkOut]
    custom_fields: dict[str, Any]
    drill: bool
    private: bool = Field(description="Visible only to its members and admins")
    restricted: bool = Field(description="The former name of private (the same value)")
    codename: str = Field(description="What people outside a private incident are told of it")
    started_at: Timestamp | None
    detected_at: Timestamp | None
    acknowledged_at: Timestamp | None
    resolved_at: Timestamp | None
    closed_at: Timestamp | None
    response_due_at: Timestamp | None = Field(
        description="When the first response is due under the severity's response target "
        "(fixed when set; null: no target)"
    )
    response_target: ResponseTargetState = Field(
        description="pending (no response yet, not due), met (acknowledged or resolved by "
        "the due time), missed, or none (no target)"
    )
    created_at: Timestamp
    updated_at: Timestamp
    commander: UserRef | None = Field(description="The Incident Commander (the one holder)")
    roles: list[RoleAssignmentOut] = Field(description="Every holder of every role")
    created_by: UserRef | None


class RoleChangeOut(BaseModel):
    """The incident after a role changed, and what the person assigning should know."""

    incident: IncidentOut
    warnings: list[str] = Field(
        description="E.g. the person given the role is a viewer (allowed, but they cannot act)"
    )


class Actor(Out):
    id: int
    name: str


class TimelineEntryOut(Out):
    id: int
    kind: str
    summary: str
    body: str
    field: str | None
    old_value: Any
    new_value: Any
    is_key_event: bool
    actor: Actor | None
    occurred_at: Timestamp
    created_at: Timestamp


class UpdateOut(Out):
    id: int
    phase: PhaseName
    visibility: Visibility
    body: str
    next_update_at: Timestamp | None
    author: UserRef | None
    created_at: Timestamp


class RenderedTemplate(BaseModel):
    phase: PhaseName
    body: str


class IncidentBrief(Out):
    id: int
    reference: str
    title: str


class ActionItemOut(BaseModel):
    id: int
    incident: IncidentBrief
    title: str
    description: str
    assignee: UserRef | None
    due_date: date | None
    status: ActionStatusName
    kind: ActionKindName
    priority: ActionPriorityName
    tags: list[str]
    overdue: bool
    days_overdue: int = Field(description="Days past the due date while open; 0 otherwise")
    age_days: int = Field(description="Days since the item was created")
    created_at: Timestamp
    completed_at: Timestamp | None


class EntryList(BaseModel):
    items: list[TimelineEntryOut]
    total: int


class UpdateList(BaseModel):
    items: list[UpdateOut]
    total: int


class ActionItemList(BaseModel):
    items: list[ActionItemOut]
    total: int


def _ref(obj: Any) -> Ref | None:
    return Ref.model_validate(obj) if obj is not None else None


def incident_out(incident: Incident, base_url: str) -> IncidentOut:
    severity = incident.severity
    assignments = sorted(
        incident.role_assignments,
        key=lambda a: (a.role.position, a.role.id, a.assigned_at, a.id or 0),
    )
    return IncidentOut(
        id=incident.id,
        number=incident.number,
        reference=incident.reference,
        url=f"{base_url.rstrip('/')}/incidents/{incident.reference}",
        title=incident.title,
        description=incident.description,
        status=incident.status,
        severity=SeverityRef.model_validate(severity) if severity is not None else None,
        priority=_ref(incident.priority),
        type=_ref(incident.incident_type),
        services=[Ref.model_validate(s) for s in incident.services],
        urgency=incident.urgency,
        declared_without_paging=incident.declared_without_paging,
        customer_impact=incident.customer_impact,
        resolution_summary=incident.resolution_summary,
        links=[LinkOut.model_validate(link) for link in incident.links or []],
        custom_fields=dict(incident.custom_fields or {}),
        drill=incident.drill,
        private=incident.restricted,
        restricted=incident.restricted,
        codename=incident.codename,
        started_at=incident.started_at,
        detected_at=incident.detected_at,
        acknowledged_at=incident.acknowledged_at,
        resolved_at=incident.resolved_at,
        closed_at=incident.closed_at,
        response_due_at=incident.response_due_at,
        response_target=response.state(incident),
        created_at=incident.created_at,
        updated_at=incident.updated_at,
        commander=user_ref(incident.commander),
        roles=[RoleAssignmentOut.model_validate(a) for a in assignments],
        created_by=user_ref(incident.created_by),
    )


def entry_out(entry: TimelineEntry) -> TimelineEntryOut:
    return TimelineEntryOut.model_validate(entry)


def update_out(update: StatusUpdate) -> UpdateOut:
    return UpdateOut.model_validate(update)


def action_item_out(item: ActionItem, today: date) -> ActionItemOut:
    """An action item; `overdue` is judged against `today` (UTC)."""
    return ActionItemOut(
        id=item.id,
        incident=IncidentBrief.model_validate(item.incident),
        title=item.title,
        description=item.description,
        assignee=user_ref(item.assignee),
        due_date=item.due_date,
        status=item.status,
        kind=item.kind,
        priority=item.priority,
        tags=list(item.tags or []),
        overdue=item.is_overdue(today),
        days_overdue=item.days_overdue(today),
        age_days=max(0, (today - item.created_at.date()).days),
        created_at=item.created_at,
        completed_at=item.completed_at,
    )


class MemberIn(Strict):
    user_id: Id


class MemberOut(Out):
    user: UserRef
    added_by: UserRef | None
    added_at: Timestamp


class MemberList(BaseModel):
    items: list[MemberOut]


def member_out(member: IncidentMember) -> MemberOut:
    return MemberOut(
        user=UserRef.model_validate(member.user),
        added_by=user_ref(member.added_by),
        added_at=member.added_at,
    )


def as_restricted(data: dict[str, Any]) -> dict[str, Any]:
    """A request's `private` under the name the service knows (`restricted`, the column's)."""
    if data.get("private") is not None:
        data["restricted"] = data["private"]
    data.pop("private", None)
    return data
