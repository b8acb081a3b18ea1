"""JSON routes for integrations, their rules, maintenance windows, alert settings and the
events received: everyone reads; admins configure; responders also start and end maintenance
windows (an operational act, like running an incident)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request, Response
from pydantic import Field
from sqlalchemy.orm import Session

from tocsin.alerts import service as alerts
from tocsin.alerts.models import Alert, Outcome
from tocsin.alerts.schemas import (
    AlertList,
    AlertOut,
    AlertSettingsIn,
    AlertSettingsOut,
    AlertStatusName,
    EventDetail,
    EventList,
    EventSeverity,
    IntegrationIn,
    IntegrationOut,
    IntegrationPatch,
    IntegrationWithKey,
    MaintenanceIn,
    MaintenanceOut,
    RoutingRuleList,
    RoutingRulesIn,
    SuppressionRuleIn,
    SuppressionRuleOut,
    SuppressionRulePatch,
    alert_out,
    alert_settings_out,
    event_detail,
    event_out,
    integration_out,
    integration_with_key,
    maintenance_out,
    routing_rule_out,
    suppression_rule_out,
)
from tocsin.catalog import service as catalog
from tocsin.catalog.models import User
from tocsin.catalog.schemas import Aware, Page, page, window
from tocsin.deps import AppSettings, CurrentUser, DbSession, Responder
from tocsin.incidents import queries
from tocsin.incidents.access import hidden_ids, redactor
from tocsin.web.openapi import errors

router = APIRouter(prefix="/api/v1", tags=["alerts"])

PathId = Annotated[int, Path(ge=1, le=2**31 - 1)]
QueryId = Annotated[int | None, Query(ge=1, le=2**31 - 1)]
ItemId = Annotated[int, Field(ge=1, le=2**31 - 1)]
Limit = Annotated[int, Query(ge=1, le=500, description="Page size (1–500)")]
Offset = Annotated[int, Query(ge=0, le=2**62, description="Rows to skip")]


def _keys_changed(request: Request, db: Session) -> None:
    """Make a disabled, rotated or deleted key stop working in this process at once.

    Committed first: clearing the cache before the commit would let a concurrent event look
    the key up again in the old state and cache that for a few more seconds. Other processes
    notice when their cache entries expire (KEY_CACHE_SECONDS)."""
    db.commit()
    request.app.state.container.intake.forget_keys()


# --- integrations -----------------------------------------------------------------------


@router.get("/integrations", response_model=Page[IntegrationOut])
def list_integrations(
    db: DbSession,
    user: CurrentUser,
    settings: AppSettings,
    service_id: Annotated[QueryId, Query(description="Only this service's")] = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> dict[str, Any]:
    rows = alerts.list_integrations(db, service_id)
    return window([integration_out(i, settings.base_url) for i in rows], limit, offset)


@router.post(
    "/integrations", status_code=201, response_model=IntegrationWithKey, responses=errors(404)
)
def create_integration(
    body: IntegrationIn, db: DbSession, user: Responder, settings: AppSettings
) -> IntegrationWithKey:
    """Create an integration. The answer holds its key and full sender URL: the only time
    they are shown (the key is stored hashed)."""
    integration, key = alerts.create_integration(db, **body.model_dump(), by=user)
    return integration_with_key(integration, key, settings.base_url)


@router.get("/integrations/{integration_id}", response_model=IntegrationOut)
def get_integration(
    integration_id: PathId, db: DbSession, user: CurrentUser, settings: AppSettings
) -> IntegrationOut:
    return integration_out(alerts.get_integration(db, integration_id), settings.base_url)


@router.patch("/integrations/{integration_id}", response_model=IntegrationOut)
def update_integration(
    integration_id: PathId,
    body: IntegrationPatch,
    request: Request,
    db: DbSession,
    user: Responder,
    settings: AppSettings,
) -> IntegrationOut:
    """Change any of name, service_id, config, enabled. A disabled key is refused at once."""
    integration = alerts.get_integration(db, integration_id)
    alerts.update_integration(db, integration, **body.model_dump(exclude_unset=True), by=user)
    _keys_changed(request, db)
    return integration_out(integration, settings.base_url)


@router.post("/integrations/{integration_id}/rotate-key", response_model=IntegrationWithKey)
def rotate_key(
    integration_id: PathId,
    request: Request,
    db: DbSession,
    user: Responder,
    settings: AppSettings,
) -> IntegrationWithKey:
    """A new key (shown this once); the old one is refused from now on."""
    integration = alerts.get_integration(db, integration_id)
    key = alerts.rotate_key(db, integration, by=user)
    _keys_changed(request, db)
    return integration_with_key(integration, key, settings.base_url)


@router.delete("/integrations/{integration_id}", status_code=204, response_class=Response)
def delete_integration(
    integration_id: PathId, request: Request, db: DbSession, user: Responder
) -> Response:
    """Delete the integration with its alerts and events."""
    alerts.delete_integration(db, alerts.get_integration(db, integration_id), by=user)
    _keys_changed(request, db)
    return Response(status_code=204)


@router.get("/integrations/{integration_id}/routing-rules", response_model=RoutingRuleList)
def routing_rules(integration_id: PathId, db: DbSession, user: CurrentUser) -> RoutingRuleList:
    rules = alerts.get_integration(db, integration_id).routing_rules
    return RoutingRuleList(items=[routing_rule_out(r) for r in rules], total=len(rules))


@router.put("/integrations/{integration_id}/routing-rules", response_model=RoutingRuleList)
def set_routing_rules(
    integration_id: PathId, body: RoutingRulesIn, db: DbSession, user: Responder
) -> RoutingRuleList:
    """Replace the rules. The first whose matchers all match sends the event to its service;
    events matching none go to the integration's own service."""
    integration = alerts.get_integration(db, integration_id)
    rules = alerts.set_routing_rules(db, integration, body.model_dump()["rules"], by=user)
    return RoutingRuleList(items=[routing_rule_out(r) for r in rules], total=len(rules))


