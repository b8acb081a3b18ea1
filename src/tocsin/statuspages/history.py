"""Uptime over the last 90 days, per component, from the component impact of incidents.

Each incident shown on the page gives each component it affected a status over time: from
each update's `affected_components` (the new status, from the update's display time) until
the next update that changes it or the incident's resolution (or now, if unresolved).
Where incidents overlap, the worst status counts. A day's downtime weighs that time by the
status (Statuspage's weights):

| status | counts as down |
|---|---|
| major outage | fully (100%) |
| partial outage | 30% |
| degraded performance | not at all (shown, but not downtime) |
| under maintenance | not at all (maintenance is planned, and not an incident) |

Days are the page's local days. Days before the component's start date (or its creation)
have no data and do not count. Hidden incidents (drills, restricted) were dropped before
this runs (`present.visible_incidents`), so they never count either.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from tocsin.statuspages.present import HISTORY_DAYS, SEVERITY, IncidentView, PageView

WEIGHTS = {"major_outage": 1.0, "partial_outage": 0.3}
# Day classes, for the bar's colours: worst status that day.
DAY_CLASS = {
    "operational": "ok",
    "under_maintenance": "ok",
    "degraded_performance": "degraded",
    "partial_outage": "partial",
    "major_outage": "major",
}


@dataclass(frozen=True)
class Segment:
    start: datetime
    end: datetime
    status: str
    incident: str


@dataclass(frozen=True)
class Day:
    day: date
    css: str  # ok | degraded | partial | major | nodata
    down_seconds: float
    summary: str


def segments(incidents: list[IncidentView], now: datetime) -> dict[str, list[Segment]]:
    """Per component (public id): the statuses incidents gave it, as time intervals."""
    out: dict[str, list[Segment]] = {}
    for incident in incidents:
        if incident.is_maintenance:
            continue
        end_of_incident = incident.resolved_at or now
        current: dict[str, tuple[datetime, str]] = {}
        for update in sorted(incident.updates, key=lambda u: u.display_at):
            for affected in update.affected_components:
                code = affected["code"]
                if code in current:
                    since, status = current[code]
                    out.setdefault(code, []).append(
                        Segment(since, update.display_at, status, incident.name)
                    )
                current[code] = (update.display_at, affected["new_status"])
        for code, (since, status) in current.items():
            if since < end_of_incident:
                out.setdefault(code, []).append(
                    Segment(since, end_of_incident, status, incident.name)
                )
    return {code: [s for s in found if s.status != "operational"] for code, found in out.items()}


def _worst_between(
    found: list[Segment], start: datetime, end: datetime
) -> tuple[float, str, set[str]]:
    """Weighted down seconds, the worst status and the incidents' names within [start, end)."""
    inside = [s for s in found if s.start < end and s.end > start]
    if not inside:
        return 0.0, "operational", set()
    cuts = sorted(
        {start, end} | {max(s.start, start) for s in inside} | {min(s.end, end) for s in inside}
    )
    down = 0.0
    worst = "operational"
    for a, b in zip(cuts, cuts[1:], strict=False):
        covering = [s.status for s in inside if s.start < b and s.end > a]
        if not covering:
            continue
        status = max(covering, key=lambda x: SEVERITY.get(x, 0))
        down += (b - a).total_seconds() * WEIGHTS.get(status, 0.0)
        if SEVERITY.get(status, 0) > SEVERITY.get(worst, 0):
            worst = status
    return down, worst, {s.incident for s in inside}


def _duration(seconds: float) -> str:
    minutes = round(seconds / 60)
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min" if minutes else f"{hours} h"


def fill(view: PageView, now: datetime) -> None:
    """Give every component of the page its 90 days and uptime percentage."""
    zone = ZoneInfo(view.time_zone)
    today = now.astimezone(zone).date()
    by_component = segments(view.incidents, now)
    for component in view.components:
        first = component.start_date or component.created_at.astimezone(zone).date()
        found = by_component.get(component.id, [])
        days: list[Day] = []
        observed = down_total = 0.0
        for offset in range(HISTORY_DAYS - 1, -1, -1):
            day = today - timedelta(days=offset)
            label = day.strftime("%d %b %Y")
            if day < first:
                days.append(Day(day, "nodata", 0.0, f"{label}: no data"))
                continue
            start = datetime.combine(day, time(0), zone)
            end = min(datetime.combine(day + timedelta(days=1), time(0), zone), now)
            if end <= start:
                continue
            down, worst, names = _worst_between(found, start, end)
            observed += (end - start).total_seconds()
            down_total += down
            if worst == "operational":
                summary = f"{label}: no incidents"
            else:
                what = worst.replace("_", " ")
                summary = f"{label}: {what}" + (f", {_duration(down)} down" if down else "")
                summary += " (" + "; ".join(sorted(names)) + ")"
            days.append(Day(day, DAY_CLASS.get(worst, "ok"), down, summary))
        component.days = days
        component.uptime = 100.0 * (1 - down_total / observed) if observed else None


def fmt_uptime(value: float | None) -> str:
    if value is None:
        return "no data"
    # Never round a bad day up to a perfect score.
    shown = int(value * 100) / 100
    return f"{shown:.2f}%"
