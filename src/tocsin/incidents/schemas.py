"""API shapes for incidents, timelines, status updates and action items."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from tocsin.catalog.schemas import user_ref
from tocsin.incidents.models import ActionItem, Incident, StatusUpdate, TimelineEntry


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Link(Strict):
    title: str = Field(default="", max_length=255)
    url: str = Field(max_length=2048)


class IncidentIn(Strict):
    title: str = Field(max_length=255)
    description: str = Field(default="", max_length=20_000)
    type_id: int | None = None
    severity_id: int | None = None
    priority_id: int | None = None
    service_ids: list[int] = []
    customer_impact: str = Field(default="", max_length=20_000)
    links: list[Link] = []
    custom_fields: dict[str, Any] = {}
    drill: bool = False
    restricted: bool | None = None
    started_at: datetime | None = None
    detected_at: datetime | None = None
    commander_id: int | None = None


class IncidentPatch(Strict):
    title: str | None = Field(default=None, max_length=255)
    description: str | None = Field(default=None, max_length=20_000)
    type_id: int | None = None
    severity_id: int | None = None
    priority_id: int | None = None
    service_ids: list[int] | None = None
    customer_impact: str | None = Field(default=None, max_length=20_000)
    links: list[Link] | None = None
    custom_fields: dict[str, Any] | None = None
    drill: bool | None = None
    restricted: bool | None = None


class StatusIn(Strict):
    status: str


class TimestampsIn(Strict):
    started_at: datetime | None = None
    detected_at: datetime | None = None
    acknowledged_at: datetime | None = None
    resolved_at: datetime | None = None
    closed_at: datetime | None = None


class RoleAssignIn(Strict):
    user_id: int | None


class NoteIn(Strict):
    body: str = Field(max_length=20_000)
    occurred_at: datetime | None = None
    key_event: bool = False


class KeyEventIn(Strict):
    is_key_event: bool


class UpdateIn(Strict):
    phase: str
    body: str = Field(max_length=10_000)
    visibility: str = "internal"
    next_update_at: datetime | None = None


class ActionItemIn(Strict):
    title: str = Field(max_length=255)
    description: str = Field(default="", max_length=10_000)
    assignee_id: int | None = None
    due_date: date | None = None
    kind: str = "incident"


class ActionItemPatch(Strict):
    title: str | None = Field(default=None, max_length=255)
    description: str | None = Field(default=None, max_length=10_000)
    assignee_id: int | None = None
    due_date: date | None = None
    status: str | None = None
    kind: str | None = None


def incident_out(incident: Incident, base_url: str) -> dict[str, Any]:
    sev, pri, itype = incident.severity, incident.priority, incident.incident_type
    return {
        "id": incident.id,
        "number": incident.number,
        "reference": incident.reference,
        "url": f"{base_url.rstrip('/')}/incidents/{incident.reference}",
        "title": incident.title,
        "description": incident.description,
        "status": incident.status,
        "severity": {"id": sev.id, "name": sev.name, "label": sev.label} if sev else None,
        "priority": {"id": pri.id, "name": pri.name} if pri else None,
        "type": {"id": itype.id, "name": itype.name} if itype else None,
        "services": [{"id": s.id, "name": s.name} for s in incident.services],
        "customer_impact": incident.customer_impact,
        "links": list(incident.links or []),
        "custom_fields": dict(incident.custom_fields or {}),
        "drill": incident.drill,
        "restricted": incident.restricted,
        "started_at": incident.started_at,
        "detected_at": incident.detected_at,
        "acknowledged_at": incident.acknowledged_at,
        "resolved_at": incident.resolved_at,
        "closed_at": incident.closed_at,
        "created_at": incident.created_at,
        "updated_at": incident.updated_at,
        "commander": user_ref(incident.commander),
        "roles": [
            {
                "role": {"id": a.role.id, "slug": a.role.slug, "name": a.role.name},
                "user": user_ref(a.user),
            }
            for a in sorted(incident.role_assignments, key=lambda a: a.role.position)
        ],
        "created_by": user_ref(incident.created_by),
    }


def entry_out(entry: TimelineEntry) -> dict[str, Any]:
    return {
        "id": entry.id,
        "kind": entry.kind,
        "summary": entry.summary,
        "body": entry.body,
        "field": entry.field,
        "old_value": entry.old_value,
        "new_value": entry.new_value,
        "is_key_event": entry.is_key_event,
        "actor": {"id": entry.actor.id, "name": entry.actor.name} if entry.actor else None,
        "occurred_at": entry.occurred_at,
        "created_at": entry.created_at,
    }


def update_out(update: StatusUpdate) -> dict[str, Any]:
    return {
        "id": update.id,
        "phase": update.phase,
        "visibility": update.visibility,
        "body": update.body,
        "next_update_at": update.next_update_at,
        "author": user_ref(update.author),
        "created_at": update.created_at,
    }


def action_item_out(item: ActionItem, today: date) -> dict[str, Any]:
    return {
        "id": item.id,
        "incident": {
            "id": item.incident.id,
            "reference": item.incident.reference,
            "title": item.incident.title,
        },
        "title": item.title,
        "description": item.description,
        "assignee": user_ref(item.assignee),
        "due_date": item.due_date,
        "status": item.status,
        "kind": item.kind,
        "overdue": item.is_overdue(today),
        "created_at": item.created_at,
        "completed_at": item.completed_at,
    }