# --- suppression rules ------------------------------------------------------------------


@router.get("/services/{service_id}/suppression-rules", response_model=Page[SuppressionRuleOut])
def list_suppression_rules(
    service_id: PathId, db: DbSession, user: CurrentUser, limit: Limit = 50, offset: Offset = 0
) -> dict[str, Any]:
    """The service's suppression rules in the order they are tried."""
    catalog.get_service(db, service_id)
    rows = alerts.list_suppression_rules(db, service_id)
    return window([suppression_rule_out(r) for r in rows], limit, offset)


@router.post(
    "/services/{service_id}/suppression-rules", status_code=201, response_model=SuppressionRuleOut
)
def create_suppression_rule(
    service_id: PathId, body: SuppressionRuleIn, db: DbSession, user: Responder
) -> SuppressionRuleOut:
    """Drop the service's matching trigger events, or lower their severity (`downgrade`)."""
    fields = body.model_dump(exclude={"enabled"})
    rule = alerts.create_suppression_rule(db, service_id=service_id, **fields, by=user)
    if not body.enabled:
        alerts.update_suppression_rule(db, rule, enabled=False, by=user)
    return suppression_rule_out(rule)


@router.patch("/suppression-rules/{rule_id}", response_model=SuppressionRuleOut)
def update_suppression_rule(
    rule_id: PathId, body: SuppressionRulePatch, db: DbSession, user: Responder
) -> SuppressionRuleOut:
    """Change any of name, matchers, action, severity, enabled."""
    rule = alerts.get_suppression_rule(db, rule_id)
    return suppression_rule_out(
        alerts.update_suppression_rule(db, rule, **body.model_dump(exclude_unset=True), by=user)
    )


@router.delete("/suppression-rules/{rule_id}", status_code=204, response_class=Response)
def delete_suppression_rule(rule_id: PathId, db: DbSession, user: Responder) -> Response:
    alerts.delete_suppression_rule(db, alerts.get_suppression_rule(db, rule_id), by=user)
    return Response(status_code=204)


# --- maintenance windows ----------------------------------------------------------------


