"""The composition root: each reaction wired in `build_bus` happens through the bus, in the
transaction of the change that caused it; the pages show other domains' cards; `tocsin check`
collects every domain's findings."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.conftest import browser_login
from tests.escalation.conftest import person, work
from tests.notify.conftest import SmtpServer, settings, smtp  # noqa: F401
from tocsin.alerts import service as alerts
from tocsin.alerts.apply import Applier
from tocsin.alerts.events import AlertOpened, AlertResolved
from tocsin.alerts.models import Alert, Integration
from tocsin.alerts.models import Event as Received
from tocsin.alerts.pagerduty import ParsedEvent
from tocsin.alerts.pipeline import event_row
from tocsin.app import create_app
from tocsin.bootstrap import Container
from tocsin.bus import Bus, Event, session_info
from tocsin.catalog import service as catalog
from tocsin.catalog.models import Service, User
from tocsin.comms import followers
from tocsin.comms.models import CommsDelivery, Stakeholder
from tocsin.config import Settings
from tocsin.db import make_sessionmaker, transaction, utcnow
from tocsin.escalation import engine, policies
from tocsin.escalation.events import PageAcknowledged
from tocsin.incidents import service as incidents
from tocsin.incidents.models import Incident, TimelineEntry
from tocsin.incidents.updates import post_update
from tocsin.jobs.models import Job
from tocsin.jobs.runner import JobRunner
from tocsin.notify import methods
from tocsin.notify.events import NotificationSent
from tocsin.notify.models import Notification, ShiftNotice
from tocsin.notify.service import contact_methods
from tocsin.schedules import service as schedules
from tocsin.statuspages import publish
from tocsin.statuspages import service as statuspages
from tocsin.subscribers import service as subscribers
from tocsin.subscribers.models import Delivery
from tocsin.web.cards import Cards
from tocsin.wiring import build_bus


@pytest.fixture
def checkout(db: Session) -> Service:
    return catalog.create_service(db, name="Checkout")


def _jobs(db: Session, kind: str) -> list[Job]:
    return list(db.scalars(select(Job).where(Job.kind == kind)))


def _stakeholders(db: Session, incident_id: int) -> list[int | None]:
    return list(
        db.scalars(select(Stakeholder.user_id).where(Stakeholder.incident_id == incident_id))
    )


def _summaries(db: Session, incident_id: int, kind: str) -> list[str]:
    return list(
        db.scalars(
            select(TimelineEntry.summary)
            .where(TimelineEntry.incident_id == incident_id, TimelineEntry.kind == kind)
            .order_by(TimelineEntry.id)
        )
    )


def _send(session: Session, integration: Integration, action: str, dedup_key: str) -> None:
    """An event from the sender, applied as the event processor applies it."""
    parsed = ParsedEvent(routing_key="", action=action, dedup_key=dedup_key, summary="Disk full")
    row = Received(**event_row(integration.id, parsed, raw=None, received_at=utcnow()))
    session.add(row)
    session.flush()
    Applier(session).apply_all([row])


def test_declaring_on_a_followed_service_adds_its_followers_and_starts_paging(
    db: Session, container: Container, checkout: Service, admin: User, responder: User
) -> None:
    followers.follow_service(db, checkout, by=responder)
    db.commit()
    incident = incidents.declare(db, by=admin, title="Checkout down", service_ids=[checkout.id])
    assert _stakeholders(db, incident.id) == [responder.id]
    assert [j.payload for j in _jobs(db, engine.START_JOB)] == [{"incident_id": incident.id}]
    db.rollback()  # the change is rolled back: so are its reactions
    assert _jobs(db, engine.START_JOB) == [] and db.scalars(select(Stakeholder)).all() == []


def test_incidents_alone_know_nothing_of_followers_or_paging(
    container: Container, checkout: Service, admin: User, responder: User, db: Session
) -> None:
    followers.follow_service(db, checkout, by=responder)
    db.commit()
    bare = make_sessionmaker(container.engine, info=session_info(Bus()))()
    try:
        incident = incidents.declare(
            bare, by=None, title="Checkout down", service_ids=[checkout.id]
        )
        assert _stakeholders(bare, incident.id) == []
        assert _jobs(bare, engine.START_JOB) == []
    finally:
        bare.rollback()
        bare.close()


def test_acknowledging_the_incident_stops_its_paging(
    db: Session,
    container: Container,
    settings: Settings,  # noqa: F811
    smtp: SmtpServer,  # noqa: F811
) -> None:
    ann, carol = person(db, settings, "Ann"), person(db, settings, "Carol")
    (email,) = contact_methods(db, carol)
    phone, _ = methods.create_contact_method(
        db, carol, by=carol, settings=settings, kind="email", target="carol.phone@example.com"
    )
    methods.create_rule(db, carol, by=carol, urgency="high", contact_method_id=email.id)
    methods.create_rule(
        db, carol, by=carol, urgency="high", contact_method_id=phone.id, delay_minutes=10
    )
    service = catalog.create_service(db, name="Payments")
    policy = policies.create_policy(
        db,
        name="Carol first",
        repeat=0,
        levels=[{"delay_minutes": 5, "targets": [{"kind": "user", "id": carol.id}]}],
    )
    policies.set_service_paging(db, service, policy_id=policy.id)
    incident = incidents.declare(db, by=ann, title="Payments failing", service_ids=[service.id])
    work(db, container)  # Carol's email goes now, her second method is planned for later
    incidents.acknowledge(db, db.get(Incident, incident.id), by=ann)  # incidents' own service
    db.commit()
    (run,) = engine.runs_for(db, incident.id)
    assert (run.state, run.ended_reason, run.acknowledged_by_id) == (
        "acknowledged",
        "acknowledged by Ann",
        ann.id,
    )
    states = {n.contact_method_id: (n.state, n.detail) for n in db.scalars(select(Notification))}
    assert states == {
        email.id: ("sent", f"sent to {email.label}"),
        phone.id: ("cancelled", "not sent: acknowledged by Ann"),
    }
    assert _summaries(db, incident.id, "paging")[-1] == (
        "Ann acknowledged the page; escalation stopped"
    )


def test_an_incident_made_restricted_is_withdrawn_from_the_status_pages(
    db: Session, container: Container, admin: User, checkout: Service
) -> None:
    page = statuspages.create_page(db, {"name": "Acme", "slug": "acme", "owner_user_id": admin.id})
    component = statuspages.create_component(
        db, page, {"name": "Checkout", "service_id": checkout.id}
    )
    incident = incidents.declare(db, by=admin, title="Checkout down", service_ids=[checkout.id])
    draft = publish.check(
        db,
        page,
        incident,
        phase="investigating",
        body="We are looking into it.",
        components={component.id: "major_outage"},
    )
    publish.publish(db, draft, by=admin)
    db.commit()
    assert component.status == "major_outage"
    incidents.edit(db, incident, {"restricted": True}, by=admin)
    db.flush()
    db.refresh(component)
    assert component.status == "operational"  # the page must not show what it cannot explain


def test_a_service_added_to_an_incident_brings_its_followers(
    db: Session, admin: User, responder: User, checkout: Service
) -> None:
    followers.follow_service(db, checkout, by=responder)
    incident = incidents.declare(db, by=admin, title="Slow search")
    assert _stakeholders(db, incident.id) == []
    incidents.edit(db, incident, {"service_ids": [checkout.id]}, by=admin)
    assert _stakeholders(db, incident.id) == [responder.id]


def test_an_internal_update_goes_to_the_stakeholders(
    db: Session,
    settings: Settings,  # noqa: F811
    admin: User,
    responder: User,
    checkout: Service,  # noqa: F811
) -> None:
    methods.create_contact_method(
        db, responder, by=responder, settings=settings, kind="email", target=responder.email
    )
    followers.follow_service(db, checkout, by=responder)
    incident = incidents.declare(db, by=admin, title="Checkout down", service_ids=[checkout.id])
    update = post_update(db, incident, phase="investigating", body="Looking into it.", by=admin)
    deliveries = db.scalars(select(CommsDelivery).where(CommsDelivery.update_id == update.id))
    assert [d.user_id for d in deliveries] == [responder.id]


def test_a_schedule_change_tells_the_people_whose_shifts_changed(
    db: Session, admin: User, responder: User
) -> None:
    schedule = schedules.create_schedule(db, name="Primary", timezone="UTC")
    schedules.add_layer(
        db,
        schedule,
        {
            "name": "Daily",
            "shift_length": 1,
            "shift_unit": "days",
            "handoff_time": "00:00",
            "start_date": date.today() - timedelta(days=7),
            "member_ids": [responder.id],
        },
    )
    now = utcnow()
    schedules.add_override(
        db,
        schedule,
        user_id=admin.id,
        start=now + timedelta(days=2),
        end=now + timedelta(days=3),
        by=admin,
    )
    notices = db.scalars(select(ShiftNotice).where(ShiftNotice.kind == "changed")).all()
    told = {n.user_id: n.data["cause"] for n in notices if "override" in n.data["cause"]}
    assert told == {admin.id: "override by Ada Admin", responder.id: "override by Ada Admin"}


def test_a_component_change_is_queued_for_the_page_subscribers(
    db: Session,
    settings: Settings,  # noqa: F811
    admin: User,
) -> None:
    page = statuspages.create_page(db, {"name": "Acme", "slug": "acme", "owner_user_id": admin.id})
    component = statuspages.create_component(db, page, {"name": "API"})
    subscribers.add_subscriber(
        db, page, email="fan@example.com", skip_confirmation=True, by=admin, settings=settings
    )
    statuspages.set_component_status(db, component, "partial_outage", by=admin)
    assert [d.kind for d in db.scalars(select(Delivery))] == ["component_update"]


def test_alert_and_page_events_are_emitted(
    container: Container,
    settings: Settings,  # noqa: F811
    smtp: SmtpServer,  # noqa: F811
) -> None:
    seen: list[Event] = []
    bus = build_bus()  # the real reactions, and a handler recording these events
    for kind in (AlertOpened, AlertResolved, NotificationSent, PageAcknowledged):
        bus.subscribe(kind, lambda session, event: seen.append(event))
    factory = make_sessionmaker(container.engine, info=session_info(bus))
    with transaction(factory) as session:
        carol = person(session, settings, "Carol")
        service = catalog.create_service(session, name="Disks")
        policy = policies.create_policy(
            session,
            name="Carol",
            repeat=0,
            levels=[{"delay_minutes": 5, "targets": [{"kind": "user", "id": carol.id}]}],
        )
        policies.set_service_paging(session, service, policy_id=policy.id)
        integration, _ = alerts.create_integration(session, service_id=service.id, name="Prom")
    with transaction(factory) as session:
        _send(session, integration, "trigger", "disk")
        alert = session.scalars(select(Alert)).one()
    assert seen == [
        AlertOpened(alert.id, integration.id, service.id, alert.incident_id, "disk",
                    "error", "Disk full", joined=False)
    ]  # fmt: skip
    JobRunner(factory, container.registry, listen=False).run_until_idle()  # pages Carol
    (sent,) = seen[1:]
    assert isinstance(sent, NotificationSent) and sent.user_id == carol.id
    with transaction(factory) as session:
        _send(session, integration, "resolve", "disk")
    assert seen[-1] == AlertResolved(alert.id, service.id, alert.incident_id)


def test_the_incident_page_shows_only_the_cards_wired_for_it(
    settings: Settings,  # noqa: F811
    container: Container,
    db: Session,
    admin: User,
) -> None:
    incident = incidents.declare(db, by=admin, title="Checkout down")
    db.commit()
    app = create_app(settings, container=container)
    with TestClient(app, base_url="http://testserver") as client:
        browser_login(client, admin.email)
        wired = client.get(f"/incidents/{incident.reference}").text
        assert all(f'id="{card}"' in wired for card in ("paging", "communication"))
        app.state.cards = Cards()  # the incident page does not need the other domains
        bare = client.get(f"/incidents/{incident.reference}")
        assert bare.status_code == 200 and "Checkout down" in bare.text
        assert 'id="paging"' not in bare.text and 'id="communication"' not in bare.text
