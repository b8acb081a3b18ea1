"""JSON routes for incidents: declare, list, run, record, communicate, follow up.

Everyone logged in reads; responders write. Incidents are addressed by reference (INC-42 or 42).
A private incident exists only for admins and its members (`access`): for anyone else it is
missing from lists and answers 404. Its commander and admins manage the members.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query

from tocsin.catalog.models import Service, Team
from tocsin.catalog.schemas import Aware, Page, page
from tocsin.db import utcnow
from tocsin.definitions.models import IncidentType, Severity
from tocsin.definitions.schemas import PhaseName
from tocsin.deps import AppSettings, CurrentUser, DbSession, Responder
from tocsin.incidents import actions, members, queries, roles, service, updates
from tocsin.incidents.schemas import (
    ActionItemIn,
    ActionItemList,
    ActionItemOut,
    ActionItemPatch,
    ActionKindName,
    EntryList,
    HandOverIn,
    IncidentIn,
    IncidentOut,
    IncidentPatch,
    KeyEventIn,
    MemberIn,
    MemberList,
    NoteIn,
    RenderedTemplate,
    ResolveIn,
    RoleAssignIn,
    RoleChangeOut,
    RoleHolderIn,
    SortName,
    StatusIn,
    StatusName,
    TimelineEntryOut,
    TimestampsIn,
    UpdateIn,
    UpdateList,
    UpdateOut,
    action_item_out,
    as_restricted,
    entry_out,
    incident_out,
    member_out,
    update_out,
)
from tocsin.web.openapi import errors

router = APIRouter(prefix="/api/v1", tags=["incidents"])

Ref = Annotated[str, Path(max_length=40, description="INC-42 or 42")]
EntryId = Annotated[int, Path(ge=1, le=2**31 - 1)]
ItemId = Annotated[int, Path(ge=1, le=2**31 - 1)]
Limit = Annotated[int, Query(ge=1, le=500, description="Page size (1–500)")]
Offset = Annotated[int, Query(ge=0, le=2**62, description="Rows to skip")]
IdsOrNames = list[Annotated[str, Query(max_length=120)]]


def _names(description: str, alias: str | None = None) -> Any:
    return Query(alias=alias, description=f"{description}: an id or a name (repeatable)")


@router.get("/incidents", response_model=Page[IncidentOut], responses=errors(404))
def list_incidents(
    db: DbSession,
    user: CurrentUser,
    settings: AppSettings,
    status: Annotated[list[StatusName], Query(description="Status (repeatable)")] = [],  # noqa: B006
    severity: Annotated[IdsOrNames, _names("Severity")] = [],  # noqa: B006
    service_: Annotated[IdsOrNames, _names("Affected service", "service")] = [],  # noqa: B006
    team: Annotated[IdsOrNames, _names("Team owning an affected service")] = [],  # noqa: B006
    type_: Annotated[IdsOrNames, _names("Incident type", "type")] = [],  # noqa: B006
    q: Annotated[str, Query(max_length=200, description="Free text or a reference")] = "",
    since: Annotated[Aware | None, Query(description="started_at at or after")] = None,
    until: Annotated[Aware | None, Query(description="started_at before")] = None,
    open: Annotated[bool, Query(description="Only unresolved incidents")] = False,
    drills: Annotated[bool, Query(description="false leaves drills out")] = True,
    sort: SortName = "-created",
    limit: Limit = 50,
    offset: Offset = 0,
) -> dict[str, Any]:
    """Incidents matching every filter given, newest first unless sorted otherwise."""
    flt = queries.IncidentFilter(
        statuses=status,
        severity_ids=queries.ids_by_name(db, Severity, severity, "severity"),
        service_ids=queries.ids_by_name(db, Service, service_, "service"),
        team_ids=queries.ids_by_name(db, Team, team, "team"),
        type_ids=queries.ids_by_name(db, IncidentType, type_, "type"),
        text=q,
        since=since,
        until=until,
        open_only=open,
        include_drills=drills,
        sort=sort,
    )
    rows, total = queries.search_incidents(db, flt, viewer=user, limit=limit, offset=offset)
    return page([incident_out(i, settings.base_url) for i in rows], total, limit, offset)


@router.post("/incidents", status_code=201, response_model=IncidentOut, responses=errors(404))
def declare(body: IncidentIn, db: DbSession, user: Responder, settings: AppSettings) -> IncidentOut:
    """Declare an incident. Type defaults (severity, private, roles) apply when not given."""
    incident = service.declare(db, by=user, **as_restricted(body.model_dump()))
    return incident_out(incident, settings.base_url)


@router.get("/incidents/{ref}", response_model=IncidentOut)
def get_incident(ref: Ref, db: DbSession, user: CurrentUser, settings: AppSettings) -> IncidentOut:
    return incident_out(queries.get_incident(db, ref, viewer=user), settings.base_url)


@router.patch("/incidents/{ref}", response_model=IncidentOut)
def edit_incident(
    ref: Ref, body: IncidentPatch, db: DbSession, user: Responder, settings: AppSettings
) -> IncidentOut:
    """Change descriptive fields; each change is recorded on the timeline."""
    incident = queries.get_incident(db, ref, viewer=user)
    service.edit(db, incident, as_restricted(body.model_dump(exclude_unset=True)), by=user)
    return incident_out(incident, settings.base_url)


@router.post("/incidents/{ref}/status", response_model=IncidentOut)
def change_status(
    ref: Ref, body: StatusIn, db: DbSession, user: Responder, settings: AppSettings
) -> IncidentOut:
    """Move the incident through its lifecycle; 409 when the move is not allowed."""
    incident = queries.get_incident(db, ref, viewer=user)
    service.change_status(db, incident, body.status, by=user)
    return incident_out(incident, settings.base_url)


def _lifecycle_route(name: str, summary: str) -> Callable[..., IncidentOut]:
    act = getattr(service, name)

    def route(ref: Ref, db: DbSession, user: Responder, settings: AppSettings) -> IncidentOut:
        incident = queries.get_incident(db, ref, viewer=user)
        act(db, incident, by=user)
        return incident_out(incident, settings.base_url)

    route.__name__ = name
    route.__doc__ = summary
    return route


@router.post("/incidents/{ref}/resolve", response_model=IncidentOut)
def resolve(
    ref: Ref,
    db: DbSession,
    user: Responder,
    settings: AppSettings,
    body: ResolveIn | None = None,
) -> IncidentOut:
    """Mark the incident resolved (the impact is over), optionally with a resolution summary."""
    incident = queries.get_incident(db, ref, viewer=user)
    service.resolve(db, incident, by=user, summary=body.summary if body else "")
    return incident_out(incident, settings.base_url)


# Acknowledging is `POST /incidents/{ref}/acknowledge` in escalation/api.py: for the person
# paged it also acknowledges pages sent into an incident already acknowledged.
for _name, _summary in (
    ("close", "Close a resolved incident (nothing more to do)."),
    ("reopen", "Reopen a resolved or closed incident."),
):
    router.post(f"/incidents/{{ref}}/{_name}", name=_name, response_model=IncidentOut)(
        _lifecycle_route(_name, _summary)
    )


@router.patch("/incidents/{ref}/timestamps", response_model=IncidentOut)
def edit_timestamps(
    ref: Ref, body: TimestampsIn, db: DbSession, user: Responder, settings: AppSettings
) -> IncidentOut:
    """Correct or backfill the timestamps the metrics are computed from."""
    incident = queries.get_incident(db, ref, viewer=user)
    service.edit_timestamps(db, incident, body.model_dump(exclude_unset=True), by=user)
    return incident_out(incident, settings.base_url)


RoleSlug = Annotated[str, Path(max_length=64, description="e.g. incident_commander, sme")]
UserId = Annotated[int, Path(ge=1, le=2**31 - 1)]


@router.put("/incidents/{ref}/roles/{role_slug}", response_model=IncidentOut)
def assign_role(
    ref: Ref,
    role_slug: RoleSlug,
    body: RoleAssignIn,
    db: DbSession,
    user: Responder,
    settings: AppSettings,
) -> IncidentOut:
    """Set a role (by slug): a single role's holder is replaced, a role that allows several
    gains a holder; `user_id: null` removes every holder. The single-holder form, kept for
    existing clients: `POST …/holders` also returns warnings."""
    incident = queries.get_incident(db, ref, viewer=user)
    role = queries.role_by_slug(db, role_slug)
    roles.assign_role(db, incident, role_id=role.id, user_id=body.user_id, by=user)
    return incident_out(incident, settings.base_url)


@router.post("/incidents/{ref}/roles/{role_slug}/holders", response_model=RoleChangeOut)
def add_role_holder(
    ref: Ref,
    role_slug: RoleSlug,
    body: RoleHolderIn,
    db: DbSession,
    user: Responder,
    settings: AppSettings,
) -> RoleChangeOut:
    """Give a role to a person (they are emailed its responsibilities). A role that allows
    several holders gains one; a single role is handed over. Assigning a viewer is allowed,
    with a warning in `warnings`."""
    incident = queries.get_incident(db, ref, viewer=user)
    role = queries.role_by_slug(db, role_slug)
    change = roles.assign_role(db, incident, role_id=role.id, user_id=body.user_id, by=user)
    return RoleChangeOut(
        incident=incident_out(incident, settings.base_url), warnings=list(change.warnings)
    )


@router.delete("/incidents/{ref}/roles/{role_slug}/holders/{user_id}", response_model=IncidentOut)
def remove_role_holder(
    ref: Ref,
    role_slug: RoleSlug,
    user_id: UserId,
    db: DbSession,
    user: Responder,
    settings: AppSettings,
) -> IncidentOut:
    """Remove one holder of a role; 404 when they do not hold it."""
    incident = queries.get_incident(db, ref, viewer=user)
    role = queries.role_by_slug(db, role_slug)
    roles.unassign_role(db, incident, role_id=role.id, user_id=user_id, by=user)
    return incident_out(incident, settings.base_url)


@router.post("/incidents/{ref}/command", response_model=RoleChangeOut)
def hand_over_command(
    ref: Ref, body: HandOverIn, db: DbSession, user: Responder, settings: AppSettings
) -> RoleChangeOut:
    """Hand command to another person; the timeline records who handed to whom. 409 when
    nobody holds command yet (assign an Incident Commander) or they already do."""
    incident = queries.get_incident(db, ref, viewer=user)
    change = roles.hand_over_command(db, incident, to_user_id=body.to_user_id, by=user)
    return RoleChangeOut(
        incident=incident_out(incident, settings.base_url), warnings=list(change.warnings)
    )


# --- timeline ---------------------------------------------------------------------------


@router.get("/incidents/{ref}/members", response_model=MemberList)
def list_members(ref: Ref, db: DbSession, user: CurrentUser) -> MemberList:
    """Who may see the incident when it is private (besides admins)."""
    incident = queries.get_incident(db, ref, viewer=user)
    return MemberList(items=[member_out(m) for m in members.members(db, incident)])


@router.post("/incidents/{ref}/members", response_model=MemberList, responses=errors(403, 404))
def add_member(ref: Ref, body: MemberIn, db: DbSession, user: Responder) -> MemberList:
    """Add a member (the commander or an admin); nothing changes for one already there. A
    refusal is recorded in the audit trail."""
    incident = queries.get_incident(db, ref, viewer=user)
    members.add_member(db, incident, user_id=body.user_id, by=user)
    return MemberList(items=[member_out(m) for m in members.members(db, incident)])


@router.delete(
    "/incidents/{ref}/members/{user_id}",
    response_model=MemberList,
    responses=errors(403, 404, 409),
)
def remove_member(ref: Ref, user_id: UserId, db: DbSession, user: Responder) -> MemberList:
    """Remove a member (the commander or an admin); 409 while they hold one of its roles. A
    refusal is recorded in the audit trail."""
    incident = queries.get_incident(db, ref, viewer=user)
    members.remove_member(db, incident, user_id=user_id, by=user)
    return MemberList(items=[member_out(m) for m in members.members(db, incident)])


@router.get("/incidents/{ref}/timeline", response_model=EntryList)
def timeline(
    ref: Ref,
    db: DbSession,
    user: CurrentUser,
    key_only: Annotated[bool, Query(description="Only key events")] = False,
) -> EntryList:
    """Everything that happened, in the order it happened."""
    entries = queries.timeline(db, queries.get_incident(db, ref, viewer=user), key_only=key_only)
    return EntryList(items=[entry_out(e) for e in entries], total=len(entries))


@router.post("/incidents/{ref}/notes", status_code=201, response_model=TimelineEntryOut)
def add_note(ref: Ref, body: NoteIn, db: DbSession, user: Responder) -> TimelineEntryOut:
    """Add a note; `occurred_at` in the past backfills it at that point of the timeline."""
    incident = queries.get_incident(db, ref, viewer=user)
    entry = service.add_note(
        db, incident, body.body, by=user, occurred_at=body.occurred_at, key_event=body.key_event
    )
    return entry_out(entry)


@router.patch("/incidents/{ref}/timeline/{entry_id}", response_model=TimelineEntryOut)
def set_key_event(
    ref: Ref, entry_id: EntryId, body: KeyEventIn, db: DbSession, user: Responder
) -> TimelineEntryOut:
    """Flag or unflag a timeline entry as a key event."""
    incident = queries.get_incident(db, ref, viewer=user)
    return entry_out(service.set_key_event(db, incident, entry_id, body.is_key_event, by=user))


# --- status updates ---------------------------------------------------------------------


@router.get("/incidents/{ref}/updates", response_model=UpdateList)
def list_updates(ref: Ref, db: DbSession, user: CurrentUser) -> UpdateList:
    """Status updates, newest first."""
    incident = queries.get_incident(db, ref, viewer=user)
    return UpdateList(items=[update_out(u) for u in incident.updates], total=len(incident.updates))


@router.post("/incidents/{ref}/updates", status_code=201, response_model=UpdateOut)
def post_update(ref: Ref, body: UpdateIn, db: DbSession, user: Responder) -> UpdateOut:
    """Post a status update; the incident moves to the update's phase if it is not there."""
    incident = queries.get_incident(db, ref, viewer=user)
    return update_out(updates.post_update(db, incident, by=user, **body.model_dump()))


