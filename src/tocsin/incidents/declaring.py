"""What a declaration takes from its type and severity when the declarer leaves it out, and
an unsaved incident as `service.declare` would open it (for a dry run of paging)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from tocsin.catalog.models import Service
from tocsin.definitions.models import IncidentType, Severity
from tocsin.incidents.models import Incident, Status

URGENCIES = ("high", "low")
# The urgency a declarer chooses to declare without paging anyone.
DONT_PAGE = "none"


def severity_id_for(incident_type: IncidentType | None, severity_id: int | None) -> int | None:
    """The severity chosen, else the type's default severity."""
    if severity_id is None and incident_type is not None and incident_type.default_severity_id:
        return incident_type.default_severity_id
    return severity_id


def urgency_for(severity: Severity | None, chosen: str | None) -> str:
    """How the incident pages: the urgency chosen (high or low), else the severity's default
    urgency (high without a severity); "none" (don't page) keeps that default for later."""
    if chosen in URGENCIES:
        return chosen
    return severity.default_urgency if severity is not None else "high"


def restricted_for(incident_type: IncidentType | None, restricted: bool | None) -> bool:
    if restricted is None:
        return bool(incident_type and incident_type.default_restricted)
    return bool(restricted)


def unsaved(
    *,
    severity: Severity | None,
    incident_type: IncidentType | None,
    services: Sequence[Service],
    urgency: str | None,
    at: datetime,
) -> Incident:
    """The incident `declare` would open at `at`, never added to a session: what paging and
    the channels would make of it can be asked without writing anything."""
    return Incident(
        number=0,
        title="(dry run)",
        description="",
        incident_type=incident_type,
        type_id=incident_type.id if incident_type is not None else None,
        severity=severity,
        severity_id=severity.id if severity is not None else None,
        status=Status.triggered.value,
        urgency=urgency_for(severity, urgency),
        declared_without_paging=False,
        customer_impact="",
        links=[],
        custom_fields={},
        drill=False,
        restricted=restricted_for(incident_type, None),
        created_at=at,
        updated_at=at,
        started_at=at,
        detected_at=at,
        services=list(services),
        role_assignments=[],
    )
