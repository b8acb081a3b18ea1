"""What an action's fields refer to, by field name: `runbook_id` is a runbook, `role` a role's
slug, `severity` a severity's name. The editor fills a select from it and the configuration
file writes each reference by name (`runbook: "IC checklist"`, `user: ann@example.com`).

An action kind added to `actions.py` whose fields use these names appears in the editor and
in configuration files as it is; a new kind of reference needs one line in `REFERENCES`. A
field not listed here is edited as what its type says (text, number, yes/no, a choice)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import InstrumentedAttribute, Session

from tocsin.catalog.models import Service, Team, User
from tocsin.comms.models import CommsChannel
from tocsin.definitions.models import IncidentRole, Priority, Severity
from tocsin.runbooks.models import Runbook
from tocsin.schedules.models import Schedule
from tocsin.workflows.actions import Action, describe


@dataclass(frozen=True)
class Reference:
    """`model`'s rows, shown by `label`, named in files by `key` (`what` precedes that name
    in an error: "no runbook named 'X'"). `by_id`: the action stores the row's id
    (`runbook_id`), else it stores the `key` itself (a role's slug)."""

    model: Any
    key: InstrumentedAttribute[str]
    label: InstrumentedAttribute[str]
    what: str
    by_id: bool = True

    def file_field(self, field: str) -> str:
        """The field's name in a configuration file: `runbook_id` → `runbook`."""
        return field.removesuffix("_id") if self.by_id else field


REFERENCES: dict[str, Reference] = {
    "runbook_id": Reference(Runbook, Runbook.name, Runbook.name, "runbook named"),
    "user_id": Reference(User, User.email, User.name, "user with the email"),
    "schedule_id": Reference(Schedule, Schedule.name, Schedule.name, "schedule named"),
    "team_id": Reference(Team, Team.name, Team.name, "team named"),
    "service_id": Reference(Service, Service.name, Service.name, "service named"),
    "channel_id": Reference(CommsChannel, CommsChannel.name, CommsChannel.name, "channel named"),
    "role": Reference(
        IncidentRole, IncidentRole.slug, IncidentRole.name, "role with the slug", by_id=False
    ),
    "severity": Reference(Severity, Severity.name, Severity.name, "severity named", by_id=False),
    "priority": Reference(Priority, Priority.name, Priority.name, "priority named", by_id=False),
}


def _rows(session: Session, ref: Reference) -> list[Any]:
    query = select(ref.model)
    if ref.model is Runbook:
        query = query.where(Runbook.deleted_at.is_(None))
    if ref.model is User:
        query = query.where(User.active, User.is_person)
    if hasattr(ref.model, "rank"):
        return list(session.scalars(query.order_by(ref.model.rank)))
    if hasattr(ref.model, "position"):
        return list(session.scalars(query.order_by(ref.model.position, ref.model.id)))
    return list(session.scalars(query.order_by(ref.label)))


def choices(session: Session, field: str) -> list[tuple[str, str]]:
    """(value the form posts, what the person reads) for each row `field` may refer to."""
    ref = REFERENCES[field]
    out = []
    for row in _rows(session, ref):
        value = str(row.id) if ref.by_id else str(getattr(row, ref.key.key))
        label = str(getattr(row, ref.label.key))
        if ref.model is User:
            label = f"{row.name} ({row.email})"
        elif ref.by_id is False and ref.key is not ref.label:
            label = f"{label} ({value})"
        out.append((value, label))
    return out


def name_of(session: Session, field: str, stored: Any) -> str | None:
    """The name a file writes for the stored value (None when the row is gone)."""
    ref = REFERENCES[field]
    if not ref.by_id:
        return str(stored)
    row = session.get(ref.model, stored) if isinstance(stored, int) else None
    if row is None or (ref.model is Runbook and row.deleted_at is not None):
        return None
    return str(getattr(row, ref.key.key))


def id_of(session: Session, field: str, name: str) -> int | None:
    """The id of the row a file names (names compared without case; None: no such row)."""
    ref = REFERENCES[field]
    query = select(ref.model.id).where(func.lower(ref.key) == name.strip().lower())
    if ref.model is Runbook:
        query = query.where(Runbook.deleted_at.is_(None))
    found = session.scalar(query)
    return int(found) if found is not None else None


def labels(session: Session, stored: dict[str, Any]) -> str:
    """What a stored action refers to by id, by name ("runbook: IC checklist, user: Ann"), to
    go beside `actions.describe`, which says ids; empty when it refers to nothing by id."""
    parts = []
    for field, value in stored.items():
        ref = REFERENCES.get(field)
        if ref is not None and ref.by_id and isinstance(value, int):
            row = session.get(ref.model, value)
            if row is not None:
                parts.append(f"{ref.file_field(field)}: {getattr(row, ref.label.key)}")
    return ", ".join(parts)


def in_words(session: Session, action: Action, stored: dict[str, Any]) -> str:
    """The action in words, with the names of what it refers to: "add runbook 3 (runbook:
    Incident commander checklist)"."""
    names = labels(session, stored)
    return describe(action) + (f" ({names})" if names else "")
