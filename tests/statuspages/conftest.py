"""Helpers for status page tests: a page with grouped components, and running its jobs."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from tocsin.bootstrap import Container
from tocsin.catalog import service as catalog
from tocsin.catalog.models import Service, User
from tocsin.db import utcnow
from tocsin.incidents import service as incidents
from tocsin.incidents.models import Incident
from tocsin.jobs.models import QUEUED, Job
from tocsin.statuspages import service
from tocsin.statuspages.models import Component, ComponentGroup, StatusPage


@dataclass
class Acme:
    page: StatusPage
    shop: ComponentGroup
    checkout: Component
    payments: Component
    api: Component
    services: dict[str, Service]


def make_page(db: Session, admin: User, slug: str = "acme") -> Acme:
    services = {
        name: catalog.create_service(db, name=f"{name} ({slug})")
        for name in ("Checkout", "Payments", "API")
    }
    page = service.create_page(db, {"name": "Acme Status", "slug": slug, "owner_user_id": admin.id})
    shop = service.create_group(db, page, {"name": "Shop"})
    checkout = service.create_component(
        db, page, {"name": "Checkout", "group_id": shop.id, "service_id": services["Checkout"].id}
    )
    payments = service.create_component(
        db, page, {"name": "Payments", "group_id": shop.id, "service_id": services["Payments"].id}
    )
    api = service.create_component(db, page, {"name": "API", "service_id": services["API"].id})
    db.commit()
    return Acme(page, shop, checkout, payments, api, services)


@pytest.fixture
def acme(db: Session, admin: User) -> Acme:
    return make_page(db, admin)


def declare(db: Session, by: User, title: str = "Checkout errors", **kw: object) -> Incident:
    incident = incidents.declare(db, by=by, title=title, **kw)  # type: ignore[arg-type]
    db.commit()
    return incident


def work(db: Session, container: Container) -> int:
    """Commit the test's changes, run every due job (each in its own transaction, as the
    worker does), and let the test read what they wrote."""
    db.commit()
    done = container.runner("test-worker").run_until_idle()
    db.rollback()  # end the test session's snapshot: what the worker wrote is visible
    return done


def time_passes(db: Session, container: Container, kind: str) -> int:
    """Make every queued job of `kind` due now, as if its time had come; run due jobs."""
    db.commit()
    db.execute(update(Job).where(Job.state == QUEUED, Job.kind == kind).values(run_at=utcnow()))
    return work(db, container)


def queued(db: Session, kind: str) -> list[Job]:
    return list(db.scalars(select(Job).where(Job.kind == kind, Job.state == QUEUED)))


def serve(db: Session, container: Container, client: object) -> None:
    """Commit, run the render jobs, and make the test app's cache load the result (its
    poller would within a second)."""
    work(db, container)
    client.app.state.statuspages.refresh()  # type: ignore[attr-defined]
