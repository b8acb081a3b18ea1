"""Integrations, rules, maintenance windows and alert settings: the service functions that
change how events become alerts; listing alerts, and acknowledging or resolving one, whether
a sender's event asks (apply.py) or a person does. Each runs in the caller's transaction.

Applying events themselves is apply.py's job (run by the processor, see pipeline.py)."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pydantic
from sqlalchemy import ColumnElement, and_, case, func, or_, select
from sqlalchemy.orm import Session, selectinload

from tocsin import validation as v
from tocsin.alerts import generic, heartbeat_config
from tocsin.alerts.events import AlertResolved
from tocsin.alerts.models import (
    PENDING,
    Alert,
    AlertSettings,
    AlertStatus,
    Event,
    Grouping,
    Integration,
    IntegrationType,
    MaintenanceWindow,
    Outcome,
    RoutingRule,
    SuppressionRule,
)
from tocsin.alerts.pagerduty import SEVERITIES
from tocsin.alerts.rules import check_field, check_matchers, check_severity_map
from tocsin.bus import emit
from tocsin.catalog.models import Service, User
from tocsin.catalog.permissions import check_change
from tocsin.db import utcnow, wait_for_event_processor
from tocsin.definitions.models import Severity
from tocsin.errors import InvalidTransition, NotFound, ValidationFailed
from tocsin.incidents import service as incidents
from tocsin.incidents.models import Incident, Status
from tocsin.incidents.timeline import record

TYPES = [t.value for t in IntegrationType]


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def _may_change(session: Session, by: User | None, service: Service, what: str = "") -> None:
    """Integrations, suppression rules and alert settings are their service's: changed by
    its team's responders and admins, or org admins (catalog.permissions)."""
    check_change(session, by, service.team_id, what or f"service {service.name}")


def _service(session: Session, service_id: Any, field: str = "service_id") -> Service:
    service = session.get(Service, service_id) if isinstance(service_id, int) else None
    if service is None:
        raise NotFound(f"no service with id {service_id}", field=field)
    return service


def check_config(type: str, config: Any) -> dict[str, Any]:
    """Validate an integration's per-type settings; returns the cleaned settings."""
    if config is not None and not isinstance(config, dict):
        raise ValidationFailed("config must be an object", field="config")
    config = dict(config or {})
    if type == IntegrationType.webhook.value:
        raw = config.get("mapping")
        try:
            mapping = (
                generic.DEFAULT_MAPPING if raw is None else generic.Mapping.model_validate(raw)
            )
        except pydantic.ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or 'mapping'}: {e['msg']}"
                for e in exc.errors()
            )
            raise ValidationFailed(f"mapping is not valid: {problems}", field="config") from exc
        unknown = set(config) - {"mapping"}
        if unknown:
            raise ValidationFailed(f"unknown settings {sorted(unknown)}", field="config")
        return {"mapping": mapping.model_dump(exclude_none=True)}
    if type == IntegrationType.heartbeat.value:
        return heartbeat_config.check_config(config)
    if config:
        raise ValidationFailed(f"a {type} integration takes no settings", field="config")
    return {}


def create_integration(
    session: Session,
    *,
    service_id: int,
    name: str,
    type: str = IntegrationType.pagerduty.value,
    config: dict[str, Any] | None = None,
    by: User | None = None,
) -> tuple[Integration, str]:
    """A new integration for a service; returns it and its key (shown once, stored hashed)."""
    service = _service(session, service_id)
    _may_change(session, by, service)
    type = v.one_of(type, "type", TYPES)
    key = secrets.token_hex(16)  # 32 characters, like a PagerDuty integration key
    integration = Integration(
        service=service,
        name=v.text(name, "name", max_len=120, required=True),
        type=type,
        config=check_config(type, config),
        key_hash=_digest(key),
        key_prefix=key[:8],
    )
    session.add(integration)
    session.flush()
    return integration, key


