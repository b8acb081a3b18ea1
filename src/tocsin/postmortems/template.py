"""PagerDuty's postmortem template, and its sections pre-filled from what Tocsin knows.

A template is an ordered list of sections (`SectionSpec`). A section's `kind` says what it
starts with: `markdown` is its own default `text`; every other kind is one of the built-in
pre-filled parts (the impact table, the timeline table, the responders, the messaging ...).
`SECTIONS` is PagerDuty's template, the default; an incident type may have its own
(`type_templates.py`). `prefill` reads the incident (its roles, timeline and status updates)
and `fill` gives each section of a template its Markdown; the owner trims and completes it.
Times are UTC, as in PagerDuty's template.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from tocsin.db import utcnow
from tocsin.incidents.models import Incident, StatusUpdate, TimelineEntry

# What a section starts with: its own text, or one of the pre-filled parts, with a label.
KINDS: dict[str, str] = {
    "markdown": "Markdown (its default text)",
    "overview": "Overview (title, severity, services, span)",
    "what_happened": "What happened (the incident's description)",
    "resolution": "Resolution (the resolution summary)",
    "impact": "Impact table",
    "responders": "Responders (roles and who acted)",
    "timeline": "Timeline table",
    "action_items": "Action items (the incident's)",
    "internal_email": "Messaging: the last internal update",
    "external_message": "Messaging: the last external update",
}


@dataclass(frozen=True)
class SectionSpec:
    key: str
    title: str
    guidance: str
    kind: str = "markdown"
    # A markdown section's starting text; a pre-filled one's when there is nothing to fill.
    text: str = ""


_PAGERDUTY: tuple[SectionSpec, ...] = (
    SectionSpec(
        "overview",
        "Overview",
        "A short sentence or two summarizing the contributing factors, the timeline and "
        "the impact.",
    ),
    SectionSpec("what_happened", "What happened", "A short description of what happened."),
    SectionSpec(
        "contributing_factors",
        "Contributing factors",
        "Conditions that contributed to the issue, and actions that exacerbated it, with "
        "the intention of learning from them (never a person as a cause).",
    ),
    SectionSpec(
        "resolution",
        "Resolution",
        "What solved the problem: a temporary fix, and the long-term solution.",
    ),
    SectionSpec("impact", "Impact", "Be very specific here and include exact numbers."),
    SectionSpec(
        "responders",
        "Responders",
        "Who was the incident commander, the scribe, and who else was involved.",
    ),
    SectionSpec(
        "timeline",
        "Timeline",
        "When the contributing factor began, the page, the status page update, significant "
        "actions and when the incident ended, each with a link to what shows it.",
    ),
    SectionSpec(
        "what_went_well",
        "What went well?",
        "Anything you did well and want to call out. It's OK to list nothing.",
    ),
    SectionSpec(
        "what_didnt_go_well",
        "What didn't go so well?",
        "Anything we didn't do very well; every point here should be followed up.",
    ),
    SectionSpec(
        "action_items",
        "Action items",
        "Fixes that prevent the contributing factor, preparedness tasks, remaining "
        "postmortem steps and improvements to the response process.",
    ),
    SectionSpec(
        "internal_email",
        "Messaging: internal email",
        "A short paragraph for employees, sent right after the meeting, with a link here.",
    ),
    SectionSpec(
        "external_message",
        "Messaging: external message",
        "What customers are told: a summary, what happened, what we are doing about it, and a "
        "genuine apology.",
    ),
)
# PagerDuty's sections are pre-filled by the part of the same name, where there is one.
SECTIONS: tuple[SectionSpec, ...] = tuple(
    replace(spec, kind=spec.key if spec.key in KINDS else "markdown") for spec in _PAGERDUTY
)
SPECS = {spec.key: spec for spec in SECTIONS}

# Timeline entries that make a row of the drafted timeline table, besides key events.
_TIMELINE_KINDS = frozenset(
    {"created", "status_changed", "reopened", "update_posted", "paging", "resolution_note"}
)
MAX_TIMELINE_ROWS = 200


def prefill(session: Session, incident: Incident) -> dict[str, str]:
    """Each section's pre-filled Markdown, by key."""
    entries = list(
        session.scalars(
            select(TimelineEntry)
            .where(TimelineEntry.incident_id == incident.id)
            .order_by(TimelineEntry.occurred_at, TimelineEntry.id)
        )
    )
    updates = list(
        session.scalars(
            select(StatusUpdate)
            .where(StatusUpdate.incident_id == incident.id)
            .order_by(StatusUpdate.created_at.desc(), StatusUpdate.id.desc())
        )
    )
    return {
        "overview": _overview(incident),
        "what_happened": incident.description,
        "contributing_factors": "",
        "resolution": incident.resolution_summary,
        "impact": _impact(incident, entries),
        "responders": _responders(incident, entries),
        "timeline": timeline_table(incident, entries),
        "what_went_well": "",
        "what_didnt_go_well": "",
        "action_items": _action_items(incident),
        "internal_email": _last_update(updates, "internal"),
        "external_message": _last_update(updates, "external"),
    }


def fill(
    session: Session, incident: Incident, specs: tuple[SectionSpec, ...]
) -> list[tuple[SectionSpec, str]]:
    """Each section of a template with its starting Markdown, in the template's order."""
    parts = prefill(session, incident) if any(s.kind != "markdown" for s in specs) else {}
    return [(spec, parts.get(spec.kind) or spec.text) for spec in specs]


