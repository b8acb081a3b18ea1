"""Applying stored events: routing, maintenance, suppression, deduplication, grouping.

Runs inside the processor's transaction, one batch of events in id order. Lookups that every
event of a batch repeats (integrations, settings, rules, windows, open alerts) are cached for
the batch; the caches only ever see this transaction's own writes.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any, NamedTuple

from sqlalchemy import bindparam, case, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from tocsin.alerts.events import AlertOpened, AlertResolved
from tocsin.alerts.models import (
    PENDING,
    Alert,
    AlertSettings,
    AlertStatus,
    Event,
    Grouping,
    Integration,
    MaintenanceWindow,
    Outcome,
    SuppressionRule,
)
from tocsin.alerts.pagerduty import ParsedEvent, decode_event
from tocsin.alerts.rules import (
    DEFAULT_SEVERITY_MAP,
    DEFAULT_URGENCY_MAP,
    grouping_key,
    matches,
)
from tocsin.bus import emit
from tocsin.catalog.models import Service
from tocsin.db import utcnow
from tocsin.definitions.models import Severity
from tocsin.incidents import service as incidents
from tocsin.incidents.models import Incident, Status
from tocsin.incidents.timeline import record

HEARTBEAT_KEY = "heartbeat"
MIN_PER_BATCH = 20
_OPEN = (Status.resolved.value, Status.closed.value)


class _Key(NamedTuple):
    integration_id: int
    dedup_key: str


class Applier:
    def __init__(self, session: Session) -> None:
        self.session = session
        self.now = utcnow()
        self._integrations: dict[int, Integration | None] = {}
        self._settings: dict[int, AlertSettings] = {}
        self._suppression: dict[int, list[SuppressionRule]] = {}
        self._windows: dict[int, list[MaintenanceWindow]] = {}
        # Open alerts by (integration, dedup key): `_refs` holds (alert id, service id) for
        # every key looked up, `_open` the ORM objects the slow path needed.
        self._refs: dict[tuple[int, str], tuple[int, int] | None] = {}
        self._open: dict[tuple[int, str], Alert | None] = {}
        # Repeats counted in this batch: alert id → [events, latest received_at].
        self._counts: dict[int, list[Any]] = {}
        self._severities: dict[str, int | None] = {}
        self._last_event: dict[int, datetime] = {}

    # -- cached lookups ---------------------------------------------------------------------

    def integration(self, integration_id: int | None) -> Integration | None:
        if integration_id is None:
            return None
        if integration_id not in self._integrations:
            self._integrations[integration_id] = self.session.get(Integration, integration_id)
        return self._integrations[integration_id]

    def settings(self, service_id: int) -> AlertSettings:
        if service_id not in self._settings:
            found = self.session.get(AlertSettings, service_id)
            self._settings[service_id] = found or AlertSettings(
                service_id=service_id,
                grouping=Grouping.auto.value,
                group_fields=[],
                group_window_minutes=60,
                auto_resolve=True,
                severity_map={},
                urgency_map={},
            )
        return self._settings[service_id]

    def suppression_rules(self, service_id: int) -> list[SuppressionRule]:
        if service_id not in self._suppression:
            self._suppression[service_id] = list(
                self.session.scalars(
                    select(SuppressionRule)
                    .where(SuppressionRule.service_id == service_id, SuppressionRule.enabled)
                    .order_by(SuppressionRule.position, SuppressionRule.id)
                )
            )
        return self._suppression[service_id]

    def windows(self, service_id: int) -> list[MaintenanceWindow]:
        if service_id not in self._windows:
            self._windows[service_id] = list(
                self.session.scalars(
                    select(MaintenanceWindow).where(
                        MaintenanceWindow.service_id == service_id,
                        MaintenanceWindow.ends_at > self.now - timedelta(days=1),
                    )
                )
            )
        return self._windows[service_id]

    def severity_id(self, name: str) -> int | None:
        if name not in self._severities:
            self._severities[name] = self.session.scalar(
                select(Severity.id).where(Severity.name == name)
            )
        return self._severities[name]

    def _prefetch_open_alerts(self, events: Sequence[Any]) -> None:
        """One query for the open alerts every event of the batch may name."""
        by_integration: dict[int, set[str]] = {}
        for event in events:
            if event.integration_id is not None and event.dedup_key:
                key = (event.integration_id, event.dedup_key)
                if key not in self._refs:
                    by_integration.setdefault(event.integration_id, set()).add(event.dedup_key)
        for integration_id, keys in by_integration.items():
            for key in keys:
                self._refs[(integration_id, key)] = None
            found = self.session.execute(
                select(Alert.id, Alert.dedup_key, Alert.service_id)
                .where(
                    Alert.integration_id == integration_id,
                    Alert.dedup_key.in_(keys),
                    Alert.status != AlertStatus.resolved.value,
                )
                # Serialised by the processor lock already; the row locks guard against
                # anything else (a person resolving the alert) changing it mid-batch.
                .with_for_update()
            )
            for alert_id, dedup_key, service_id in found:
                self._refs[(integration_id, dedup_key)] = (alert_id, service_id)

    def open_ref(self, integration_id: int, dedup_key: str) -> tuple[int, int] | None:
        """(id, service id) of the open alert with this key, or None."""
        key = (integration_id, dedup_key)
        if key not in self._refs:
            self._prefetch_open_alerts([_Key(integration_id, dedup_key)])
        return self._refs[key]

    def open_alert(self, integration_id: int, dedup_key: str) -> Alert | None:
        key = (integration_id, dedup_key)
        ref = self.open_ref(integration_id, dedup_key)
        if ref is None:
            return None
        if self._open.get(key) is None:
            self._open[key] = self.session.scalar(
                select(Alert).where(Alert.id == ref[0]).with_for_update(of=Alert)
            )
        return self._open[key]

    def _opened(self, alert: Alert) -> None:
        key = (alert.integration_id, alert.dedup_key)
        self._refs[key] = (alert.id, alert.service_id)
        self._open[key] = alert

    def _closed(self, alert: Alert) -> None:
        key = (alert.integration_id, alert.dedup_key)
        self._refs[key] = None
        self._open[key] = None

    def _count(self, alert_id: int, at: datetime) -> None:
        counted = self._counts.get(alert_id)
        if counted is None:
            self._counts[alert_id] = [1, at]
        else:
            counted[0] += 1
            counted[1] = max(counted[1], at)

    # -- applying ---------------------------------------------------------------------------

    def apply_pending(self, limit: int, *, budget_seconds: float | None = None) -> int:
        """Apply up to `limit` pending events in id order; after `budget_seconds` of applying
        (and at least MIN_PER_BATCH events, so that a batch always gets somewhere) stop early,
        leaving the rest pending. Returns how many were applied.

        The common case under load, a trigger for an alert that is already open, is settled
        from the few columns read here and written back in one statement per alert; every
        other event is loaded whole and applied by `apply`.
        """
        rows = self.session.execute(
            select(Event.id, Event.integration_id, Event.action, Event.dedup_key, Event.received_at)
            .where(PENDING)
            .order_by(Event.id)
            .limit(limit)
        ).all()
        if not rows:
            return 0
        self._prefetch_open_alerts(rows)
        repeats: list[dict[str, Any]] = []
        done = 0
        deadline = None if budget_seconds is None else time.monotonic() + budget_seconds
        for row in rows:
            ref = None
            if row.action == "trigger" and row.dedup_key and row.integration_id is not None:
                ref = self._refs.get((row.integration_id, row.dedup_key))
            if ref is not None:
                self._count(ref[0], row.received_at)
                repeats.append(
                    {
                        "event_id": row.id,
                        "detail": f"deduplicated into open alert {ref[0]}",
                        "alert": ref[0],
                        "service": ref[1],
                    }
                )
                self._seen(row.integration_id, row.received_at)
            else:
                stored = self.session.get(Event, row.id)
                assert stored is not None
                self.apply(stored)
            done += 1
            if deadline is not None and done >= MIN_PER_BATCH and time.monotonic() > deadline:
                break
        if repeats:
            # One executemany by primary key for all of them: per-event statements would
            # cost more than the events themselves.
            table = Event.__table__
            self.session.connection().execute(
                update(table)
                .where(table.c.id == bindparam("event_id"))
                .values(
                    outcome=Outcome.deduplicated.value,
                    outcome_detail=bindparam("detail"),
                    alert_id=bindparam("alert"),
                    service_id=bindparam("service"),
                    processed_at=self.now,
                ),
                repeats,
            )
        self._finish()
        return done

    def apply_all(self, events: list[Event]) -> None:
        """Apply these (already loaded) events in order."""
        self._prefetch_open_alerts(events)
        for event in events:
            self.apply(event)
        self._finish()

    def _seen(self, integration_id: int, at: datetime) -> None:
        self._last_event[integration_id] = max(at, self._last_event.get(integration_id, at))

    def _finish(self) -> None:
        for integration_id, at in self._last_event.items():
            integration = self.integration(integration_id)
            if integration is not None and (
                integration.last_event_at is None or integration.last_event_at < at
            ):
                integration.last_event_at = at
        self.session.flush()
        if self._counts:
            table = Alert.__table__
            self.session.connection().execute(
                update(table)
                .where(table.c.id == bindparam("alert"))
                .values(
                    event_count=table.c.event_count + bindparam("n"),
                    last_event_at=case(
                        (table.c.last_event_at < bindparam("at"), bindparam("at")),
                        else_=table.c.last_event_at,
                    ),
                ),
                [{"alert": a, "n": n, "at": at} for a, (n, at) in self._counts.items()],
            )
            self._counts.clear()

    def apply(self, stored: Event) -> None:
        """Decide what becomes of one stored event and record it on the event."""
        stored.processed_at = self.now
        integration = self.integration(stored.integration_id)
        if integration is None:
            self._done(stored, Outcome.ignored, "its integration was deleted")
            return
        # For a heartbeat, "last event" means the last ping, not the alert its silence raised.
        if not (integration.type == "heartbeat" and stored.action == "trigger"):
            self._seen(integration.id, stored.received_at)
        event = decode_event(stored.data)
        event.dedup_key = stored.dedup_key
        event.action = stored.action
        service_id = self._route(integration, event)
        stored.service_id = service_id
        if stored.action == "change":
            self._done(stored, Outcome.recorded, "change event recorded")
        elif stored.action == "heartbeat":
            self._heartbeat(integration, stored)
        elif stored.action == "trigger":
            self._trigger(integration, service_id, event, stored)
        else:
            self._act(integration, event, stored)

    def _done(self, stored: Event, outcome: Outcome, detail: str) -> None:
        stored.outcome = outcome.value
        stored.outcome_detail = detail

    def _route(self, integration: Integration, event: ParsedEvent) -> int:
        for rule in integration.routing_rules:
            if matches(event, rule.matchers):
                return rule.service_id
        return integration.service_id

    def _trigger(
        self, integration: Integration, service_id: int, event: ParsedEvent, stored: Event
    ) -> None:
        if not stored.dedup_key:
            stored.dedup_key = event.dedup_key = uuid.uuid4().hex
        ref = self.open_ref(integration.id, stored.dedup_key)
        if ref is not None:
            self._deduplicate(ref[0], stored)
            return
        for window in self.windows(service_id):
            if window.starts_at <= stored.received_at < window.ends_at:
                stored.maintenance_window_id = window.id
                reason = f" ({window.reason})" if window.reason else ""
                self._done(
                    stored,
                    Outcome.maintenance,
                    f"held: {window.service.name} was in maintenance window {window.id}{reason} "
                    f"until {window.ends_at:%Y-%m-%d %H:%M} UTC; nobody was paged",
                )
                return
        downgraded = ""
        for rule in self.suppression_rules(service_id):
            if not matches(event, rule.matchers):
                continue
            stored.rule_id = rule.id
            if rule.action == "drop":
                self._done(stored, Outcome.suppressed, f"suppressed by rule {rule.name!r}")
                return
            if rule.severity and rule.severity != event.severity:
                downgraded = f"; severity {event.severity} lowered to {rule.severity} by rule "
                downgraded += repr(rule.name)
                event.severity = rule.severity
            break
        self._create_alert(integration, service_id, event, stored, downgraded)

    def _deduplicate(self, alert_id: int, stored: Event) -> None:
        self._count(alert_id, stored.received_at)
        stored.alert_id = alert_id
        self._done(stored, Outcome.deduplicated, f"deduplicated into open alert {alert_id}")

    def _create_alert(
        self,
        integration: Integration,
        service_id: int,
        event: ParsedEvent,
        stored: Event,
        note: str,
    ) -> None:
        settings = self.settings(service_id)
        assert stored.dedup_key is not None
        alert = Alert(
            integration_id=integration.id,
            service_id=service_id,
            dedup_key=stored.dedup_key,
            group_key=event.group_key,
            grouping_key=grouping_key(settings.grouping, event, settings.group_fields),
            summary=event.summary or "(no summary)",
            severity=event.severity,
            source=event.source,
            details=event.details,
            links=event.links,
            created_at=stored.received_at,
            last_event_at=stored.received_at,
        )
        try:
            # Another writer (a person's action in another process) may have opened the same
            # key meanwhile; the unique index decides, and this event joins that alert.
            with self.session.begin_nested():
                self.session.add(alert)
                self.session.flush()
        except IntegrityError:
            self._refs.pop((integration.id, stored.dedup_key), None)
            existing = self.open_ref(integration.id, stored.dedup_key)
            if existing is None:
                raise
            self._deduplicate(existing[0], stored)
            return
        self._opened(alert)
        incident, joined = self._incident_for(alert, event, settings)
        alert.incident_id = incident.id
        stored.alert_id = alert.id
        how = f"joined {incident.reference}" if joined else f"opened {incident.reference}"
        self._done(stored, Outcome.created_alert, f"created alert {alert.id}; {how}{note}")
        record(
            self.session,
            incident,
            "alert",
            f"Alert triggered: {alert.summary}",
            by=None,
            new={
                "alert_id": alert.id,
                "dedup_key": alert.dedup_key,
                "severity": alert.severity,
                "integration": integration.name,
                "event_id": stored.id,
            },
        )
        emit(
            self.session,
            AlertOpened(
                alert.id, integration.id, service_id, incident.id, alert.dedup_key,
                alert.severity, alert.summary, joined,
            ),
        )  # fmt: skip

    def _incident_for(
        self, alert: Alert, event: ParsedEvent, settings: AlertSettings
    ) -> tuple[Incident, bool]:
        """The open incident this alert joins under the service's grouping rule (and True), or
        a new one declared through the same service function people use (and False)."""
        query = (
            select(Incident)
            .join(Alert, Alert.incident_id == Incident.id)
            .where(
                Alert.service_id == alert.service_id,
                Alert.grouping_key == alert.grouping_key,
                Alert.id != alert.id,
                Incident.status.notin_(_OPEN),
            )
            .order_by(Incident.id.desc())
            .limit(1)
        )
        if settings.grouping == Grouping.fields.value:
            since = alert.created_at - timedelta(minutes=settings.group_window_minutes)
            query = query.where(Alert.created_at >= since)
        earlier = self.session.scalar(query)
        if earlier is not None:
            return earlier, True
        severity_name = settings.severity_map.get(event.severity) or DEFAULT_SEVERITY_MAP.get(
            event.severity, "SEV2"
        )
        urgency = settings.urgency_map.get(event.severity) or DEFAULT_URGENCY_MAP.get(
            event.severity, "high"
        )
        service = self.session.get(Service, alert.service_id)
        integration = self.integration(alert.integration_id)
        source = f" ({event.source})" if event.source else ""
        incident = incidents.declare(
            self.session,
            by=None,
            title=(alert.summary or "Alert")[:255],
            description=(
                f"Opened by an alert from {integration.name if integration else 'an integration'}"
                f"{source} on {service.name if service else 'a service'}."
            ),
            severity_id=self.severity_id(severity_name),
            service_ids=[alert.service_id],
            detected_at=alert.created_at,
            urgency=urgency,
        )
        return incident, False

    def _act(self, integration: Integration, event: ParsedEvent, stored: Event) -> None:
        """acknowledge, unacknowledge or resolve an open alert named by dedup key or id."""
        if event.alert_id is not None:
            alert = self.session.scalar(
                select(Alert).where(Alert.id == event.alert_id).with_for_update(of=Alert)
            )
            if alert is not None and (
                alert.integration_id != integration.id or alert.status == AlertStatus.resolved
            ):
                alert = None
            what = f"alert id {event.alert_id}"
        else:
            alert = self.open_alert(integration.id, stored.dedup_key or "")
            what = f"dedup key {stored.dedup_key!r}"
        if alert is None:
            self._done(stored, Outcome.ignored, f"no open alert with {what}")
            return
        stored.alert_id = alert.id
        stored.dedup_key = alert.dedup_key
        alert.last_event_at = stored.received_at
        incident = self.session.get(Incident, alert.incident_id) if alert.incident_id else None
        note = f" ({event.note})" if event.note else ""
        if stored.action == "acknowledge":
            if alert.status == AlertStatus.acknowledged.value:
                self._done(stored, Outcome.acknowledged, f"alert {alert.id} was already acked")
                return
            alert.status = AlertStatus.acknowledged.value
            alert.acknowledged_at = stored.received_at
            self._done(stored, Outcome.acknowledged, f"acknowledged alert {alert.id}")
            if incident is not None:
                self._timeline(
                    incident, f"Alert acknowledged by the sender{note}: {alert.summary}", alert
                )
                if incident.status == Status.triggered.value:
                    incidents.acknowledge(self.session, incident, by=None)
            return
        if stored.action == "unacknowledge":
            if alert.status != AlertStatus.acknowledged.value:
                self._done(stored, Outcome.ignored, f"alert {alert.id} was not acknowledged")
                return
            alert.status = AlertStatus.triggered.value
            alert.acknowledged_at = None
            self._done(stored, Outcome.unacknowledged, f"alert {alert.id} is triggered again")
            if incident is not None:
                self._timeline(incident, f"Alert unacknowledged by the sender{note}", alert)
            return
        self._resolve(alert, incident, stored, note)

    def _resolve(self, alert: Alert, incident: Incident | None, stored: Event, note: str) -> None:
        alert.status = AlertStatus.resolved.value
        alert.resolved_at = stored.received_at
        self._closed(alert)
        self._done(stored, Outcome.resolved, f"resolved alert {alert.id}")
        emit(self.session, AlertResolved(alert.id, alert.service_id, alert.incident_id))
        if incident is None:
            return
        self._timeline(incident, f"Alert resolved{note}: {alert.summary}", alert)
        still_open = self.session.scalar(
            select(Alert.id)
            .where(Alert.incident_id == incident.id, Alert.status != AlertStatus.resolved.value)
            .limit(1)
        )
        # All alerts resolved: resolve the incident, unless the service says not to; never
        # touch one already resolved or closed (an alert resolve never reopens anything).
        if still_open is None and incident.is_open:
            if self.settings(alert.service_id).auto_resolve:
                incidents.resolve(self.session, incident, by=None)
                stored.outcome_detail += f"; all its alerts resolved, so {incident.reference} too"
            else:
                stored.outcome_detail += (
                    f"; all alerts of {incident.reference} resolved (auto-resolve is off)"
                )

    def _timeline(self, incident: Incident, text: str, alert: Alert) -> None:
        record(self.session, incident, "alert", text, by=None, new={"alert_id": alert.id})

    def _heartbeat(self, integration: Integration, stored: Event) -> None:
        alert = self.open_alert(integration.id, HEARTBEAT_KEY)
        if alert is None:
            self._done(stored, Outcome.recorded, "heartbeat received")
            return
        stored.alert_id = alert.id
        incident = self.session.get(Incident, alert.incident_id) if alert.incident_id else None
        self._resolve(alert, incident, stored, " (heartbeat received again)")