def get_integration(session: Session, integration_id: int) -> Integration:
    found = session.get(Integration, integration_id)
    if found is None:
        raise NotFound(f"no integration with id {integration_id}")
    return found


def integration_by_key(session: Session, key: str) -> Integration | None:
    if not key:
        return None
    found = session.scalar(select(Integration).where(Integration.key_hash == _digest(key)))
    if found is None or found.disabled_at is not None:
        return None
    return found


def list_integrations(session: Session, service_id: int | None = None) -> list[Integration]:
    query = select(Integration).order_by(Integration.service_id, Integration.name)
    if service_id is not None:
        query = query.where(Integration.service_id == service_id)
    return list(session.scalars(query))


def update_integration(
    session: Session,
    integration: Integration,
    *,
    name: str | None = None,
    service_id: int | None = None,
    config: dict[str, Any] | None = None,
    enabled: bool | None = None,
    by: User | None = None,
) -> Integration:
    """Rename, move, reconfigure, disable or enable. A disabled key is refused (4xx) at once
    by this process and within seconds by the others (their key caches expire)."""
    _may_change(session, by, integration.service, f"integration {integration.name}")
    if service_id is not None:
        target = _service(session, service_id)
        _may_change(session, by, target, f"integration {integration.name} into {target.name}")
    if name is not None:
        integration.name = v.text(name, "name", max_len=120, required=True)
    if service_id is not None:
        integration.service = _service(session, service_id)
    if config is not None:
        integration.config = check_config(integration.type, config)
    if enabled is not None:
        integration.disabled_at = None if enabled else (integration.disabled_at or utcnow())
    session.flush()
    return integration


def rotate_key(session: Session, integration: Integration, *, by: User | None = None) -> str:
    """A new key for the integration; the old one stops working. Returns the new key."""
    _may_change(session, by, integration.service, f"integration {integration.name}")
    key = secrets.token_hex(16)
    integration.key_hash = _digest(key)
    integration.key_prefix = key[:8]
    session.flush()
    return key


def delete_integration(
    session: Session, integration: Integration, *, by: User | None = None
) -> None:
    """Delete the integration with its events (the processor's lock first: it may be applying
    them right now, and the cascade would otherwise deadlock with it on PostgreSQL)."""
    _may_change(session, by, integration.service, f"integration {integration.name}")
    wait_for_event_processor(session)
    session.delete(integration)
    session.flush()


def set_routing_rules(
    session: Session,
    integration: Integration,
    rules: list[dict[str, Any]],
    *,
    by: User | None = None,
) -> list[RoutingRule]:
    """Replace the integration's routing rules (first match wins; no match: its service)."""
    _may_change(session, by, integration.service, f"integration {integration.name}")
    if not isinstance(rules, list) or len(rules) > 50:
        raise ValidationFailed("rules must be a list of at most 50 rules", field="rules")
    cleaned = []
    for index, rule in enumerate(rules):
        if not isinstance(rule, dict):
            raise ValidationFailed(f"rules[{index}] must be an object", field="rules")
        matchers = check_matchers(rule.get("matchers"), f"rules[{index}].matchers")
        if not matchers:
            raise ValidationFailed(f"rules[{index}] needs at least one matcher", field="rules")
        target = _service(session, rule.get("service_id"), f"rules[{index}].service_id")
        cleaned.append(RoutingRule(position=index, matchers=matchers, service_id=target.id))
    integration.routing_rules = cleaned
    session.flush()
    return cleaned


def create_suppression_rule(
    session: Session,
    *,
    service_id: int,
    name: str,
    matchers: list[dict[str, Any]],
    action: str = "drop",
    severity: str | None = None,
    position: int | None = None,
    by: User | None = None,
) -> SuppressionRule:
    """Drop matching trigger events of a service, or lower their severity (`downgrade`)."""
    service = _service(session, service_id)
    _may_change(session, by, service)
    rule = SuppressionRule(service_id=service.id)
    _fill_rule(session, rule, name=name, matchers=matchers, action=action, severity=severity)
    if position is None:
        position = session.scalar(
            select(func.count()).where(SuppressionRule.service_id == service.id)
        )
    rule.position = int(position or 0)
    session.add(rule)
    session.flush()
    return rule


