"""The public JSON API, in Atlassian Statuspage's shapes (`/api/v2/*.json`).

Every document has `page: {id, name, url, time_zone, updated_at}`; ids are strings;
timestamps are ISO 8601 in UTC with milliseconds, as Statuspage writes them.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from tocsin.statuspages.present import ComponentView, IncidentView, PageView

INCIDENTS_LIMIT = 50


def ts(value: datetime | None) -> str | None:
    if value is None:
        return None
    utc = value.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def _date(value: date | None) -> str | None:
    return value.isoformat() if value else None


def page_json(view: PageView) -> dict[str, Any]:
    return {
        "id": view.id,
        "name": view.name,
        "url": view.url,
        "time_zone": view.time_zone,
        "updated_at": ts(view.updated_at),
    }


def component_json(view: PageView, c: ComponentView) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": c.id,
        "name": c.name,
        "status": c.status,
        "created_at": ts(c.created_at),
        "updated_at": ts(c.updated_at),
        "position": c.position,
        "description": c.description or None,
        "showcase": c.showcase,
        "start_date": _date(c.start_date),
        "group_id": c.group_id,
        "page_id": view.id,
        "group": c.is_group,
        "only_show_if_degraded": c.only_show_if_degraded,
    }
    if c.is_group:
        out["components"] = [child.id for child in c.children]
    return out


def components_json(view: PageView) -> list[dict[str, Any]]:
    """Groups (as components with `group: true`) and components, in page order."""
    out = []
    for item in view.layout:
        out.append(component_json(view, item))
        out.extend(component_json(view, child) for child in item.children)
    return out


def incident_json(view: PageView, incident: IncidentView) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": incident.id,
        "name": incident.name,
        "status": incident.status,
        "created_at": ts(incident.created_at),
        "updated_at": ts(incident.updated_at),
        "monitoring_at": ts(incident.monitoring_at),
        "resolved_at": ts(incident.resolved_at),
        "impact": incident.impact,
        "shortlink": f"{view.url}/incidents/{incident.id}",
        "started_at": ts(incident.started_at),
        "page_id": view.id,
        "incident_updates": [
            {
                "id": u.id,
                "status": u.status,
                "body": u.body,
                "incident_id": incident.id,
                "created_at": ts(u.created_at),
                "updated_at": ts(u.updated_at),
                "display_at": ts(u.display_at),
                "affected_components": u.affected_components,
                "deliver_notifications": u.deliver_notifications,
                "custom_tweet": None,
                "tweet_id": None,
            }
            for u in incident.updates
        ],
        "components": [component_json(view, c) for c in incident.components],
    }
    if incident.is_maintenance:
        out["scheduled_for"] = ts(incident.scheduled_for)
        out["scheduled_until"] = ts(incident.scheduled_until)
        out.update(incident.flags)
    return out


def status_json(view: PageView) -> dict[str, Any]:
    return {"indicator": view.indicator, "description": view.description_text}


def _incidents(view: PageView) -> list[IncidentView]:
    return [i for i in view.incidents if not i.is_maintenance]


def _maintenances(view: PageView) -> list[IncidentView]:
    found = [i for i in view.incidents if i.is_maintenance]
    return sorted(found, key=lambda i: i.scheduled_for or i.started_at, reverse=True)


def documents(view: PageView) -> dict[str, dict[str, Any]]:
    """Every API document of the page, by its path under the page."""
    page = page_json(view)
    unresolved = [incident_json(view, i) for i in view.unresolved]
    upcoming = [incident_json(view, i) for i in view.upcoming_maintenances]
    active = [incident_json(view, i) for i in view.active_maintenances]
    components = components_json(view)
    return {
        "api/v2/summary.json": {
            "page": page,
            "components": components,
            "incidents": unresolved,
            "scheduled_maintenances": active + upcoming,
            "status": status_json(view),
        },
        "api/v2/status.json": {"page": page, "status": status_json(view)},
        "api/v2/components.json": {"page": page, "components": components},
        "api/v2/incidents.json": {
            "page": page,
            "incidents": [incident_json(view, i) for i in _incidents(view)[:INCIDENTS_LIMIT]],
        },
        "api/v2/incidents/unresolved.json": {"page": page, "incidents": unresolved},
        "api/v2/scheduled-maintenances.json": {
            "page": page,
            "scheduled_maintenances": [
                incident_json(view, i) for i in _maintenances(view)[:INCIDENTS_LIMIT]
            ],
        },
        "api/v2/scheduled-maintenances/upcoming.json": {
            "page": page,
            "scheduled_maintenances": upcoming,
        },
        "api/v2/scheduled-maintenances/active.json": {
            "page": page,
            "scheduled_maintenances": active,
        },
    }
