"""Real parts for communication tests: the SMTP server and loopback HTTP receivers of the
notification tests, settings pointing Tocsin at them, and small builders."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from tests.notify.conftest import receiver, settings, smtp  # noqa: F401 (fixtures)
from tocsin.bootstrap import Container
from tocsin.catalog.models import User
from tocsin.comms import service as registry
from tocsin.comms.models import CommsChannel
from tocsin.config import Settings
from tocsin.definitions.models import Severity
from tocsin.incidents import service as incidents
from tocsin.incidents.models import Incident
from tocsin.notify import methods


def severity(db: Session, name: str) -> Severity:
    found = db.query(Severity).filter_by(name=name).one()
    return found


def declare(db: Session, by: User, *, title: str = "Checkout is down", **kw: Any) -> Incident:
    incident = incidents.declare(db, by=by, title=title, **kw)
    db.flush()
    return incident


def channel(db: Session, config: Settings, **data: Any) -> CommsChannel:
    data.setdefault("name", "#incidents")
    data.setdefault("kind", "manual")
    if data["kind"] == "manual":
        data.setdefault("instructions", "Say it on the bridge call.")
    created, _ = registry.create_channel(db, data, settings=config)
    return created


def email_method(db: Session, user: User, config: Settings, urgency: str = "low") -> None:
    method, _ = methods.create_contact_method(
        db, user, by=user, settings=config, kind="email", target=user.email, label="Work email"
    )
    methods.create_rule(db, user, by=user, urgency=urgency, contact_method_id=method.id)


def run_jobs(container: Container) -> int:
    return container.runner(name="test").run_until_idle()
