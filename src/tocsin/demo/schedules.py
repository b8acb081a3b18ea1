"""Demo schedules: a weekly primary with a swap, a follow-the-sun rotation over three zones,
and a business-hours-only schedule whose nights and weekends show up as gaps."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy.orm import Session

from tocsin.catalog.models import Team, User
from tocsin.db import utcnow
from tocsin.schedules import oncall, service

WEEKDAYS = ["mon", "tue", "wed", "thu", "fri"]


def seed_schedules(session: Session, people: dict[str, User], teams: dict[str, Team]) -> None:
    now = utcnow()
    today = now.date()
    monday = today - timedelta(days=today.weekday() + 14)
    primary = service.create_schedule(
        session, name="Platform primary", timezone="Europe/London", team_id=teams["Platform"].id,
        description="Pages for the Platform team's services. Handoff Mondays at 09:00 London.",
    )  # fmt: skip
    service.add_layer(session, primary, {
        "name": "Weekly", "shift_unit": "weeks", "handoff_time": "09:00",
        "timezone": "Europe/London", "start_date": monday,
        "member_ids": [people["priya"].id, people["mateo"].id, people["admin"].id],
    })  # fmt: skip
    swap_start = (now + timedelta(days=2)).replace(hour=18, minute=0, second=0, microsecond=0)
    on_call_then = oncall.on_call(session, primary.id, swap_start)
    partner = on_call_then[0].user_id if on_call_then else None
    taker = people["mateo"] if partner != people["mateo"].id else people["priya"]
    service.add_override(
        session, primary, user_id=taker.id, start=swap_start, end=swap_start + timedelta(hours=14),
        swap_with_id=partner, note="Covering an evening out", by=people["admin"],
    )  # fmt: skip

    sun = service.create_schedule(
        session, name="Payments follow-the-sun", timezone="UTC", team_id=teams["Payments"].id,
        description="New York and Tokyo each cover their working day; weekends rotate weekly.",
    )  # fmt: skip
    service.add_layer(session, sun, {
        "name": "Weekend and nights", "shift_unit": "weeks", "handoff_time": "09:00",
        "timezone": "America/New_York", "start_date": monday,
        "member_ids": [people["hannah"].id, people["kenji"].id],
    })  # fmt: skip
    service.add_layer(session, sun, {
        "name": "Tokyo days", "shift_unit": "days", "handoff_time": "08:00",
        "timezone": "Asia/Tokyo", "start_date": monday, "member_ids": [people["kenji"].id],
        "restrictions": [{"days": WEEKDAYS, "start": "08:00", "end": "20:00"}],
    })  # fmt: skip
    service.add_layer(session, sun, {
        "name": "New York days", "shift_unit": "days", "handoff_time": "08:00",
        "timezone": "America/New_York", "start_date": monday,
        "member_ids": [people["hannah"].id],
        "restrictions": [{"days": WEEKDAYS, "start": "08:00", "end": "20:00"}],
    })  # fmt: skip

    security = service.create_schedule(
        session, name="Security business hours", timezone="Asia/Kolkata",
        team_id=teams["Security"].id,
        description="Only staffed in office hours: nights and weekends are gaps.",
    )  # fmt: skip
    service.add_layer(session, security, {
        "name": "Office hours", "shift_unit": "days", "handoff_time": "09:30",
        "timezone": "Asia/Kolkata", "start_date": monday, "member_ids": [people["arjun"].id],
        "restrictions": [{"days": WEEKDAYS, "start": "09:30", "end": "18:00"}],
    })  # fmt: skip