@router.get("/incidents/{ref}/template", response_model=RenderedTemplate)
def template(
    ref: Ref,
    phase: PhaseName,
    db: DbSession,
    user: CurrentUser,
    next_update_at: Aware | None = None,
) -> RenderedTemplate:
    """The phase's update template, filled in from the incident."""
    incident = queries.get_incident(db, ref, viewer=user)
    body = updates.render_template(
        db, incident, phase, next_update_at=next_update_at, tz=user.timezone
    )
    return RenderedTemplate(phase=phase, body=body)


# --- action items -----------------------------------------------------------------------


@router.get("/incidents/{ref}/action-items", response_model=ActionItemList)
def incident_action_items(ref: Ref, db: DbSession, user: CurrentUser) -> ActionItemList:
    incident = queries.get_incident(db, ref, viewer=user)
    today = utcnow().date()
    items = [action_item_out(i, today) for i in incident.action_items]
    return ActionItemList(items=items, total=len(items))


@router.post("/incidents/{ref}/action-items", status_code=201, response_model=ActionItemOut)
def add_action_item(ref: Ref, body: ActionItemIn, db: DbSession, user: Responder) -> ActionItemOut:
    incident = queries.get_incident(db, ref, viewer=user)
    item = actions.add_action_item(db, incident, by=user, **body.model_dump())
    return action_item_out(item, utcnow().date())