def _fill_rule(
    session: Session,
    rule: SuppressionRule,
    *,
    name: str,
    matchers: Any,
    action: str,
    severity: str | None,
) -> None:
    rule.name = v.text(name, "name", max_len=120, required=True)
    rule.matchers = check_matchers(matchers)
    if not rule.matchers:
        raise ValidationFailed("a suppression rule needs at least one matcher", field="matchers")
    rule.action = v.one_of(action, "action", ("drop", "downgrade"))
    if rule.action == "downgrade":
        rule.severity = v.one_of(severity, "severity", SEVERITIES)
    else:
        rule.severity = None


def update_suppression_rule(
    session: Session,
    rule: SuppressionRule,
    *,
    enabled: bool | None = None,
    by: User | None = None,
    **fields: Any,
) -> SuppressionRule:
    _may_change(session, by, _service(session, rule.service_id))
    if fields:
        merged = {
            "name": rule.name,
            "matchers": rule.matchers,
            "action": rule.action,
            "severity": rule.severity,
            **fields,
        }
        _fill_rule(session, rule, **merged)
    if enabled is not None:
        rule.enabled = bool(enabled)
    session.flush()
    return rule


def get_suppression_rule(session: Session, rule_id: int) -> SuppressionRule:
    found = session.get(SuppressionRule, rule_id)
    if found is None:
        raise NotFound(f"no suppression rule with id {rule_id}")
    return found


def list_suppression_rules(session: Session, service_id: int) -> list[SuppressionRule]:
    return list(
        session.scalars(
            select(SuppressionRule)
            .where(SuppressionRule.service_id == service_id)
            .order_by(SuppressionRule.position, SuppressionRule.id)
        )
    )


def delete_suppression_rule(
    session: Session, rule: SuppressionRule, *, by: User | None = None
) -> None:
    _may_change(session, by, _service(session, rule.service_id))
    session.delete(rule)
    session.flush()


def start_maintenance(
    session: Session,
    *,
    service_id: int,
    by: User | None,
    ends_at: datetime | None = None,
    minutes: int | None = None,
    starts_at: datetime | None = None,
    reason: str = "",
) -> MaintenanceWindow:
    """A maintenance window: scheduled (starts_at in the future) or ad hoc (from now), ending
    at `ends_at` or after `minutes`. Its service's trigger events page no one meanwhile."""
    service = _service(session, service_id)
    now = utcnow()
    start = v.aware(starts_at, "starts_at") or now
    if minutes is not None:
        minutes = v.integer(minutes, "minutes", minimum=1, maximum=60 * 24 * 31)
        end = start + timedelta(minutes=minutes)
    else:
        given = v.aware(ends_at, "ends_at")
        if given is None:
            raise ValidationFailed("give ends_at or minutes", field="ends_at")
        end = given
    if end <= start:
        raise ValidationFailed("a maintenance window must end after it starts", field="ends_at")
    if end - start > timedelta(days=31):
        raise ValidationFailed("a maintenance window lasts at most 31 days", field="ends_at")
    window = MaintenanceWindow(
        service=service,
        starts_at=start,
        ends_at=end,
        reason=v.text(reason, "reason", max_len=255),
        created_by_id=by.id if by else None,
    )
    session.add(window)
    session.flush()
    return window


def end_maintenance(session: Session, window: MaintenanceWindow) -> MaintenanceWindow:
    """End a window now (or cancel one that has not started)."""
    now = utcnow()
    if window.starts_at > now:
        window.starts_at = now
    if window.ends_at > now:
        window.ends_at = now
    session.flush()
    return window


def get_maintenance_window(session: Session, window_id: int) -> MaintenanceWindow:
    found = session.get(MaintenanceWindow, window_id)
    if found is None:
        raise NotFound(f"no maintenance window with id {window_id}")
    return found


