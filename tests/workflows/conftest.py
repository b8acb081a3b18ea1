"""Helpers for the workflow tests: declaring, running the jobs, making timers due."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from tocsin.bootstrap import Container
from tocsin.catalog import service as catalog
from tocsin.catalog.models import User
from tocsin.db import utcnow
from tocsin.definitions.models import IncidentRole, Severity
from tocsin.incidents import service as incidents
from tocsin.incidents.models import Incident
from tocsin.jobs.models import Job
from tocsin.workflows import service
from tocsin.workflows.models import Workflow, WorkflowRun


def severity(db: Session, name: str) -> int:
    return db.scalars(select(Severity.id).where(Severity.name == name)).one()


def role_id(db: Session, slug: str) -> int:
    return db.scalars(select(IncidentRole.id).where(IncidentRole.slug == slug)).one()


def user(db: Session, name: str, role: str = "responder") -> User:
    return catalog.create_user(db, name=name, email=f"{name.lower()}@example.com", role=role)


def declare(db: Session, by: User, sev: str | None = None, **extra: Any) -> Incident:
    if sev is not None:
        extra["severity_id"] = severity(db, sev)
    return incidents.declare(db, by=by, title=extra.pop("title", "Checkout failing"), **extra)


def workflow(
    db: Session, name: str, trigger: str, actions: list[dict[str, Any]], **extra: Any
) -> Workflow:
    extra.setdefault("guard", None)
    return service.create(db, name=name, trigger=trigger, actions=actions, by=None, **extra)


def only_these(db: Session, *keep: Workflow) -> None:
    """Disable every other workflow (the seeded ones), so a test sees only its own runs."""
    ids = [w.id for w in keep]
    db.execute(update(Workflow).where(Workflow.id.not_in(ids)).values(enabled=False))


def enable_seeded(db: Session) -> None:
    """Turn on the seeded severity workflows (the test database has them disabled, as an
    upgraded install does; tests/conftest.py)."""
    db.execute(update(Workflow).values(enabled=True))


def work(db: Session, container: Container) -> int:
    """Commit, run every due job, and read fresh state afterwards."""
    db.commit()
    done = container.runner(name="test").run_until_idle()
    db.rollback()
    db.expire_all()  # the sessions keep their objects' state across commits
    return done


def time_passes(db: Session, container: Container, kind: str = "workflows.timer") -> int:
    """Make every queued job of `kind` due now, as if its wait were over; run due jobs."""
    db.commit()
    db.execute(update(Job).where(Job.state == "queued", Job.kind == kind).values(run_at=utcnow()))
    return work(db, container)


def runs(db: Session, incident: Incident) -> list[WorkflowRun]:
    return list(
        db.scalars(
            select(WorkflowRun)
            .where(WorkflowRun.incident_id == incident.id)
            .order_by(WorkflowRun.id)
        )
    )