@router.get("/action-items", response_model=Page[ActionItemOut])
def list_action_items(
    db: DbSession,
    user: CurrentUser,
    assignee: Annotated[int | None, Query(ge=1, le=2**31 - 1, description="A user id")] = None,
    overdue: Annotated[bool, Query(description="Only open items past their due date")] = False,
    open: Annotated[bool, Query(description="Only open or in-progress items")] = False,
    kind: ActionKindName | None = None,
    limit: Limit = 200,
    offset: Offset = 0,
) -> dict[str, Any]:
    """Action items across incidents, soonest due first."""
    today = utcnow().date()
    rows, total = queries.action_items(
        db,
        viewer=user,
        assignee_id=assignee,
        overdue_on=today if overdue else None,
        open_only=open,
        kind=kind,
        limit=limit,
        offset=offset,
    )
    return page([action_item_out(i, today) for i in rows], total, limit, offset)


@router.patch("/action-items/{item_id}", response_model=ActionItemOut)
def update_action_item(
    item_id: ItemId, body: ActionItemPatch, db: DbSession, user: Responder
) -> ActionItemOut:
    """Change an item; status and assignee changes go on the incident's timeline."""
    item = queries.get_action_item(db, item_id, viewer=user)
    actions.update_action_item(db, item, body.model_dump(exclude_unset=True), by=user)
    return action_item_out(item, utcnow().date())
