"""Alert pages: the alerts to triage, integrations and their keys, received events ("why did
or didn't this page?").
A service's alert settings, suppression rules and maintenance windows are in settings_views.py,
whose routes this router includes.

Every change goes through a service function in alerts/service.py; the request commits.
"""

from __future__ import annotations

import json
from collections import Counter
from datetime import datetime
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload
from starlette.datastructures import FormData

from tocsin.alerts import service as alerts
from tocsin.alerts.models import (
    Alert,
    Event,
    Integration,
    IntegrationType,
    MaintenanceWindow,
    Outcome,
    SuppressionRule,
)
from tocsin.alerts.pagerduty import SEVERITIES
from tocsin.alerts.present import alert_shown, event_shown
from tocsin.alerts.settings_views import json_field
from tocsin.alerts.settings_views import router as settings_router
from tocsin.catalog import permissions
from tocsin.catalog import service as catalog
from tocsin.catalog.models import Service, User
from tocsin.config import Settings
from tocsin.deps import AppSettings, CurrentUser, DbSession, Responder
from tocsin.errors import DomainError, Forbidden
from tocsin.incidents import queries
from tocsin.incidents.access import hidden_ids, redactor
from tocsin.validation import digits
from tocsin.web.actions import perform
from tocsin.web.forms import (
    Form,
    checkbox,
    optional_int,
    redirect,
    safe_back,
    text,
    values,
)
from tocsin.web.templating import render

router = APIRouter(include_in_schema=False)
router.include_router(settings_router)
PAGE_SIZE = 50
RECENT = 20  # events counted per integration on the integrations page


# Where each type of sender sends, and where its key goes.
def endpoint(type: str, base_url: str, key: str) -> dict[str, str]:
    """The URL (and header) to give a sender of this type, with `key` filled in."""
    base = base_url.rstrip("/")
    if type == IntegrationType.pagerduty.value:
        return {"url": f"{base}/v2/enqueue", "key_in": "routing_key"}
    if type == IntegrationType.opsgenie.value:
        return {
            "url": f"{base}/opsgenie",
            "header": f"Authorization: GenieKey {key}",
            "key_in": "api_key",
        }
    if type == IntegrationType.heartbeat.value:
        return {"url": f"{base}/heartbeat/{key}", "key_in": "url"}
    return {"url": f"{base}/hooks/{key}", "key_in": "url"}


def _config(form: FormData, type: str) -> dict[str, Any] | None:
    """The per-type settings posted with an integration form."""
    if type == IntegrationType.webhook.value:
        mapping = json_field(form, "mapping", "The mapping")
        return {} if mapping is None else {"mapping": mapping}
    if type == IntegrationType.heartbeat.value:
        config: dict[str, Any] = {}
        for name in ("interval_seconds", "grace_seconds"):
            number = optional_int(form, name)
            if number is not None:
                config[name] = number
        if text(form, "heartbeat_severity"):
            config["severity"] = text(form, "heartbeat_severity")
        return config
    return None


def _pretty(raw: str | None) -> str | None:
    if raw is None:
        return None
    try:
        return json.dumps(json.loads(raw), indent=2, ensure_ascii=False)
    except (ValueError, RecursionError):  # not JSON, or a refused body nested too deeply
        return raw


def _services(db: Session) -> list[Service]:
    return list(db.scalars(select(Service).order_by(Service.name)))


def _no_store(response: Response) -> Response:
    # The page shows a key that is not stored anywhere readable: keep it out of caches.
    response.headers["Cache-Control"] = "no-store"
    return response


# Alerts: what is firing, to triage

ALERT_VIEWS = {
    "open": alerts.OPEN_ALERT_STATUSES,
    "triggered": ("triggered",),
    "acknowledged": ("acknowledged",),
    "resolved": ("resolved",),
    "all": (),
}


