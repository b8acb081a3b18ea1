"""The template pre-filled from a seeded incident: responders from its roles, the timeline
table from what happened, time at each severity, and the messaging from its last updates."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.postmortems.conftest import incident_of, role, severity
from tocsin.catalog import service as catalog
from tocsin.catalog.models import User
from tocsin.db import utcnow
from tocsin.incidents import roles as incident_roles
from tocsin.incidents import service as incidents
from tocsin.incidents import updates
from tocsin.incidents.models import TimelineEntry
from tocsin.incidents.timeline import record
from tocsin.postmortems import service
from tocsin.postmortems.template import severity_durations

T0 = datetime(2026, 12, 4, 10, tzinfo=UTC)


def test_time_at_each_severity() -> None:
    changes = [(T0 + timedelta(minutes=30), "SEV1"), (T0 + timedelta(minutes=50), "SEV2")]
    spent = severity_durations(T0, T0 + timedelta(minutes=90), "SEV2", changes)
    assert spent == {"SEV2": timedelta(minutes=70), "SEV1": timedelta(minutes=20)}
    # A change recorded outside the incident's span counts from its edges; none is not counted.
    assert severity_durations(T0, T0 + timedelta(minutes=10), None, []) == {}
    late = [(T0 + timedelta(hours=5), "SEV1")]
    assert severity_durations(T0, T0 + timedelta(hours=1), "SEV3", late) == {
        "SEV3": timedelta(hours=1)
    }


def test_the_template_holds_what_tocsin_knows(db: Session, admin: User) -> None:
    carla = catalog.create_user(db, name="Carla Commander", email="carla@example.com")
    sam = catalog.create_user(db, name="Sam Scribe", email="sam@example.com")
    rita = catalog.create_user(db, name="Rita Responder", email="rita2@example.com")
    now = utcnow()
    incident = incident_of(
        db,
        admin,
        "SEV2",
        started=now - timedelta(hours=3),
        commander=carla,
        description="Payments timed out at the provider.",
        customer_impact="About 4% of checkouts failed.",
    )
    incident_roles.assign_role(
        db, incident, role_id=role(db, "scribe").id, user_id=sam.id, by=carla
    )
    incidents.acknowledge(db, incident, by=rita)
    record(db, incident, "notification", "Page to Rita Responder acknowledged", by=None)
    updates.post_update(
        db, incident, phase="identified", body="Internal: provider is failing over.", by=carla
    )
    updates.post_update(
        db,
        incident,
        phase="monitoring",
        body="Payments are working again.\nWe are watching closely.",
        visibility="external",
        by=carla,
    )
    incidents.edit(db, incident, {"severity_id": severity(db, "SEV1").id}, by=carla)
    # The severity went up an hour before the end (backfilled, as a scribe would).
    raised = db.scalars(select(TimelineEntry).where(TimelineEntry.field == "severity")).one()
    raised.occurred_at = now - timedelta(hours=1)
    incidents.resolve(db, incident, by=carla, summary="Failed over to the second provider.")
    db.commit()

    postmortem = service.start(db, incident, by=rita)
    body = {s.key: s.body for s in postmortem.sections}
    assert postmortem.owner == carla  # the commander, not whoever started it

    assert body["responders"].splitlines() == [
        "* Incident Commander: Carla Commander",
        "* Scribe: Sam Scribe",
        "* Also involved: Ada Admin, Rita Responder",
    ]
    impact = body["impact"]
    assert "| Time in SEV1 | 1 h 0 min |" in impact
    assert "| Time in SEV2 | 2 h 0 min |" in impact
    assert "| Accounts affected | ? |" in impact
    assert "About 4% of checkouts failed." in impact

    table = body["timeline"].splitlines()
    assert table[0] == "| Time (UTC) | Event | Data link |"
    events = [line.split(" | ")[1] for line in table[2:]]
    assert events[0] == "Incident declared by Ada Admin: Checkout failing (SEV2)"
    assert "Rita Responder changed the status from triggered to acknowledged" in events
    assert "Page to Rita Responder acknowledged" in events
    assert "Carla Commander changed the severity from SEV2 to SEV1" in events
    assert "Carla Commander changed the status from monitoring to resolved" in events
    assert any("posted" in e.lower() and "update" in e.lower() for e in events), events
    assert all(line.endswith("(/incidents/INC-1#timeline) |") for line in table[2:])

    assert body["overview"].startswith("INC-1 (Checkout failing (SEV2)): a SEV1 incident")
    assert body["what_happened"] == "Payments timed out at the provider."
    assert body["resolution"] == "Failed over to the second provider."
    assert body["internal_email"] == "> Internal: provider is failing over."
    assert body["external_message"] == "> Payments are working again.\n> We are watching closely."
    assert body["contributing_factors"] == ""
