"""What the alert, event and incident pages show of what senders sent: details as rows of a
table, links and images only where they are safe to follow. Pure functions; templates escape
every string they return."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tocsin.alerts.models import Alert, Event
from tocsin.alerts.pagerduty import decode_event

# PagerDuty's payload.component, group and class, stored among the details under these keys.
_PAGERDUTY_FIELDS = {"_component": "component", "_group": "group", "_class": "class"}
# Alerts shown in full on the incident page; its alerts page lists every one.
INCIDENT_PAGE_ALERTS = 10


@dataclass(frozen=True)
class DetailRow:
    """One row of a details table: `text` is the value itself when it is a string, otherwise
    its JSON (`structured`, shown preformatted)."""

    key: str
    text: str
    structured: bool


@dataclass
class Shown:
    """What a page shows of one alert or event: its summary, severity, source and when the
    sender says it happened, its details as rows, its safe links and images."""

    summary: str
    severity: str
    source: str
    happened_at: datetime | None = None
    details: list[DetailRow] = field(default_factory=list)
    links: list[dict[str, str]] = field(default_factory=list)
    images: list[dict[str, str]] = field(default_factory=list)
    note: str = ""


def is_web_url(value: Any, *, https_only: bool = False) -> bool:
    """An absolute http(s) URL with no white space or control characters: a link that can
    only take the reader to a web page (never javascript:, data: or a relative path)."""
    if not isinstance(value, str) or len(value) > 2048:
        return False
    schemes = ("https://",) if https_only else ("http://", "https://")
    if not value.lower().startswith(schemes) or len(value) <= len(schemes[-1]):
        return False
    return not any(ch.isspace() or ord(ch) < 32 or ord(ch) == 127 for ch in value)


def detail_rows(details: Any) -> list[DetailRow]:
    """Details as key/value rows in the sender's order; nested values as indented JSON."""
    if not isinstance(details, dict):
        return [] if details in (None, "", [], {}) else [_row("details", details)]
    return [_row(_PAGERDUTY_FIELDS.get(str(k), str(k)), v) for k, v in details.items()]


def _row(key: str, value: Any) -> DetailRow:
    if isinstance(value, str):
        return DetailRow(key, value, False)
    text = json.dumps(value, indent=2, ensure_ascii=False, sort_keys=False, default=str)
    return DetailRow(key, text, isinstance(value, (dict, list)))


def web_links(links: Any) -> list[dict[str, str]]:
    """The links whose href is an http(s) URL, with their text (the href when it has none)."""
    out = []
    for link in links if isinstance(links, list) else []:
        if isinstance(link, dict) and is_web_url(link.get("href")):
            text = link.get("text")
            label = text.strip() if isinstance(text, str) else ""
            out.append({"href": link["href"], "text": label or link["href"]})
    return out


def image_links(images: Any) -> list[dict[str, str]]:
    """Images as links: to the picture (`src`, https only) and, if given, to where it leads
    (`href`, http or https). Shown as links rather than inline: the pages' CSP loads images
    from Tocsin only, and a sender's image URL is not fetched by every reader's browser."""
    out = []
    for image in images if isinstance(images, list) else []:
        if not isinstance(image, dict) or not is_web_url(image.get("src"), https_only=True):
            continue
        shown = {"src": image["src"], "alt": str(image.get("alt") or "").strip()}
        if is_web_url(image.get("href")):
            shown["href"] = image["href"]
        out.append(shown)
    return out


def alert_shown(alert: Alert) -> Shown:
    return Shown(
        summary=alert.summary,
        severity=alert.severity,
        source=alert.source,
        details=detail_rows(alert.details),
        links=web_links(alert.links),
        images=image_links(alert.images),
    )


def event_shown(event: Event) -> Shown | None:
    """What the event carried, as Tocsin read it; None for an event with nothing to show (a
    rejected body, whose reasons and raw body the page shows instead)."""
    if event.action == "rejected":
        return None
    parsed = decode_event(event.data or "{}")
    stamp = parsed.timestamp
    if stamp is not None and stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=UTC)
    return Shown(
        summary=parsed.summary or event.summary,
        severity=parsed.severity if event.action == "trigger" else "",
        source=parsed.source,
        happened_at=stamp,
        details=detail_rows(parsed.details),
        links=web_links(parsed.links),
        images=image_links(parsed.images),
        note=parsed.note,
    )


def incident_alerts(session: Session, incident_id: int) -> dict[str, Any]:
    """The incident page's Alerts card: its newest alerts shown in full, and how many it has."""
    total = session.scalar(select(func.count(Alert.id)).where(Alert.incident_id == incident_id))
    newest = session.scalars(
        select(Alert)
        .where(Alert.incident_id == incident_id)
        .order_by(Alert.id.desc())
        .limit(INCIDENT_PAGE_ALERTS)
    ).all()
    return {"total": int(total or 0), "items": [(a, alert_shown(a)) for a in newest]}