def _when(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC") if moment else "unknown"


def _duration(span: timedelta) -> str:
    minutes = max(0, round(span.total_seconds() / 60))
    hours, rest = divmod(minutes, 60)
    return f"{hours} h {rest} min" if hours else f"{rest} min"


def _overview(incident: Incident) -> str:
    severity = incident.severity.name if incident.severity else "An"
    services = ", ".join(s.name for s in incident.services) or "no service recorded"
    started = incident.started_at or incident.created_at
    ended = incident.resolved_at
    lasted = f", for {_duration(ended - started)}" if ended else ""
    return (
        f"{incident.reference} ({incident.title}): a {severity} incident affecting {services}, "
        f"from {_when(started)} to {_when(ended) if ended else 'now'}{lasted}."
    )


def severity_durations(
    started: datetime,
    ended: datetime,
    initial: str | None,
    changes: list[tuple[datetime, str | None]],
) -> dict[str, timedelta]:
    """Time spent at each severity between `started` and `ended`, given the severity at the
    start and each change (when, new severity) in order. No severity is not counted."""
    spent: dict[str, timedelta] = {}
    current, since = initial, started
    for at, new in [*changes, (ended, None)]:
        at = min(max(at, started), ended)
        if current is not None and at > since:
            spent[current] = spent.get(current, timedelta()) + (at - since)
        current, since = new, max(at, since)
    return spent


def _severity_history(
    incident: Incident, entries: list[TimelineEntry]
) -> tuple[str | None, list[tuple[datetime, str | None]]]:
    changes = [e for e in entries if e.kind == "field_changed" and e.field == "severity"]
    if changes:
        initial = changes[0].old_value
    else:
        initial = incident.severity.name if incident.severity else None
    return initial, [(e.occurred_at, e.new_value) for e in changes]


def _impact(incident: Incident, entries: list[TimelineEntry]) -> str:
    started = incident.started_at or incident.created_at
    ended = incident.resolved_at or utcnow()
    initial, changes = _severity_history(incident, entries)
    spent = severity_durations(started, ended, initial, changes)
    rows = [f"| Time in {name} | {_duration(span)} |" for name, span in sorted(spent.items())]
    rows += [
        "| Notifications delivered late | ? |",
        "| Events dropped / not accepted | ? |",
        "| Accounts affected | ? |",
        "| Users affected | ? |",
        "| Support requests raised | ? |",
    ]
    text = "| | |\n|-|-|\n" + "\n".join(rows)
    if incident.customer_impact:
        text += "\n\n" + incident.customer_impact
    return text


def _responders(incident: Incident, entries: list[TimelineEntry]) -> str:
    lines = [f"* {a.role.name}: {a.user.name}" for a in incident.role_assignments]
    holders = {a.user_id for a in incident.role_assignments}
    others: dict[int, str] = {}
    for entry in entries:
        if entry.actor is not None and entry.actor_id not in holders:
            others.setdefault(entry.actor.id, entry.actor.name)
    if others:
        lines.append("* Also involved: " + ", ".join(others.values()))
    return "\n".join(lines)


def _row_wanted(entry: TimelineEntry) -> bool:
    if entry.is_key_event or entry.kind in _TIMELINE_KINDS:
        return True
    if entry.kind == "field_changed" and entry.field == "severity":
        return True
    if entry.kind == "notification":
        return True  # pages sent, failed, acknowledged
    return entry.kind == "alert" and entry.summary.startswith("Alert triggered")


def _cell(text: str) -> str:
    """One table cell: a single line, its pipes escaped."""
    return " ".join(text.split()).replace("|", "\\|")


def _data_link(incident: Incident, entry: TimelineEntry) -> str:
    new: Any = entry.new_value
    if entry.kind == "alert" and isinstance(new, dict) and isinstance(new.get("alert_id"), int):
        return f"[alert {new['alert_id']}](/alerts/{new['alert_id']})"
    return f"[timeline](/incidents/{incident.reference}#timeline)"


def timeline_table(incident: Incident, entries: list[TimelineEntry]) -> str:
    """The drafted timeline: key events, status and severity changes, pages and
    acknowledgements, alerts and status updates, as a Markdown table."""
    rows = [e for e in entries if _row_wanted(e)]
    lines = ["| Time (UTC) | Event | Data link |", "| --- | --- | --- |"]
    for entry in rows[:MAX_TIMELINE_ROWS]:
        lines.append(
            f"| {_when(entry.occurred_at)} | {_cell(entry.summary)} | "
            f"{_data_link(incident, entry)} |"
        )
    if len(rows) > MAX_TIMELINE_ROWS:
        lines.append(f"\n{len(rows) - MAX_TIMELINE_ROWS} more on the incident's timeline.")
    return "\n".join(lines)


def _action_items(incident: Incident) -> str:
    return "\n".join(f"* {item.title} ({item.status})" for item in incident.action_items)


def _last_update(updates: list[StatusUpdate], visibility: str) -> str:
    last = next((u for u in updates if u.visibility == visibility), None)
    if last is None:
        return ""
    return "\n".join(f"> {line}" if line else ">" for line in last.body.splitlines())
