"""The demo's roster: an IC rotation (a weekly schedule of incident commanders) as the
Incident Commander's primary with a person as backup, and people for the other roles, so that
Page the IC, Assign from roster and the response plan have someone to name."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from tocsin.catalog.models import User
from tocsin.db import utcnow
from tocsin.definitions.models import IncidentRole
from tocsin.roster import service as roster
from tocsin.schedules import service as schedules
from tocsin.schedules.models import Schedule

IC_ROTATION = "IC rotation"


def seed_roster(session: Session, people: dict[str, User]) -> Schedule:
    """Make the IC rotation and fill the roster; returns the rotation."""
    today = utcnow().date()
    monday = today - timedelta(days=today.weekday() + 14)
    rotation = schedules.create_schedule(
        session, name=IC_ROTATION, timezone="Europe/London",
        description="Incident commanders, a week each. Handoff Mondays at 10:00 London.",
    )  # fmt: skip
    schedules.add_layer(session, rotation, {
        "name": "Weekly", "shift_unit": "weeks", "handoff_time": "10:00",
        "timezone": "Europe/London", "start_date": monday,
        "member_ids": [people["admin"].id, people["priya"].id, people["hannah"].id],
    })  # fmt: skip
    role = {r.slug: r.id for r in session.scalars(select(IncidentRole))}
    ic = role["incident_commander"]
    roster.set_entry(
        session, ic, primary_schedule_id=rotation.id, backup_user_id=people["mateo"].id
    )
    slots = {
        "deputy": (people["mateo"], people["kenji"]),
        "comms_internal": (people["sofia"], people["priya"]),
        "comms_external": (people["sofia"], None),
        "support_lead": (people["sofia"], None),
    }
    for slug, (primary, backup) in slots.items():
        roster.set_entry(
            session, role[slug], primary_user_id=primary.id,
            backup_user_id=backup.id if backup else None,
        )  # fmt: skip
    return rotation
