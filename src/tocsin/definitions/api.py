"""JSON routes for severities, priorities, roles, incident types and update templates."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response

from tocsin.definitions import service as defs
from tocsin.definitions.schemas import (
    IncidentTypeIn,
    PriorityIn,
    RoleIn,
    SeverityIn,
    TemplateIn,
    priority_out,
    role_out,
    severity_out,
    type_out,
)
from tocsin.deps import Admin, CurrentUser, DbSession
from tocsin.errors import NotFound

router = APIRouter(prefix="/api/v1", tags=["configuration"])


def _items(rows: list[Any]) -> dict[str, Any]:
    return {"items": rows, "total": len(rows)}


@router.get("/severities")
def list_severities(db: DbSession, user: CurrentUser) -> dict[str, Any]:
    return _items([severity_out(s) for s in defs.severities(db)])


@router.post("/severities", status_code=201)
def create_severity(body: SeverityIn, db: DbSession, admin: Admin) -> dict[str, Any]:
    return severity_out(defs.create_severity(db, body.model_dump(exclude_unset=True)))


@router.patch("/severities/{severity_id}")
def update_severity(
    severity_id: int, body: SeverityIn, db: DbSession, admin: Admin
) -> dict[str, Any]:
    return severity_out(defs.update_severity(db, severity_id, body.model_dump(exclude_unset=True)))


@router.delete("/severities/{severity_id}", status_code=204)
def delete_severity(severity_id: int, db: DbSession, admin: Admin) -> Response:
    defs.delete_severity(db, severity_id)
    return Response(status_code=204)


@router.get("/priorities")
def list_priorities(db: DbSession, user: CurrentUser) -> dict[str, Any]:
    return _items([priority_out(p) for p in defs.priorities(db)])


@router.post("/priorities", status_code=201)
def create_priority(body: PriorityIn, db: DbSession, admin: Admin) -> dict[str, Any]:
    return priority_out(defs.create_priority(db, body.model_dump(exclude_unset=True)))


@router.patch("/priorities/{priority_id}")
def update_priority(
    priority_id: int, body: PriorityIn, db: DbSession, admin: Admin
) -> dict[str, Any]:
    return priority_out(defs.update_priority(db, priority_id, body.model_dump(exclude_unset=True)))


@router.delete("/priorities/{priority_id}", status_code=204)
def delete_priority(priority_id: int, db: DbSession, admin: Admin) -> Response:
    defs.delete_priority(db, priority_id)
    return Response(status_code=204)


@router.get("/roles")
def list_roles(db: DbSession, user: CurrentUser) -> dict[str, Any]:
    return _items([role_out(r) for r in defs.roles(db)])


@router.post("/roles", status_code=201)
def create_role(body: RoleIn, db: DbSession, admin: Admin) -> dict[str, Any]:
    return role_out(defs.create_role(db, body.model_dump(exclude_unset=True)))


@router.patch("/roles/{role_id}")
def update_role(role_id: int, body: RoleIn, db: DbSession, admin: Admin) -> dict[str, Any]:
    return role_out(defs.update_role(db, role_id, body.model_dump(exclude_unset=True)))


@router.delete("/roles/{role_id}", status_code=204)
def delete_role(role_id: int, db: DbSession, admin: Admin) -> Response:
    defs.delete_role(db, role_id)
    return Response(status_code=204)


@router.get("/incident-types")
def list_types(db: DbSession, user: CurrentUser) -> dict[str, Any]:
    return _items([type_out(t) for t in defs.incident_types(db)])


@router.post("/incident-types", status_code=201)
def create_type(body: IncidentTypeIn, db: DbSession, admin: Admin) -> dict[str, Any]:
    return type_out(defs.create_incident_type(db, body.model_dump(exclude_unset=True)))


@router.get("/incident-types/{type_id}")
def get_type(type_id: int, db: DbSession, user: CurrentUser) -> dict[str, Any]:
    for itype in defs.incident_types(db):
        if itype.id == type_id:
            return type_out(itype)
    raise NotFound(f"no incident type with id {type_id}")


@router.patch("/incident-types/{type_id}")
def update_type(type_id: int, body: IncidentTypeIn, db: DbSession, admin: Admin) -> dict[str, Any]:
    return type_out(defs.update_incident_type(db, type_id, body.model_dump(exclude_unset=True)))


@router.delete("/incident-types/{type_id}", status_code=204)
def delete_type(type_id: int, db: DbSession, admin: Admin) -> Response:
    defs.delete_incident_type(db, type_id)
    return Response(status_code=204)


@router.get("/templates")
def get_templates(db: DbSession, user: CurrentUser) -> dict[str, str]:
    return defs.templates(db)


@router.put("/templates/{phase}")
def put_template(phase: str, body: TemplateIn, db: DbSession, admin: Admin) -> dict[str, str]:
    template = defs.set_template(db, phase, body.body)
    return {"phase": template.phase, "body": template.body}
