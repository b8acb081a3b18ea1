"""A page for a private incident to someone outside it names it by its codename only: through
the real worker and a real SMTP server on loopback."""

from __future__ import annotations

from sqlalchemy.orm import Session

from tests.notify.conftest import SmtpServer, run_jobs
from tocsin.bootstrap import Container
from tocsin.catalog import service as catalog
from tocsin.catalog.models import User
from tocsin.config import Settings
from tocsin.incidents import members
from tocsin.incidents import service as incidents
from tocsin.notify import methods
from tocsin.notify.service import page_user

TITLE = "Payroll export reached a stranger's inbox"


def test_a_page_names_a_private_incident_by_its_codename_to_those_outside_it(
    db: Session, container: Container, settings: Settings, smtp: SmtpServer, responder: User
) -> None:
    lead = catalog.create_user(db, name="Sol Lead", email="sol@example.com")
    email, _ = methods.create_contact_method(
        db, responder, by=responder, settings=settings, kind="email", target=responder.email
    )
    methods.create_rule(db, responder, by=responder, urgency="high", contact_method_id=email.id)
    incident = incidents.declare(
        db, by=lead, title=TITLE, restricted=True, codename="Operation Bluebird", urgency="high"
    )
    page_user(db, incident=incident, user=responder, reason="paged by hand", key="one")
    db.commit()
    run_jobs(container)

    (mail,) = smtp.messages
    assert mail["Subject"] == "[Tocsin] Operation Bluebird (high urgency)"
    body = mail.get_content()
    assert "Operation Bluebird (a private incident)" in body
    assert "Acknowledge: http://tocsin.test/act/" in body
    for secret in (TITLE, incident.reference, "/incidents/"):
        assert secret not in body and secret not in mail["Subject"]

    # Once a member, the next page says what it is.
    members.add_member(db, incident, user_id=responder.id, by=_admin(db))
    page_user(db, incident=incident, user=responder, reason="paged again", key="two")
    db.commit()
    run_jobs(container)
    subject = " ".join(str(smtp.messages[1]["Subject"]).split())
    assert subject == f"[Tocsin] {incident.reference} (high urgency): {TITLE}"


def _admin(db: Session) -> User:
    return catalog.create_user(db, name="Ada Admin", email="ada@example.com", role="admin")
