"""Which incidents a figure is about: detected in the period (the detection time, or the
declaration's for an incident with none), not drills, and of the filtered team (any of its
services), service, severity and type. Restricted incidents are counted like the others;
only the drill-down lists hide the ones the reader may not see (incidents.access).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, func, select, text
from sqlalchemy.orm import Session

from tocsin.catalog.models import Service
from tocsin.incidents.models import Incident, incident_services
from tocsin.insights.filters import Filters


def detected() -> ColumnElement[datetime]:
    """When an incident counts as having happened, for choosing its period (always set;
    indexed)."""
    return Incident.detected_at.expression


def conditions(f: Filters) -> list[ColumnElement[bool]]:
    """SQL conditions on `Incident` for the incidents in `f`."""
    moment = detected()
    found: list[ColumnElement[bool]] = [
        Incident.drill.is_(False),
        moment >= f.start,
        moment < f.end,
    ]
    if f.severity is not None:
        found.append(Incident.severity_id == f.severity.id)
    if f.incident_type is not None:
        found.append(Incident.type_id == f.incident_type.id)
    if f.service is not None:
        found.append(
            Incident.id.in_(
                select(incident_services.c.incident_id).where(
                    incident_services.c.service_id == f.service.id
                )
            )
        )
    if f.team is not None:
        found.append(
            Incident.id.in_(
                select(incident_services.c.incident_id)
                .join(Service, Service.id == incident_services.c.service_id)
                .where(Service.team_id == f.team.id)
            )
        )
    return found


def reading_history(session: Session) -> None:
    """Settings for the rest of this transaction, which reads a period's history. On
    PostgreSQL: memory for its sorts (`work_mem` 64 MB; a quarter's alerts sorted by dedup
    key spill to disk at the default 4 MB) and no JIT compilation (compiling took about 70 ms
    a query, more than it saved). `SET LOCAL` ends with the transaction; SQLite needs
    nothing."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SET LOCAL work_mem = '64MB'"))
        session.execute(text("SET LOCAL jit = off"))


def seconds_between(session: Session, later: Any, earlier: Any) -> ColumnElement[Any]:
    """SQL: `later - earlier` in seconds (NULL when either is): exact on PostgreSQL; on
    SQLite from julianday floats, within a millisecond."""
    if session.get_bind().dialect.name == "postgresql":
        return func.extract("epoch", later - earlier)
    return (func.julianday(later) - func.julianday(earlier)) * 86400.0


def incident_ids(f: Filters) -> Select[int]:
    """The ids of the incidents in `f`, as a subquery for other domains' rows."""
    return select(Incident.id).where(and_(*conditions(f)))
