"""The weekly Insights report, through a real SMTP server.

Monday 2026-03-09 09:00 UTC reports on the week of 2 March: of the history in conftest.py, A
(Payments, SEV1, acknowledged in 5 min, resolved in 70 min, target met) and B (Payments and
Web, SEV1, acknowledged in 90 min, resolved in 4 h, target missed) fall in it for Payments.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from email.message import EmailMessage

from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.notify.conftest import SmtpServer, run_jobs, settings, smtp  # noqa: F401  (email to the SMTP fixture)
from tocsin.bootstrap import Container
from tocsin.catalog import service as catalog
from tocsin.catalog.models import User
from tocsin.config import Settings
from tocsin.definitions.models import Severity
from tocsin.incidents import actions
from tocsin.incidents import service as incidents
from tocsin.incidents.models import Incident, TimelineEntry
from tocsin.insights import report
from tocsin.jobs.queue import enqueue
from tocsin.notify.models import Notification
from tocsin.postmortems import service as postmortems

MONDAY = datetime(2026, 3, 9, 9, 0, tzinfo=UTC)


def reports(server: SmtpServer) -> list[EmailMessage]:
    """The weekly reports received (the history's postmortems send their own reminders)."""
    return [m for m in server.messages if "incidents and on-call" in str(m["Subject"])]


def _members(db: Session, history: dict[str, Incident], admin: User) -> tuple[User, User]:
    quiet = catalog.create_user(db, name="Quinn Quit", email="quinn@example.com")
    catalog.update_team(db, history["payments"], {"member_ids": [admin.id, quiet.id]})  # type: ignore[arg-type]
    catalog.update_user(db, quiet, {"active": False})
    db.commit()
    return admin, quiet


def test_each_member_gets_last_weeks_figures_once(
    db: Session,
    container: Container,
    settings: Settings,  # noqa: F811
    smtp: SmtpServer,  # noqa: F811
    admin: User,
    history: dict[str, Incident],
) -> None:
    _members(db, history, admin)
    # Ada (UTC) was paged for A on Monday 2 March at 23:30: out of hours and during sleep.
    night = datetime(2026, 3, 2, 23, 30, tzinfo=UTC)
    db.add(
        Notification(
            incident_id=history["A"].id,
            user_id=admin.id,
            channel="email",
            rule_position=0,
            page_key=f"manual:1:{admin.id}",
            idempotency_key="report-test",
            state="sent",
            planned_at=night,
            created_at=night,
            updated_at=night,
        )
    )
    db.commit()
    assert report.plan_reports(db, MONDAY, settings) == 1  # the deactivated member gets none
    db.commit()
    run_jobs(container)
    assert report.plan_reports(db, MONDAY.replace(hour=10), settings) == 0  # once a week
    db.commit()
    [mail] = reports(smtp)
    assert mail["To"] == "Ada Admin <admin@example.com>"
    assert mail["Subject"] == "Payments: incidents and on-call, week of 2026-03-02"
    body = mail.get_content()
    assert "Incidents: 2" in body  # A and B
    # MTTA: 5 min and 90 min → median 47 min 30 s, shown as minutes.
    assert "Time to acknowledge (MTTA): median 47 min" in body
    # MTTR: 70 min and 4 h → median 2 h 35 min.
    assert "Time to resolve (MTTR): median 2 h 35 min" in body
    assert "Response targets met: 50% (1 met, 1 missed)" in body
    assert "http://tocsin.test/insights?period=week&date=2026-03-02&team=" in body
    assert "C secret" not in body  # only figures, never a title
    assert "1 page to 1 person: 1 out of hours (09:00–17:00), 1 during sleep" in body
    assert "- Ada Admin: 1 page, 1 out of hours, 1 during sleep" in body


def test_nothing_before_monday_morning_and_nothing_when_turned_off(
    db: Session,
    settings: Settings,  # noqa: F811
    admin: User,
    history: dict[str, Incident],
) -> None:
    _members(db, history, admin)
    assert report.plan_reports(db, datetime(2026, 3, 9, 7, 59, tzinfo=UTC), settings) == 0
    off = settings.model_copy(update={"insights_weekly_report": False})
    assert report.plan_reports(db, MONDAY, off) == 0
    # Later in the week it is made up (a worker that was down on Monday).
    assert report.plan_reports(db, datetime(2026, 3, 11, 3, tzinfo=UTC), settings) == 1


def test_the_hourly_scan_is_a_registered_job(
    db: Session,
    container: Container,
    smtp: SmtpServer,  # noqa: F811
    admin: User,
    history: dict[str, Incident],
) -> None:
    _members(db, history, admin)
    # A slot in the future makes the scan run as then: the week before holds nothing.
    enqueue(db, report.SCAN_JOB, {"slot": "2031-06-02T09:00:00+00:00"})
    db.commit()
    run_jobs(container)
    [mail] = reports(smtp)
    assert "week of 2031-05-26" in mail["Subject"]
    assert "No incidents (the week before: 0)." in mail.get_content()
    assert "Nobody in the team was paged." in mail.get_content()
    assert "No incident needed a postmortem (required for SEV1, SEV2)." in mail.get_content()
    assert "No follow-ups." in mail.get_content()


def _reviewed(db: Session, incident: Incident, when: datetime, by: User) -> None:
    """The incident's postmortem moved to Reviewed (an admin's override), backdated."""
    postmortem = postmortems.for_incident(db, incident)
    assert postmortem is not None
    postmortems.change_status(db, postmortem, "in_review", by=by)
    postmortems.change_status(db, postmortem, "reviewed", by=by, override="seeded")
    db.flush()
    entries = db.scalars(
        select(TimelineEntry).where(
            TimelineEntry.incident_id == incident.id,
            TimelineEntry.field == "postmortem_status",
        )
    )
    [reviewed] = [e for e in entries if e.new_value == "reviewed"]
    reviewed.occurred_at = when


def test_the_report_says_how_the_team_learns_from_the_weeks_incidents(
    db: Session,
    container: Container,
    settings: Settings,  # noqa: F811
    smtp: SmtpServer,  # noqa: F811
    admin: User,
    history: dict[str, Incident],
) -> None:
    _members(db, history, admin)
    a, b = history["A"], history["B"]
    sev2 = db.scalars(select(Severity.id).where(Severity.name == "SEV2")).one()
    # R: a restricted SEV2 of Payments detected on 4 March, still open.
    r = incidents.declare(
        db,
        by=admin,
        title="R hush-hush",
        severity_id=sev2,
        service_ids=[history["pay"].id],
        urgency="none",
        restricted=True,
        detected_at=datetime(2026, 3, 4, 9, 0, tzinfo=UTC),
    )
    # A (resolved 2 March 11:10, review due 5 March 11:10) reviewed on 4 March: on time.
    # B (resolved 6 March 02:00, review due 9 March 02:00) not reviewed by Monday 09:00: late.
    _reviewed(db, a, datetime(2026, 3, 4, 15, 0, tzinfo=UTC), admin)

    def follow_up(
        incident: Incident,
        title: str,
        created: date,
        due: date | None,
        status: str = "open",
        kind: str = "follow_up",
    ) -> None:
        item = actions.add_action_item(
            db,
            incident,
            title=title,
            kind=kind,
            due_date=due,
            by=admin,
            occurred_at=datetime.combine(created, datetime.min.time(), tzinfo=UTC),
        )
        if status != "open":
            actions.update_action_item(db, item, {"status": status}, by=admin)

    follow_up(a, "Add a circuit breaker", date(2026, 3, 3), None, status="done")
    follow_up(a, "Alert on queue depth", date(2026, 3, 3), None, status="wont_do")
    follow_up(a, "Restart the gateway", date(2026, 3, 2), date(2026, 3, 1), kind="incident")
    follow_up(b, "Retry payouts", date(2026, 3, 6), date(2026, 3, 8))  # 3 days old, overdue
    follow_up(b, "Load test", date(2026, 3, 2), date(2026, 3, 20), status="in_progress")  # 7
    follow_up(r, "Rotate the leaked keys", date(2026, 3, 4), date(2026, 3, 5))  # 5, overdue
    db.commit()

    assert report.plan_reports(db, MONDAY, settings) == 1
    db.commit()
    run_jobs(container)
    [mail] = reports(smtp)
    body = mail.get_content()
    assert "Incidents: 3" in body  # A, B and R
    # Needing a postmortem (SEV1 and SEV2): A on time, B late, R not resolved: 1 of 2 due.
    assert (
        "Postmortems reviewed on time (SEV1, SEV2): 50% (1 on time, 1 late, 1 not due yet)." in body
    )
    # Follow-ups (the incident action item is not one): 5, of which open "Retry payouts"
    # (3 days old), "Load test" (7) and R's (5); overdue before 9 March: "Retry payouts", R's.
    assert "Follow-ups: 5 (1 done, 1 won't do, 3 open, 2 overdue)." in body
    # Ages 3, 5, 7: median 5, nearest-rank p90 the 3rd of 3 (7), oldest 7.
    assert "Open follow-ups' age: median 5 days, 90th percentile 7 days, oldest 7 days." in body
    # Figures only: neither the restricted incident nor any follow-up is named.
    for title in ("R hush-hush", "Rotate the leaked keys", "Retry payouts", "Load test"):
        assert title not in body
