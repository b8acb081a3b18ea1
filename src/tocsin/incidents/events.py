"""What happens to an incident, as domain events (`tocsin.bus`).

Each is emitted by the service function that made the change, after it is written and on the
timeline, in the same transaction. Who reacts is wired in `tocsin.wiring.build_bus`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tocsin.bus import Event
from tocsin.incidents.models import Status


@dataclass(frozen=True)
class IncidentDeclared(Event):
    """A new incident (or drill), in `triggered`; by a person, the API or an alert."""

    incident_id: int
    title: str
    service_ids: tuple[int, ...]
    severity_id: int | None
    type_id: int | None
    urgency: str
    paging: bool  # False: declared without paging (escalation does not start)
    drill: bool
    restricted: bool
    commander_id: int | None  # assigned as part of the declaration (no RoleAssigned)
    by_id: int | None


@dataclass(frozen=True)
class IncidentStatusChanged(Event):
    """The incident moved along its lifecycle: acknowledged, investigating … resolved,
    closed, or reopened (from resolved or closed back to investigating)."""

    incident_id: int
    old: Status
    new: Status
    by_id: int | None
    at: datetime

    @property
    def acknowledged(self) -> bool:
        """Someone took it on: it left `triggered` for `acknowledged`."""
        return self.old == Status.triggered and self.new == Status.acknowledged

    @property
    def reopened(self) -> bool:
        return self.old in (Status.resolved, Status.closed) and self.new not in (
            Status.resolved,
            Status.closed,
        )


@dataclass(frozen=True)
class IncidentSeverityChanged(Event):
    incident_id: int
    old_id: int | None
    new_id: int | None
    by_id: int | None


@dataclass(frozen=True)
class IncidentTypeChanged(Event):
    incident_id: int
    old_id: int | None
    new_id: int | None
    by_id: int | None


@dataclass(frozen=True)
class FieldChange:
    key: str
    old: Any
    new: Any


@dataclass(frozen=True)
class IncidentFieldsChanged(Event):
    """Custom field values changed (one `FieldChange` per field, by key)."""

    incident_id: int
    changes: tuple[FieldChange, ...]
    by_id: int | None


@dataclass(frozen=True)
class IncidentEdited(Event):
    """Descriptive fields, services or the visibility flags changed in one edit.

    `fields` names the plain fields that changed (title, description, customer_impact,
    priority, links, services); the drill and restricted flags are given before and after,
    whether or not they changed. Severity, type and custom fields have events of their own,
    emitted before this one."""

    incident_id: int
    fields: tuple[str, ...]
    added_service_ids: tuple[int, ...]
    removed_service_ids: tuple[int, ...]
    was_drill: bool
    drill: bool
    was_restricted: bool
    restricted: bool
    by_id: int | None

    @property
    def visibility_changed(self) -> bool:
        """Whether it became, or stopped being, a drill or restricted."""
        return self.was_drill != self.drill or self.was_restricted != self.restricted


@dataclass(frozen=True)
class IncidentTimestampsEdited(Event):
    """KPI timestamps were backfilled or corrected (`incidents.service.edit_timestamps`);
    `fields` names those that changed (started_at, detected_at, acknowledged_at, …)."""

    incident_id: int
    fields: tuple[str, ...]
    by_id: int | None


@dataclass(frozen=True)
class RoleAssigned(Event):
    """A role was given, handed over, or (user_id None) left unfilled."""

    incident_id: int
    role_id: int
    role_slug: str
    user_id: int | None
    previous_user_id: int | None
    by_id: int | None


@dataclass(frozen=True)
class UpdatePosted(Event):
    """A status update (internal or external) was posted on the incident."""

    incident_id: int
    update_id: int
    phase: str
    visibility: str
    by_id: int | None
