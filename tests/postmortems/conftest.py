"""Helpers for the postmortem tests: incidents of a severity, resolved at a chosen time."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from tocsin.catalog.models import User
from tocsin.definitions.models import IncidentRole, Severity
from tocsin.incidents import service as incidents
from tocsin.incidents.models import Incident


def severity(db: Session, name: str) -> Severity:
    return db.scalars(select(Severity).where(Severity.name == name)).one()


def role(db: Session, slug: str) -> IncidentRole:
    return db.scalars(select(IncidentRole).where(IncidentRole.slug == slug)).one()


def incident_of(
    db: Session,
    by: User,
    sev: str,
    *,
    started: datetime | None = None,
    commander: User | None = None,
    **extra: object,
) -> Incident:
    """An incident declared by `by`, started (and detected) at `started`."""
    return incidents.declare(
        db,
        by=by,
        title=f"Checkout failing ({sev})",
        severity_id=severity(db, sev).id,
        started_at=started,
        detected_at=started,
        commander_id=commander.id if commander else None,
        **extra,  # type: ignore[arg-type]
    )


def resolve_at(db: Session, incident: Incident, by: User, when: datetime) -> None:
    """Acknowledge a minute after it started, and resolve at `when` (backdated)."""
    start = incident.started_at or when
    incidents.change_status(
        db, incident, "acknowledged", by=by, occurred_at=start + timedelta(minutes=1)
    )
    incidents.change_status(db, incident, "resolved", by=by, occurred_at=when)
