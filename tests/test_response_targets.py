"""Response targets: each incident's due time for its first response, the reminder before it
and the breach after it, through the real jobs and a real SMTP server; the timer on the list,
the incident page and in the API. Time passes by declaring incidents detected in the past, or
by making a queued timer due now."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.message import EmailMessage

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from tests.alerts.conftest import downgraded
from tests.conftest import browser_login
from tests.notify.conftest import SmtpServer, settings, smtp  # noqa: F401  (the fixtures)
from tocsin.bootstrap import Container
from tocsin.catalog import service as catalog
from tocsin.catalog.models import User
from tocsin.config import Settings
from tocsin.db import utcnow
from tocsin.definitions.models import Severity
from tocsin.incidents import response, service
from tocsin.incidents.models import Incident, TimelineEntry
from tocsin.jobs.models import QUEUED, Job
from tocsin.notify.models import Mail
from tocsin.postmortems.workdays import WorkCalendar
from tocsin.targets import service as targets
from tocsin.targets.due import end_of_next_working_day


def severity(db: Session, name: str) -> Severity:
    return db.scalars(select(Severity).where(Severity.name == name)).one()


def declare(
    db: Session, by: User, sev: str | None, *, ago: timedelta, **kwargs: object
) -> Incident:
    incident = service.declare(
        db,
        by=by,
        title="Checkout is down",
        severity_id=severity(db, sev).id if sev else None,
        detected_at=utcnow() - ago,
        urgency="none",  # nobody paged: only the target's emails reach the SMTP server
        **kwargs,  # type: ignore[arg-type]  # the rest of declare's arguments
    )
    db.commit()
    return incident


def work(db: Session, container: Container) -> None:
    db.commit()
    container.runner(name="test").run_until_idle()
    db.expire_all()


def time_passes(db: Session, container: Container, kind: str) -> None:
    """Make the queued timers of `kind` due now, and run what is due."""
    db.commit()
    db.execute(update(Job).where(Job.state == QUEUED, Job.kind == kind).values(run_at=utcnow()))
    work(db, container)


def entries(db: Session, incident: Incident, kind: str) -> list[TimelineEntry]:
    return list(
        db.scalars(
            select(TimelineEntry).where(
                TimelineEntry.incident_id == incident.id, TimelineEntry.kind == kind
            )
        )
    )


def reminder_mails(server: SmtpServer) -> list[EmailMessage]:
    return [m for m in server.messages if "must be acknowledged" in str(m["Subject"])]


# The due time


def test_minutes_targets_count_from_detection(db: Session, admin: User) -> None:
    detected = utcnow() - timedelta(minutes=5)
    incident = service.declare(
        db, by=admin, title="Checkout is down", severity_id=severity(db, "SEV2").id,
        detected_at=detected,
    )  # fmt: skip
    assert incident.response_due_at == detected + timedelta(minutes=240)
    untargeted = service.declare(db, by=admin, title="Something odd")
    assert untargeted.response_due_at is None
    assert response.state(untargeted) == "none"


@pytest.mark.parametrize(
    ("detected", "due"),
    [
        # Friday: the end of Monday.
        (datetime(2026, 12, 4, 10, 0, tzinfo=UTC), datetime(2026, 12, 8, 0, 0, tzinfo=UTC)),
        # Saturday and Sunday: the end of Monday too.
        (datetime(2026, 12, 5, 23, 0, tzinfo=UTC), datetime(2026, 12, 8, 0, 0, tzinfo=UTC)),
        (datetime(2026, 12, 6, 1, 0, tzinfo=UTC), datetime(2026, 12, 8, 0, 0, tzinfo=UTC)),
        # Monday: the end of Tuesday.
        (datetime(2026, 12, 7, 9, 0, tzinfo=UTC), datetime(2026, 12, 9, 0, 0, tzinfo=UTC)),
    ],
)
def test_next_business_day_is_the_end_of_the_next_working_day(
    detected: datetime, due: datetime
) -> None:
    assert end_of_next_working_day(detected, WorkCalendar()) == due


def test_next_business_day_follows_the_organisations_week_and_time_zone() -> None:
    week = WorkCalendar(frozenset({6, 0, 1, 2, 3}), "Asia/Jerusalem")  # Sunday to Thursday
    # Thursday 2026-12-03 20:00 UTC is Thursday 22:00 in Jerusalem (UTC+2): due at the end
    # of Sunday there, Sunday 22:00 UTC.
    thursday = datetime(2026, 12, 3, 20, 0, tzinfo=UTC)
    assert end_of_next_working_day(thursday, week) == datetime(2026, 12, 6, 22, 0, tzinfo=UTC)


def test_a_next_business_day_incident_declared_on_friday_is_due_at_the_end_of_monday(
    db: Session, admin: User
) -> None:
    friday = datetime(2026, 12, 4, 15, 30, tzinfo=UTC)
    incident = service.declare(
        db, by=admin, title="Typo on the pricing page", severity_id=severity(db, "SEV4").id,
        detected_at=friday,
    )  # fmt: skip
    assert incident.response_due_at == datetime(2026, 12, 8, 0, 0, tzinfo=UTC)


def test_the_due_time_moves_with_the_severity_until_someone_responds(
    db: Session, admin: User
) -> None:
    incident = declare(db, admin, "SEV3", ago=timedelta(minutes=5))
    detected = incident.detected_at
    assert detected is not None
    service.edit(db, incident, {"severity_id": severity(db, "SEV1").id}, by=admin)
    db.commit()
    assert incident.response_due_at == detected + timedelta(minutes=60)
    moved = entries(db, incident, "field_changed")[-1]
    assert moved.field == "response_due_at"
    assert moved.summary.startswith("Response due ")
    assert moved.summary.endswith(": the severity changed to SEV1")
    # Superseded timers are cancelled: only the new due time's are queued.
    queued = db.scalars(
        select(Job.payload).where(Job.state == QUEUED, Job.kind == targets.CHECK_JOB)
    ).all()
    assert [p["due_at"] for p in queued] == [targets.stamp(incident.response_due_at)]

    service.acknowledge(db, incident, by=admin)
    service.edit(db, incident, {"severity_id": severity(db, "SEV2").id}, by=admin)
    db.commit()
    assert incident.response_due_at == detected + timedelta(minutes=60)
    assert response.state(incident) == "met"


def test_correcting_the_detection_time_moves_the_due_time(db: Session, admin: User) -> None:
    incident = declare(db, admin, "SEV1", ago=timedelta(minutes=5))
    earlier = utcnow() - timedelta(minutes=30)
    service.edit_timestamps(db, incident, {"started_at": earlier, "detected_at": earlier}, by=admin)
    db.commit()
    assert incident.response_due_at == earlier + timedelta(minutes=60)


# The reminder


def test_the_reminder_reaches_the_commander_and_the_team_once_each_and_not_the_inactive(
    db: Session,
    container: Container,
    admin: User,
    responder: User,
    smtp: SmtpServer,  # noqa: F811
) -> None:
    carla = catalog.create_user(db, name="Carla Commander", email="carla@example.com")
    gone = catalog.create_user(db, name="Gus Gone", email="gus@example.com")
    catalog.update_user(db, gone, {"active": False})
    team = catalog.create_team(db, name="Payments", member_ids=[responder.id, carla.id, gone.id])
    checkout = catalog.create_service(db, name="Checkout", team_id=team.id)
    db.commit()
    # SEV1 (60 minutes) detected 50 minutes ago: past 80%, due in 10 minutes.
    incident = declare(
        db, admin, "SEV1", ago=timedelta(minutes=50), service_ids=[checkout.id],
        commander_id=carla.id,
    )  # fmt: skip
    work(db, container)
    mails = reminder_mails(smtp)
    assert sorted(m["To"].addresses[0].addr_spec for m in mails) == [
        "carla@example.com",
        "rita@example.com",
    ]
    due = incident.response_due_at
    assert due is not None
    subject = str(mails[0]["Subject"])
    assert subject.startswith("[Tocsin] INC-1 must be acknowledged within ")
    assert subject.endswith(f" minutes (SEV1 response target 1 hour, due {response.clock(due)})")
    body = mails[0].get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "http://tocsin.test/incidents/INC-1" in body
    [entry] = entries(db, incident, "target_reminder")
    assert entry.summary == "Response target reminder sent to 2 people"
    assert not entry.is_key_event
    # Not yet due: no breach.
    assert entries(db, incident, "target_missed") == []


def test_no_reminder_once_acknowledged_and_a_drills_reminder_says_drill(
    db: Session,
    container: Container,
    admin: User,
    responder: User,
    smtp: SmtpServer,  # noqa: F811
) -> None:
    acknowledged = declare(db, admin, "SEV1", ago=timedelta(minutes=50), commander_id=responder.id)
    service.acknowledge(db, acknowledged, by=admin)
    drill = declare(
        db, admin, "SEV1", ago=timedelta(minutes=50), commander_id=responder.id, drill=True
    )
    work(db, container)
    mails = reminder_mails(smtp)
    assert len(mails) == 1
    assert str(mails[0]["Subject"]).startswith("[Tocsin] [DRILL] INC-2 must be acknowledged")
    body = mails[0].get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert body.startswith("DRILL: this is a practice incident")
    assert entries(db, acknowledged, "target_reminder") == []
    assert len(entries(db, drill, "target_reminder")) == 1


def test_a_planned_reminder_is_not_sent_once_the_incident_responds_or_its_due_time_moves(
    db: Session,
    container: Container,
    admin: User,
    responder: User,
    smtp: SmtpServer,  # noqa: F811
) -> None:
    # The reminders are planned (the timer ran), then the incident changes before they go.
    responded = declare(db, admin, "SEV1", ago=timedelta(minutes=10), commander_id=responder.id)
    moved = declare(db, admin, "SEV1", ago=timedelta(minutes=10), commander_id=responder.id)
    for incident in (responded, moved):
        due = incident.response_due_at
        assert due is not None
        targets.remind(db, incident.id, targets.stamp(due))
    service.acknowledge(db, responded, by=admin)
    service.edit(db, moved, {"severity_id": severity(db, "SEV3").id}, by=admin)
    work(db, container)
    assert reminder_mails(smtp) == []
    planned = {
        m.incident_id: m for m in db.scalars(select(Mail).where(Mail.kind == "target_reminder"))
    }
    assert planned[responded.id].state == "skipped"
    assert planned[responded.id].detail == (
        "not sent: the incident responded, or the response is already due"
    )
    assert planned[moved.id].state == "skipped"
    assert planned[moved.id].detail == "not sent: the response due time changed"


def test_a_reminder_that_cannot_be_delivered_is_on_the_timeline_once(
    db: Session,
    container: Container,
    admin: User,
    responder: User,
    smtp: SmtpServer,  # noqa: F811
) -> None:
    async def refuse(server: object, session: object, envelope: object) -> str:
        return "554 Transaction failed"

    smtp.mailbox.handle_DATA = refuse  # type: ignore[method-assign]
    incident = declare(db, admin, "SEV1", ago=timedelta(minutes=50), commander_id=responder.id)
    work(db, container)
    [entry] = [e for e in entries(db, incident, "notification") if e.field == "target_reminder"]
    assert entry.summary.startswith("The response target reminder to Rita Responder failed: ")
    assert "554" in entry.summary


# The breach


def test_a_missed_target_is_on_the_timeline_once(
    db: Session, container: Container, admin: User
) -> None:
    incident = declare(db, admin, "SEV1", ago=timedelta(minutes=70))
    work(db, container)
    due = incident.response_due_at
    assert due is not None
    [missed] = entries(db, incident, "target_missed")
    assert missed.summary == f"Response target missed: SEV1 (1 hour) was due {response.clock(due)}"
    assert missed.is_key_event
    # The check again (a job run twice): nothing more.
    targets.check(db, incident.id, targets.stamp(due))
    db.commit()
    assert len(entries(db, incident, "target_missed")) == 1
    assert response.state(incident) == "missed"
    # No reminder once it is past due.
    assert entries(db, incident, "target_reminder") == []


def test_acknowledged_in_time_leaves_no_breach(
    db: Session, container: Container, admin: User
) -> None:
    incident = declare(db, admin, "SEV1", ago=timedelta(minutes=30))
    service.acknowledge(db, incident, by=admin)
    db.commit()
    time_passes(db, container, targets.CHECK_JOB)
    assert entries(db, incident, "target_missed") == []
    assert response.state(incident) == "met"


def test_resolved_in_time_meets_the_target_and_reopening_keeps_it(
    db: Session, container: Container, admin: User
) -> None:
    incident = declare(db, admin, "SEV1", ago=timedelta(minutes=30))
    service.resolve(db, incident, by=admin)
    service.reopen(db, incident, by=admin)
    db.commit()
    time_passes(db, container, targets.CHECK_JOB)
    assert entries(db, incident, "target_missed") == []
    assert response.state(incident) == "met"


def test_a_late_acknowledgement_backfilled_is_recorded_as_a_breach(
    db: Session, container: Container, admin: User
) -> None:
    incident = declare(db, admin, "SEV1", ago=timedelta(minutes=120))
    service.acknowledge(db, incident, by=admin)
    db.commit()
    work(db, container)
    assert response.state(incident) == "missed"
    assert len(entries(db, incident, "target_missed")) == 1


def test_met_and_missed_clauses_count_incidents(db: Session, admin: User) -> None:
    met = declare(db, admin, "SEV1", ago=timedelta(minutes=30))
    service.acknowledge(db, met, by=admin)
    declare(db, admin, "SEV1", ago=timedelta(minutes=90))  # missed, nobody responded
    declare(db, admin, "SEV1", ago=timedelta(minutes=5))  # pending
    declare(db, admin, None, ago=timedelta(minutes=5))  # no target
    db.commit()
    now = utcnow()
    numbers = {
        name: sorted(db.scalars(select(Incident.number).where(clause)))
        for name, clause in (
            ("met", response.met_clause()),
            ("missed", response.missed_clause(now)),
        )
    }
    assert numbers == {"met": [1], "missed": [2]}


# What people see


def test_the_list_and_the_page_show_the_timer_in_words(
    db: Session, client: TestClient, admin: User
) -> None:
    pending = declare(db, admin, "SEV2", ago=timedelta(minutes=10))  # due in 230 min
    late = declare(db, admin, "SEV1", ago=timedelta(minutes=65))  # missed by 5 min
    met = declare(db, admin, "SEV1", ago=timedelta(minutes=8))
    service.acknowledge(db, met, by=admin)
    close = declare(db, admin, "SEV1", ago=timedelta(minutes=55))  # due in 5 min: amber
    declare(db, admin, None, ago=timedelta(minutes=1))
    db.commit()
    browser_login(client, admin.email)
    page = client.get("/incidents").text
    assert '<th scope="col">Response</th>' in page
    assert ">due in 3 h 50 min</time>" in page
    assert ">missed by 5 min</time>" in page
    assert ">met in 8 min</time>" in page
    assert ">due in 5 min</time>" in page
    assert 'title="No response target">—</span>' in page
    assert '<script src="/static/targets.js' in page
    assert f'datetime="{pending.response_due_at.isoformat()}"' in page  # type: ignore[union-attr]

    detail = client.get(f"/incidents/{close.reference}").text
    assert 'class="response response-warning"' in detail
    assert ">due in 5 min</time>" in detail
    assert "data-response-due=" in detail
    assert 'class="response response-missed"' in client.get(f"/incidents/{late.reference}").text
    shown = client.get(f"/incidents/{met.reference}").text
    assert 'class="response response-met"' in shown and ">met in 8 min</time>" in shown
    assert "data-response-due=" not in shown  # responded: nothing left to count down
    assert client.get("/static/targets.js").status_code == 200


def test_the_api_gives_the_due_time_and_the_state(
    db: Session, api: TestClient, admin: User
) -> None:
    declare(db, admin, "SEV1", ago=timedelta(minutes=10))
    untargeted = declare(db, admin, None, ago=timedelta(minutes=10))
    body = api.get("/api/v1/incidents/INC-1").json()
    assert body["response_target"] == "pending"
    due = datetime.fromisoformat(body["response_due_at"])
    assert due == datetime.fromisoformat(body["detected_at"]) + timedelta(minutes=60)
    api.post("/api/v1/incidents/INC-1/acknowledge").raise_for_status()
    assert api.get("/api/v1/incidents/INC-1").json()["response_target"] == "met"
    other = api.get(f"/api/v1/incidents/{untargeted.reference}").json()
    assert other["response_due_at"] is None and other["response_target"] == "none"


def test_the_migration_backfills_existing_incidents(
    db: Session,
    container: Container,
    settings: Settings,  # noqa: F811
    admin: User,
) -> None:
    declare(db, admin, "SEV2", ago=timedelta(minutes=10))
    friday = service.declare(
        db, by=admin, title="Typo", severity_id=severity(db, "SEV4").id,
        detected_at=datetime(2026, 12, 4, 15, 30, tzinfo=UTC),
    )  # fmt: skip
    db.commit()
    expected = dict(db.execute(select(Incident.id, Incident.response_due_at)).all())
    assert expected[friday.id] == datetime(2026, 12, 8, 0, 0, tzinfo=UTC)
    db.close()
    with downgraded(settings, container, "0036"):
        pass
    found = dict(db.execute(select(Incident.id, Incident.response_due_at)).all())
    assert found == expected
