"""Reminders to a postmortem's owner, through the real jobs and a real SMTP server; time
passes by making the reminders' timers due."""

from __future__ import annotations

from datetime import timedelta
from email.message import EmailMessage
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from tests.notify.conftest import SmtpServer, settings, smtp  # noqa: F401  (the fixtures)
from tests.postmortems.conftest import incident_of, resolve_at
from tocsin.bootstrap import Container
from tocsin.catalog import service as catalog
from tocsin.catalog.models import User
from tocsin.db import utcnow
from tocsin.incidents import queries as incident_queries
from tocsin.jobs.models import QUEUED, Job
from tocsin.notify.models import Mail
from tocsin.postmortems import reminders, service
from tocsin.postmortems.models import Postmortem


def work(db: Session, container: Container) -> int:
    db.commit()
    done = container.runner(name="test").run_until_idle()
    db.rollback()
    return done


def time_passes(db: Session, container: Container, deadline: str, slot: str) -> int:
    """Make the queued reminder timer of `deadline` for `slot` due now; run due jobs."""
    db.commit()
    db.execute(
        update(Job)
        .where(
            Job.state == QUEUED,
            Job.kind == reminders.TIMER_JOB,
            Job.key.like(f"pm-remind:%:{deadline}:%:{slot}"),
        )
        .values(run_at=utcnow())
    )
    return work(db, container)


def queued_slots(db: Session, deadline: str) -> list[str]:
    jobs = db.scalars(
        select(Job).where(Job.state == QUEUED, Job.kind == reminders.TIMER_JOB).order_by(Job.id)
    )
    return [j.payload["slot"] for j in jobs if j.payload["deadline"] == deadline]


def planned(db: Session) -> list[Mail]:
    """The reminders planned, as notify's mails."""
    return list(db.scalars(select(Mail).where(Mail.kind == "postmortem_reminder")))


def reminder_mails(server: SmtpServer) -> list[EmailMessage]:
    """The postmortem's emails (the commander named at declaring is also told of the role)."""
    return [m for m in server.messages if "postmortem" in str(m["Subject"])]


def resolved_sev1(db: Session, by: User, owner: User) -> Postmortem:
    """A SEV1 resolved an hour ago: its draft is due in about two days, its meeting in three."""
    now = utcnow()
    incident = incident_of(db, by, "SEV1", started=now - timedelta(hours=3), commander=owner)
    resolve_at(db, incident, by, now - timedelta(hours=1))
    db.commit()
    postmortem = service.for_incident(db, incident)
    assert postmortem is not None
    return postmortem


@pytest.fixture
def carla(db: Session) -> User:
    return catalog.create_user(db, name="Carla Commander", email="carla@example.com")


def test_reminders_are_queued_before_each_deadline_and_when_it_passes(
    db: Session, admin: User, carla: User
) -> None:
    resolved_sev1(db, admin, carla)
    assert queued_slots(db, "draft") == ["before_24h", "before_1h", "late_0"]
    assert queued_slots(db, "meeting") == ["before_24h", "before_1h", "late_0"]


def test_the_owner_is_emailed_before_the_draft_deadline_once(
    db: Session,
    container: Container,
    admin: User,
    carla: User,
    smtp: SmtpServer,  # noqa: F811
) -> None:
    postmortem = resolved_sev1(db, admin, carla)
    time_passes(db, container, "draft", "before_24h")
    assert len(reminder_mails(smtp)) == 1
    assert "the postmortem's draft is due" in reminder_mails(smtp)[0]["Subject"]
    mail = reminder_mails(smtp)[0]
    assert mail["To"] == "Carla Commander <carla@example.com>"
    assert "the postmortem's draft is due" in mail["Subject"]
    body = mail.get_content()
    assert f"http://tocsin.test/postmortems/{postmortem.id}" in body
    assert "Move it to In review" in body
    # The same timer again (a second worker, a retry) sends nothing more.
    reminders.remind(
        db,
        {
            "postmortem_id": postmortem.id,
            "deadline": "draft",
            "due_at": postmortem.draft_due_at.isoformat() if postmortem.draft_due_at else "",
            "slot": "before_24h",
        },
    )
    work(db, container)
    assert len(reminder_mails(smtp)) == 1
    assert [m.state for m in planned(db)] == ["sent"]


def test_a_late_draft_is_reminded_daily_until_it_is_in_review(
    db: Session,
    container: Container,
    admin: User,
    carla: User,
    smtp: SmtpServer,  # noqa: F811
) -> None:
    postmortem = resolved_sev1(db, admin, carla)
    time_passes(db, container, "draft", "late_0")
    assert [m["Subject"] for m in reminder_mails(smtp)] == [
        f"[Tocsin] {postmortem.incident.reference}: the postmortem's draft is late"
    ]
    assert "late_1" in queued_slots(db, "draft")
    time_passes(db, container, "draft", "late_1")
    assert reminder_mails(smtp)[-1]["Subject"].endswith("the postmortem's draft is 1 day late")
    assert len(reminder_mails(smtp)) == 2

    postmortem = db.get(Postmortem, postmortem.id)  # type: ignore[assignment]
    service.change_status(db, postmortem, "in_review", by=carla)
    time_passes(db, container, "draft", "late_2")
    assert len(reminder_mails(smtp)) == 2  # in review: the draft is no longer owed
    assert queued_slots(db, "draft") == ["before_24h", "before_1h"]  # superseded, harmless
    # The meeting is still owed while in review.
    time_passes(db, container, "meeting", "late_0")
    assert reminder_mails(smtp)[-1]["Subject"].endswith("the postmortem's review meeting is late")


