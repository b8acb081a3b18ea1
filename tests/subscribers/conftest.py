"""Real parts for subscriber tests: the SMTP server and HTTP receivers of tests/notify, a
status page made directly with the ORM models (the status pages' own services are not
used here), and helpers that publish the way the status pages will."""

from __future__ import annotations

import re
from dataclasses import dataclass
from email.message import EmailMessage
from urllib.parse import urlsplit

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from tests.notify.conftest import Receiver, SmtpServer, receiver, smtp  # noqa: F401
from tocsin.bootstrap import Container
from tocsin.catalog.models import User
from tocsin.config import Settings
from tocsin.db import utcnow
from tocsin.statuspages.models import (
    Component,
    ComponentChange,
    ComponentGroup,
    PageIncident,
    PageIncidentUpdate,
    StatusPage,
)
from tocsin.subscribers import service


@pytest.fixture
def settings(settings: Settings, smtp: SmtpServer) -> Settings:  # noqa: F811
    """Mail through the loopback SMTP server; loopback receivers allowed; retries at once."""
    return settings.model_copy(
        update={
            "smtp_host": smtp.host,
            "smtp_port": smtp.port,
            "smtp_tls": "none",
            "smtp_from": "status@example.com",
            "outbound_allow_private": True,
            "notify_retry_base_seconds": 0.0,
            "base_url": "http://tocsin.test",
        }
    )


@dataclass
class Acme:
    page: StatusPage
    api: Component
    database: Component
    search: Component


@pytest.fixture
def acme(db: Session, admin: User) -> Acme:
    """A public page with three components, one group, owned by the admin."""
    page = StatusPage(slug="acme", name="Acme Cloud", owner_user_id=admin.id)
    db.add(page)
    db.flush()
    backend = ComponentGroup(page_id=page.id, name="Backend", position=1)
    db.add(backend)
    db.flush()
    api = Component(page_id=page.id, name="API", position=0)
    database = Component(page_id=page.id, name="Database", position=1, group_id=backend.id)
    search = Component(page_id=page.id, name="Search", position=2, group_id=backend.id)
    db.add_all([api, database, search])
    db.commit()
    db.refresh(page)
    return Acme(page, api, database, search)


def publish(
    db: Session,
    page: StatusPage,
    *,
    name: str = "Elevated API errors",
    status: str = "investigating",
    body: str = "We are **looking into** it.",
    changes: dict[Component, str] | None = None,
    components: list[Component] | None = None,
    incident: PageIncident | None = None,
    deliver: bool = True,
) -> tuple[PageIncidentUpdate, list[ComponentChange], int]:
    """Publish an incident update the way the status pages do (incident, update, component
    changes), then tell subscribers; returns the update, the changes and how many
    deliveries `on_page_event` queued (for the update and each change)."""
    changes = changes or {}
    if incident is None:
        incident = PageIncident(page_id=page.id, name=name, status=status, impact="minor")
        incident.components = list(components or []) + [
            c for c in changes if c not in (components or [])
        ]
        db.add(incident)
        db.flush()
    incident.status = status
    affected = []
    for component, new in changes.items():
        affected.append(
            {
                "component_id": component.id,
                "code": component.public_id,
                "name": component.name,
                "old_status": component.status,
                "new_status": new,
            }
        )
    update = PageIncidentUpdate(
        page_incident_id=incident.id,
        status=status,
        body=body,
        affected_components=affected,
        deliver_notifications=deliver,
    )
    db.add(update)
    db.flush()
    made = []
    for component, new in changes.items():
        change = ComponentChange(
            component_id=component.id,
            old_status=component.status,
            new_status=new,
            source="incident",
            page_incident_update_id=update.id,
        )
        component.status = new
        component.updated_at = utcnow()
        db.add(change)
        made.append(change)
    db.flush()
    db.refresh(incident)
    queued = service.on_page_event(db, page_incident_update=update)
    for change in made:
        queued += service.on_page_event(db, component_change=change)
    return update, made, queued


def change_component(db: Session, component: Component, new: str) -> tuple[ComponentChange, int]:
    """A status set by hand (no incident), told to subscribers."""
    change = ComponentChange(
        component_id=component.id, old_status=component.status, new_status=new, source="manual"
    )
    component.status = new
    db.add(change)
    db.flush()
    return change, service.on_page_event(db, component_change=change)


def run_jobs(container: Container) -> int:
    return container.runner(name="test").run_until_idle()


LINK = re.compile(r"http://tocsin\.test(/status/[^\s\"<>]+)")


def links_in(mail: EmailMessage) -> list[str]:
    """Paths of the Tocsin links in a mail's plain-text part."""
    part = mail.get_body(preferencelist=("plain",))
    assert part is not None
    return LINK.findall(part.get_content())


def confirm_path(mail: EmailMessage) -> str:
    return next(p for p in links_in(mail) if "/subscribe/confirm/" in p)


def unsubscribe_path(mail: EmailMessage) -> str:
    header = str(mail["List-Unsubscribe"]).strip("<>")
    return urlsplit(header).path


def form_token(client: TestClient, slug: str = "acme") -> str:
    page = client.get(f"/status/{slug}/subscribe")
    assert page.status_code == 200, page.text
    found = re.search(r'name="form_token" value="([^"]+)"', page.text)
    assert found is not None
    return found.group(1)


def subscribe(client: TestClient, slug: str = "acme", **fields: object):  # type: ignore[no-untyped-def]
    data = {"form_token": form_token(client, slug), **fields}
    return client.post(f"/status/{slug}/subscribe", data=data)


def text_of(mail: EmailMessage) -> str:
    part = mail.get_body(preferencelist=("plain",))
    assert part is not None
    return str(part.get_content())


def html_of(mail: EmailMessage) -> str:
    part = mail.get_body(preferencelist=("html",))
    assert part is not None
    return str(part.get_content())


def active(
    db: Session,
    page: StatusPage,
    settings: Settings,
    by: User,
    *,
    email: str = "",
    endpoint: str = "",
    components: list[Component] | None = None,
):  # type: ignore[no-untyped-def]
    """An active subscriber added by an admin without the confirmation mail; committed."""
    subscriber = service.add_subscriber(
        db, page, email=email, endpoint=endpoint,
        component_ids=[c.public_id for c in components or []],
        skip_confirmation=bool(email), by=by, settings=settings,
    )  # fmt: skip
    db.commit()
    return subscriber


def fresh(db: Session) -> None:
    """End the test's read (a new snapshot) and forget what it loaded: see what the
    requests and the worker committed since."""
    db.rollback()
    db.expire_all()
