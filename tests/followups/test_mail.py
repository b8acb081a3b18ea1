"""Reminders to a follow-up's owner and the teams' weekly digest, through a real SMTP server.

Days pass by running the periodic scan for a later slot: the scan plans for its slot's day,
and the runner sends what it planned."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy.orm import Session

from tests.notify.conftest import SmtpServer, run_jobs, settings  # noqa: F401  (email to the SMTP fixture)
from tocsin.bootstrap import Container
from tocsin.catalog import service as catalog
from tocsin.catalog.models import User
from tocsin.db import utcnow
from tocsin.followups.mail import SCAN_JOB
from tocsin.incidents import actions
from tocsin.incidents import service as incidents
from tocsin.incidents.models import ActionItem
from tocsin.jobs.queue import enqueue

# A Friday well ahead: a scan runs for its slot's day only when that is not in the past.
_AHEAD = utcnow().date() + timedelta(days=30)
DUE = _AHEAD + timedelta(days=(4 - _AHEAD.weekday()) % 7)


def day(db: Session, container: Container, when: date) -> None:
    """The scan runs as on `when`, and every mail it plans is sent."""
    slot = datetime.combine(when, time(0), tzinfo=UTC)
    enqueue(db, SCAN_JOB, {"slot": slot.isoformat()})
    db.commit()
    run_jobs(container)
    db.rollback()


def mails(smtp: SmtpServer) -> list[tuple[str, str]]:
    """(recipient, subject) of every mail received, in order."""
    return [
        (rcpts[0], str(m["Subject"]))
        for rcpts, m in zip(smtp.mailbox.recipients, smtp.messages, strict=True)
    ]


def _follow_up(db: Session, by: User, title: str, **kw: object) -> ActionItem:
    incident = kw.pop("incident", None) or incidents.declare(db, by=by, title="Payments down")
    return actions.add_action_item(
        db, incident, title=title, kind="follow_up", by=by, due_date=DUE, **kw
    )


def test_the_owner_is_reminded_before_and_after_the_due_date_each_once(
    db: Session,
    container: Container,
    smtp: SmtpServer,
    admin: User,
    responder: User,
) -> None:
    item = _follow_up(db, admin, "Add failover", assignee_id=responder.id)
    db.commit()
    for when in (DUE - timedelta(3), DUE - timedelta(2), DUE - timedelta(2), DUE - timedelta(1)):
        day(db, container, when)
    assert mails(smtp) == [(responder.email, f"Follow-up due {DUE}: Add failover")]
    body = smtp.messages[0].get_content()
    assert "INC-1's follow-up “Add failover” (Payments down) is due in 2 days" in body
    assert "http://tocsin.test/incidents/INC-1#action-items" in body
    day(db, container, DUE)  # one reminder before: none again on the day
    assert len(mails(smtp)) == 1
    for offset in range(1, 8):  # the first overdue day, then nothing for a week
        day(db, container, DUE + timedelta(offset))
    assert mails(smtp)[1:] == [(responder.email, "Overdue follow-up (1 day): Add failover")]
    day(db, container, DUE + timedelta(8))
    assert mails(smtp)[-1] == (responder.email, "Overdue follow-up (8 days): Add failover")
    actions.update_action_item(db, item, {"status": "done"}, by=responder)
    db.commit()
    day(db, container, DUE + timedelta(15))
    assert len(mails(smtp)) == 3


def test_a_new_due_date_is_reminded_anew_and_an_item_closed_before_sending_is_not(
    db: Session,
    container: Container,
    smtp: SmtpServer,
    admin: User,
    responder: User,
) -> None:
    item = _follow_up(db, admin, "Add failover", assignee_id=responder.id)
    db.commit()
    day(db, container, DUE - timedelta(2))
    actions.update_action_item(db, item, {"due_date": DUE + timedelta(7)}, by=admin)
    db.commit()
    day(db, container, DUE + timedelta(5))
    assert [s for _, s in mails(smtp)] == [
        f"Follow-up due {DUE}: Add failover",
        f"Follow-up due {DUE + timedelta(7)}: Add failover",
    ]
    # Planned, then cancelled before the worker sends it: it is not sent.
    enqueue(db, SCAN_JOB, {"slot": datetime.combine(DUE + timedelta(8), time(0), UTC).isoformat()})
    db.commit()
    container.runner(name="test").run_one()  # the scan only
    db.rollback()
    actions.update_action_item(db, db.get(ActionItem, item.id), {"status": "wont_do"}, by=admin)  # type: ignore[arg-type]
    db.commit()
    run_jobs(container)
    assert len(mails(smtp)) == 2


def test_the_weekly_digest_goes_to_the_team_with_unowned_items_but_no_done_ones(
    db: Session,
    container: Container,
    smtp: SmtpServer,
    admin: User,
    responder: User,
) -> None:
    payments = catalog.create_team(db, name="Payments", member_ids=[admin.id, responder.id])
    catalog.create_team(db, name="Search", member_ids=[admin.id])
    gateway = catalog.create_service(db, name="Gateway", team_id=payments.id)
    incident = incidents.declare(db, by=admin, title="Payments down", service_ids=[gateway.id])
    _follow_up(db, admin, "Add failover", incident=incident, assignee_id=responder.id)
    _follow_up(db, admin, "Write the runbook", incident=incident)  # nobody's
    done = _follow_up(db, admin, "Page the vendor", incident=incident, assignee_id=admin.id)
    dropped = _follow_up(db, admin, "Rewrite it all", incident=incident, assignee_id=admin.id)
    actions.update_action_item(db, done, {"status": "done"}, by=admin)
    actions.update_action_item(db, dropped, {"status": "wont_do"}, by=admin)
    db.commit()
    monday = DUE + timedelta(3)  # 3 days overdue, a new ISO week
    day(db, container, monday)
    assert sorted(mails(smtp)) == [
        (admin.email, "Payments: 2 overdue follow-ups"),  # the team's members; not Search's
        (responder.email, "Overdue follow-up (3 days): Add failover"),  # no one else reminded
        (responder.email, "Payments: 2 overdue follow-ups"),
    ]
    digest = next(m for m in smtp.messages if "Payments:" in str(m["Subject"])).get_content()
    assert "INC-1's follow-up “Add failover” (Payments down): 3 days overdue" in digest
    assert f"“Write the runbook” (Payments down): 3 days overdue (due {DUE}), unassigned" in (
        digest
    )
    assert "Page the vendor" not in digest and "Rewrite it all" not in digest
    assert "http://tocsin.test/follow-ups?team=" in digest
    for offset in range(1, 7):  # the rest of the week: no second digest
        day(db, container, monday + timedelta(offset))
    assert [s for _, s in mails(smtp)].count("Payments: 2 overdue follow-ups") == 2
    day(db, container, monday + timedelta(7))
    assert [s for _, s in mails(smtp)].count("Payments: 2 overdue follow-ups") == 4


def test_a_members_digest_leaves_out_restricted_incidents_they_may_not_read(
    db: Session,
    container: Container,
    smtp: SmtpServer,
    admin: User,
    responder: User,
) -> None:
    payments = catalog.create_team(db, name="Payments", member_ids=[admin.id, responder.id])
    gateway = catalog.create_service(db, name="Gateway", team_id=payments.id)
    open_one = incidents.declare(db, by=admin, title="Payments down", service_ids=[gateway.id])
    secret = incidents.declare(
        db, by=admin, title="Card data exposed", service_ids=[gateway.id], restricted=True
    )
    _follow_up(db, admin, "Add failover", incident=open_one)
    _follow_up(db, admin, "Rotate the keys", incident=secret)
    db.commit()
    day(db, container, DUE + timedelta(3))
    digests = {
        str(m["To"]): m.get_content() for m in smtp.messages if "Payments:" in str(m["Subject"])
    }
    to_admin = next(body for to, body in digests.items() if admin.email in to)
    to_responder = next(body for to, body in digests.items() if responder.email in to)
    assert "Rotate the keys" in to_admin and "Add failover" in to_admin
    assert "Add failover" in to_responder
    assert "Rotate the keys" not in to_responder and "Card data exposed" not in to_responder
    assert (responder.email, "Payments: 1 overdue follow-up") in mails(smtp)
