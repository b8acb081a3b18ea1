"""Scheduled maintenance: its timers move it through its states and its components."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.statuspages.conftest import Acme, queued, time_passes, work
from tocsin.bootstrap import Container
from tocsin.catalog.models import User
from tocsin.db import utcnow
from tocsin.errors import InvalidTransition, ValidationFailed
from tocsin.jobs.models import Job
from tocsin.statuspages import maintenance
from tocsin.statuspages.models import PageIncident


def _schedule(db: Session, acme: Acme, admin: User, **extra: object) -> PageIncident:
    now = utcnow()
    data = {
        "name": "Database upgrade",
        "scheduled_for": now + timedelta(hours=2),
        "scheduled_until": now + timedelta(hours=3),
        "component_ids": [acme.checkout.id, acme.api.id],
        "remind_minutes": 30,
        **extra,
    }
    pi = maintenance.schedule(db, acme.page, data, body="We upgrade PostgreSQL.", by=admin)
    db.commit()
    return pi


def test_timers_are_queued_for_the_window(db: Session, admin: User, acme: Acme) -> None:
    pi = _schedule(db, acme, admin)
    assert pi.status == "scheduled" and pi.impact == "maintenance"
    assert [u.body for u in pi.updates] == ["We upgrade PostgreSQL."]
    [start] = queued(db, maintenance.START_JOB)
    [end] = queued(db, maintenance.END_JOB)
    [remind] = queued(db, maintenance.REMIND_JOB)
    assert start.run_at == pi.scheduled_for and end.run_at == pi.scheduled_until
    assert remind.run_at == pi.scheduled_for - timedelta(minutes=30)


def test_the_window_moves_it_on_and_back(
    db: Session, admin: User, acme: Acme, container: Container
) -> None:
    pi = _schedule(db, acme, admin)
    work(db, container)  # nothing is due yet
    db.refresh(pi)
    assert pi.status == "scheduled" and pi.reminded_at is None

    time_passes(db, container, maintenance.REMIND_JOB)
    db.refresh(pi)
    assert pi.reminded_at is not None, "subscribers were reminded (once)"

    time_passes(db, container, maintenance.START_JOB)
    db.refresh(pi)
    assert pi.status == "scheduled", "a timer that fires before the start does nothing"
    db.execute(
        PageIncident.__table__.update()
        .where(PageIncident.id == pi.id)
        .values(scheduled_for=utcnow() - timedelta(seconds=1))
    )
    db.execute(
        Job.__table__.update().where(Job.kind == maintenance.START_JOB).values(state="queued")
    )
    time_passes(db, container, maintenance.START_JOB)
    db.refresh(pi)
    db.refresh(acme.checkout)
    db.refresh(acme.api)
    assert pi.status == "in_progress"
    assert (acme.checkout.status, acme.api.status) == ("under_maintenance", "under_maintenance")
    assert pi.updates[0].status == "in_progress"
    assert pi.updates[0].body.startswith("Scheduled maintenance is currently in progress")
    assert {a["new_status"] for a in pi.updates[0].affected_components} == {"under_maintenance"}

    maintenance.transition(db, pi, "verifying", body="Checking replicas.", by=admin)
    db.execute(
        PageIncident.__table__.update()
        .where(PageIncident.id == pi.id)
        .values(scheduled_until=utcnow() - timedelta(seconds=1))
    )
    time_passes(db, container, maintenance.END_JOB)
    db.refresh(pi)
    db.refresh(acme.checkout)
    assert pi.status == "completed" and pi.resolved_at is not None
    assert acme.checkout.status == "operational"
    assert [u.status for u in pi.updates] == ["completed", "verifying", "in_progress", "scheduled"]


def test_manual_transitions_and_refusals(db: Session, admin: User, acme: Acme) -> None:
    pi = _schedule(db, acme, admin, scheduled_auto_in_progress=False)
    with pytest.raises(InvalidTransition, match="cannot move to verifying"):
        maintenance.transition(db, pi, "verifying", by=admin)
    maintenance.transition(db, pi, "in_progress", body="Started early.", by=admin)
    assert acme.api.status == "under_maintenance"
    maintenance.transition(db, pi, "completed", by=admin)
    db.commit()
    assert acme.api.status == "operational"
    assert queued(db, maintenance.END_JOB) == [], "a completed maintenance's timers are cancelled"
    with pytest.raises(InvalidTransition):
        maintenance.transition(db, pi, "in_progress", by=admin)
    with pytest.raises(InvalidTransition, match="completed"):
        maintenance.reschedule(db, pi, {"name": "x"}, by=admin)


def test_rescheduling_moves_the_timers(db: Session, admin: User, acme: Acme) -> None:
    pi = _schedule(db, acme, admin)
    later = pi.scheduled_for + timedelta(days=1)
    maintenance.reschedule(
        db, pi, {"scheduled_for": later, "scheduled_until": later + timedelta(hours=1)}, by=admin
    )
    db.commit()
    [start] = queued(db, maintenance.START_JOB)
    assert start.run_at == later
    cancelled = db.scalars(
        select(Job).where(Job.kind == maintenance.START_JOB, Job.state == "cancelled")
    ).all()
    assert len(cancelled) == 1


def test_bad_windows_are_refused(db: Session, admin: User, acme: Acme) -> None:
    now = utcnow()
    with pytest.raises(ValidationFailed, match="after scheduled_for"):
        maintenance.schedule(db, acme.page, {"name": "x", "scheduled_for": now + timedelta(hours=2),
                             "scheduled_until": now + timedelta(hours=1)}, by=admin)  # fmt: skip
    with pytest.raises(ValidationFailed, match="in the future"):
        maintenance.schedule(db, acme.page, {"name": "x", "scheduled_for": now - timedelta(hours=2),
                             "scheduled_until": now - timedelta(hours=1)}, by=admin)  # fmt: skip
    with pytest.raises(ValidationFailed, match="remind_minutes"):
        _schedule(db, acme, admin, remind_minutes=0)


def test_the_scheduler_page_schedules_and_updates(
    db: Session, responder: User, acme: Acme, client
) -> None:  # type: ignore[no-untyped-def]
    from tests.conftest import browser_login

    csrf = browser_login(client, responder.email)
    response = client.post(
        f"/status-pages/{acme.page.id}/maintenance",
        data={
            "csrf_token": csrf,
            "name": "Network work",
            "scheduled_for": "2099-01-01T10:00",
            "scheduled_until": "2099-01-01T11:00",
            "component_ids": [str(acme.api.id)],
            "auto_in_progress": "on",
            "auto_completed": "on",
            "to_maintenance_state": "on",
            "to_operational_state": "on",
            "remind": "on",
            "remind_minutes": "45",
            "body": "Switch upgrade.",
            "deliver_notifications": "on",
        },  # fmt: skip
        follow_redirects=False,
    )
    assert response.status_code == 303
    page = client.get(response.headers["location"])
    assert "Maintenance scheduled." in page.text and "Network work" in page.text
    db.rollback()
    pi = db.scalars(select(PageIncident)).one()
    assert pi.scheduled_remind_prior_minutes == 45 and [c.name for c in pi.components] == ["API"]
    response = client.post(
        f"/status-pages/{acme.page.id}/maintenance/{pi.id}/update",
        data={"csrf_token": csrf, "status": "in_progress", "body": ""},
        follow_redirects=False,
    )
    assert "Maintenance updated." in client.get(response.headers["location"]).text
    db.rollback()
    assert db.get(PageIncident, pi.id).status == "in_progress"  # type: ignore[union-attr]
