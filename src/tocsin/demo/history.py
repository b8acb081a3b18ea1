"""The demo's past: thirteen weeks of resolved incidents, so that Insights has something to
say on a new demo. Declared through the services like any backfilled incident (no paging),
with their own start, detection, acknowledgement and resolution times; the same every time
(a fixed seed)."""

from __future__ import annotations

import random
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from tocsin.catalog.models import Service, User
from tocsin.db import utcnow
from tocsin.definitions.models import Severity
from tocsin.incidents import service
from tocsin.incidents.models import Incident

WEEKS = 13
# (title, services, severity, people who respond) — people by the demo's keys.
KINDS = [
    ("Checkout errors after deploy", ["Checkout"], "SEV2", ["hannah", "kenji"]),
    ("Card payments declined by processor", ["Payment Gateway"], "SEV1", ["hannah", "kenji"]),
    ("Slow checkout page", ["Checkout"], "SEV3", ["kenji", "hannah"]),
    ("Public API 5xx spike", ["Public API"], "SEV2", ["priya", "mateo"]),
    ("Replication lag on the primary", ["PostgreSQL (primary)"], "SEV3", ["mateo", "priya"]),
    ("Disk filling on the primary", ["PostgreSQL (primary)"], "SEV4", ["mateo"]),
    ("Search results stale", ["Search"], "SEV3", ["priya"]),
    ("Autocomplete timeouts", ["Search"], "SEV4", ["priya", "mateo"]),
    ("Push notifications delayed", ["Notifications"], "SEV3", ["mateo"]),
    ("Help centre images missing", ["Help Centre"], "SEV4", ["sofia"]),
    ("SSO login loop for some staff", ["Single Sign-On"], "SEV3", ["arjun"]),
]
# Minutes from detection to acknowledgement and to resolution, by severity (low, high).
ACK = {"SEV1": (2, 15), "SEV2": (3, 70), "SEV3": (5, 400), "SEV4": (30, 2000)}
FIX = {"SEV1": (40, 240), "SEV2": (30, 480), "SEV3": (60, 1440), "SEV4": (120, 4000)}


def seed_history(session: Session, people: dict[str, User], services: dict[str, Service]) -> int:
    """Declare and resolve the past incidents; returns how many."""
    rng = random.Random(18)
    now = utcnow()
    severities = {s.name: s.id for s in session.scalars(select(Severity))}
    count = 0
    for week in range(WEEKS, 0, -1):
        for _ in range(rng.randint(2, 6)):
            title, names, sev, crew = rng.choice(KINDS)
            detected = now - timedelta(weeks=week, minutes=rng.randint(0, 7 * 24 * 60))
            started = detected - timedelta(minutes=rng.choice([0, 0, 2, 5, 12, 30, 90]))
            responder = people[rng.choice(crew)]
            incident = service.declare(
                session,
                by=responder,
                title=title,
                severity_id=severities[sev],
                service_ids=[services[n].id for n in names],
                started_at=started,
                detected_at=detected,
                urgency="none",  # the past: nobody is paged now
            )
            acknowledged = detected + timedelta(minutes=rng.randint(*ACK[sev]))
            resolved = acknowledged + timedelta(minutes=rng.randint(*FIX[sev]))
            _move(session, incident, "acknowledged", responder, acknowledged, now)
            _move(session, incident, "resolved", responder, resolved, now)
            count += 1
    return count


def _move(
    session: Session, incident: Incident, status: str, who: User, at: datetime, now: datetime
) -> None:
    service.change_status(session, incident, status, by=who, occurred_at=min(at, now))
