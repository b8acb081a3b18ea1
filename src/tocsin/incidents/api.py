"""JSON routes for incidents: declare, list, run, record, communicate, follow up."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query

from tocsin.catalog.models import Service, Team
from tocsin.db import utcnow
from tocsin.definitions.models import IncidentType, Severity
from tocsin.deps import AppSettings, CurrentUser, DbSession, Responder
from tocsin.errors import NotFound
from tocsin.incidents import actions, queries, service, updates
from tocsin.incidents.models import ActionItem
from tocsin.incidents.schemas import (
    ActionItemIn,
    ActionItemPatch,
    IncidentIn,
    IncidentPatch,
    KeyEventIn,
    NoteIn,
    RoleAssignIn,
    StatusIn,
    TimestampsIn,
    UpdateIn,
    action_item_out,
    entry_out,
    incident_out,
    update_out,
)

router = APIRouter(prefix="/api/v1", tags=["incidents"])
Multi = Annotated[list[str], Query()]


@router.get("/incidents")
def list_incidents(
    db: DbSession,
    user: CurrentUser,
    settings: AppSettings,
    status: Multi = [],  # noqa: B006 (FastAPI copies defaults)
    severity: Multi = [],  # noqa: B006
    service_: Annotated[list[str], Query(alias="service")] = [],  # noqa: B006
    team: Multi = [],  # noqa: B006
    type_: Annotated[list[str], Query(alias="type")] = [],  # noqa: B006
    q: Annotated[str, Query(max_length=200)] = "",
    since: datetime | None = None,
    until: datetime | None = None,
    open: bool = False,
    drills: bool = True,
    sort: str = "-created",
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> dict[str, Any]:
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
    rows, total = queries.search_incidents(db, flt, limit=limit, offset=offset)
    return {
        "items": [incident_out(i, settings.base_url) for i in rows],
        "total": total,
        "limit": limit,
        "offset": offset,
    }


@router.post("/incidents", status_code=201)
def declare(
    body: IncidentIn, db: DbSession, user: Responder, settings: AppSettings
) -> dict[str, Any]:
    data = body.model_dump()
    incident = service.declare(db, by=user, **data)
    return incident_out(incident, settings.base_url)


@router.get("/incidents/{ref}")
def get_incident(
    ref: str, db: DbSession, user: CurrentUser, settings: AppSettings
) -> dict[str, Any]:
    return incident_out(queries.get_incident(db, ref), settings.base_url)


@router.patch("/incidents/{ref}")
def edit_incident(
    ref: str, body: IncidentPatch, db: DbSession, user: Responder, settings: AppSettings
) -> dict[str, Any]:
    incident = queries.get_incident(db, ref)
    service.edit(db, incident, body.model_dump(exclude_unset=True), by=user)
    return incident_out(incident, settings.base_url)


@router.post("/incidents/{ref}/status")
def change_status(
    ref: str, body: StatusIn, db: DbSession, user: Responder, settings: AppSettings
) -> dict[str, Any]:
    incident = queries.get_incident(db, ref)
    service.change_status(db, incident, body.status, by=user)
    return incident_out(incident, settings.base_url)


def _action(name: str):  # type: ignore[no-untyped-def]
    act = getattr(service, name)

    def route(ref: str, db: DbSession, user: Responder, settings: AppSettings) -> dict[str, Any]:
        incident = queries.get_incident(db, ref)
        act(db, incident, by=user)
        return incident_out(incident, settings.base_url)

    route.__name__ = name
    route.__doc__ = f"{name.capitalize()} the incident."
    return route


for _name in ("acknowledge", "resolve", "close", "reopen"):
    router.post(f"/incidents/{{ref}}/{_name}", name=_name)(_action(_name))


@router.patch("/incidents/{ref}/timestamps")
def edit_timestamps(
    ref: str, body: TimestampsIn, db: DbSession, user: Responder, settings: AppSettings
) -> dict[str, Any]:
    incident = queries.get_incident(db, ref)
    service.edit_timestamps(db, incident, body.model_dump(exclude_unset=True), by=user)
    return incident_out(incident, settings.base_url)


@router.put("/incidents/{ref}/roles/{role_slug}")
def assign_role(
    ref: str,
    role_slug: str,
    body: RoleAssignIn,
    db: DbSession,
    user: Responder,
    settings: AppSettings,
) -> dict[str, Any]:
    incident = queries.get_incident(db, ref)
    role = queries.role_by_slug(db, role_slug)
    service.assign_role(db, incident, role_id=role.id, user_id=body.user_id, by=user)
    return incident_out(incident, settings.base_url)


@router.get("/incidents/{ref}/timeline")
def timeline(ref: str, db: DbSession, user: CurrentUser, key_only: bool = False) -> dict[str, Any]:
    entries = queries.timeline(db, queries.get_incident(db, ref), key_only=key_only)
    return {"items": [entry_out(e) for e in entries], "total": len(entries)}


@router.post("/incidents/{ref}/notes", status_code=201)
def add_note(ref: str, body: NoteIn, db: DbSession, user: Responder) -> dict[str, Any]:
    incident = queries.get_incident(db, ref)
    entry = service.add_note(
        db, incident, body.body, by=user, occurred_at=body.occurred_at, key_event=body.key_event
    )
    return entry_out(entry)


@router.patch("/incidents/{ref}/timeline/{entry_id}")
def set_key_event(
    ref: str, entry_id: int, body: KeyEventIn, db: DbSession, user: Responder
) -> dict[str, Any]:
    incident = queries.get_incident(db, ref)
    return entry_out(service.set_key_event(db, incident, entry_id, body.is_key_event, by=user))


@router.get("/incidents/{ref}/updates")
def list_updates(ref: str, db: DbSession, user: CurrentUser) -> dict[str, Any]:
    incident = queries.get_incident(db, ref)
    return {"items": [update_out(u) for u in incident.updates], "total": len(incident.updates)}


@router.post("/incidents/{ref}/updates", status_code=201)
def post_update(ref: str, body: UpdateIn, db: DbSession, user: Responder) -> dict[str, Any]:
    incident = queries.get_incident(db, ref)
    update = updates.post_update(db, incident, by=user, **body.model_dump())
    return update_out(update)


@router.get("/incidents/{ref}/template")
def template(
    ref: str,
    db: DbSession,
    user: CurrentUser,
    phase: str,
    next_update_at: datetime | None = None,
) -> dict[str, str]:
    incident = queries.get_incident(db, ref)
    body = updates.render_template(db, incident, phase, next_update_at=next_update_at)
    return {"phase": phase, "body": body}


@router.get("/incidents/{ref}/action-items")
def incident_action_items(ref: str, db: DbSession, user: CurrentUser) -> dict[str, Any]:
    incident = queries.get_incident(db, ref)
    today = utcnow().date()
    items = [action_item_out(i, today) for i in incident.action_items]
    return {"items": items, "total": len(items)}


@router.post("/incidents/{ref}/action-items", status_code=201)
def add_action_item(ref: str, body: ActionItemIn, db: DbSession, user: Responder) -> dict[str, Any]:
    incident = queries.get_incident(db, ref)
    item = actions.add_action_item(db, incident, by=user, **body.model_dump())
    return action_item_out(item, utcnow().date())


@router.get("/action-items")
def list_action_items(
    db: DbSession,
    user: CurrentUser,
    assignee: int | None = None,
    overdue: bool = False,
    open: bool = False,
    kind: str | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 200,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> dict[str, Any]:
    today = utcnow().date()
    rows, total = queries.action_items(
        db,
        assignee_id=assignee,
        overdue_on=today if overdue else None,
        open_only=open,
        kind=kind,
        limit=limit,
        offset=offset,
    )
    return {
        "items": [action_item_out(i, today) for i in rows],
        "total": total,
        "limit": limit,
        "offset": offset,
    }


@router.patch("/action-items/{item_id}")
def update_action_item(
    item_id: int, body: ActionItemPatch, db: DbSession, user: Responder
) -> dict[str, Any]:
    item = db.get(ActionItem, item_id)
    if item is None:
        raise NotFound(f"no action item with id {item_id}")
    actions.update_action_item(db, item, body.model_dump(exclude_unset=True), by=user)
    return action_item_out(item, utcnow().date())