def maintenance_windows(
    session: Session, service_id: int | None = None, *, current_only: bool = False
) -> list[MaintenanceWindow]:
    """Windows now on or still to come (and, unless current_only, the last week's)."""
    now = utcnow()
    query = select(MaintenanceWindow).order_by(MaintenanceWindow.starts_at)
    if service_id is not None:
        query = query.where(MaintenanceWindow.service_id == service_id)
    if current_only:
        query = query.where(MaintenanceWindow.starts_at <= now, MaintenanceWindow.ends_at > now)
    else:
        query = query.where(MaintenanceWindow.ends_at > now - timedelta(days=7))
    return list(session.scalars(query))


def alert_settings(session: Session, service_id: int) -> AlertSettings:
    """The service's settings (defaults if it has never changed them)."""
    _service(session, service_id)
    found = session.get(AlertSettings, service_id)
    if found is None:
        found = AlertSettings(
            service_id=service_id,
            grouping=Grouping.auto.value,
            group_fields=[],
            group_window_minutes=60,
            auto_resolve=True,
            severity_map={},
            urgency_map={},
        )
    return found


def update_alert_settings(
    session: Session,
    service_id: int,
    *,
    grouping: str | None = None,
    group_fields: list[str] | None = None,
    group_window_minutes: int | None = None,
    auto_resolve: bool | None = None,
    severity_map: dict[str, str] | None = None,
    urgency_map: dict[str, str] | None = None,
    by: User | None = None,
) -> AlertSettings:
    """Change how the service groups alerts, maps severities and resolves incidents."""
    _may_change(session, by, _service(session, service_id))
    settings = alert_settings(session, service_id)
    if grouping is not None:
        settings.grouping = v.one_of(grouping, "grouping", [g.value for g in Grouping])
    if group_fields is not None:
        if not isinstance(group_fields, list) or len(group_fields) > 10:
            raise ValidationFailed("group_fields must be a list of up to 10 fields")
        settings.group_fields = [
            check_field(f, f"group_fields[{i}]") for i, f in enumerate(group_fields)
        ]
    if group_window_minutes is not None:
        settings.group_window_minutes = v.integer(
            group_window_minutes, "group_window_minutes", minimum=1, maximum=60 * 24 * 7
        )
    if settings.grouping == Grouping.fields.value and not settings.group_fields:
        raise ValidationFailed("grouping by fields needs group_fields", field="group_fields")
    if auto_resolve is not None:
        settings.auto_resolve = bool(auto_resolve)
    if severity_map is not None:
        names = list(session.scalars(select(Severity.name)))
        settings.severity_map = check_severity_map(severity_map, "severity_map", names)
    if urgency_map is not None:
        settings.urgency_map = check_severity_map(urgency_map, "urgency_map", ["high", "low"])
    session.add(settings)
    session.flush()
    return settings


def events(
    session: Session,
    *,
    integration_id: int | None = None,
    service_id: int | None = None,
    incident_id: int | None = None,
    alert_id: int | None = None,
    outcome: str | None = None,
    after_id: int | None = None,
    before_id: int | None = None,
    received_before: datetime | None = None,
    limit: int = 50,
) -> list[Event]:
    """Received events, newest first.

    With after_id (following): the ones after it, oldest first, up to the first event still
    waiting to be applied, whatever the filters. Events are applied in the order of their ids,
    but a waiting event's service, alert and outcome are not known yet; stopping there means a
    follower that passes the last id back never skips one. Asking for outcome "pending" lists
    those events instead."""
    query = select(Event)
    if integration_id is not None:
        query = query.where(Event.integration_id == integration_id)
    matching = []
    if service_id is not None:
        owned = select(Integration.id).where(Integration.service_id == service_id)
        matching.append(or_(Event.service_id == service_id, Event.integration_id.in_(owned)))
    if incident_id is not None:
        matching.append(
            Event.alert_id.in_(select(Alert.id).where(Alert.incident_id == incident_id))
        )
    if alert_id is not None:
        matching.append(Event.alert_id == alert_id)
    if outcome is not None:
        matching.append(Event.outcome == outcome)
    if before_id is not None:
        query = query.where(Event.id < before_id)
    if received_before is not None:
        received_before = v.aware(received_before, "received_before")
        query = query.where(Event.received_at < received_before)
    limit = max(1, min(int(limit), 500))
    if after_id is None:
        return list(session.scalars(query.where(*matching).order_by(Event.id.desc()).limit(limit)))
    query = query.where(Event.id > after_id).order_by(Event.id).limit(limit)
    if outcome == Outcome.pending.value:
        return list(session.scalars(query.where(*matching)))
    if matching:
        query = query.where(or_(and_(*matching), PENDING))
    found = []
    for event in session.scalars(query):
        if event.outcome == Outcome.pending.value:
            break
        found.append(event)
    return found


