"""Secret iCal feeds for calendar apps: one per schedule and one per person.

A feed's URL token is `{feed id}-{HMAC}` where the HMAC (SHA-256, under the server's secret
key) covers the feed id and a random salt stored with the feed. Nothing secret is stored, so
a page can show the URL again; regenerating replaces the salt, and the old URL stops working.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime, timedelta

import icalendar
from sqlalchemy import select
from sqlalchemy.orm import Session

from tocsin import __version__
from tocsin.catalog.models import User
from tocsin.schedules.models import CalendarFeed, Schedule
from tocsin.schedules.oncall import Shift, final_shifts, upcoming_shifts
from tocsin.validation import digits

PAST = timedelta(weeks=4)  # a feed covers a few weeks back ...
FUTURE = timedelta(weeks=13)  # ... and about three months ahead


def _salt() -> str:
    return secrets.token_hex(16)


def _feed(session: Session, **owner: int) -> CalendarFeed:
    ((column, value),) = owner.items()
    feed = session.scalar(select(CalendarFeed).where(getattr(CalendarFeed, column) == value))
    if feed is None:
        feed = CalendarFeed(salt=_salt(), **owner)
        session.add(feed)
        session.flush()
    return feed


def schedule_feed(session: Session, schedule: Schedule) -> CalendarFeed:
    """The schedule's feed, made on first use."""
    return _feed(session, schedule_id=schedule.id)


def user_feed(session: Session, user: User) -> CalendarFeed:
    """The person's own feed (their shifts in every schedule), made on first use."""
    return _feed(session, user_id=user.id)


def regenerate(session: Session, feed: CalendarFeed) -> CalendarFeed:
    """A new secret URL for the feed; the old one stops working."""
    feed.salt = _salt()
    session.flush()
    return feed


def token(feed: CalendarFeed, secret_key: str) -> str:
    digest = hmac.new(
        secret_key.encode(), f"tocsin-ical:{feed.id}:{feed.salt}".encode(), hashlib.sha256
    ).hexdigest()
    return f"{feed.id}-{digest[:40]}"


def feed_url(feed: CalendarFeed, secret_key: str, base_url: str) -> str:
    kind = "schedules" if feed.schedule_id is not None else "users"
    return f"{base_url.rstrip('/')}/ical/{kind}/{token(feed, secret_key)}.ics"


def feed_by_token(session: Session, value: str, secret_key: str) -> CalendarFeed | None:
    """The feed a URL token belongs to, or None (the comparison takes constant time)."""
    feed_id = digits(value.partition("-")[0])
    if feed_id is None:
        return None
    feed = session.get(CalendarFeed, feed_id)
    if feed is None or not hmac.compare_digest(token(feed, secret_key), value):
        return None
    return feed


def _calendar(name: str) -> icalendar.Calendar:
    cal = icalendar.Calendar()
    cal.add("prodid", f"-//Tocsin//Tocsin {__version__}//EN")
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("method", "PUBLISH")
    cal.add("x-wr-calname", name)
    return cal


def _event(
    shift: Shift, summary: str, description: str, host: str, now: datetime
) -> icalendar.Event:
    event = icalendar.Event()
    # Stable across fetches: the same shift (schedule, person, start) keeps its UID.
    event.add(
        "uid", f"shift-{shift.schedule_id}-{shift.user_id}-{int(shift.start.timestamp())}@{host}"
    )
    event.add("dtstamp", now)
    event.add("dtstart", shift.start)
    event.add("dtend", shift.end)
    event.add("summary", summary)
    event.add("description", description)
    event.add("transp", "TRANSPARENT")
    return event


def _host(base_url: str) -> str:
    return base_url.split("://", 1)[-1].split("/", 1)[0] or "tocsin"


def _window(now: datetime) -> tuple[datetime, datetime]:
    """The feed's window, from midnight UTC: a shift cut by the window's start keeps the same
    start (and so the same UID) on every fetch that day, not one that moves each second."""
    start = (now - PAST).replace(hour=0, minute=0, second=0, microsecond=0)
    return start, now + FUTURE


def schedule_calendar(session: Session, schedule: Schedule, now: datetime, base_url: str) -> bytes:
    """The schedule's final schedule as iCalendar, a few weeks back to three months ahead."""
    shifts = final_shifts(session, schedule.id, *_window(now))
    names = _names(session, {s.user_id for s in shifts})
    cal = _calendar(f"On call: {schedule.name}")
    host = _host(base_url)
    for shift in shifts:
        who = names.get(shift.user_id, f"user {shift.user_id}")
        cal.add_component(
            _event(shift, f"On call: {who} ({schedule.name})", shift.source, host, now)
        )
    return cal.to_ical()


def user_calendar(session: Session, user: User, now: datetime, base_url: str) -> bytes:
    """The person's shifts in every schedule, a few weeks back to three months ahead."""
    shifts = upcoming_shifts(session, user.id, *_window(now))
    schedules = dict(
        session.execute(
            select(Schedule.id, Schedule.name).where(
                Schedule.id.in_({s.schedule_id for s in shifts})
            )
        ).all()
    )
    cal = _calendar(f"On call: {user.name}")
    host = _host(base_url)
    for shift in shifts:
        name = schedules.get(shift.schedule_id, "schedule")
        cal.add_component(_event(shift, f"On call: {name}", shift.source, host, now))
    return cal.to_ical()


def _names(session: Session, ids: set[int]) -> dict[int, str]:
    if not ids:
        return {}
    return dict(session.execute(select(User.id, User.name).where(User.id.in_(ids))).all())
