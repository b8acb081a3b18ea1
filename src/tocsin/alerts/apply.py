"""Applying stored events: routing, maintenance, suppression, deduplication, grouping.

Runs inside the processor's transaction, one batch of events in id order. Lookups that every
event of a batch repeats (integrations, settings, rules, windows, open alerts) are cached for
the batch; the caches only ever see this transaction's own writes.
"""

from __future__ import annotations

import math
import time
import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any, NamedTuple

import msgspec
from sqlalchemy import bindparam, case, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from tocsin.alerts.events import AlertOpened
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
from tocsin.alerts.pagerduty import SEVERITIES, ParsedEvent, decode_event
from tocsin.alerts.rules import (
    DEFAULT_SEVERITY_MAP,
    DEFAULT_URGENCY_MAP,
    grouping_key,
    holding_window,
    matches,
)
from tocsin.alerts.service import acknowledge_alert, resolve_alert
from tocsin.bus import emit
from tocsin.catalog.models import Service
from tocsin.db import table_of, utcnow
from tocsin.definitions.models import Severity
from tocsin.incidents import service as incidents
from tocsin.incidents.models import Incident, Status
from tocsin.incidents.timeline import record

HEARTBEAT_KEY = "heartbeat"
PENDING_OUTCOME = Outcome.pending.value
MIN_PER_BATCH = 20
_OPEN = (Status.resolved.value, Status.closed.value)


# The statements every batch runs, built once (building one costs more than running it).
_ANY_PENDING = select(Event.id).where(PENDING).limit(1)
_PENDING_ROWS = (
    select(
        Event.id,
        Event.integration_id,
        Event.action,
        Event.dedup_key,
        Event.received_at,
        Event.data,
    )
    .where(PENDING)
    .order_by(Event.id)
    .limit(bindparam("limit"))
)
_OPEN_ALERTS = (
    select(Alert.id, Alert.dedup_key, Alert.service_id, Alert.severity)
    .where(
        Alert.integration_id == bindparam("integration"),
        Alert.dedup_key.in_(bindparam("keys", expanding=True)),
        Alert.status != AlertStatus.resolved.value,
    )
    # Serialised by the apply lock already; the row locks guard against anything else (a
    # person resolving the alert) changing it mid-batch.
    .with_for_update()
)
_events = table_of(Event)
_REPEAT_SETTLED = (
    update(_events)
    .where(_events.c.id == bindparam("event_id"))
    .values(
        outcome=Outcome.deduplicated.value,
        outcome_detail=bindparam("detail"),
        alert_id=bindparam("alert"),
        service_id=bindparam("service"),
        processed_at=bindparam("at"),
    )
)
_alerts = table_of(Alert)
_ALERT_COUNTED = (
    update(_alerts)
    .where(_alerts.c.id == bindparam("alert"))
    .values(
        event_count=_alerts.c.event_count + bindparam("n"),
        last_event_at=case(
            (_alerts.c.last_event_at < bindparam("at"), bindparam("at")),
            else_=_alerts.c.last_event_at,
        ),
    )
)
_integrations = table_of(Integration)
_INTEGRATION_SEEN = (
    update(_integrations)
    .where(_integrations.c.id == bindparam("integration"))
    .values(
        last_event_at=case(
            (
                or_(
                    _integrations.c.last_event_at.is_(None),
                    _integrations.c.last_event_at < bindparam("at"),
                ),
                bindparam("at"),
            ),
            else_=_integrations.c.last_event_at,
        )
    )
)

# Event severities from the most to the least urgent.
_RANK = {name: rank for rank, name in enumerate(reversed(SEVERITIES))}


class _Severity(msgspec.Struct):
    severity: str = "error"


_read_severity = msgspec.json.Decoder(_Severity).decode


def _severity_of(data: str) -> str:
    """The severity of a stored event, reading nothing else of it."""
    try:
        return _read_severity(data).severity
    except msgspec.DecodeError:  # a row from before the pipeline: its alert keeps its own
        return "info"


