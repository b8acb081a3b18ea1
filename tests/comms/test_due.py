"""When a channel is due its next update, and the reminder when it is late."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from tests.comms.conftest import channel, declare, email_method, run_jobs, severity
from tests.notify.conftest import SmtpServer
from tocsin.bootstrap import Container
from tocsin.catalog.models import User
from tocsin.comms import due as comms_due
from tocsin.comms.models import CommsDelivery
from tocsin.comms.sending import mark_posted
from tocsin.config import Settings
from tocsin.db import utcnow
from tocsin.incidents import roles as incident_roles
from tocsin.incidents import service as incidents
from tocsin.incidents.models import Incident, StatusUpdate, TimelineEntry
from tocsin.incidents.queries import role_by_slug
from tocsin.incidents.updates import post_update
from tocsin.jobs.models import Job
from tocsin.notify.models import Notification


def _backdate(db: Session, incident: Incident, minutes: int) -> None:
    """Arrange an incident declared `minutes` ago (and its updates as many minutes older)."""
    shift = timedelta(minutes=minutes)
    db.execute(
        update(Incident).where(Incident.id == incident.id)
        .values(created_at=incident.created_at - shift)
    )  # fmt: skip
    for row in db.scalars(select(StatusUpdate).where(StatusUpdate.incident_id == incident.id)):
        row.created_at -= shift
    db.commit()
    db.expire_all()


def _due(db: Session, incident: Incident, name: str) -> comms_due.Due:
    (found,) = [d for d in comms_due.dues(db, incident) if d.channel.name == name]
    return found


def test_cadence_counts_from_the_declaration_then_from_the_last_update(
    db: Session, container: Container, settings: Settings, admin: User
) -> None:
    channel(db, settings, name="Exec briefing", cadence_minutes=30, severities=["SEV1"])
    incident = declare(db, admin, severity_id=severity(db, "SEV1").id)
    db.commit()
    first = _due(db, incident, "Exec briefing")
    assert first.due_at == incident.created_at + timedelta(minutes=30)
    assert first.because == "every 30 min" and not first.overdue(utcnow())

    _backdate(db, incident, 45)
    late = _due(db, incident, "Exec briefing")
    assert late.overdue(utcnow())

    marked = mark_posted(db, incident, late.channel, by=admin, note="Briefed the CEO")
    moved = _due(db, incident, "Exec briefing")
    assert moved.last_at == marked.sent_at
    assert moved.due_at == marked.sent_at + timedelta(minutes=30)  # type: ignore[operator]
    assert not moved.overdue(utcnow())

    incidents.resolve(db, incident, by=admin)
    assert _due(db, incident, "Exec briefing").due_at is None  # resolved: nothing is due


def test_a_promised_next_update_is_due_unless_something_reached_the_channel_since(
    db: Session, container: Container, settings: Settings, admin: User
) -> None:
    channel(db, settings, name="Exec briefing", cadence_minutes=60)
    incident = declare(db, admin)
    promise = utcnow() + timedelta(minutes=15)
    post_update(db, incident, phase="investigating", body="Looking.", by=admin,
                next_update_at=promise)  # fmt: skip
    due = _due(db, incident, "Exec briefing")
    assert due.due_at == promise and due.because.startswith("promised in the ")
    # An update with no promise: back to the cadence.
    post_update(db, incident, phase="identified", body="Found it.", by=admin)
    assert _due(db, incident, "Exec briefing").because == "every 60 min"


def test_channels_that_do_not_apply_are_not_due(
    db: Session, container: Container, settings: Settings, admin: User
) -> None:
    channel(db, settings, name="Exec briefing", cadence_minutes=30, severities=["SEV1"])
    channel(db, settings, name="Status page", kind="manual", audience="external",
            cadence_minutes=30)  # fmt: skip
    incident = declare(db, admin, severity_id=severity(db, "SEV3").id, drill=True)
    assert comms_due.dues(db, incident) == []


def test_the_reminder_job_writes_the_timeline_and_tells_the_comms_lead_plainly(
    db: Session,
    container: Container,
    settings: Settings,
    smtp: SmtpServer,
    admin: User,
    responder: User,
) -> None:
    email_method(db, responder, settings)
    briefing = channel(db, settings, name="Exec briefing", cadence_minutes=30,
                       post_incident_roles=["comms_internal"])  # fmt: skip
    channel(db, settings, name="Quiet", cadence_minutes=120)
    incident = declare(db, admin)
    incident_roles.assign_role(db, incident, role_id=role_by_slug(db, "comms_internal").id,
                          user_id=responder.id, by=admin)  # fmt: skip
    db.commit()
    _backdate(db, incident, 40)
    due_at = incident.created_at + timedelta(minutes=30)

    assert comms_due.scan(db) == 1  # only the Exec briefing is due (Quiet is 80 min away)
    db.commit()
    run_jobs(container)

    # Rita was also told she is the Communications Manager (roster/notices.py).
    (mail,) = [m for m in smtp.messages if "is due an update" in m["Subject"]]
    assert mail["To"] == "Rita Responder <rita@example.com>"
    assert mail["Subject"] == f"[Tocsin] {incident.reference}: Exec briefing is due an update"
    text = mail.get_content()
    assert "Who may post there: the Communications Manager (internal)." in text
    assert "not a page" in text and "/act/" not in text
    db.expire_all()
    (entry,) = db.scalars(
        select(TimelineEntry).where(
            TimelineEntry.incident_id == incident.id, TimelineEntry.kind == "reminder"
        )
    )
    assert entry.summary == (
        f"Exec briefing is due an update: it was due at {due_at:%H:%M} UTC (every 30 min); "
        "telling Rita Responder (communications manager)"
    )
    assert db.scalars(select(Notification)).all() == []  # a notification, not a page
    # Once per due time, however often the scan and the job run.
    assert comms_due.scan(db) == 1
    db.commit()
    run_jobs(container)
    assert comms_due.remind(db, incident.id, briefing.id, due_at) is None
    assert len(smtp.messages) == 2  # the reminder and the role notice, each once
    reminders = db.scalars(select(CommsDelivery).where(CommsDelivery.purpose == "reminder"))
    assert [r.state for r in reminders] == ["sent"]


def test_no_reminder_when_an_update_reached_the_channel_in_time(
    db: Session, container: Container, settings: Settings, admin: User
) -> None:
    briefing = channel(db, settings, name="Exec briefing", cadence_minutes=30)
    incident = declare(db, admin)
    db.commit()
    _backdate(db, incident, 40)
    due_at = incident.created_at + timedelta(minutes=30)
    comms_due.scan(db)  # the job is queued for the old due time...
    mark_posted(db, incident, briefing, by=admin)  # ...and then someone posts
    db.commit()
    run_jobs(container)
    db.expire_all()
    assert db.scalar(select(Job.state).where(Job.kind == "comms.due")) == "done"
    assert comms_due.remind(db, incident.id, briefing.id, due_at) is None
    kinds = db.scalars(select(TimelineEntry.kind).where(TimelineEntry.incident_id == incident.id))
    assert "reminder" not in list(kinds)


def test_the_commander_then_the_declarer_is_told_when_nobody_runs_comms(
    db: Session, container: Container, settings: Settings, admin: User, responder: User
) -> None:
    briefing = channel(db, settings, name="Exec briefing", cadence_minutes=30)
    incident = declare(db, admin)
    assert comms_due.lead_for(incident, "internal") == (admin, "declared the incident")
    incident_roles.assign_role(db, incident, role_id=role_by_slug(db, "incident_commander").id,
                          user_id=responder.id, by=admin)  # fmt: skip
    assert comms_due.lead_for(incident, "internal") == (responder, "incident commander")
    db.commit()
    _backdate(db, incident, 31)
    due_at = incident.created_at + timedelta(minutes=30)
    reminder = comms_due.remind(db, incident.id, briefing.id, due_at)
    assert reminder is not None and reminder.recipient == "Rita Responder"
