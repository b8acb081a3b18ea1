"""People given a role are emailed its responsibilities, through the real jobs and a real
SMTP server; a rolled-back assignment sends nothing."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.notify.conftest import SmtpServer, run_jobs, settings, smtp  # noqa: F401  (fixtures)
from tocsin.bootstrap import Container
from tocsin.catalog.models import User
from tocsin.definitions.models import IncidentRole
from tocsin.incidents import roles, service
from tocsin.notify.models import Mail


def role(db: Session, slug: str) -> IncidentRole:
    return db.scalars(select(IncidentRole).where(IncidentRole.slug == slug)).one()


def notices(db: Session) -> list[Mail]:
    return list(db.scalars(select(Mail).where(Mail.kind == "role_notice").order_by(Mail.id)))


def test_the_new_holder_is_emailed_the_roles_responsibilities(
    db: Session,
    container: Container,
    admin: User,
    responder: User,
    smtp: SmtpServer,  # noqa: F811
) -> None:
    incident = service.declare(db, by=admin, title="Checkout down")
    roles.assign_role(db, incident, role_id=role(db, "sme").id, user_id=responder.id, by=admin)
    db.commit()
    run_jobs(container)
    assert len(smtp.messages) == 1
    mail = smtp.messages[0]
    assert mail["To"].addresses[0].addr_spec == responder.email
    assert mail["Subject"] == "[Tocsin] INC-1: you are Subject Matter Expert"
    body = mail.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "Ada Admin made you Subject Matter Expert on INC-1: Checkout down." in body
    assert "Knows the affected system and works on the fix." in body
    assert "- Diagnose the problem in their area" in body
    assert "http://tocsin.test/incidents/INC-1" in body
    db.expire_all()
    assert [n.state for n in notices(db)] == ["sent"]


def test_a_commander_named_when_declaring_and_one_handed_command_are_told(
    db: Session,
    container: Container,
    admin: User,
    responder: User,
    smtp: SmtpServer,  # noqa: F811
) -> None:
    incident = service.declare(db, by=responder, title="Checkout down", commander_id=admin.id)
    db.commit()
    run_jobs(container)
    roles.hand_over_command(db, incident, to_user_id=responder.id, by=admin)
    db.commit()
    run_jobs(container)
    assert [m["To"].addresses[0].addr_spec for m in smtp.messages] == [
        admin.email,
        responder.email,
    ]
    assert {m["Subject"] for m in smtp.messages} == {"[Tocsin] INC-1: you are Incident Commander"}


def test_self_assignment_and_a_rolled_back_assignment_send_nothing(
    db: Session,
    container: Container,
    admin: User,
    responder: User,
    smtp: SmtpServer,  # noqa: F811
) -> None:
    incident = service.declare(db, by=admin, title="Checkout down")
    db.commit()
    roles.assign_role(db, incident, role_id=role(db, "scribe").id, user_id=admin.id, by=admin)
    db.commit()
    roles.assign_role(db, incident, role_id=role(db, "scribe").id, user_id=responder.id, by=admin)
    db.rollback()
    run_jobs(container)
    assert smtp.messages == []
    assert notices(db) == []


def test_a_holder_removed_before_sending_is_not_told(
    db: Session,
    container: Container,
    admin: User,
    responder: User,
    smtp: SmtpServer,  # noqa: F811
) -> None:
    incident = service.declare(db, by=admin, title="Checkout down")
    sme = role(db, "sme").id
    roles.assign_role(db, incident, role_id=sme, user_id=responder.id, by=admin)
    roles.unassign_role(db, incident, role_id=sme, user_id=responder.id, by=admin)
    db.commit()
    run_jobs(container)
    assert smtp.messages == []
    db.expire_all()
    [notice] = notices(db)
    assert notice.state == "skipped" and "no longer hold" in notice.detail


def test_a_role_given_again_after_it_was_taken_away_is_told_again_and_a_drill_says_so(
    db: Session,
    container: Container,
    admin: User,
    responder: User,
    smtp: SmtpServer,  # noqa: F811
) -> None:
    incident = service.declare(db, by=admin, title="Checkout down", drill=True)
    scribe = role(db, "scribe").id
    roles.assign_role(db, incident, role_id=scribe, user_id=responder.id, by=admin)
    db.commit()
    run_jobs(container)
    roles.unassign_role(db, incident, role_id=scribe, user_id=responder.id, by=admin)
    roles.assign_role(db, incident, role_id=scribe, user_id=responder.id, by=admin)
    db.commit()
    run_jobs(container)
    assert len(smtp.messages) == 2
    assert {m["Subject"] for m in smtp.messages} == {"[Tocsin] [DRILL] INC-1: you are Scribe"}
    body = smtp.messages[0].get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert body.startswith("DRILL: this is a practice incident")
    assert smtp.messages[0]["X-Tocsin-Incident"] == "INC-1"