def get_event(session: Session, event_id: int) -> Event:
    found = session.get(Event, event_id)
    if found is None:
        raise NotFound(f"no event with id {event_id}")
    return found


def alerts_of_incident(session: Session, incident_id: int) -> list[Alert]:
    return list(
        session.scalars(select(Alert).where(Alert.incident_id == incident_id).order_by(Alert.id))
    )


# --- alerts: triage ------------------------------------------------------------------------

STATUSES = [s.value for s in AlertStatus]
OPEN_ALERT_STATUSES = (AlertStatus.triggered.value, AlertStatus.acknowledged.value)
SEARCH_MAX = 200


@dataclass(frozen=True)
class AlertFilter:
    """Which alerts to list; empty sequences mean any."""

    statuses: Sequence[str] = OPEN_ALERT_STATUSES
    service_ids: Sequence[int] = ()
    integration_ids: Sequence[int] = ()
    severities: Sequence[str] = ()
    text: str = ""  # in the summary or the dedup key, any case


def search_alerts(
    session: Session, flt: AlertFilter, *, limit: int = 50, offset: int = 0
) -> tuple[list[Alert], int]:
    """Alerts matching the filter and how many there are: triggered first, then acknowledged,
    then resolved; within each, the latest activity first."""
    conditions: list[ColumnElement[bool]] = []
    statuses = [v.one_of(s, "status", STATUSES) for s in flt.statuses]
    if statuses:
        conditions.append(Alert.status.in_(statuses))
    if flt.service_ids:
        conditions.append(Alert.service_id.in_(list(flt.service_ids)))
    if flt.integration_ids:
        conditions.append(Alert.integration_id.in_(list(flt.integration_ids)))
    if flt.severities:
        conditions.append(
            Alert.severity.in_([v.one_of(s, "severity", SEVERITIES) for s in flt.severities])
        )
    text = v.text(flt.text, "q", max_len=SEARCH_MAX).lower()
    if text:
        conditions.append(
            or_(
                func.lower(Alert.summary).contains(text, autoescape=True),
                func.lower(Alert.dedup_key).contains(text, autoescape=True),
            )
        )
    total = session.scalar(select(func.count()).select_from(Alert).where(*conditions)) or 0
    rank = case(
        (Alert.status == AlertStatus.triggered.value, 0),
        (Alert.status == AlertStatus.acknowledged.value, 1),
        else_=2,
    )
    rows = session.scalars(
        select(Alert)
        .options(selectinload(Alert.incident))
        .where(*conditions)
        .order_by(rank, Alert.last_event_at.desc(), Alert.id.desc())
        .limit(max(1, min(int(limit), 500)))
        .offset(max(0, int(offset)))
    )
    return list(rows), int(total)


def get_alert(session: Session, alert_id: int, *, for_update: bool = False) -> Alert:
    """The alert; for_update also takes its row lock (the event processor takes it too) and
    reads it afresh, for a person's acknowledge or resolve."""
    if not 0 < alert_id < 2**63:  # not an id the database could hold
        raise NotFound(f"no alert with id {alert_id}")
    query = select(Alert).where(Alert.id == alert_id)
    if for_update:
        query = query.with_for_update(of=Alert).execution_options(populate_existing=True)
    found = session.scalar(query)
    if found is None:
        raise NotFound(f"no alert with id {alert_id}")
    return found


