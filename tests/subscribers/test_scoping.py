"""Who hears about what (Statuspage's semantics): the whole page, or chosen components;
nothing from drills, restricted incidents or silent updates; each event once."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy.orm import Session

from tests.notify.conftest import SmtpServer
from tests.subscribers.conftest import Acme, active, change_component, publish, run_jobs
from tocsin.bootstrap import Container
from tocsin.catalog.models import User
from tocsin.config import Settings
from tocsin.db import utcnow
from tocsin.incidents import service as incidents
from tocsin.statuspages.models import PageIncident
from tocsin.subscribers import service


def _recipients(smtp: SmtpServer, start: int = 0) -> set[str]:
    return {r for rcpts in smtp.mailbox.recipients[start:] for r in rcpts}


def test_component_subscribers_hear_only_about_their_components(
    db: Session, container: Container, smtp: SmtpServer, acme: Acme, settings: Settings,
    admin: User,
) -> None:  # fmt: skip
    active(db, acme.page, settings, admin, email="all@example.com")
    active(db, acme.page, settings, admin, email="api@example.com", components=[acme.api])
    active(db, acme.page, settings, admin, email="db@example.com", components=[acme.database])
    active(
        db, acme.page, settings, admin, email="both@example.com",
        components=[acme.api, acme.search],
    )  # fmt: skip

    # An incident on the API (changing its status).
    publish(db, acme.page, changes={acme.api: "partial_outage"})
    db.commit()
    run_jobs(container)
    assert _recipients(smtp) == {"all@example.com", "api@example.com", "both@example.com"}

    # A status set by hand on the database (no incident).
    seen = len(smtp.messages)
    change, queued = change_component(db, acme.database, "degraded_performance")
    db.commit()
    assert queued == 2
    run_jobs(container)
    assert _recipients(smtp, seen) == {"all@example.com", "db@example.com"}
    mail = smtp.messages[-1]
    assert mail["Subject"] == "[Acme Cloud] Database: Degraded performance"

    # An incident that names the search component without changing its status.
    seen = len(smtp.messages)
    publish(db, acme.page, name="Slow search", components=[acme.search])
    db.commit()
    run_jobs(container)
    assert _recipients(smtp, seen) == {"all@example.com", "both@example.com"}

    # An incident naming no component goes to everyone.
    seen = len(smtp.messages)
    publish(db, acme.page, name="Login trouble")
    db.commit()
    run_jobs(container)
    assert _recipients(smtp, seen) == {
        "all@example.com", "api@example.com", "db@example.com", "both@example.com",
    }  # fmt: skip


def test_each_event_is_delivered_once_however_often_it_is_reported(
    db: Session, container: Container, smtp: SmtpServer, acme: Acme, settings: Settings,
    admin: User,
) -> None:  # fmt: skip
    active(db, acme.page, settings, admin, email="once@example.com")
    update, _, queued = publish(db, acme.page)
    assert queued == 1
    assert service.on_page_event(db, page_incident_update=update) == 0
    db.commit()
    assert service.on_page_event(db, page_incident_update=update) == 0  # a retried caller
    db.commit()
    run_jobs(container)
    assert len(smtp.messages) == 1


def test_drills_restricted_incidents_and_silent_updates_reach_nobody(
    db: Session, container: Container, smtp: SmtpServer, acme: Acme, settings: Settings,
    admin: User, responder: User,
) -> None:  # fmt: skip
    active(db, acme.page, settings, admin, email="watcher@example.com")
    active(db, acme.page, settings, admin, endpoint="http://127.0.0.1:9/hook")

    _, _, queued = publish(db, acme.page, deliver=False, changes={acme.api: "major_outage"})
    assert queued == 0  # neither the update nor the change it made

    for flag in ("drill", "restricted"):
        incident = incidents.declare(db, by=responder, title=f"A {flag}", urgency="low")
        setattr(incident, flag, True)
        db.flush()
        pi = PageIncident(page_id=acme.page.id, name="Leaky", status="investigating")
        pi.incident_id = incident.id
        db.add(pi)
        db.flush()
        db.refresh(pi)
        _, _, queued = publish(db, acme.page, incident=pi, changes={acme.search: "major_outage"})
        assert queued == 0, flag
    db.commit()
    run_jobs(container)
    assert smtp.messages == []


def test_maintenance_reminders_go_to_the_components_subscribers_while_still_scheduled(
    db: Session, container: Container, smtp: SmtpServer, acme: Acme, settings: Settings,
    admin: User,
) -> None:  # fmt: skip
    active(db, acme.page, settings, admin, email="dba@example.com", components=[acme.database])
    active(db, acme.page, settings, admin, email="api@example.com", components=[acme.api])
    start = utcnow() + timedelta(hours=1)
    maintenance = PageIncident(
        page_id=acme.page.id, kind="maintenance", name="Database upgrade", status="scheduled",
        impact="maintenance", scheduled_for=start, scheduled_until=start + timedelta(hours=2),
        scheduled_remind_prior_minutes=60,
    )  # fmt: skip
    maintenance.components = [acme.database]
    db.add(maintenance)
    db.flush()
    assert service.on_page_event(db, reminder_for=maintenance) == 1
    assert service.on_page_event(db, reminder_for=maintenance) == 0
    db.commit()
    run_jobs(container)
    (mail,) = smtp.messages
    assert smtp.mailbox.recipients == [["dba@example.com"]]
    assert mail["Subject"].startswith("[Acme Cloud] Reminder: Database upgrade starts ")
    assert "Components: Database" in mail.get_body(preferencelist=("plain",)).get_content()

    # A reminder that is only sent once the maintenance started is not sent.
    late = PageIncident(
        page_id=acme.page.id, kind="maintenance", name="Late one", status="scheduled",
        scheduled_for=start, scheduled_until=start + timedelta(hours=1),
    )  # fmt: skip
    db.add(late)
    db.flush()
    assert service.on_page_event(db, reminder_for=late) == 2
    late.status = "in_progress"
    db.commit()
    run_jobs(container)
    assert len(smtp.messages) == 1


def test_a_page_closed_to_subscribers_delivers_nothing(
    db: Session, container: Container, smtp: SmtpServer, acme: Acme, settings: Settings,
    admin: User,
) -> None:  # fmt: skip
    active(db, acme.page, settings, admin, email="quiet@example.com")
    acme.page.allow_subscribers = False
    db.flush()
    _, _, queued = publish(db, acme.page)
    assert queued == 0


def test_the_incident_timeline_says_how_many_subscribers_are_told(
    db: Session, container: Container, acme: Acme, settings: Settings, admin: User,
    responder: User,
) -> None:  # fmt: skip
    from tocsin.incidents import queries

    active(db, acme.page, settings, admin, email="one@example.com")
    incident = incidents.declare(db, by=responder, title="Checkout errors", urgency="high")
    pi = PageIncident(page_id=acme.page.id, name="Checkout errors", status="investigating")
    pi.incident_id = incident.id
    db.add(pi)
    db.flush()
    db.refresh(pi)
    publish(db, acme.page, incident=pi)
    summaries = [e.summary for e in queries.timeline(db, incident)]
    assert "Acme Cloud: the update goes to 1 status page subscriber" in summaries