@router.get("/services/{service_id}/maintenance-windows", response_model=Page[MaintenanceOut])
def list_maintenance_windows(
    service_id: PathId,
    db: DbSession,
    user: CurrentUser,
    current: Annotated[bool, Query(description="Only windows on now")] = False,
    limit: Limit = 50,
    offset: Offset = 0,
) -> dict[str, Any]:
    """Windows on now or to come, and those that ended in the last week."""
    catalog.get_service(db, service_id)
    rows = alerts.maintenance_windows(db, service_id, current_only=current)
    return window([maintenance_out(w) for w in rows], limit, offset)


@router.post(
    "/services/{service_id}/maintenance-windows", status_code=201, response_model=MaintenanceOut
)
def start_maintenance(
    service_id: PathId, body: MaintenanceIn, db: DbSession, user: Responder
) -> MaintenanceOut:
    """Start a window now (or schedule one with starts_at), ending at ends_at or after
    minutes. Meanwhile the service's trigger events are recorded and page no one."""
    window_ = alerts.start_maintenance(db, service_id=service_id, by=user, **body.model_dump())
    return maintenance_out(window_)


@router.post("/maintenance-windows/{window_id}/end", response_model=MaintenanceOut)
def end_maintenance(window_id: PathId, db: DbSession, user: Responder) -> MaintenanceOut:
    """End a window now, or cancel one that has not started."""
    found = alerts.get_maintenance_window(db, window_id)
    return maintenance_out(alerts.end_maintenance(db, found))


# --- alert settings ---------------------------------------------------------------------


@router.get("/services/{service_id}/alert-settings", response_model=AlertSettingsOut)
def get_alert_settings(service_id: PathId, db: DbSession, user: CurrentUser) -> AlertSettingsOut:
    """How the service groups alerts into incidents, maps severities and auto-resolves."""
    return alert_settings_out(alerts.alert_settings(db, service_id))


@router.put("/services/{service_id}/alert-settings", response_model=AlertSettingsOut)
def put_alert_settings(
    service_id: PathId, body: AlertSettingsIn, db: DbSession, user: Responder
) -> AlertSettingsOut:
    """Replace the settings; fields left out take their defaults."""
    catalog.get_service(db, service_id)
    changed = alerts.update_alert_settings(db, service_id, **body.model_dump(), by=user)
    return alert_settings_out(changed)


# --- events and alerts ------------------------------------------------------------------


@router.get("/events", response_model=EventList, responses=errors(404))
def list_events(
    db: DbSession,
    user: CurrentUser,
    integration_id: QueryId = None,
    service_id: QueryId = None,
    incident: Annotated[str | None, Query(max_length=40, description="INC-42 or 42")] = None,
    alert_id: QueryId = None,
    outcome: Outcome | None = None,
    before_id: Annotated[QueryId, Query(description="Older than this id (paging)")] = None,
    after_id: Annotated[
        int | None, Query(ge=0, le=2**31 - 1, description="Newer than this id, oldest first")
    ] = None,
    received_before: Annotated[
        Aware | None, Query(description="Only events received before this time (ISO 8601)")
    ] = None,
    limit: Limit = 50,
) -> EventList:
    """Received events, newest first; with after_id, those after it, oldest first (to follow),
    up to the first one still waiting to be applied, whatever the filters (so passing the
    returned after_id back never skips an event).

    Each says what became of it (`outcome`) and why (`outcome_detail`); an incident the
    caller may not see (restricted) is named there only by its codename or "a private incident"."""
    incident_id = queries.get_incident(db, incident, viewer=user).id if incident else None
    rows = alerts.events(
        db,
        integration_id=integration_id,
        service_id=service_id,
        incident_id=incident_id,
        alert_id=alert_id,
        outcome=outcome,
        after_id=after_id,
        before_id=before_id,
        received_before=received_before,
        limit=limit,
    )
    ids = [e.id for e in rows]
    older: int | None
    newer: int | None
    if after_id is not None:
        older, newer = None, max(ids, default=after_id)
    else:
        older = ids[-1] if len(rows) == limit else None
        newer = max(ids, default=None)
    redact = redactor(db, user, (e.outcome_detail for e in rows))
    return EventList(items=[event_out(e, redact) for e in rows], before_id=older, after_id=newer)


