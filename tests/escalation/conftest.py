"""Escalation tests page real people through a real SMTP server (see tests/notify)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import pytest
from sqlalchemy import update
from sqlalchemy.orm import Session

from tests.notify.conftest import SmtpServer, run_jobs, settings, smtp  # noqa: F401
from tocsin.bootstrap import Container
from tocsin.catalog import service as catalog
from tocsin.catalog.models import Service, User
from tocsin.config import Settings
from tocsin.db import utcnow
from tocsin.escalation import policies
from tocsin.jobs.models import Job
from tocsin.notify import methods, shifts
from tocsin.schedules import service as schedules
from tocsin.schedules.models import Schedule


def person(db: Session, settings: Settings, name: str) -> User:  # noqa: F811
    """A responder who can be paged by email at <name>@example.com (shift notices off, so
    that the mailbox holds only pages)."""
    user = catalog.create_user(db, name=name, email=f"{name.lower()}@example.com", role="responder")
    methods.create_contact_method(
        db, user, by=user, settings=settings, kind="email", target=user.email
    )
    shifts.update_preference(db, user, {"shift_notifications": False}, by=user)
    return user


def rotation(db: Session, name: str, members: list[User]) -> Schedule:
    """A daily rotation of `members` that started a week ago (someone is always on call)."""
    schedule = schedules.create_schedule(db, name=name, timezone="UTC")
    schedules.add_layer(
        db,
        schedule,
        {
            "name": "Daily",
            "shift_length": 1,
            "shift_unit": "days",
            "handoff_time": "00:00",
            "start_date": date.today() - timedelta(days=7),
            "member_ids": [m.id for m in members],
        },
    )
    return schedule


def recipients(smtp: SmtpServer) -> list[str]:  # noqa: F811
    return [r for rcpts in smtp.mailbox.recipients for r in rcpts]


def work(db: Session, container: Container) -> int:
    """Commit the test's changes, run every due job, and read fresh state afterwards."""
    db.commit()
    done = run_jobs(container)
    db.rollback()  # end the test session's snapshot: what the worker wrote is visible
    return done


def time_passes(db: Session, container: Container) -> int:
    """Make every queued escalation timer due now, as if its wait were over; run due jobs."""
    db.commit()
    db.execute(
        update(Job)
        .where(Job.state == "queued", Job.kind == "escalation.step")
        .values(run_at=utcnow())
    )
    return work(db, container)


@dataclass
class Org:
    ann: User
    bob: User
    carol: User
    primary: Schedule
    service: Service
    policy: Any


@pytest.fixture
def org(db: Session, settings: Settings) -> Org:  # noqa: F811
    """Ann and Bob rotate daily on "Primary"; level 1 pages whoever is on call, level 2 Carol.
    The "Checkout" service pages with that policy."""
    ann, bob, carol = (person(db, settings, n) for n in ("Ann", "Bob", "Carol"))
    primary = rotation(db, "Primary", [ann, bob])
    service = catalog.create_service(db, name="Checkout")
    policy = policies.create_policy(
        db,
        name="Checkout",
        repeat=0,
        levels=[
            {"delay_minutes": 5, "targets": [{"kind": "schedule", "id": primary.id}]},
            {"delay_minutes": 10, "targets": [{"kind": "user", "id": carol.id}]},
        ],
    )
    policies.set_service_paging(db, service, policy_id=policy.id)
    db.commit()
    return Org(ann, bob, carol, primary, service, policy)
