"""Helpers for the runbook tests."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from tocsin.catalog.models import User
from tocsin.definitions.models import IncidentType
from tocsin.incidents import service as incidents
from tocsin.incidents.models import Incident, TimelineEntry
from tocsin.runbooks import service
from tocsin.runbooks.models import Runbook

BODY = """\
Before anything else:

- [ ] Introduce yourself (role: incident_commander)
- [ ] Assign a scribe (role: incident_commander)
- [ ] Restart the worker
  ```sh
  systemctl restart worker
  ```
"""


def incident_type(db: Session, name: str) -> IncidentType:
    return db.scalars(select(IncidentType).where(IncidentType.name == name)).one()


def runbook(db: Session, by: User | None, name: str = "Checkout", **extra: object) -> Runbook:
    return service.create(db, name=name, body=extra.pop("body", BODY), by=by, **extra)  # type: ignore[arg-type]


def incident(db: Session, by: User, title: str = "Checkout failing", **extra: object) -> Incident:
    return incidents.declare(db, by=by, title=title, **extra)  # type: ignore[arg-type]


def timeline_kinds(db: Session, incident: Incident, kind: str) -> list[str]:
    return list(
        db.scalars(
            select(TimelineEntry.summary)
            .where(TimelineEntry.incident_id == incident.id, TimelineEntry.kind == kind)
            .order_by(TimelineEntry.id)
        )
    )
