"""API shapes for integrations, routing and suppression rules, maintenance windows, alert
settings, received events and alerts."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field

from tocsin.alerts.models import (
    Alert,
    AlertSettings,
    Event,
    Integration,
    MaintenanceWindow,
    Outcome,
    RoutingRule,
    SuppressionRule,
)
from tocsin.alerts.rules import TOP_FIELDS
from tocsin.alerts.service import sender_url
from tocsin.catalog.schemas import Aware, Id, Name, Out, Ref, Strict, Timestamp, omittable
from tocsin.db import utcnow

IntegrationTypeName = Literal[
    "pagerduty", "alertmanager", "grafana", "opsgenie", "webhook", "heartbeat"
]
EventSeverity = Literal["critical", "error", "warning", "info"]
AlertStatusName = Literal["triggered", "acknowledged", "resolved", "open", "all"]
GroupingName = Literal["auto", "dedup_key", "alert_group", "fields"]
MatcherOp = Literal["equals", "not_equals", "contains", "matches", "exists", "absent"]
Config = Annotated[
    dict[str, Any],
    Field(description="Per-type settings: `mapping` for webhook, interval for heartbeat"),
]

# The key is part of the URL for these types; elsewhere it goes in the body or a header.


# --- requests ---------------------------------------------------------------------------
# PATCH models: a field left out is not changed; fields typed without None refuse null.


# The fields rules.check_field accepts.
MATCHER_FIELD = rf"^({'|'.join(TOP_FIELDS)}|(details|labels|annotations)(\.[^\x00]*)?)$"


class Matcher(Strict):
    field: str = Field(
        max_length=255,
        json_schema_extra={"pattern": MATCHER_FIELD},
        description="summary, severity, source, dedup_key, action, group_key, or details.…, "
        "labels.…, annotations.…",
    )
    op: MatcherOp = "equals"
    value: str | int | float | bool = Field(default="", description="Ignored by exists/absent")


Matchers = Annotated[list[Matcher], Field(max_length=20)]


class IntegrationIn(Strict):
    service_id: Id
    name: Name
    type: IntegrationTypeName = "pagerduty"
    config: Config = {}


class IntegrationPatch(Strict):
    name: Name = omittable()
    service_id: Id = omittable()
    config: Config = omittable()
    enabled: bool = omittable()


class RoutingRuleIn(Strict):
    matchers: Matchers = Field(min_length=1)
    service_id: Id = Field(description="Where matching events go")


class RoutingRulesIn(Strict):
    rules: list[RoutingRuleIn] = Field(max_length=50, description="First match wins")


class SuppressionRuleIn(Strict):
    name: Name
    matchers: Matchers = Field(min_length=1)
    action: Literal["drop", "downgrade"] = "drop"
    severity: EventSeverity | None = Field(default=None, description="For downgrade")
    position: int | None = Field(default=None, ge=0, le=10_000, description="Default: last")
    enabled: bool = True


class SuppressionRulePatch(Strict):
    name: Name = omittable()
    matchers: Matchers = omittable(min_length=1)
    action: Literal["drop", "downgrade"] = omittable()
    severity: EventSeverity | None = None
    enabled: bool = omittable()


class MaintenanceIn(Strict):
    ends_at: Aware | None = None
    minutes: int | None = Field(default=None, ge=1, le=60 * 24 * 31)
    starts_at: Aware | None = Field(default=None, description="Default: now")
    reason: str = Field(default="", max_length=255)


class AlertSettingsIn(Strict):
    """The whole of a service's settings (PUT replaces them; a field left out takes its
    default)."""

    grouping: GroupingName = "auto"
    group_fields: list[str] = Field(default=[], max_length=10)
    group_window_minutes: int = Field(default=60, ge=1, le=60 * 24 * 7)
    auto_resolve: bool = True
    severity_map: dict[EventSeverity, str] = Field(
        default={}, description="Event severity → incident severity name"
    )
    urgency_map: dict[EventSeverity, Literal["high", "low"]] = {}


# --- responses --------------------------------------------------------------------------


class IntegrationOut(Out):
    """An integration; never its key (only `key_prefix`, to recognise it)."""

    id: int
    name: str
    type: IntegrationTypeName
    service: Ref
    config: dict[str, Any]
    enabled: bool
    key_prefix: str
    url: str = Field(description="Where the sender posts; `{key}` stands for the key")
    created_at: Timestamp
    last_event_at: Timestamp | None


class IntegrationWithKey(IntegrationOut):
    """The answer to creating an integration or rotating its key: the only time the key is
    shown."""

    key: str
    url: str = Field(description="Where the sender posts, with the key where it belongs")


class MatcherOut(BaseModel):
    field: str
    op: str
    value: str


class RoutingRuleOut(Out):
    id: int
    position: int
    matchers: list[MatcherOut]
    service: Ref


class RoutingRuleList(BaseModel):
    items: list[RoutingRuleOut]
    total: int


class SuppressionRuleOut(Out):
    id: int
    service_id: int
    name: str
    position: int
    matchers: list[MatcherOut]
    action: str
    severity: str | None
    enabled: bool
    created_at: Timestamp


class MaintenanceOut(Out):
    id: int
    service: Ref
    starts_at: Timestamp
    ends_at: Timestamp
    reason: str
    created_by_id: int | None
    active: bool = Field(description="On now")


class AlertSettingsOut(Out):
    service_id: int
    grouping: GroupingName
    group_fields: list[str]
    group_window_minutes: int
    auto_resolve: bool
    severity_map: dict[str, str]
    urgency_map: dict[str, str]


class EventOut(Out):
    id: int
    integration: Ref | None
    service_id: int | None = Field(description="Where it was routed (once applied)")
    received_at: Timestamp
    action: str
    dedup_key: str | None
    summary: str
    # The enum itself, so that every outcome the pipeline can record is one the API can show.
    outcome: Outcome
    outcome_detail: str
    processed_at: Timestamp | None
    alert_id: int | None = Field(
        description="The alert it raised, acted on or was deduplicated into",
    )
    rule_id: int | None
    maintenance_window_id: int | None


class EventDetail(EventOut):
    data: dict[str, Any] = Field(description="The event as Tocsin read it")
    raw: str | None = Field(description="The body as received (cleared after the retention)")


class EventList(BaseModel):
    items: list[EventOut]
    before_id: int | None = Field(description="Pass as before_id for older events; null: none")
    after_id: int | None = Field(description="Pass as after_id to follow newer events")


class AlertOut(Out):
    id: int
    integration: Ref
    service_id: int
    incident_id: int | None
    dedup_key: str
    status: str
    summary: str
    severity: str
    source: str
    details: dict[str, Any]
    links: list[dict[str, str]]
    images: list[dict[str, str]] = Field(description="PagerDuty images: {src, href?, alt?}")
    event_count: int
    created_at: Timestamp
    last_event_at: Timestamp
    acknowledged_at: Timestamp | None
    resolved_at: Timestamp | None


class AlertList(BaseModel):
    items: list[AlertOut]
    total: int


def integration_out(integration: Integration, base_url: str) -> IntegrationOut:
    return IntegrationOut(
        id=integration.id,
        name=integration.name,
        type=integration.type,
        service=Ref.model_validate(integration.service),
        config=integration.config or {},
        enabled=integration.disabled_at is None,
        key_prefix=integration.key_prefix,
        url=sender_url(integration.type, base_url),
        created_at=integration.created_at,
        last_event_at=integration.last_event_at,
    )


def integration_with_key(integration: Integration, key: str, base_url: str) -> IntegrationWithKey:
    shown = dict(integration_out(integration, base_url))
    shown["url"] = sender_url(integration.type, base_url, key)
    return IntegrationWithKey(**shown, key=key)


def routing_rule_out(rule: RoutingRule) -> RoutingRuleOut:
    return RoutingRuleOut.model_validate(rule)


def suppression_rule_out(rule: SuppressionRule) -> SuppressionRuleOut:
    return SuppressionRuleOut.model_validate(rule)


def maintenance_out(window: MaintenanceWindow) -> MaintenanceOut:
    now = utcnow()
    return MaintenanceOut(
        id=window.id,
        service=Ref.model_validate(window.service),
        starts_at=window.starts_at,
        ends_at=window.ends_at,
        reason=window.reason,
        created_by_id=window.created_by_id,
        active=window.starts_at <= now < window.ends_at,
    )


def alert_settings_out(settings: AlertSettings) -> AlertSettingsOut:
    return AlertSettingsOut.model_validate(settings)


def event_out(event: Event, redact: Callable[[str], str] | None = None) -> EventOut:
    """The event; `redact` rewrites what became of it for the reader (the references to
    incidents they may not see, `incidents.access.redactor`)."""
    out = EventOut.model_validate(event)
    if redact is not None:
        out.outcome_detail = redact(out.outcome_detail)
    return out


def event_detail(event: Event, redact: Callable[[str], str] | None = None) -> EventDetail:
    try:
        data = json.loads(event.data or "{}")
    except ValueError:
        data = {}
    return EventDetail(
        **dict(event_out(event, redact)), data=data if isinstance(data, dict) else {}, raw=event.raw
    )


def alert_out(alert: Alert, *, incident_hidden: bool = False) -> AlertOut:
    """The alert as the API shows it; its incident left out for a caller who may not see it
    (restricted)."""
    out = AlertOut.model_validate(alert)
    return out.model_copy(update={"incident_id": None}) if incident_hidden else out
