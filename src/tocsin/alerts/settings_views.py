"""A service's alert settings page: grouping, severity maps, suppression rules and
maintenance windows. Included in alerts/views.py's router."""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from tocsin.alerts import service as alerts
from tocsin.alerts.models import Grouping
from tocsin.alerts.pagerduty import SEVERITIES
from tocsin.alerts.rules import DEFAULT_SEVERITY_MAP, DEFAULT_URGENCY_MAP, OPS
from tocsin.catalog import permissions
from tocsin.catalog import service as catalog
from tocsin.catalog.models import Service
from tocsin.db import utcnow
from tocsin.definitions import service as defs
from tocsin.deps import CurrentUser, DbSession, Responder
from tocsin.errors import DomainError, Forbidden, ValidationFailed
from tocsin.web.actions import perform
from tocsin.web.forms import (
    Form,
    checkbox,
    local_datetime,
    optional_int,
    redirect,
    text,
    values,
)
from tocsin.web.templating import render

router = APIRouter(include_in_schema=False)
MATCHER_ROWS = 3


def json_field(form: FormData, name: str, label: str) -> Any:
    """A textarea holding JSON; None when blank. Bad JSON is the user's error, not a 500."""
    raw = text(form, name).strip()
    if not raw:
        return None
    try:
        return json.loads(raw)
    except ValueError as exc:
        raise ValidationFailed(f"{label} is not valid JSON: {exc}", field=name) from exc


def _alerting_page(
    request: Request,
    db: Session,
    service: Service,
    *,
    error: str | None = None,
    form: dict[str, Any] | None = None,
    status: int = 200,
) -> Response:
    now = utcnow()
    windows = alerts.maintenance_windows(db, service.id)
    context = {
        "section": "alerts",
        "service": service,
        "settings": alerts.alert_settings(db, service.id),
        "groupings": [g.value for g in Grouping],
        "event_severities": SEVERITIES,
        "severity_names": [s.name for s in defs.severities(db)],
        "default_severity": DEFAULT_SEVERITY_MAP,
        "default_urgency": DEFAULT_URGENCY_MAP,
        "rules": alerts.list_suppression_rules(db, service.id),
        "ops": OPS,
        "matcher_rows": range(MATCHER_ROWS),
        "current": [w for w in windows if w.starts_at <= now < w.ends_at],
        "upcoming": [w for w in windows if w.starts_at > now],
        "recent": [w for w in windows if w.ends_at <= now][::-1],
        "form": form or {},
        "error": error,
        "can_change": permissions.scope(db, request.state.user).may_change(service.team_id),
    }
    return render(request, "alerts/alerting.html", context, status)


@router.get("/services/{service_id}/alerting")
def alerting_page(service_id: int, request: Request, db: DbSession, user: CurrentUser) -> Response:
    return _alerting_page(request, db, catalog.get_service(db, service_id))


def _on_service(
    request: Request, db: Session, service: Service, form: FormData, action: Any, notice: str
) -> Response:
    """Run one change from the alerting page; on bad input show the page again, with why."""
    try:
        action()
    except Forbidden:
        raise  # the 403 page; the request's unit of work rolls back (web.actions.perform)
    except DomainError as exc:
        db.rollback()
        return _alerting_page(
            request, db, service, error=exc.message, form=values(form), status=422
        )
    return redirect(f"/services/{service.id}/alerting", notice=notice)


def _maps(form: FormData) -> tuple[dict[str, str], dict[str, str]]:
    severity = {s: text(form, f"severity_{s}") for s in SEVERITIES if text(form, f"severity_{s}")}
    urgency = {s: text(form, f"urgency_{s}") for s in SEVERITIES if text(form, f"urgency_{s}")}
    return severity, urgency


@router.post("/services/{service_id}/alerting")
def update_alerting(
    service_id: int, request: Request, db: DbSession, user: Responder, form: Form
) -> Response:
    service = catalog.get_service(db, service_id)

    def action() -> None:
        severity_map, urgency_map = _maps(form)
        fields = [f.strip() for f in text(form, "group_fields").split(",") if f.strip()]
        alerts.update_alert_settings(
            db,
            service.id,
            grouping=text(form, "grouping"),
            group_fields=fields,
            group_window_minutes=optional_int(form, "group_window_minutes") or 60,
            auto_resolve=checkbox(form, "auto_resolve"),
            severity_map=severity_map,
            urgency_map=urgency_map,
            by=user,
        )

    return _on_service(request, db, service, form, action, "Alert settings saved.")


