"""API shapes for the incident vocabulary."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from tocsin.definitions.models import IncidentRole, IncidentType, Priority, Severity


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SeverityIn(Strict):
    name: str | None = Field(default=None, max_length=32)
    label: str | None = Field(default=None, max_length=64)
    description: str | None = Field(default=None, max_length=5000)
    rank: int | None = None
    response_target_minutes: int | None = None
    response_next_business_day: bool | None = None
    color: str | None = Field(default=None, max_length=7)


class PriorityIn(Strict):
    name: str | None = Field(default=None, max_length=32)
    description: str | None = Field(default=None, max_length=5000)
    rank: int | None = None


class RoleIn(Strict):
    slug: str | None = Field(default=None, max_length=64)
    name: str | None = Field(default=None, max_length=120)
    description: str | None = Field(default=None, max_length=5000)
    responsibilities: str | list[str] | None = None
    position: int | None = None


class FieldIn(Strict):
    key: str = Field(max_length=64)
    label: str | None = Field(default=None, max_length=120)
    kind: str = "text"
    required: bool = False
    options: list[str] = []
    help_text: str = Field(default="", max_length=1000)


class IncidentTypeIn(Strict):
    name: str | None = Field(default=None, max_length=120)
    description: str | None = Field(default=None, max_length=5000)
    default_severity_id: int | None = None
    default_priority_id: int | None = None
    default_restricted: bool | None = None
    role_ids: list[int] | None = None
    fields: list[FieldIn] | None = None


class TemplateIn(Strict):
    body: str = Field(max_length=5000)


def severity_out(sev: Severity) -> dict[str, Any]:
    return {
        "id": sev.id,
        "name": sev.name,
        "label": sev.label,
        "description": sev.description,
        "rank": sev.rank,
        "response_target_minutes": sev.response_target_minutes,
        "response_next_business_day": sev.response_next_business_day,
        "response_target": sev.response_target_text,
        "color": sev.color,
    }


def priority_out(pri: Priority) -> dict[str, Any]:
    return {"id": pri.id, "name": pri.name, "description": pri.description, "rank": pri.rank}


def role_out(role: IncidentRole) -> dict[str, Any]:
    return {
        "id": role.id,
        "slug": role.slug,
        "name": role.name,
        "description": role.description,
        "responsibilities": role.responsibility_list,
        "position": role.position,
    }


def type_out(itype: IncidentType) -> dict[str, Any]:
    return {
        "id": itype.id,
        "name": itype.name,
        "description": itype.description,
        "default_severity": (
            {"id": itype.default_severity.id, "name": itype.default_severity.name}
            if itype.default_severity
            else None
        ),
        "default_priority": (
            {"id": itype.default_priority.id, "name": itype.default_priority.name}
            if itype.default_priority
            else None
        ),
        "default_restricted": itype.default_restricted,
        "roles_to_fill": [
            {"id": r.id, "slug": r.slug, "name": r.name} for r in itype.roles_to_fill
        ],
        "fields": [f.describe() for f in itype.fields],
    }
