"""Turning received events into alerts and incidents. Each function runs in the caller's
transaction; the ingestion endpoint commits before it answers, so a 2xx is durable."""

from __future__ import annotations

import hashlib
import secrets
import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from tocsin import validation as v
from tocsin.alerts.models import Alert, AlertStatus, Event, Integration, IntegrationType, Outcome
from tocsin.alerts.pagerduty import ParsedEvent
from tocsin.catalog.models import Service
from tocsin.db import utcnow
from tocsin.definitions.models import Severity
from tocsin.errors import NotFound
from tocsin.incidents import service as incidents
from tocsin.incidents.models import Incident, Status
from tocsin.incidents.timeline import record

# Event severity → incident severity by name (PagerDuty's four levels).
SEVERITY_MAP = {"critical": "SEV1", "error": "SEV2", "warning": "SEV3", "info": "SEV4"}


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def create_integration(
    session: Session, *, service_id: int, name: str, type: str = IntegrationType.pagerduty.value
) -> tuple[Integration, str]:
    """A new integration for a service; returns it and its key (shown once, stored hashed)."""
    service = session.get(Service, service_id)
    if service is None:
        raise NotFound(f"no service with id {service_id}", field="service_id")
    key = secrets.token_hex(16)  # 32 characters, like a PagerDuty integration key
    integration = Integration(
        service=service,
        name=v.text(name, "name", max_len=120, required=True),
        type=v.one_of(type, "type", [t.value for t in IntegrationType]),
        key_hash=_digest(key),
        key_prefix=key[:8],
    )
    session.add(integration)
    session.flush()
    return integration, key


def integration_by_key(session: Session, key: str) -> Integration | None:
    if not key:
        return None
    found = session.scalar(select(Integration).where(Integration.key_hash == _digest(key)))
    if found is None or found.disabled_at is not None:
        return None
    return found


def _open_alert(session: Session, integration: Integration, dedup_key: str) -> Alert | None:
    return session.scalar(
        select(Alert)
        .where(
            Alert.integration_id == integration.id,
            Alert.dedup_key == dedup_key,
            Alert.status != AlertStatus.resolved.value,
        )
        # Lock it: concurrent events for one alert (several processes) apply one at a time,
        # so counts and status changes are never lost.
        .with_for_update(of=Alert)
    )


def _incident_for(session: Session, integration: Integration, event: ParsedEvent) -> Incident:
    """Default grouping: join the open incident of an earlier alert of the same Alertmanager
    group (or, without a group, the same dedup key); otherwise declare a new incident through
    the same service function people use."""
    same = (
        Alert.group_key == event.group_key
        if event.group_key
        else Alert.dedup_key == event.dedup_key
    )
    earlier = session.scalar(
        select(Incident)
        .join(Alert, Alert.incident_id == Incident.id)
        .where(
            Alert.integration_id == integration.id,
            same,
            Incident.status.notin_([Status.resolved.value, Status.closed.value]),
        )
        .order_by(Incident.id.desc())
        .limit(1)
    )
    if earlier is not None:
        return earlier
    severity_id = session.scalar(
        select(Severity.id).where(Severity.name == SEVERITY_MAP.get(event.severity, "SEV2"))
    )
    return incidents.declare(
        session,
        by=None,
        title=event.summary[:255],
        description=f"Opened by an alert from {integration.name} ({event.source}).",
        severity_id=severity_id,
        service_ids=[integration.service_id],
        detected_at=utcnow(),
    )


def ingest(session: Session, integration: Integration, event: ParsedEvent, body: Any) -> Event:
    """Store the event with what became of it, and apply it to alerts and incidents."""
    now = utcnow()
    if event.action == "trigger" and not event.dedup_key:
        event.dedup_key = uuid.uuid4().hex
    stored = Event(
        integration_id=integration.id,
        received_at=now,
        action=event.action,
        dedup_key=event.dedup_key,
        summary=event.summary,
        body=body if isinstance(body, dict) else {"raw": body},
        outcome=Outcome.ignored.value,
    )
    session.add(stored)
    if event.action == "trigger":
        _trigger(session, integration, event, stored)
    else:
        _ack_or_resolve(session, integration, event, stored)
    session.flush()
    return stored