def alert_filter(request: Request) -> tuple[alerts.AlertFilter, dict[str, Any]]:
    """The alert list's filters from the query string (unknown values are ignored), and
    what the filter form shows."""
    params = request.query_params
    show = params.get("status", "open")
    if show not in ALERT_VIEWS:
        show = "open"
    severity = params.get("severity", "")
    if severity not in SEVERITIES:
        severity = ""
    service_id = _int_param(request, "service_id")
    integration_id = _int_param(request, "integration_id")
    q = params.get("q", "").strip()[: alerts.SEARCH_MAX]
    flt = alerts.AlertFilter(
        statuses=ALERT_VIEWS[show],
        service_ids=[service_id] if service_id else [],
        integration_ids=[integration_id] if integration_id else [],
        severities=[severity] if severity else [],
        text=q,
    )
    shown = {
        "status": show,
        "service_id": service_id,
        "integration_id": integration_id,
        "severity": severity,
        "q": q,
    }
    return flt, shown


@router.get("/alerts")
def alerts_page(request: Request, db: DbSession, user: CurrentUser) -> Response:
    flt, shown = alert_filter(request)
    page = max(digits(request.query_params.get("page", "1"), max_digits=6) or 1, 1)
    rows, total = alerts.search_alerts(db, flt, limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE)
    kept = {k: v for k, v in shown.items() if v and not (k == "status" and v == "open")}
    query = urlencode(kept)
    pages = max(1, -(-total // PAGE_SIZE))

    def page_url(number: int) -> str:
        return "/alerts?" + urlencode({**kept, "page": number})

    context = {
        "section": "alerts",
        "tab": "alerts",
        "alerts": rows,
        "hidden_incidents": hidden_ids(db, user, [a.incident_id for a in rows]),
        "total": total,
        "page": page,
        "pages": pages,
        "newer": page_url(page - 1) if page > 1 else None,
        "older": page_url(page + 1) if page < pages else None,
        "here": "/alerts" + (f"?{urlencode({**kept, 'page': page})}" if kept or page > 1 else ""),
        "filters": shown,
        "filtered": bool(query),
        "views": list(ALERT_VIEWS),
        "services": _services(db),
        "integrations": alerts.list_integrations(db),
        "severities": SEVERITIES,
    }
    return render(request, "alerts/alerts.html", context)


@router.post("/alerts/{alert_id}/acknowledge")
def acknowledge_alert(alert_id: int, db: DbSession, user: Responder, form: Form) -> Response:
    return perform(
        db,
        safe_back(text(form, "back"), "/alerts"),
        lambda: alerts.acknowledge_alert(
            db, alerts.get_alert(db, alert_id, for_update=True), by=user
        ),
        notice=f"Alert {alert_id} acknowledged.",
    )


def resolved_notice(alert_id: int, done: alerts.AlertResolution) -> str:
    """What resolving an alert by hand did, in words."""
    notice = f"Alert {alert_id} resolved."
    if done.incident is not None and done.incident_resolved:
        notice += f" It was the last open alert of {done.incident.reference}, which is resolved."
    elif done.incident is not None and done.last_open:
        notice += (
            f" All alerts of {done.incident.reference} are resolved; the incident stays open "
            "(its service's auto-resolve is off)."
        )
    return notice


@router.post("/alerts/{alert_id}/resolve")
def resolve_alert(alert_id: int, db: DbSession, user: Responder, form: Form) -> Response:
    back = safe_back(text(form, "back"), "/alerts")
    try:
        done = alerts.resolve_alert(db, alerts.get_alert(db, alert_id, for_update=True), by=user)
    except DomainError as exc:
        db.rollback()
        return redirect(back, error=exc.message)
    return redirect(back, notice=resolved_notice(alert_id, done))


# Integrations


def _integrations_page(
    request: Request,
    db: Session,
    base_url: str,
    *,
    form: dict[str, Any] | None = None,
    error: str | None = None,
    status: int = 200,
) -> Response:
    raw_service = request.query_params.get("service_id", "")
    service_id = digits(raw_service)
    integrations = alerts.list_integrations(db, service_id)
    # One indexed query per integration (latest events by (integration_id, id)); there are
    # tens of integrations, and a grouped count over all events would scan the table.
    recent = {i.id: alerts.events(db, integration_id=i.id, limit=RECENT) for i in integrations}
    groups: dict[str, list[Integration]] = {}
    for integration in integrations:
        groups.setdefault(integration.service.name, []).append(integration)
    context = {
        "section": "alerts",
        "tab": "integrations",
        "services": _services(db),
        "service_id": service_id,
        "groups": sorted(groups.items()),
        "recent": {k: Counter(e.outcome for e in v) for k, v in recent.items()},
        "last": {k: v[0] if v else None for k, v in recent.items()},
        "endpoints": {i.id: endpoint(i.type, base_url, f"{i.key_prefix}…") for i in integrations},
        "types": alerts.TYPES,
        "severities": SEVERITIES,
        "form": form or {},
        "error": error,
        "scope": permissions.scope(db, request.state.user),
    }
    return render(request, "alerts/integrations.html", context, status)


@router.get("/integrations")
def integrations_page(
    request: Request, db: DbSession, user: CurrentUser, settings: AppSettings
) -> Response:
    return _integrations_page(request, db, settings.base_url)


def _key_page(
    request: Request, integration: Integration, key: str, base_url: str, *, rotated: bool
) -> Response:
    context = {
        "section": "alerts",
        "integration": integration,
        "key": key,
        "rotated": rotated,
        "endpoint": endpoint(integration.type, base_url, key),
        "base": base_url.rstrip("/"),
    }
    return _no_store(render(request, "alerts/key.html", context, 201 if not rotated else 200))


@router.post("/integrations")
def create_integration(
    request: Request, db: DbSession, user: Responder, settings: AppSettings, form: Form
) -> Response:
    try:
        type = text(form, "type")
        integration, key = alerts.create_integration(
            db,
            service_id=optional_int(form, "service_id") or 0,
            name=text(form, "name"),
            type=type,
            config=_config(form, type),
            by=user,
        )
    except Forbidden:
        raise  # the 403 page; the request's unit of work rolls back (web.actions.perform)
    except DomainError as exc:
        db.rollback()
        return _integrations_page(
            request, db, settings.base_url, form=values(form), error=exc.message, status=422
        )
    return _key_page(request, integration, key, settings.base_url, rotated=False)


def _integration_page(
    request: Request,
    db: Session,
    integration: Integration,
    base_url: str,
    *,
    error: str | None = None,
    form: dict[str, Any] | None = None,
    status: int = 200,
) -> Response:
    rules = [
        {"matchers": rule.matchers, "service_id": rule.service_id}
        for rule in integration.routing_rules
    ]
    events = alerts.events(db, integration_id=integration.id, limit=PAGE_SIZE)
    context = {
        "section": "alerts",
        "integration": integration,
        "endpoint": endpoint(integration.type, base_url, f"{integration.key_prefix}…"),
        "services": _services(db),
        "rules_json": json.dumps(rules, indent=2),
        "mapping_json": json.dumps(integration.config.get("mapping", {}), indent=2),
        "severities": SEVERITIES,
        "form": form or {},
        "error": error,
        "can_change": permissions.scope(db, request.state.user).may_change(
            integration.service.team_id
        ),
        **_event_rows(db, request.state.user, events),
    }
    return render(request, "alerts/integration.html", context, status)


@router.get("/integrations/{integration_id}")
def integration_page(
    integration_id: int, request: Request, db: DbSession, user: CurrentUser, settings: AppSettings
) -> Response:
    integration = alerts.get_integration(db, integration_id)
    return _integration_page(request, db, integration, settings.base_url)


@router.post("/integrations/{integration_id}")
def update_integration(
    integration_id: int,
    request: Request,
    db: DbSession,
    user: Responder,
    settings: AppSettings,
    form: Form,
) -> Response:
    integration = alerts.get_integration(db, integration_id)

    def action() -> None:
        alerts.update_integration(
            db,
            integration,
            name=text(form, "name"),
            service_id=optional_int(form, "service_id"),
            config=_config(form, integration.type),
            by=user,
        )

    return _on_integration(request, db, integration, settings, form, action, "Integration saved.")


@router.post("/integrations/{integration_id}/routing")
def set_routing(
    integration_id: int,
    request: Request,
    db: DbSession,
    user: Responder,
    settings: AppSettings,
    form: Form,
) -> Response:
    integration = alerts.get_integration(db, integration_id)

    def action() -> None:
        rules = json_field(form, "rules", "The routing rules")
        alerts.set_routing_rules(db, integration, [] if rules is None else rules, by=user)

    return _on_integration(request, db, integration, settings, form, action, "Routing rules saved.")


def _on_integration(
    request: Request,
    db: Session,
    integration: Integration,
    settings: Settings,
    form: FormData,
    action: Any,
    notice: str,
) -> Response:
    """Run one change from an integration's page; on bad input show the page again, with why."""
    try:
        action()
    except Forbidden:
        raise
    except DomainError as exc:
        db.rollback()
        return _integration_page(
            request, db, integration, settings.base_url, error=exc.message, form=values(form),
            status=422,
        )  # fmt: skip
    return redirect(f"/integrations/{integration.id}", notice=notice)


@router.post("/integrations/{integration_id}/rotate")
def rotate_key(
    integration_id: int, request: Request, db: DbSession, user: Responder, settings: AppSettings
) -> Response:
    integration = alerts.get_integration(db, integration_id)
    key = alerts.rotate_key(db, integration, by=user)
    return _key_page(request, integration, key, settings.base_url, rotated=True)


@router.post("/integrations/{integration_id}/enabled")
def set_enabled(integration_id: int, db: DbSession, user: Responder, form: Form) -> Response:
    integration = alerts.get_integration(db, integration_id)
    enabled = checkbox(form, "enabled")
    return perform(
        db,
        f"/integrations/{integration_id}",
        lambda: alerts.update_integration(db, integration, enabled=enabled, by=user),
        notice="Integration enabled." if enabled else "Integration disabled: its key is refused.",
    )


@router.post("/integrations/{integration_id}/delete")
def delete_integration(integration_id: int, db: DbSession, user: Responder, form: Form) -> Response:
    integration = alerts.get_integration(db, integration_id)
    if not checkbox(form, "confirm"):
        return redirect(
            f"/integrations/{integration_id}", error="Tick the box to confirm the deletion."
        )
    return perform(
        db,
        f"/integrations?service_id={integration.service_id}",
        lambda: alerts.delete_integration(db, integration, by=user),
        notice=f"Integration {integration.name} deleted.",
    )


# Events


def _event_rows(db: Session, viewer: User, events: list[Event]) -> dict[str, Any]:
    """What the event rows link to, loaded in a few queries rather than one per row. An
    incident `viewer` may not see (restricted) is neither linked nor named."""
    alert_ids = {e.alert_id for e in events if e.alert_id}
    rule_ids = {e.rule_id for e in events if e.rule_id}
    integration_ids = {e.integration_id for e in events if e.integration_id}
    found = db.scalars(
        select(Alert).options(joinedload(Alert.incident)).where(Alert.id.in_(alert_ids))
    ).unique()
    alerts_by_id = {a.id: a for a in found}
    rules = db.scalars(select(SuppressionRule).where(SuppressionRule.id.in_(rule_ids)))
    integrations = db.scalars(select(Integration).where(Integration.id.in_(integration_ids)))
    hidden = hidden_ids(db, viewer, (a.incident_id for a in alerts_by_id.values()))
    redact = redactor(db, viewer, (e.outcome_detail for e in events))
    return {
        "events": events,
        "event_alerts": alerts_by_id,
        "event_incidents": {
            a.id: a.incident
            for a in alerts_by_id.values()
            if a.incident is not None and a.incident_id not in hidden
        },
        "event_details": {e.id: redact(e.outcome_detail) for e in events},
        "event_rules": {r.id: r for r in rules},
        "event_integrations": {i.id: i for i in integrations.unique()},
    }


def _int_param(request: Request, name: str) -> int | None:
    return digits(request.query_params.get(name, ""))


def _local_time(request: Request, name: str) -> tuple[datetime | None, str | None]:
    """A datetime-local query parameter in the viewer's time zone (or why it is unusable)."""
    raw = request.query_params.get(name, "").strip()
    if not raw:
        return None, None
    try:
        naive = datetime.fromisoformat(raw)
    except ValueError:
        return None, f"{raw!r} is not a date and time; showing the latest events."
    if naive.tzinfo is not None:
        return naive, None
    user = getattr(request.state, "user", None)
    try:
        zone = ZoneInfo(getattr(user, "timezone", None) or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        zone = ZoneInfo("UTC")
    return naive.replace(tzinfo=zone), None


def _events_page(request: Request, db: Session, *, service: Service | None = None) -> Response:
    service_id = service.id if service else _int_param(request, "service_id")
    integration_id = _int_param(request, "integration_id")
    alert_id = _int_param(request, "alert_id")
    outcome = request.query_params.get("outcome", "")
    if outcome not in [o.value for o in Outcome]:
        outcome = ""
    before_id = _int_param(request, "before_id")
    before, before_error = _local_time(request, "before")
    events = alerts.events(
        db,
        service_id=service_id,
        integration_id=integration_id,
        alert_id=alert_id,
        outcome=outcome or None,
        before_id=before_id,
        received_before=before,
        limit=PAGE_SIZE,
    )
    filters = {
        "service_id": service_id,
        "integration_id": integration_id,
        "alert_id": alert_id,
        "outcome": outcome,
        "before": request.query_params.get("before", "") if before else "",
    }
    query = urlencode({k: v for k, v in filters.items() if v})
    context = {
        "section": "alerts",
        "tab": "events",
        "service": service,
        "services": _services(db),
        "integrations": alerts.list_integrations(db),
        "outcomes": [o.value for o in Outcome],
        "filters": filters,
        "before_error": before_error,
        "older": f"?{query}&before_id={events[-1].id}" if len(events) == PAGE_SIZE else None,
        "newest": f"?{query}" if before_id else None,
        **_event_rows(db, request.state.user, events),
    }
    return render(request, "alerts/events.html", context)


@router.get("/events")
def events_page(request: Request, db: DbSession, user: CurrentUser) -> Response:
    return _events_page(request, db)


@router.get("/services/{service_id}/events")
def service_events_page(
    service_id: int, request: Request, db: DbSession, user: CurrentUser
) -> Response:
    return _events_page(request, db, service=catalog.get_service(db, service_id))


@router.get("/events/{event_id}")
def event_page(event_id: int, request: Request, db: DbSession, user: CurrentUser) -> Response:
    event = alerts.get_event(db, event_id)
    rows = _event_rows(db, user, [event])
    window = db.get(MaintenanceWindow, event.maintenance_window_id or 0)
    context = {
        "section": "alerts",
        "event": event,
        "service": db.get(Service, event.service_id or 0),
        "window": window,
        "data": _pretty(event.data),
        "raw": _pretty(event.raw),
        "shown": event_shown(event),
        **rows,
    }
    return render(request, "alerts/event.html", context)


@router.get("/alerts/{alert_id}")
def alert_page(alert_id: int, request: Request, db: DbSession, user: CurrentUser) -> Response:
    """One alert: what its sender says (details, links, images) and its events."""
    alert = alerts.get_alert(db, alert_id)
    events = alerts.events(db, alert_id=alert.id, limit=PAGE_SIZE)
    context = {
        "section": "alerts",
        "alert": alert,
        "service": db.get(Service, alert.service_id),
        "shown": alert_shown(alert),
        "incident_hidden": bool(hidden_ids(db, user, [alert.incident_id])),
        **_event_rows(db, user, events),
    }
    return render(request, "alerts/alert.html", context)


@router.get("/incidents/{ref}/alerts")
def incident_alerts_page(ref: str, request: Request, db: DbSession, user: CurrentUser) -> Response:
    # /incidents/{ref}/events is the incident page's live stream, hence "alerts".
    incident = queries.get_incident(db, ref, viewer=user)
    events = alerts.events(db, incident_id=incident.id, limit=500)
    found = alerts.alerts_of_incident(db, incident.id)
    context = {
        "section": "incidents",
        "incident": incident,
        "alerts": found,
        "shown_alerts": [(a, alert_shown(a)) for a in found],
        **_event_rows(db, request.state.user, events),
    }
    return render(request, "alerts/incident.html", context)