def test_a_postmortem_backfilled_long_after_its_deadlines_is_reminded_once_then_daily(
    db: Session,
    container: Container,
    admin: User,
    carla: User,
    smtp: SmtpServer,  # noqa: F811
) -> None:
    """An incident recorded months after it was resolved: one late reminder per deadline
    now, then one a day from now on, not one for every day missed (this was 90 emails)."""
    now = utcnow()
    incident = incident_of(db, admin, "SEV1", started=now - timedelta(days=91), commander=carla)
    resolve_at(db, incident, admin, now - timedelta(days=90))
    db.commit()
    work(db, container)
    subjects = sorted(str(m["Subject"]) for m in reminder_mails(smtp))
    assert len(subjects) == 2, subjects  # the draft and the meeting, once each
    assert all(" late" in s for s in subjects)
    late = db.scalars(select(Job).where(Job.state == QUEUED, Job.kind == reminders.TIMER_JOB)).all()
    assert len(late) == 2 and all(j.run_at > now for j in late)  # the next ones: tomorrow
    assert all(j.run_at < now + timedelta(days=1, hours=1) for j in late)


def test_a_reviewed_or_closed_postmortem_gets_no_reminder(
    db: Session,
    container: Container,
    admin: User,
    carla: User,
    smtp: SmtpServer,  # noqa: F811
) -> None:
    postmortem = resolved_sev1(db, admin, carla)
    service.change_status(db, postmortem, "in_review", by=carla)
    service.change_status(db, postmortem, "reviewed", by=admin, override="Reviewed on a call.")
    service.change_status(db, postmortem, "closed", by=carla)
    for slot in ("before_24h", "before_1h", "late_0"):
        time_passes(db, container, "draft", slot)
        time_passes(db, container, "meeting", slot)
    assert reminder_mails(smtp) == []
    assert planned(db) == []


@pytest.mark.parametrize("how", ["nobody", "deactivated"])
def test_without_an_owner_to_remind_the_timeline_says_so(
    db: Session,
    container: Container,
    admin: User,
    carla: User,
    smtp: SmtpServer,  # noqa: F811
    how: str,
) -> None:
    postmortem = resolved_sev1(db, admin, carla)
    if how == "nobody":
        service.assign_owner(db, postmortem, None, by=admin)
    else:
        catalog.update_user(db, carla, {"active": False})
    time_passes(db, container, "draft", "late_0")
    time_passes(db, container, "draft", "late_0")  # nothing is due twice
    assert reminder_mails(smtp) == []
    entries = [
        e.summary
        for e in incident_queries.timeline(db, postmortem.incident)
        if "no owner to remind" in e.summary
    ]
    assert len(entries) == 1
    assert entries[0].startswith("The postmortem has no owner to remind")


def test_a_changed_deadline_supersedes_the_reminders_of_the_old_one(
    db: Session,
    container: Container,
    admin: User,
    carla: User,
    smtp: SmtpServer,  # noqa: F811
) -> None:
    postmortem = resolved_sev1(db, admin, carla)
    old = postmortem.draft_due_at
    assert old is not None
    old_jobs = [
        j.id
        for j in db.scalars(select(Job).where(Job.kind == reminders.TIMER_JOB))
        if j.payload["deadline"] == "draft"
    ]
    # The deadline moves (as the service does when it sets deadlines): the old timers are
    # cancelled and new ones queued.
    # (In the organisation's zone, as deadlines are computed: the same instant in UTC.)
    postmortem.draft_due_at = (old + timedelta(days=2)).astimezone(ZoneInfo("Europe/Berlin"))
    reminders.plan(db, postmortem)
    db.commit()
    assert {db.get(Job, i).state for i in old_jobs} == {"cancelled"}  # type: ignore[union-attr]
    # A timer of the old deadline that ran anyway (already running when it changed) sends
    # nothing.
    reminders.remind(
        db,
        {"postmortem_id": postmortem.id, "deadline": "draft", "due_at": old.isoformat(),
         "slot": "late_0"},
    )  # fmt: skip
    work(db, container)
    assert reminder_mails(smtp) == []
    time_passes(db, container, "draft", "before_24h")
    assert len(reminder_mails(smtp)) == 1
    assert "the postmortem's draft is due" in reminder_mails(smtp)[0]["Subject"]


def test_a_planned_reminder_is_not_sent_once_the_draft_is_in_review_or_the_owner_changed(
    db: Session,
    container: Container,
    admin: User,
    carla: User,
    responder: User,
    smtp: SmtpServer,  # noqa: F811
) -> None:
    """The timer ran and planned the email; before it went, the postmortem moved on."""
    in_review = resolved_sev1(db, admin, carla)
    handed_over = resolved_sev1(db, admin, carla)
    for postmortem in (in_review, handed_over):
        assert postmortem.draft_due_at is not None
        reminders.remind(
            db,
            {"postmortem_id": postmortem.id, "deadline": "draft",
             "due_at": postmortem.draft_due_at.isoformat(), "slot": "late_0"},
        )  # fmt: skip
    service.change_status(db, in_review, "in_review", by=carla)
    service.assign_owner(db, handed_over, responder.id, by=admin)
    work(db, container)
    assert reminder_mails(smtp) == []
    details = sorted(m.detail for m in planned(db))
    assert details == [
        "not sent: no longer owed (the postmortem moved on, or its deadline changed)",
        "not sent: the postmortem's owner changed",
    ]
