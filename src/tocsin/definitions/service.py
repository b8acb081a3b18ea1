"""Actions on the incident vocabulary: severities, priorities, types, roles, templates."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from tocsin import validation as v
from tocsin.definitions import defaults
from tocsin.definitions.models import (
    CustomField,
    FieldKind,
    IncidentRole,
    IncidentType,
    Phase,
    Priority,
    Severity,
    UpdateTemplate,
)
from tocsin.errors import Conflict, NotFound, ValidationFailed

NAME_MAX = 120
TEXT_MAX = 5000
KEY_RE = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
# What an update template may say in braces; incidents.updates.render_template fills them in.
PLACEHOLDERS = ("title", "reference", "services", "severity", "status", "impact", "next_update")


def _only(changes: dict[str, Any], allowed: set[str]) -> None:
    unknown = set(changes) - allowed
    if unknown:
        raise ValidationFailed(f"unknown field(s): {', '.join(sorted(unknown))}")


def _get(session: Session, model: type[Any], ident: int, what: str) -> Any:
    obj = session.get(model, ident)
    if obj is None:
        raise NotFound(f"no {what} with id {ident}")
    return obj


def _unique_name(session: Session, model: type[Any], column: Any, name: str, current: Any) -> None:
    same = or_(column == name, func.lower(column) == name.lower())
    other = session.scalar(select(model).where(same))
    if other is not None and other is not current:
        raise Conflict(f"{name!r} already exists")


def _int(value: Any, field: str, *, low: int, high: int, optional: bool = False) -> int | None:
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValidationFailed(f"{field} must be a whole number from {low} to {high}", field=field)
    return value


# Severities -------------------------------------------------------------------------------

SEVERITY_FIELDS = {
    "name",
    "label",
    "description",
    "rank",
    "response_target_minutes",
    "response_next_business_day",
    "color",
    "default_urgency",
}
URGENCIES = ("high", "low")
COLOR_RE = re.compile(r"^#[0-9a-fA-F]{6}$")


def _apply_severity(session: Session, sev: Severity, data: dict[str, Any]) -> Severity:
    _only(data, SEVERITY_FIELDS)
    if "name" in data:
        sev.name = v.text(data["name"], "name", max_len=32, required=True)
        _unique_name(session, Severity, Severity.name, sev.name, sev)
    if "label" in data:
        sev.label = v.text(data["label"], "label", max_len=64, required=True)
    if "description" in data:
        sev.description = v.text(data["description"], "description", max_len=TEXT_MAX)
    if "rank" in data:
        sev.rank = _int(data["rank"], "rank", low=1, high=100) or 1
    if "response_target_minutes" in data:
        sev.response_target_minutes = _int(
            data["response_target_minutes"],
            "response_target_minutes",
            low=1,
            high=60 * 24 * 90,
            optional=True,
        )
    if "response_next_business_day" in data:
        if not isinstance(data["response_next_business_day"], bool):
            raise ValidationFailed("response_next_business_day must be true or false")
        sev.response_next_business_day = data["response_next_business_day"]
    if "color" in data:
        color = v.text(data["color"], "color", max_len=7, required=True)
        if not COLOR_RE.match(color):
            raise ValidationFailed("color must look like #1a2b3c", field="color")
        sev.color = color
    if "default_urgency" in data:
        sev.default_urgency = v.one_of(data["default_urgency"], "default_urgency", URGENCIES)
    session.flush()
    return sev


def create_severity(session: Session, data: dict[str, Any]) -> Severity:
    if not data.get("name"):
        raise ValidationFailed("name is required", field="name")
    sev = Severity(name="", label=data.get("label") or data["name"])
    sev = _apply_severity(session, sev, {"label": sev.label, **data})
    session.add(sev)
    session.flush()
    return sev


def update_severity(session: Session, severity_id: int, data: dict[str, Any]) -> Severity:
    return _apply_severity(session, _get(session, Severity, severity_id, "severity"), data)


def delete_severity(session: Session, severity_id: int) -> None:
    session.delete(_get(session, Severity, severity_id, "severity"))
    session.flush()


# Priorities -------------------------------------------------------------------------------


def _apply_priority(session: Session, pri: Priority, data: dict[str, Any]) -> Priority:
    _only(data, {"name", "description", "rank"})
    if "name" in data:
        pri.name = v.text(data["name"], "name", max_len=32, required=True)
        _unique_name(session, Priority, Priority.name, pri.name, pri)
    if "description" in data:
        pri.description = v.text(data["description"], "description", max_len=TEXT_MAX)
    if "rank" in data:
        pri.rank = _int(data["rank"], "rank", low=1, high=100) or 1
    session.flush()
    return pri


def create_priority(session: Session, data: dict[str, Any]) -> Priority:
    if not data.get("name"):
        raise ValidationFailed("name is required", field="name")
    pri = Priority(name="")
    pri = _apply_priority(session, pri, data)
    session.add(pri)
    session.flush()
    return pri


def update_priority(session: Session, priority_id: int, data: dict[str, Any]) -> Priority:
    return _apply_priority(session, _get(session, Priority, priority_id, "priority"), data)


def delete_priority(session: Session, priority_id: int) -> None:
    session.delete(_get(session, Priority, priority_id, "priority"))
    session.flush()


# Roles ------------------------------------------------------------------------------------


def _apply_role(session: Session, role: IncidentRole, data: dict[str, Any]) -> IncidentRole:
    _only(data, {"slug", "name", "description", "responsibilities", "position", "multiple"})
    if "slug" in data:
        slug = v.text(data["slug"], "slug", max_len=64, required=True)
        if not KEY_RE.match(slug):
            raise ValidationFailed("slug must be lower_case letters, digits and _", field="slug")
        other = session.scalar(select(IncidentRole).where(IncidentRole.slug == slug))
        if other is not None and other is not role:
            raise Conflict(f"a role with slug {slug!r} already exists")
        role.slug = slug
    if "name" in data:
        role.name = v.text(data["name"], "name", max_len=NAME_MAX, required=True)
    if "description" in data:
        role.description = v.text(data["description"], "description", max_len=TEXT_MAX)
    if "responsibilities" in data:
        value = data["responsibilities"]
        if isinstance(value, list):
            value = "\n".join(str(x) for x in value)
        role.responsibilities = v.text(value, "responsibilities", max_len=TEXT_MAX)
    if "position" in data:
        role.position = _int(data["position"], "position", low=0, high=1000) or 0
    if "multiple" in data:
        if role.slug == "incident_commander" and data["multiple"]:
            # One source of truth: command is handed over, never shared.
            raise ValidationFailed("the Incident Commander has one holder", field="multiple")
        role.multiple = bool(data["multiple"])
    session.flush()
    return role


def _slug_of(name: str) -> str:
    """A valid slug for a role's name: `Incident Commander` is `incident_commander`, and a name
    that does not start with a letter gets `role_` before it (`2nd line`: `role_2nd_line`)."""
    slug = re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")
    if not slug[:1].isalpha():
        slug = f"role_{slug}".rstrip("_")
    return slug[:64]


def create_role(session: Session, data: dict[str, Any]) -> IncidentRole:
    if not str(data.get("name") or "").strip():
        raise ValidationFailed("name is required", field="name")
    if not data.get("slug") and data.get("name"):
        data = {**data, "slug": _slug_of(str(data["name"]))}
    role = IncidentRole(slug="", name="")
    role = _apply_role(session, role, data)
    session.add(role)
    session.flush()
    return role


def update_role(session: Session, role_id: int, data: dict[str, Any]) -> IncidentRole:
    return _apply_role(session, _get(session, IncidentRole, role_id, "role"), data)


def delete_role(session: Session, role_id: int) -> None:
    role = _get(session, IncidentRole, role_id, "role")
    if role.slug == "incident_commander":
        raise Conflict("the Incident Commander role cannot be deleted")
    session.delete(role)
    session.flush()


# Incident types and their fields -----------------------------------------------------------


def _field_specs(session: Session, specs: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    cleaned, seen = [], set()
    for i, spec in enumerate(specs):
        where = f"fields[{i}]"
        if not isinstance(spec, dict):
            raise ValidationFailed(f"{where} must be an object")
        _only(spec, {"key", "label", "kind", "required", "options", "help_text"})
        key = v.text(spec.get("key"), f"{where}.key", max_len=64, required=True)
        if not KEY_RE.match(key):
            raise ValidationFailed(f"{where}.key must be lower_case letters, digits and _")
        if key in seen:
            raise ValidationFailed(f"{where}.key {key!r} is used twice")
        seen.add(key)
        kind = v.one_of(spec.get("kind", "text"), f"{where}.kind", [k.value for k in FieldKind])
        options = spec.get("options") or []
        if not isinstance(options, list) or not all(isinstance(o, str) and o for o in options):
            raise ValidationFailed(f"{where}.options must be a list of texts")
        if kind in (FieldKind.single_select, FieldKind.multi_select) and not options:
            raise ValidationFailed(f"{where}: a {kind} field needs options")
        required = spec.get("required", False)
        if not isinstance(required, bool):
            raise ValidationFailed(f"{where}.required must be true or false")
        cleaned.append(
            {
                "key": key,
                "label": v.text(spec.get("label") or key, f"{where}.label", max_len=NAME_MAX),
                "kind": kind,
                "required": required,
                "options": [v.text(o, f"{where}.options", max_len=120) for o in options],
                "help_text": v.text(spec.get("help_text", ""), f"{where}.help_text", max_len=1000),
            }
        )
    return cleaned


def _apply_type(session: Session, itype: IncidentType, data: dict[str, Any]) -> IncidentType:
    _only(
        data,
        {
            "name",
            "description",
            "default_severity_id",
            "default_priority_id",
            "default_restricted",
            "role_ids",
            "fields",
        },
    )
    if "name" in data:
        itype.name = v.text(data["name"], "name", max_len=NAME_MAX, required=True)
        _unique_name(session, IncidentType, IncidentType.name, itype.name, itype)
    if "description" in data:
        itype.description = v.text(data["description"], "description", max_len=TEXT_MAX)
    if "default_severity_id" in data:
        sid = data["default_severity_id"]
        itype.default_severity = _get(session, Severity, sid, "severity") if sid else None
    if "default_priority_id" in data:
        pid = data["default_priority_id"]
        itype.default_priority = _get(session, Priority, pid, "priority") if pid else None
    if "default_restricted" in data:
        if not isinstance(data["default_restricted"], bool):
            raise ValidationFailed("default_restricted must be true or false")
        itype.default_restricted = data["default_restricted"]
    if "role_ids" in data:
        itype.roles_to_fill = [
            _get(session, IncidentRole, rid, "role") for rid in dict.fromkeys(data["role_ids"])
        ]
    if "fields" in data:
        specs = _field_specs(session, data["fields"] or [])
        existing = {f.key: f for f in itype.fields}
        kept = []
        for position, spec in enumerate(specs):
            field = existing.get(spec["key"]) or CustomField(key=spec["key"])
            for name, value in spec.items():
                setattr(field, name, value)
            field.position = position
            kept.append(field)
        itype.fields = kept
    session.flush()
    return itype


def create_incident_type(session: Session, data: dict[str, Any]) -> IncidentType:
    if not data.get("name"):
        raise ValidationFailed("name is required", field="name")
    itype = IncidentType(name="")
    itype = _apply_type(session, itype, data)
    session.add(itype)
    session.flush()
    return itype


def get_incident_type(session: Session, type_id: int) -> IncidentType:
    """An incident type by id; NotFound otherwise."""
    itype: IncidentType = _get(session, IncidentType, type_id, "incident type")
    return itype


def update_incident_type(session: Session, type_id: int, data: dict[str, Any]) -> IncidentType:
    return _apply_type(session, _get(session, IncidentType, type_id, "incident type"), data)


def delete_incident_type(session: Session, type_id: int) -> None:
    session.delete(_get(session, IncidentType, type_id, "incident type"))
    session.flush()


# Update templates -------------------------------------------------------------------------


def set_template(session: Session, phase: str, body: str) -> UpdateTemplate:
    phase = v.one_of(phase, "phase", [p.value for p in Phase])
    body = v.text(body, "body", max_len=TEXT_MAX, strip=False)
    template = session.scalar(select(UpdateTemplate).where(UpdateTemplate.phase == phase))
    if template is None:
        template = UpdateTemplate(phase=phase, body=body)
        session.add(template)
    else:
        template.body = body
    session.flush()
    return template


# Listing ----------------------------------------------------------------------------------


def severities(session: Session) -> list[Severity]:
    return list(session.scalars(select(Severity).order_by(Severity.rank, Severity.name)))


def priorities(session: Session) -> list[Priority]:
    return list(session.scalars(select(Priority).order_by(Priority.rank, Priority.name)))


def roles(session: Session) -> list[IncidentRole]:
    return list(
        session.scalars(select(IncidentRole).order_by(IncidentRole.position, IncidentRole.id))
    )


def incident_types(session: Session) -> list[IncidentType]:
    return list(session.scalars(select(IncidentType).order_by(IncidentType.name)))


def templates(session: Session) -> dict[str, str]:
    found = {t.phase: t.body for t in session.scalars(select(UpdateTemplate))}
    return {p.value: found.get(p.value, "") for p in Phase}


# Defaults ---------------------------------------------------------------------------------


def ensure_defaults(session: Session) -> bool:
    """Create the default vocabulary on an empty database. Returns True if it did."""
    if session.scalar(select(func.count(Severity.id))):
        return False
    sev_ids = {}
    for severity in defaults.SEVERITIES:
        sev_ids[severity["name"]] = create_severity(session, dict(severity)).id
    for priority in defaults.PRIORITIES:
        create_priority(session, dict(priority))
    role_ids = {}
    for position, role in enumerate(defaults.ROLES):
        role_ids[role["slug"]] = create_role(session, {**role, "position": position}).id
    for phase, body in defaults.TEMPLATES.items():
        set_template(session, phase, body)
    for spec in defaults.INCIDENT_TYPES:
        create_incident_type(
            session,
            {
                "name": spec["name"],
                "description": spec["description"],
                "default_severity_id": sev_ids[spec["default_severity"]],
                "default_restricted": spec.get("default_restricted", False),
                "role_ids": [role_ids[s] for s in spec["roles_to_fill"]],
                "fields": spec["fields"],
            },
        )
    return True