def _matchers(form: FormData) -> Any:
    """Matchers from the JSON textarea when filled in, otherwise from the field/op/value rows."""
    posted = json_field(form, "matchers_json", "The matchers")
    if posted is not None:
        return posted
    rows = []
    for index in range(MATCHER_ROWS):
        field = text(form, f"field_{index}").strip()
        if field:
            op = text(form, f"op_{index}") or "equals"
            rows.append({"field": field, "op": op, "value": text(form, f"value_{index}")})
    return rows


@router.post("/services/{service_id}/suppression-rules")
def create_rule(
    service_id: int, request: Request, db: DbSession, user: Responder, form: Form
) -> Response:
    service = catalog.get_service(db, service_id)

    def action() -> None:
        alerts.create_suppression_rule(
            db,
            service_id=service.id,
            name=text(form, "name"),
            matchers=_matchers(form),
            action=text(form, "action") or "drop",
            severity=text(form, "severity") or None,
            by=user,
        )

    return _on_service(request, db, service, form, action, "Suppression rule created.")


@router.post("/suppression-rules/{rule_id}")
def edit_rule(
    rule_id: int, request: Request, db: DbSession, user: Responder, form: Form
) -> Response:
    rule = alerts.get_suppression_rule(db, rule_id)
    service = catalog.get_service(db, rule.service_id)

    def action() -> None:
        alerts.update_suppression_rule(
            db,
            rule,
            name=text(form, "name"),
            matchers=_matchers(form),
            action=text(form, "action") or "drop",
            severity=text(form, "severity") or None,
            by=user,
        )

    return _on_service(request, db, service, form, action, f"Rule {text(form, 'name')} saved.")


@router.post("/suppression-rules/{rule_id}/enabled")
def set_rule_enabled(rule_id: int, db: DbSession, user: Responder, form: Form) -> Response:
    rule = alerts.get_suppression_rule(db, rule_id)
    enabled = checkbox(form, "enabled")
    return perform(
        db,
        f"/services/{rule.service_id}/alerting",
        lambda: alerts.update_suppression_rule(db, rule, enabled=enabled, by=user),
        notice=f"Rule {rule.name} {'enabled' if enabled else 'disabled'}.",
    )


@router.post("/suppression-rules/{rule_id}/delete")
def delete_rule(rule_id: int, db: DbSession, user: Responder) -> Response:
    rule = alerts.get_suppression_rule(db, rule_id)
    return perform(
        db,
        f"/services/{rule.service_id}/alerting",
        lambda: alerts.delete_suppression_rule(db, rule, by=user),
        notice=f"Rule {rule.name} deleted.",
    )


@router.post("/services/{service_id}/maintenance")
def start_maintenance(
    service_id: int, request: Request, db: DbSession, user: Responder, form: Form
) -> Response:
    # Responders run maintenance (they are the ones deploying); settings stay with admins.
    service = catalog.get_service(db, service_id)

    def action() -> None:
        minutes = optional_int(form, "minutes")
        alerts.start_maintenance(
            db,
            service_id=service.id,
            by=user,
            minutes=minutes,
            starts_at=None if minutes else local_datetime(form, "starts_at", user.timezone),
            ends_at=None if minutes else local_datetime(form, "ends_at", user.timezone),
            reason=text(form, "reason"),
        )

    return _on_service(request, db, service, form, action, "Maintenance window set.")


@router.post("/maintenance-windows/{window_id}/end")
def end_maintenance(window_id: int, db: DbSession, user: Responder) -> Response:
    window = alerts.get_maintenance_window(db, window_id)
    return perform(
        db,
        f"/services/{window.service_id}/alerting",
        lambda: alerts.end_maintenance(db, window),
        notice="Maintenance window ended.",
    )
