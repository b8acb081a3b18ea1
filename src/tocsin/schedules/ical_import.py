"""Importing an external rota kept in a shared calendar as a schedule layer (kind "ical").

Events are expanded (RRULE, RDATE, EXDATE) over a window from a month back to a year ahead
and matched to people: an attendee's or the organizer's email, else an email or a person's
full name in the summary. Events that match nobody are kept in the layer's import report
(shown on the schedule page and returned by the API), never silently dropped. Importing
again replaces the layer's events.

A calendar URL is fetched only from addresses the outbound guard (outbound.py)
permits, where the setting `ical_import_allow_private_urls` also allows private ones (a rota
on an intranet server); every redirect is checked the same way, and the body is limited in
size and time.
"""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from urllib.parse import urljoin, urlparse

import httpx
import icalendar
import recurring_ical_events
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from tocsin.catalog.models import User
from tocsin.catalog.permissions import check_change
from tocsin.config import Settings
from tocsin.db import utcnow
from tocsin.errors import ValidationFailed
from tocsin.outbound import OutboundGuard, OutboundRefused
from tocsin.schedules.changes import changing
from tocsin.schedules.models import Layer, LayerEvent, LayerKind
from tocsin.schedules.rotation import zone

BACK = timedelta(days=31)
AHEAD = timedelta(days=366)
MAX_BYTES = 5 * 1024 * 1024
MAX_EVENTS = 20_000
MAX_REPORTED = 200
TIMEOUT_SECONDS = 10.0
MAX_REDIRECTS = 3


def _instant(value: Any, tz: str, field: str) -> datetime:
    """DTSTART/DTEND as an aware instant: dates are midnight and floating times are local
    in the layer's zone."""
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=zone(tz))
        return value.astimezone(UTC)
    if isinstance(value, date):
        return datetime.combine(value, time(0), tzinfo=zone(tz)).astimezone(UTC)
    raise ValidationFailed(f"an event has no usable {field}", field="file")


def _addresses(value: Any) -> list[str]:
    if value is None:
        return []
    items = value if isinstance(value, list) else [value]
    out = []
    for item in items:
        text = str(item).strip()
        if text.lower().startswith("mailto:"):
            text = text[7:]
        if "@" in text:
            out.append(text.lower())
    return out


