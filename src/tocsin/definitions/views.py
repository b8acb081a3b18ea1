"""Settings pages for severities, priorities, roles, incident types and update templates."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.datastructures import FormData

from tocsin.definitions import service as defs
from tocsin.definitions.models import FieldKind, Phase
from tocsin.deps import Admin, CurrentUser, DbSession
from tocsin.web.actions import perform
from tocsin.web.forms import Form, checkbox, int_list, optional_int, text
from tocsin.web.templating import render

router = APIRouter(include_in_schema=False)
BLANK_FIELD_ROWS = 3


def _vocabulary(db: DbSession) -> dict[str, Any]:
    return {
        "severities": defs.severities(db),
        "priorities": defs.priorities(db),
        "roles": defs.roles(db),
        "types": defs.incident_types(db),
        "field_kinds": [k.value for k in FieldKind],
        "blank_rows": range(BLANK_FIELD_ROWS),
    }


# Severities --------------------------------------------------------------------------------


def _severity(form: FormData) -> dict[str, Any]:
    target = optional_int(form, "response_target_minutes")
    return {
        "name": text(form, "name"),
        "label": text(form, "label"),
        "description": text(form, "description"),
        "rank": optional_int(form, "rank") or 1,
        "response_target_minutes": target,
        "response_next_business_day": checkbox(form, "response_next_business_day"),
        "color": text(form, "color") or "#888888",
        "default_urgency": text(form, "default_urgency") or "high",
    }


@router.get("/settings/severities")
def severities_page(request: Request, db: DbSession, user: CurrentUser) -> Response:
    return render(request, "settings/severities.html", {**_vocabulary(db), "section": "severities"})


@router.post("/settings/severities")
def create_severity(db: DbSession, admin: Admin, form: Form) -> Response:
    return perform(
        db,
        "/settings/severities",
        lambda: defs.create_severity(db, _severity(form)),
        notice="Severity created.",
    )


@router.post("/settings/severities/{severity_id}")
def update_severity(severity_id: int, db: DbSession, admin: Admin, form: Form) -> Response:
    return perform(
        db,
        "/settings/severities",
        lambda: defs.update_severity(db, severity_id, _severity(form)),
        notice="Severity saved.",
    )


@router.post("/settings/severities/{severity_id}/delete")
def delete_severity(severity_id: int, db: DbSession, admin: Admin) -> Response:
    return perform(
        db,
        "/settings/severities",
        lambda: defs.delete_severity(db, severity_id),
        notice="Severity deleted.",
    )


# Priorities --------------------------------------------------------------------------------


def _priority(form: FormData) -> dict[str, Any]:
    return {
        "name": text(form, "name"),
        "description": text(form, "description"),
        "rank": optional_int(form, "rank") or 1,
    }


@router.get("/settings/priorities")
def priorities_page(request: Request, db: DbSession, user: CurrentUser) -> Response:
    return render(request, "settings/priorities.html", {**_vocabulary(db), "section": "priorities"})


@router.post("/settings/priorities")
def create_priority(db: DbSession, admin: Admin, form: Form) -> Response:
    return perform(
        db,
        "/settings/priorities",
        lambda: defs.create_priority(db, _priority(form)),
        notice="Priority created.",
    )


@router.post("/settings/priorities/{priority_id}")
def update_priority(priority_id: int, db: DbSession, admin: Admin, form: Form) -> Response:
    return perform(
        db,
        "/settings/priorities",
        lambda: defs.update_priority(db, priority_id, _priority(form)),
        notice="Priority saved.",
    )


@router.post("/settings/priorities/{priority_id}/delete")
def delete_priority(priority_id: int, db: DbSession, admin: Admin) -> Response:
    return perform(
        db,
        "/settings/priorities",
        lambda: defs.delete_priority(db, priority_id),
        notice="Priority deleted.",
    )


# Roles -------------------------------------------------------------------------------------


def _role(form: FormData) -> dict[str, Any]:
    data: dict[str, str | int] = {
        "name": text(form, "name"),
        "description": text(form, "description"),
        "responsibilities": text(form, "responsibilities"),
    }
    data["multiple"] = checkbox(form, "multiple")
    if text(form, "slug"):
        data["slug"] = text(form, "slug")
    if text(form, "position"):
        data["position"] = optional_int(form, "position") or 0
    return data


@router.get("/settings/roles")
def roles_page(request: Request, db: DbSession, user: CurrentUser) -> Response:
    return render(request, "settings/roles.html", {**_vocabulary(db), "section": "roles"})


@router.post("/settings/roles")
def create_role(db: DbSession, admin: Admin, form: Form) -> Response:
    return perform(
        db, "/settings/roles", lambda: defs.create_role(db, _role(form)), notice="Role created."
    )


@router.post("/settings/roles/{role_id}")
def update_role(role_id: int, db: DbSession, admin: Admin, form: Form) -> Response:
    return perform(
        db,
        "/settings/roles",
        lambda: defs.update_role(db, role_id, _role(form)),
        notice="Role saved.",
    )


@router.post("/settings/roles/{role_id}/delete")
def delete_role(role_id: int, db: DbSession, admin: Admin) -> Response:
    return perform(
        db, "/settings/roles", lambda: defs.delete_role(db, role_id), notice="Role deleted."
    )


# Incident types ----------------------------------------------------------------------------


def _fields(form: FormData) -> list[dict[str, Any]]:
    """Rows of the field editor; a row with an empty key is dropped (that removes a field)."""
    keys = form.getlist("field_key")
    labels = form.getlist("field_label")
    kinds = form.getlist("field_kind")
    required = form.getlist("field_required")
    options = form.getlist("field_options")
    rows = []
    for i, key in enumerate(keys):
        if not isinstance(key, str) or not key.strip():
            continue
        opts = str(options[i]) if i < len(options) else ""
        rows.append(
            {
                "key": key.strip(),
                "label": str(labels[i]).strip() if i < len(labels) else key,
                "kind": str(kinds[i]) if i < len(kinds) else "text",
                "required": (str(required[i]) if i < len(required) else "") == "required",
                "options": [o.strip() for o in opts.split(",") if o.strip()],
            }
        )
    return rows


def _incident_type(form: FormData) -> dict[str, Any]:
    return {
        "name": text(form, "name"),
        "description": text(form, "description"),
        "default_severity_id": optional_int(form, "default_severity_id"),
        "default_priority_id": optional_int(form, "default_priority_id"),
        "default_restricted": checkbox(form, "default_restricted"),
        "role_ids": int_list(form, "role_ids"),
        "fields": _fields(form),
    }


@router.get("/settings/types")
def types_page(request: Request, db: DbSession, user: CurrentUser) -> Response:
    return render(request, "settings/types.html", {**_vocabulary(db), "section": "types"})


@router.post("/settings/types")
def create_type(db: DbSession, admin: Admin, form: Form) -> Response:
    return perform(
        db,
        "/settings/types",
        lambda: defs.create_incident_type(db, _incident_type(form)),
        notice="Incident type created.",
    )


@router.post("/settings/types/{type_id}")
def update_type(type_id: int, db: DbSession, admin: Admin, form: Form) -> Response:
    return perform(
        db,
        "/settings/types",
        lambda: defs.update_incident_type(db, type_id, _incident_type(form)),
        notice="Incident type saved.",
    )


@router.post("/settings/types/{type_id}/delete")
def delete_type(type_id: int, db: DbSession, admin: Admin) -> Response:
    return perform(
        db,
        "/settings/types",
        lambda: defs.delete_incident_type(db, type_id),
        notice="Incident type deleted.",
    )


# Templates ---------------------------------------------------------------------------------


@router.get("/settings/templates")
def templates_page(request: Request, db: DbSession, user: CurrentUser) -> Response:
    return render(
        request,
        "settings/templates.html",
        {
            "templates": defs.templates(db),
            "phases": [p.value for p in Phase],
            "placeholders": defs.PLACEHOLDERS,
            "section": "templates",
        },
    )


@router.post("/settings/templates/{phase}")
def save_template(phase: str, db: DbSession, admin: Admin, form: Form) -> Response:
    return perform(
        db,
        "/settings/templates",
        lambda: defs.set_template(db, phase, text(form, "body")),
        notice=f"{phase.capitalize()} template saved.",
    )