def _trigger(session: Session, integration: Integration, event: ParsedEvent, stored: Event) -> None:
    assert event.dedup_key is not None
    alert = _open_alert(session, integration, event.dedup_key)
    if alert is None:
        alert = Alert(
            integration_id=integration.id,
            service_id=integration.service_id,
            dedup_key=event.dedup_key,
            group_key=event.group_key,
            summary=event.summary,
            severity=event.severity,
            source=event.source,
            details=event.details,
            links=event.links,
            created_at=stored.received_at,
            last_event_at=stored.received_at,
        )
        try:
            # A concurrent trigger for the same key (another process) may win the unique
            # index; then this one is a duplicate of that alert.
            with session.begin_nested():
                session.add(alert)
                session.flush()
        except IntegrityError:
            alert = _open_alert(session, integration, event.dedup_key)
            if alert is None:
                raise
        else:
            incident = _incident_for(session, integration, event)
            alert.incident_id = incident.id
            stored.alert = alert
            stored.outcome = Outcome.created_alert.value
            stored.outcome_detail = f"created alert {alert.id} in {incident.reference}"
            record(
                session,
                incident,
                "alert",
                f"Alert triggered: {event.summary}",
                by=None,
                new={
                    "alert_id": alert.id,
                    "dedup_key": alert.dedup_key,
                    "severity": event.severity,
                    "integration": integration.name,
                },
            )
            return
    alert.event_count += 1
    alert.last_event_at = stored.received_at
    stored.alert = alert
    stored.outcome = Outcome.deduplicated.value
    stored.outcome_detail = f"deduplicated into open alert {alert.id}"


def _ack_or_resolve(
    session: Session, integration: Integration, event: ParsedEvent, stored: Event
) -> None:
    assert event.dedup_key is not None
    alert = _open_alert(session, integration, event.dedup_key)
    if alert is None:
        stored.outcome_detail = f"no open alert with dedup key {event.dedup_key!r}"
        return
    stored.alert = alert
    alert.last_event_at = stored.received_at
    incident = session.get(Incident, alert.incident_id) if alert.incident_id else None
    if event.action == "acknowledge":
        stored.outcome = Outcome.acknowledged.value
        if alert.status == AlertStatus.acknowledged.value:
            stored.outcome_detail = f"alert {alert.id} was already acknowledged"
            return
        alert.status = AlertStatus.acknowledged.value
        alert.acknowledged_at = stored.received_at
        stored.outcome_detail = f"acknowledged alert {alert.id}"
        if incident is not None:
            record(
                session,
                incident,
                "alert",
                f"Alert acknowledged by the sender: {alert.summary}",
                by=None,
                new={"alert_id": alert.id},
            )
            if incident.status == Status.triggered.value:
                incidents.acknowledge(session, incident, by=None)
        return
    alert.status = AlertStatus.resolved.value
    alert.resolved_at = stored.received_at
    stored.outcome = Outcome.resolved.value
    stored.outcome_detail = f"resolved alert {alert.id}"
    if incident is None:
        return
    record(
        session,
        incident,
        "alert",
        f"Alert resolved: {alert.summary}",
        by=None,
        new={"alert_id": alert.id},
    )
    still_open = session.scalar(
        select(Alert.id)
        .where(Alert.incident_id == incident.id, Alert.status != AlertStatus.resolved.value)
        .limit(1)
    )
    # All alerts resolved: resolve the incident, but never touch one already resolved
    # or closed (an alert resolve never reopens anything).
    if still_open is None and incident.is_open:
        incidents.resolve(session, incident, by=None)
        stored.outcome_detail += f"; all alerts resolved, so {incident.reference} resolved"


def record_change(session: Session, integration: Integration, summary: str, body: Any) -> Event:
    """A change event (deploy, config change): kept for context, never pages anyone."""
    stored = Event(
        integration_id=integration.id,
        action="change",
        summary=summary,
        body=body if isinstance(body, dict) else {"raw": body},
        outcome=Outcome.recorded.value,
        outcome_detail="change event recorded",
    )
    session.add(stored)
    session.flush()
    return stored


def details_of(alert: Alert) -> dict[str, Any]:
    return dict(alert.details or {})