class _Matcher:
    """Finds the person an event is about."""

    def __init__(self, users: list[User]) -> None:
        self.by_email = {u.email.lower(): u for u in users}
        # Longest names first, so "Ann Lee" wins over "Ann" in "Ann Lee (primary)".
        self.names = sorted(
            ((re.compile(rf"(?<!\w){re.escape(u.name)}(?!\w)", re.IGNORECASE), u) for u in users),
            key=lambda pair: -len(pair[1].name),
        )

    def match(self, event: Any, summary: str) -> tuple[User | None, str]:
        for email in _addresses(event.get("attendee")) + _addresses(event.get("organizer")):
            if email in self.by_email:
                return self.by_email[email], ""
        for email in re.findall(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+", summary):
            if email.lower() in self.by_email:
                return self.by_email[email.lower()], ""
        for pattern, user in self.names:
            if pattern.search(summary):
                return user, ""
        attendees = _addresses(event.get("attendee"))
        if attendees:
            return None, f"no active user with email {', '.join(attendees)}"
        return None, "no attendee, organizer or summary names a user"


def parse_calendar(data: bytes) -> icalendar.Calendar:
    try:
        return icalendar.Calendar.from_ical(data)
    except ValueError as exc:
        raise ValidationFailed(f"file: not an iCalendar file ({exc})", field="file") from exc


def import_calendar(
    session: Session,
    layer: Layer,
    data: bytes,
    *,
    source: str,
    now: datetime | None = None,
    by: User | None = None,
) -> dict[str, Any]:
    """Replace the layer's events with the calendar's; return (and store) the report."""
    check_change(session, by, layer.schedule.team_id, f"schedule {layer.schedule.name}")
    if layer.kind != LayerKind.ical.value:
        raise ValidationFailed("only a layer of kind ical takes a calendar", field="kind")
    if len(data) > MAX_BYTES:
        raise ValidationFailed("file: a calendar may be at most 5 MB", field="file")
    now = now or utcnow()
    calendar = parse_calendar(data)
    try:
        events = recurring_ical_events.of(calendar).between(now - BACK, now + AHEAD)
    except Exception as exc:  # the library raises its own errors for broken recurrences
        raise ValidationFailed(
            f"file: cannot expand the calendar's events ({exc})", field="file"
        ) from exc
    users = list(session.scalars(select(User).where(User.active.is_(True), User.is_person)))
    matcher = _Matcher(users)
    rows: list[LayerEvent] = []
    unmatched: list[dict[str, str]] = []
    skipped = 0
    for event in events:
        if len(rows) >= MAX_EVENTS:
            skipped += 1
            continue
        summary = str(event.get("summary", ""))[:500]
        start_value = event.decoded("dtstart", None)
        end_value = event.decoded("dtend", None)
        if start_value is None:
            continue
        start = _instant(start_value, layer.timezone, "start")
        if end_value is None:
            duration = event.decoded("duration", None)
            all_day = not isinstance(start_value, datetime)
            end = start + (duration or (timedelta(days=1) if all_day else timedelta(0)))
        else:
            end = _instant(end_value, layer.timezone, "end")
        uid = str(event.get("uid", ""))[:255]
        if end <= start:
            unmatched.append(_entry(summary, start, end, uid, "the event has no duration"))
            continue
        user, reason = matcher.match(event, summary)
        if user is None:
            unmatched.append(_entry(summary, start, end, uid, reason))
            continue
        rows.append(
            LayerEvent(layer_id=layer.id, user_id=user.id, start=start, end=end, uid=uid,
                       summary=summary)
        )  # fmt: skip
    with changing(session, layer.schedule, cause=f"calendar of layer “{layer.name}” imported"):
        session.execute(delete(LayerEvent).where(LayerEvent.layer_id == layer.id))
        session.add_all(rows)
    report = {
        "source": source,
        "imported": len(rows),
        "unmatched_count": len(unmatched),
        "unmatched": unmatched[:MAX_REPORTED],
        "skipped_over_limit": skipped,
        "window_start": (now - BACK).isoformat(),
        "window_end": (now + AHEAD).isoformat(),
    }
    layer.import_report = report
    layer.imported_at = now
    session.flush()
    session.expire(layer, ["events"])
    return report


def _entry(summary: str, start: datetime, end: datetime, uid: str, reason: str) -> dict[str, str]:
    return {
        "summary": summary,
        "start": start.isoformat(),
        "end": end.isoformat(),
        "uid": uid,
        "reason": reason,
    }


# Fetching a calendar from a URL -------------------------------------------------------------


def calendar_guard(settings: Settings) -> OutboundGuard:
    """The outbound guard for calendar URLs: the one webhooks use, where
    `ical_import_allow_private_urls` also allows every private address."""
    guard = OutboundGuard.from_settings(settings)
    if settings.ical_import_allow_private_urls:
        return replace(guard, allow_private=True)
    return guard


def _check_address(url: str, guard: OutboundGuard) -> None:
    parsed = urlparse(url)
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise ValidationFailed(f"ical_url must be an http(s) URL: {url!r}", field="ical_url")
    try:
        guard.check_host(parsed.hostname, parsed.port)
    except ValueError as exc:  # a port out of range
        raise ValidationFailed(f"ical_url has an invalid port: {url!r}", field="ical_url") from exc
    except OutboundRefused as exc:
        raise ValidationFailed(
            f"ical_url: {exc.reason}; for a rota on an intranet server, set "
            "TOCSIN_ICAL_IMPORT_ALLOW_PRIVATE_URLS=true",
            field="ical_url",
        ) from exc


def fetch_calendar(url: str, *, guard: OutboundGuard) -> bytes:
    """The body at `url`, checked against the outbound guard at every redirect."""
    if url.lower().startswith("webcal://"):
        url = "https://" + url[len("webcal://") :]
    with httpx.Client(timeout=TIMEOUT_SECONDS, follow_redirects=False) as client:
        for _ in range(MAX_REDIRECTS + 1):
            _check_address(url, guard)
            try:
                with client.stream("GET", url, headers={"Accept": "text/calendar"}) as response:
                    if response.is_redirect and "location" in response.headers:
                        url = urljoin(url, response.headers["location"])
                        continue
                    if response.status_code != 200:
                        raise ValidationFailed(
                            f"ical_url: the server answered {response.status_code}",
                            field="ical_url",
                        )
                    body = b""
                    for chunk in response.iter_bytes():
                        body += chunk
                        if len(body) > MAX_BYTES:
                            raise ValidationFailed(
                                "ical_url: the calendar is larger than 5 MB", field="ical_url"
                            )
                    return body
            except httpx.HTTPError as exc:
                raise ValidationFailed(
                    f"ical_url: cannot fetch the calendar ({exc.__class__.__name__})",
                    field="ical_url",
                ) from exc
    raise ValidationFailed("ical_url: too many redirects", field="ical_url")


def import_url(
    session: Session,
    layer: Layer,
    *,
    guard: OutboundGuard,
    now: datetime | None = None,
    by: User | None = None,
) -> dict[str, Any]:
    """Fetch the layer's calendar URL and import it (replacing its events)."""
    check_change(session, by, layer.schedule.team_id, f"schedule {layer.schedule.name}")
    if not layer.ical_url:
        raise ValidationFailed("the layer has no calendar URL", field="ical_url")
    data = fetch_calendar(layer.ical_url, guard=guard)
    return import_calendar(session, layer, data, source=layer.ical_url, now=now, by=by)