def _raises(current: str, incoming: str) -> bool:
    """Whether an event at `incoming` severity raises an alert at `current`."""
    return _RANK.get(incoming, 0) > _RANK.get(current, 0)


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
        # Open alerts by (integration, dedup key): `_refs` holds (alert id, service id,
        # severity) for every key looked up, `_open` the ORM objects the slow path needed.
        self._refs: dict[tuple[int, str], tuple[int, int, str] | None] = {}
        self._open: dict[tuple[int, str], Alert | None] = {}
        # Repeats counted in this batch: alert id → [events, latest received_at].
        self._counts: dict[int, list[Any]] = {}
        self._severities: dict[str, int | None] = {}
        self._last_event: dict[int, datetime] = {}
        # Whether the last apply_pending left no event pending behind it.
        self.caught_up = True

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
                ref = (event.integration_id, event.dedup_key)
                if ref not in self._refs:
                    by_integration.setdefault(event.integration_id, set()).add(event.dedup_key)
        for integration_id, keys in by_integration.items():
            for key in keys:
                self._refs[(integration_id, key)] = None
            found = self.session.execute(
                _OPEN_ALERTS, {"integration": integration_id, "keys": list(keys)}
            )
            for alert_id, dedup_key, service_id, severity in found:
                self._refs[(integration_id, dedup_key)] = (alert_id, service_id, severity)

    def open_ref(self, integration_id: int, dedup_key: str) -> tuple[int, int, str] | None:
        """(id, service id, severity) of the open alert with this key, or None."""
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
        self._refs[key] = (alert.id, alert.service_id, alert.severity)
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

    def _repeat(self, integration_id: int | None, action: str, key: str | None, data: str) -> Any:
        """The open alert (id, service id, severity) that this event merely repeats, or None.

        The one definition of a repeat: a trigger whose key has an open alert, at a severity
        no higher than the alert's (a higher one raises the alert's: the full path). Callers
        make sure no earlier event of the same key still waits to be applied."""
        if action != "trigger" or not key or integration_id is None:
            return None
        ref = self._refs.get((integration_id, key))
        if ref is not None and _raises(ref[2], _severity_of(data)):
            return None
        return ref

    def _repeated(self, ref: Any, integration_id: int, received_at: datetime) -> str:
        """Count a repeat on its alert; the sentence that says what became of it."""
        self._count(ref[0], received_at)
        self._seen(integration_id, received_at)
        return f"deduplicated into open alert {ref[0]}"

    def settle_new(self, rows: list[dict[str, Any]]) -> None:
        """Settle the repeats among rows about to be stored (in place: outcome, alert,
        service), so that they are stored once, already applied. Only when no event waits to
        be applied: rows after one of the same key that stays pending stay pending too, and
        everything pending is applied in id order after the insert (`apply_pending`)."""
        if self.session.execute(_ANY_PENDING).first() is not None:
            self.caught_up = False
            return
        self._prefetch_open_alerts(
            [_Key(r["integration_id"], r["dedup_key"]) for r in rows if r["dedup_key"]]
        )
        waiting: set[tuple[int, str]] = set()
        for row in rows:
            iid, key = row["integration_id"], row["dedup_key"]
            ref = None if (iid, key) in waiting else self._repeat(iid, row["action"], key,
                                                                   row["data"])  # fmt: skip
            if ref is None:
                if key:
                    waiting.add((iid, key))
                continue
            row["outcome_detail"] = self._repeated(ref, iid, row["received_at"])
            row["outcome"] = Outcome.deduplicated.value
            row["alert_id"], row["service_id"] = ref[0], ref[1]
            row["processed_at"] = self.now
        # Whether every row was settled (nothing older was pending): nothing left to apply.
        self.caught_up = not waiting and all(r["outcome"] != PENDING_OUTCOME for r in rows)

    def apply_pending(self, limit: int, *, budget_seconds: float | None = None) -> int:
        """Apply up to `limit` pending events in id order; after `budget_seconds` of applying
        (and at least MIN_PER_BATCH events, so that a batch always gets somewhere) stop early,
        leaving the rest pending. Returns how many were applied.

        Repeats are settled from the few columns read here and written back in one statement;
        every other event is loaded whole and applied by `apply`.
        """
        rows = self.session.execute(_PENDING_ROWS, {"limit": limit}).all()
        self.caught_up = len(rows) < limit
        if not rows:
            self.finish()
            return 0
        self._prefetch_open_alerts(rows)
        repeats: list[dict[str, Any]] = []
        done = 0
        deadline = None if budget_seconds is None else time.monotonic() + budget_seconds
        for row in rows:
            ref = self._repeat(row.integration_id, row.action, row.dedup_key, row.data)
            if ref is not None:
                detail = self._repeated(ref, row.integration_id, row.received_at)
                repeats.append(
                    {"event_id": row.id, "detail": detail, "alert": ref[0], "service": ref[1]}
                )
            else:
                stored = self.session.get(Event, row.id)
                assert stored is not None
                self.apply(stored)
            done += 1
            if deadline is not None and done >= MIN_PER_BATCH and time.monotonic() > deadline:
                self.caught_up = done == len(rows) and self.caught_up
                break
        if repeats:
            # One executemany by primary key for all of them: per-event statements would
            # cost more than the events themselves.
            for repeat in repeats:
                repeat["at"] = self.now
            self.session.connection().execute(_REPEAT_SETTLED, repeats)
        self.finish()
        return done

    def apply_all(self, events: list[Event]) -> None:
        """Apply these (already loaded) events in order."""
        self._prefetch_open_alerts(events)
        for event in events:
            self.apply(event)
        self.finish()

    def _seen(self, integration_id: int, at: datetime) -> None:
        self._last_event[integration_id] = max(at, self._last_event.get(integration_id, at))

    def finish(self) -> None:
        """Write what the batch counted: integrations' last event, alerts' counts."""
        self.session.flush()
        if self._last_event:
            self.session.connection().execute(
                _INTEGRATION_SEEN,
                [{"integration": i, "at": when} for i, when in self._last_event.items()],
            )
            for integration_id, when in self._last_event.items():
                loaded = self._integrations.get(integration_id)
                if loaded is not None and (
                    loaded.last_event_at is None or loaded.last_event_at < when
                ):
                    set_committed_value(loaded, "last_event_at", when)
            self._last_event.clear()
        if self._counts:
            self.session.connection().execute(
                _ALERT_COUNTED,
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
            if _raises(ref[2], event.severity):
                self._raise_severity(integration.id, stored.dedup_key, event.severity)
            self._deduplicate(ref[0], stored)
            return
        window = holding_window(self.windows(service_id), stored.received_at)
        if window is not None:
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

    def _raise_severity(self, integration_id: int, dedup_key: str, severity: str) -> None:
        """A repeat at a higher severity than its open alert's raises the alert's (never
        lowers it), and says so on the incident's timeline."""
        alert = self.open_alert(integration_id, dedup_key)
        assert alert is not None
        before, alert.severity = alert.severity, severity
        self._refs[(integration_id, dedup_key)] = (alert.id, alert.service_id, severity)
        incident = self.session.get(Incident, alert.incident_id) if alert.incident_id else None
        if incident is not None:
            record(
                self.session,
                incident,
                "alert",
                f"Alert severity raised from {before} to {severity}: {alert.summary}",
                by=None,
                field="alert_severity",
                old=before,
                new={"alert_id": alert.id, "severity": severity},
            )

    def _deduplicate(self, alert_id: int, stored: Event) -> None:
        self._count(alert_id, stored.received_at)
        stored.alert_id = alert_id
        self._done(stored, Outcome.deduplicated, f"deduplicated into open alert {alert_id}")

    def _quiet_seconds(self, integration_id: int, dedup_key: str, now: datetime) -> int | None:
        """Whole seconds (rounded up) since the key's previous alert resolved; None for its
        first alert. One indexed read per new alert, none per repeat."""
        resolved = self.session.scalar(
            select(Alert.resolved_at)
            .where(Alert.integration_id == integration_id, Alert.dedup_key == dedup_key)
            .order_by(Alert.created_at.desc())
            .limit(1)
        )
        if resolved is None:
            return None
        return math.ceil((now - resolved).total_seconds())

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
            images=event.images,
            created_at=stored.received_at,
            last_event_at=stored.received_at,
            quiet_seconds=self._quiet_seconds(integration.id, stored.dedup_key, stored.received_at),
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
            # A summary of only spaces is no title: the incident would be refused.
            title=((alert.summary or "").strip() or "Alert")[:255],
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
            acknowledge_alert(self.session, alert, by=None, at=stored.received_at, note=note)
            self._done(stored, Outcome.acknowledged, f"acknowledged alert {alert.id}")
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
        self._resolve(alert, stored, note)

    def _resolve(self, alert: Alert, stored: Event, note: str) -> None:
        # The rule (the last alert resolves its incident unless auto-resolve is off) is the
        # service's, shared with a person resolving an alert by hand.
        done = resolve_alert(
            self.session,
            alert,
            by=None,
            at=stored.received_at,
            note=note,
            auto_resolve=self.settings(alert.service_id).auto_resolve,
        )
        self._closed(alert)
        self._done(stored, Outcome.resolved, f"resolved alert {alert.id}")
        if done.incident is None or not done.last_open:
            return
        if done.incident_resolved:
            stored.outcome_detail += f"; all its alerts resolved, so {done.incident.reference} too"
        else:
            stored.outcome_detail += (
                f"; all alerts of {done.incident.reference} resolved (auto-resolve is off)"
            )

    def _timeline(self, incident: Incident, text: str, alert: Alert) -> None:
        record(self.session, incident, "alert", text, by=None, new={"alert_id": alert.id})

    def _heartbeat(self, integration: Integration, stored: Event) -> None:
        alert = self.open_alert(integration.id, HEARTBEAT_KEY)
        if alert is None:
            self._done(stored, Outcome.recorded, "heartbeat received")
            return
        stored.alert_id = alert.id
        self._resolve(alert, stored, " (heartbeat received again)")
