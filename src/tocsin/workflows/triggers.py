"""What starts a workflow (its trigger, read from an incident event) and whether an incident
meets its conditions. Pure functions over the incident and the event: nothing is written."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic import ValidationError as PydanticError
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tocsin.alerts.events import AlertOpened
from tocsin.bus import Event
from tocsin.errors import ValidationFailed
from tocsin.incidents import events as ev
from tocsin.incidents.models import Incident, Status, TimelineEntry


class Trigger(enum.StrEnum):
    declared = "declared"
    status_changed = "status_changed"
    severity_changed = "severity_changed"
    type_changed = "type_changed"
    priority_changed = "priority_changed"
    field_changed = "field_changed"
    customer_impact_changed = "customer_impact_changed"
    role_assigned = "role_assigned"
    alert_attached = "alert_attached"
    update_posted = "update_posted"
    resolved = "resolved"
    closed = "closed"
    # Timers: checked N minutes after the incident was declared (and, for updates, after
    # each update); see `timers`.
    no_acknowledgement = "no_acknowledgement"
    no_update = "no_update"


TIMERS = (Trigger.no_acknowledgement, Trigger.no_update)

# The event types a workflow can react to (each subscribed in `wiring.build_bus`).
EVENT_TYPES: tuple[type[Event], ...] = (
    ev.IncidentDeclared,
    ev.IncidentStatusChanged,
    ev.IncidentSeverityChanged,
    ev.IncidentTypeChanged,
    ev.IncidentFieldsChanged,
    ev.IncidentEdited,
    ev.RoleAssigned,
    ev.UpdatePosted,
    AlertOpened,
)


@dataclass(frozen=True)
class Fired:
    """A trigger an event fired, on which incident, and the event's identity (for the key)."""

    trigger: Trigger
    incident_id: int
    identity: str
    field_keys: tuple[str, ...] = ()


def _last_entry(session: Session, incident_id: int) -> int:
    """The incident's latest timeline entry: every change is on the timeline before its event
    is emitted, so this tells one change from the next (the same event twice: the same id)."""
    found = session.scalar(
        select(func.max(TimelineEntry.id)).where(TimelineEntry.incident_id == incident_id)
    )
    return int(found or 0)


def fired(session: Session, event: Event) -> list[Fired]:
    """The triggers `event` fires (none for an event workflows do not react to)."""
    incident_id = getattr(event, "incident_id", None)
    if not isinstance(incident_id, int):
        return []
    stamp = f"{type(event).__name__}:{incident_id}:{_last_entry(session, incident_id)}"

    def one(trigger: Trigger, **extra: Any) -> Fired:
        return Fired(trigger, incident_id, stamp, **extra)

    match event:
        case ev.IncidentDeclared():
            return [Fired(Trigger.declared, incident_id, f"declared:{incident_id}")]
        case ev.IncidentStatusChanged(new=new):
            out = [one(Trigger.status_changed)]
            if new == Status.resolved:
                out.append(one(Trigger.resolved))
            if new == Status.closed:
                out.append(one(Trigger.closed))
            return out
        case ev.IncidentSeverityChanged():
            return [one(Trigger.severity_changed)]
        case ev.IncidentTypeChanged():
            return [one(Trigger.type_changed)]
        case ev.IncidentFieldsChanged(changes=changes):
            return [one(Trigger.field_changed, field_keys=tuple(c.key for c in changes))]
        case ev.IncidentEdited(fields=fields):
            out = []
            if "priority" in fields:
                out.append(one(Trigger.priority_changed))
            if "customer_impact" in fields:
                out.append(one(Trigger.customer_impact_changed))
            return out
        case ev.RoleAssigned(user_id=user_id):
            return [one(Trigger.role_assigned)] if user_id is not None else []
        case ev.UpdatePosted(update_id=update_id):
            return [Fired(Trigger.update_posted, incident_id, f"update:{update_id}")]
        case AlertOpened(alert_id=alert_id):
            # An alert grouped into the incident may add no timeline entry: its id tells.
            return [Fired(Trigger.alert_attached, incident_id, f"alert:{alert_id}")]
    return []


YesNoAny = Literal["yes", "no", "any"]


class Conditions(BaseModel):
    """Each list left empty matches anything; names, as configuration files write them."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    types: list[str] = Field(default_factory=list)
    severities: list[str] = Field(default_factory=list)
    priorities: list[str] = Field(default_factory=list)
    services: list[str] = Field(default_factory=list)
    teams: list[str] = Field(default_factory=list)
    fields: dict[str, Any] = Field(default_factory=dict)  # custom field key: value it equals
    drill: YesNoAny = "no"
    restricted: YesNoAny = "any"


def parse_conditions(raw: object) -> Conditions:
    try:
        return Conditions.model_validate(raw or {})
    except PydanticError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        field = "conditions" + (f".{where}" if where else "")
        raise ValidationFailed(f"{field}: {first['msg']}", field=field) from None


def _flag(wanted: YesNoAny, value: bool) -> bool:
    return wanted == "any" or (wanted == "yes") == bool(value)


def mismatch(incident: Incident, conditions: Conditions) -> str | None:
    """Why `incident` does not meet `conditions` (None when it does)."""
    c = conditions
    if c.types and (incident.incident_type is None or incident.incident_type.name not in c.types):
        return f"type is not {' or '.join(c.types)}"
    if c.severities and (incident.severity is None or incident.severity.name not in c.severities):
        return f"severity is not {' or '.join(c.severities)}"
    if c.priorities and (incident.priority is None or incident.priority.name not in c.priorities):
        return f"priority is not {' or '.join(c.priorities)}"
    if c.services and not {s.name for s in incident.services} & set(c.services):
        return f"no service among {', '.join(c.services)}"
    if c.teams:
        teams = {s.team.name for s in incident.services if s.team is not None}
        if not teams & set(c.teams):
            return f"no service of team {' or '.join(c.teams)}"
    for key, value in c.fields.items():
        if (incident.custom_fields or {}).get(key) != value:
            return f"field '{key}' is not {value!r}"
    if not _flag(c.drill, incident.drill):
        return "it is a drill" if incident.drill else "it is not a drill"
    if not _flag(c.restricted, incident.restricted):
        return "it is restricted" if incident.restricted else "it is not restricted"
    return None
