"""JSON routes for severities, priorities, roles, incident types and update templates."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Response

from tocsin.catalog.schemas import Page, window
from tocsin.definitions import service as defs
from tocsin.definitions.schemas import (
    IncidentTypeIn,
    IncidentTypeOut,
    IncidentTypePatch,
    PhaseName,
    PriorityIn,
    PriorityOut,
    PriorityPatch,
    RoleIn,
    RoleOut,
    RolePatch,
    SeverityIn,
    SeverityOut,
    SeverityPatch,
    TemplateIn,
    TemplateOut,
    role_out,
    severity_out,
    template_out,
    type_out,
)
from tocsin.deps import Admin, CurrentUser, DbSession
from tocsin.web.openapi import errors

router = APIRouter(prefix="/api/v1", tags=["configuration"])

Limit = Annotated[int, Query(ge=1, le=500, description="Page size (1–500)")]
Offset = Annotated[int, Query(ge=0, le=2**62, description="Rows to skip")]
ItemId = Annotated[int, Path(ge=1, le=2**31 - 1)]


# --- severities -------------------------------------------------------------------------


@router.get("/severities", response_model=Page[SeverityOut])
def list_severities(
    db: DbSession, user: CurrentUser, limit: Limit = 500, offset: Offset = 0
) -> dict:
    """Severities, most severe first."""
    return window([severity_out(s) for s in defs.severities(db)], limit, offset)


@router.post("/severities", status_code=201, response_model=SeverityOut)
def create_severity(body: SeverityIn, db: DbSession, admin: Admin) -> SeverityOut:
    return severity_out(defs.create_severity(db, body.model_dump(exclude_unset=True)))


@router.patch("/severities/{severity_id}", response_model=SeverityOut)
def update_severity(
    severity_id: ItemId, body: SeverityPatch, db: DbSession, admin: Admin
) -> SeverityOut:
    changes = body.model_dump(exclude_unset=True)
    return severity_out(defs.update_severity(db, severity_id, changes))


@router.delete("/severities/{severity_id}", status_code=204, response_class=Response)
def delete_severity(severity_id: ItemId, db: DbSession, admin: Admin) -> Response:
    defs.delete_severity(db, severity_id)
    return Response(status_code=204)


# --- priorities -------------------------------------------------------------------------


@router.get("/priorities", response_model=Page[PriorityOut])
def list_priorities(
    db: DbSession, user: CurrentUser, limit: Limit = 500, offset: Offset = 0
) -> dict:
    rows = [PriorityOut.model_validate(p) for p in defs.priorities(db)]
    return window(rows, limit, offset)


@router.post("/priorities", status_code=201, response_model=PriorityOut)
def create_priority(body: PriorityIn, db: DbSession, admin: Admin) -> PriorityOut:
    created = defs.create_priority(db, body.model_dump(exclude_unset=True))
    return PriorityOut.model_validate(created)


@router.patch("/priorities/{priority_id}", response_model=PriorityOut)
def update_priority(
    priority_id: ItemId, body: PriorityPatch, db: DbSession, admin: Admin
) -> PriorityOut:
    changes = body.model_dump(exclude_unset=True)
    return PriorityOut.model_validate(defs.update_priority(db, priority_id, changes))


@router.delete("/priorities/{priority_id}", status_code=204, response_class=Response)
def delete_priority(priority_id: ItemId, db: DbSession, admin: Admin) -> Response:
    defs.delete_priority(db, priority_id)
    return Response(status_code=204)


# --- incident roles ---------------------------------------------------------------------


@router.get("/roles", response_model=Page[RoleOut])
def list_roles(db: DbSession, user: CurrentUser, limit: Limit = 500, offset: Offset = 0) -> dict:
    """Incident roles in the order they are shown."""
    return window([role_out(r) for r in defs.roles(db)], limit, offset)


@router.post("/roles", status_code=201, response_model=RoleOut)
def create_role(body: RoleIn, db: DbSession, admin: Admin) -> RoleOut:
    """Add a role; without a slug, one is made from the name."""
    return role_out(defs.create_role(db, body.model_dump(exclude_unset=True)))


@router.patch("/roles/{role_id}", response_model=RoleOut)
def update_role(role_id: ItemId, body: RolePatch, db: DbSession, admin: Admin) -> RoleOut:
    return role_out(defs.update_role(db, role_id, body.model_dump(exclude_unset=True)))


@router.delete("/roles/{role_id}", status_code=204, response_class=Response)
def delete_role(role_id: ItemId, db: DbSession, admin: Admin) -> Response:
    defs.delete_role(db, role_id)
    return Response(status_code=204)


# --- incident types ---------------------------------------------------------------------


@router.get("/incident-types", response_model=Page[IncidentTypeOut])
def list_types(db: DbSession, user: CurrentUser, limit: Limit = 500, offset: Offset = 0) -> dict:
    return window([type_out(t) for t in defs.incident_types(db)], limit, offset)


@router.post(
    "/incident-types", status_code=201, response_model=IncidentTypeOut, responses=errors(404)
)
def create_type(body: IncidentTypeIn, db: DbSession, admin: Admin) -> IncidentTypeOut:
    """Add an incident type with its defaults, the roles to fill and its custom fields."""
    return type_out(defs.create_incident_type(db, body.model_dump(exclude_unset=True)))


@router.get("/incident-types/{type_id}", response_model=IncidentTypeOut)
def get_type(type_id: ItemId, db: DbSession, user: CurrentUser) -> IncidentTypeOut:
    return type_out(defs.get_incident_type(db, type_id))


@router.patch("/incident-types/{type_id}", response_model=IncidentTypeOut)
def update_type(
    type_id: ItemId, body: IncidentTypePatch, db: DbSession, admin: Admin
) -> IncidentTypeOut:
    """Change a type; `fields`, when sent, replaces the whole list (matched by key)."""
    changes = body.model_dump(exclude_unset=True)
    return type_out(defs.update_incident_type(db, type_id, changes))


@router.delete("/incident-types/{type_id}", status_code=204, response_class=Response)
def delete_type(type_id: ItemId, db: DbSession, admin: Admin) -> Response:
    defs.delete_incident_type(db, type_id)
    return Response(status_code=204)


# --- update templates -------------------------------------------------------------------


@router.get("/templates", response_model=dict[PhaseName, str])
def get_templates(db: DbSession, user: CurrentUser) -> dict[str, str]:
    """The status update template of each phase, by phase."""
    return defs.templates(db)


@router.put("/templates/{phase}", response_model=TemplateOut)
def put_template(phase: PhaseName, body: TemplateIn, db: DbSession, admin: Admin) -> TemplateOut:
    """Replace a phase's template. Placeholders: {title} {reference} {services} {severity}
    {status} {impact} {next_update}."""
    return template_out(defs.set_template(db, phase, body.body))