@router.get("/events/{event_id}", response_model=EventDetail)
def get_event(event_id: PathId, db: DbSession, user: CurrentUser) -> EventDetail:
    """One event with the body as received and the event as Tocsin read it."""
    event = alerts.get_event(db, event_id)
    return event_detail(event, redactor(db, user, [event.outcome_detail]))


@router.get("/alerts", response_model=Page[AlertOut])
def list_alerts(
    db: DbSession,
    user: CurrentUser,
    status: Annotated[
        list[AlertStatusName],
        Query(
            description="triggered, acknowledged, resolved, open (both of the first two) or "
            "all (repeatable); open if none"
        ),
    ] = [],  # noqa: B006
    service_id: Annotated[list[ItemId], Query(description="Service id (repeatable)")] = [],  # noqa: B006
    integration_id: Annotated[list[ItemId], Query(description="Integration id (repeatable)")] = [],  # noqa: B006
    severity: Annotated[list[EventSeverity], Query(description="Severity (repeatable)")] = [],  # noqa: B006
    q: Annotated[str, Query(max_length=200, description="In the summary or dedup key")] = "",
    limit: Limit = 50,
    offset: Offset = 0,
) -> dict[str, Any]:
    """Alerts to triage: triggered first, then acknowledged, then resolved, the latest
    activity first within each."""
    statuses: set[str] = set()
    for name in status or ["open"]:
        if name == "all":
            statuses = set()
            break
        statuses.update(alerts.OPEN_ALERT_STATUSES if name == "open" else [name])
    flt = alerts.AlertFilter(
        statuses=sorted(statuses),
        service_ids=service_id,
        integration_ids=integration_id,
        severities=severity,
        text=q,
    )
    rows, total = alerts.search_alerts(db, flt, limit=limit, offset=offset)
    return page(_shown(db, user, rows), total, limit, offset)


def _shown(db: Session, user: User, rows: list[Alert]) -> list[AlertOut]:
    hidden = hidden_ids(db, user, [a.incident_id for a in rows])
    return [alert_out(a, incident_hidden=a.incident_id in hidden) for a in rows]


@router.get("/alerts/{alert_id}", response_model=AlertOut)
def get_alert(alert_id: PathId, db: DbSession, user: CurrentUser) -> AlertOut:
    return _shown(db, user, [alerts.get_alert(db, alert_id)])[0]


@router.post("/alerts/{alert_id}/acknowledge", response_model=AlertOut)
def acknowledge_alert(alert_id: PathId, db: DbSession, user: Responder) -> AlertOut:
    """Acknowledge a triggered alert (409 otherwise); its incident too while triggered."""
    alert = alerts.get_alert(db, alert_id, for_update=True)
    alerts.acknowledge_alert(db, alert, by=user)
    return _shown(db, user, [alert])[0]


@router.post("/alerts/{alert_id}/resolve", response_model=AlertOut)
def resolve_alert(alert_id: PathId, db: DbSession, user: Responder) -> AlertOut:
    """Resolve an open alert (409 if resolved already), as a resolve event from its sender
    would: the last open alert of an open incident resolves it, unless its service's
    auto-resolve is off."""
    alert = alerts.get_alert(db, alert_id, for_update=True)
    alerts.resolve_alert(db, alert, by=user)
    return _shown(db, user, [alert])[0]


@router.get("/incidents/{ref}/alerts", response_model=AlertList)
def incident_alerts(
    ref: Annotated[str, Path(max_length=40, description="INC-42 or 42")],
    db: DbSession,
    user: CurrentUser,
) -> AlertList:
    """The alerts grouped into the incident, oldest first."""
    rows = alerts.alerts_of_incident(db, queries.get_incident(db, ref, viewer=user).id)
    return AlertList(items=[alert_out(a) for a in rows], total=len(rows))