def _alert_incident(session: Session, alert: Alert) -> Incident | None:
    return session.get(Incident, alert.incident_id) if alert.incident_id else None


def acknowledge_alert(
    session: Session,
    alert: Alert,
    *,
    by: User | None,
    at: datetime | None = None,
    note: str = "",
) -> Incident | None:
    """Acknowledge a triggered alert (by None: its sender); its incident is acknowledged
    too if it is still triggered. The caller holds the alert's row. Returns the incident."""
    if alert.status != AlertStatus.triggered.value:
        raise InvalidTransition(f"alert {alert.id} is {alert.status}; only a triggered one")
    alert.status = AlertStatus.acknowledged.value
    alert.acknowledged_at = at or utcnow()
    incident = _alert_incident(session, alert)
    if incident is not None:
        who = "by the sender" if by is None else f"by {by.name}"
        record(
            session,
            incident,
            "alert",
            f"Alert acknowledged {who}{note}: {alert.summary}",
            by=by,
            new={"alert_id": alert.id},
        )
        if incident.status == Status.triggered.value:
            incidents.acknowledge(session, incident, by=by)
    session.flush()
    return incident


@dataclass(frozen=True)
class AlertResolution:
    """What resolving an alert did to its incident."""

    incident: Incident | None
    last_open: bool  # it was the last open alert of an incident still open
    incident_resolved: bool  # so the incident was resolved too (auto-resolve is on)


def resolve_alert(
    session: Session,
    alert: Alert,
    *,
    by: User | None,
    at: datetime | None = None,
    note: str = "",
    auto_resolve: bool | None = None,
) -> AlertResolution:
    """Resolve an open alert (by None: its sender, or a heartbeat received again). When it
    was the last open alert of an open incident, the incident is resolved too, unless the
    service's auto-resolve setting (or `auto_resolve`, the caller's copy of it) is off; an
    alert never touches an incident already resolved or closed. The caller holds the
    alert's row."""
    if alert.status == AlertStatus.resolved.value:
        raise InvalidTransition(f"alert {alert.id} is already resolved")
    alert.status = AlertStatus.resolved.value
    alert.resolved_at = at or utcnow()
    session.flush()
    emit(session, AlertResolved(alert.id, alert.service_id, alert.incident_id))
    incident = _alert_incident(session, alert)
    if incident is None:
        return AlertResolution(incident=None, last_open=False, incident_resolved=False)
    who = "" if by is None else f" by {by.name}"
    record(
        session,
        incident,
        "alert",
        f"Alert resolved{who}{note}: {alert.summary}",
        by=by,
        new={"alert_id": alert.id},
    )
    still_open = session.scalar(
        select(Alert.id)
        .where(Alert.incident_id == incident.id, Alert.status != AlertStatus.resolved.value)
        .limit(1)
    )
    if still_open is not None or not incident.is_open:
        return AlertResolution(incident, last_open=False, incident_resolved=False)
    if auto_resolve is None:
        auto_resolve = alert_settings(session, alert.service_id).auto_resolve
    if auto_resolve:
        incidents.resolve(session, incident, by=by)
    return AlertResolution(incident, last_open=True, incident_resolved=auto_resolve)


def sender_url(type: str, base_url: str, key: str | None = None) -> str:
    """Where a sender of this integration type posts. Without the key (it is only known when
    created or rotated), a URL that contains it shows the placeholder `{key}`."""
    base = base_url.rstrip("/")
    if type == IntegrationType.pagerduty.value:
        return f"{base}/v2/enqueue"
    if type == IntegrationType.opsgenie.value:
        return f"{base}/opsgenie"
    path = "/heartbeat/" if type == IntegrationType.heartbeat.value else "/hooks/"
    return base + path + (key or "{key}")
