"""The webhook body, in Atlassian Statuspage's shape, so receivers written for Statuspage work.

`{"meta": {"unsubscribe", "documentation", "generated_at"}, "page": {"id", "status_indicator",
"status_description"}}` followed by either `incident: {…, incident_updates: [...]}` (an
incident or a scheduled maintenance, newest update first) or `component_update: {created_at,
new_status, old_status, id, component_id}` with `component: {…}`. Ids are the public ids the
page's JSON API shows; timestamps are UTC with milliseconds, as Statuspage writes them.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy.orm import Session

from tocsin.statuspages.models import (
    Component,
    ComponentChange,
    PageIncident,
    PageIncidentUpdate,
    StatusPage,
)
from tocsin.statuspages.present import load_page_view


def ts(value: datetime | None) -> str | None:
    if value is None:
        return None
    utc = value.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def _date(value: date | None) -> str | None:
    return value.isoformat() if value else None


def page_status(session: Session, page: StatusPage) -> tuple[str, str]:
    """(indicator, description) of the page as it is now: the rule the page itself shows."""
    view = load_page_view(session, page, "")
    return view.indicator, view.description_text


def component_json(page: StatusPage, component: Component, status: str | None = None) -> dict:
    return {
        "id": component.public_id,
        "name": component.name,
        "status": status or component.status,
        "created_at": ts(component.created_at),
        "updated_at": ts(component.updated_at),
        "position": component.position,
        "description": component.description or None,
        "showcase": component.showcase,
        "start_date": _date(component.start_date),
        "group_id": component.group.public_id if component.group is not None else None,
        "page_id": page.public_id,
        "group": False,
        "only_show_if_degraded": component.only_show_if_degraded,
    }


def _affected(update: PageIncidentUpdate) -> list[dict[str, Any]]:
    return [
        {
            "code": item.get("code"),
            "name": item.get("name"),
            "old_status": item.get("old_status"),
            "new_status": item.get("new_status"),
        }
        for item in update.affected_components or []
    ]


def incident_json(
    page: StatusPage, incident: PageIncident, page_url: str, *, upto: PageIncidentUpdate | None
) -> dict[str, Any]:
    """The incident with its updates up to `upto` (the one this delivery is about), so that a
    late retry still describes the event it was sent for."""
    updates = [u for u in incident.updates if upto is None or u.id <= upto.id]
    out: dict[str, Any] = {
        "id": incident.public_id,
        "name": incident.name,
        "status": upto.status if upto is not None else incident.status,
        "created_at": ts(incident.created_at),
        "updated_at": ts(incident.updated_at),
        "monitoring_at": ts(incident.monitoring_at),
        "resolved_at": ts(incident.resolved_at),
        "impact": incident.impact,
        "shortlink": f"{page_url}/incidents/{incident.public_id}",
        "started_at": ts(incident.started_at),
        "page_id": page.public_id,
        "incident_updates": [
            {
                "id": u.public_id,
                "status": u.status,
                "body": u.body,
                "incident_id": incident.public_id,
                "created_at": ts(u.created_at),
                "updated_at": ts(u.updated_at),
                "display_at": ts(u.display_at),
                "affected_components": _affected(u),
                "deliver_notifications": u.deliver_notifications,
                "custom_tweet": None,
                "tweet_id": None,
            }
            for u in updates
        ],
        "components": [component_json(page, c) for c in incident.components],
    }
    if incident.is_maintenance:
        out["scheduled_for"] = ts(incident.scheduled_for)
        out["scheduled_until"] = ts(incident.scheduled_until)
        out["scheduled_remind_prior"] = incident.scheduled_remind_prior_minutes is not None
        out["scheduled_reminded_at"] = ts(incident.reminded_at)
        out["scheduled_auto_in_progress"] = incident.scheduled_auto_in_progress
        out["scheduled_auto_completed"] = incident.scheduled_auto_completed
    return out


def component_update_json(change: ComponentChange) -> dict[str, Any]:
    return {
        "created_at": ts(change.created_at),
        "new_status": change.new_status,
        "old_status": change.old_status,
        "id": change.public_id,
        "component_id": change.component.public_id,
    }


def envelope(
    session: Session, page: StatusPage, *, unsubscribe_url: str, documentation_url: str
) -> dict[str, Any]:
    indicator, description = page_status(session, page)
    return {
        "meta": {
            "unsubscribe": unsubscribe_url,
            "documentation": documentation_url,
            "generated_at": ts(datetime.now(UTC)),
        },
        "page": {
            "id": page.public_id,
            "status_indicator": indicator,
            "status_description": description,
        },
    }
