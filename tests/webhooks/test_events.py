"""Each incident event becomes the documented kind with its data, in the order it happened;
every event webhooks describe is subscribed in the composition root."""

from __future__ import annotations

import typing
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.webhooks.conftest import subscribe
from tocsin.bootstrap import Container
from tocsin.catalog import service as catalog
from tocsin.catalog.models import User
from tocsin.config import Settings
from tocsin.db import utcnow
from tocsin.definitions import service as defs
from tocsin.definitions.models import Severity
from tocsin.incidents import roles
from tocsin.incidents import service as incidents
from tocsin.incidents.updates import post_update
from tocsin.webhooks import payloads
from tocsin.webhooks.fanout import EVENT_TYPES, on_event
from tocsin.webhooks.models import WebhookDelivery
from tocsin.webhooks.schemas import EventName
from tocsin.wiring import build_bus, build_checks


def test_a_lifecycle_sends_each_kind_with_its_data(
    db: Session, admin: User, responder: User, settings: Settings
) -> None:
    subscribe(db, settings, "http://127.0.0.1:9/", events=list(payloads.EVENT_KINDS))
    sev2 = db.scalars(select(Severity).where(Severity.name == "SEV2")).one()
    incident = incidents.declare(db, by=admin, title="Checkout is down")
    incidents.acknowledge(db, incident, by=admin)
    role = defs.roles(db)[0]
    roles.assign_role(db, incident, role_id=role.id, user_id=responder.id, by=admin)
    post_update(db, incident, phase="identified", body="A bad deploy", by=admin)
    incidents.edit(db, incident, {"severity_id": sev2.id, "title": "Checkout errors"}, by=admin)
    incidents.resolve(db, incident, by=admin)
    incidents.close(db, incident, by=admin)
    db.flush()
    rows = list(db.scalars(select(WebhookDelivery).order_by(WebhookDelivery.id)))
    kinds = [r.event for r in rows]
    assert kinds == [
        "incident.declared",
        "incident.acknowledged",
        "incident.role_assigned",
        "incident.status_changed",
        "incident.update_posted",
        "incident.severity_changed",
        "incident.edited",
        "incident.resolved",
        "incident.closed",
    ]
    data = {r.event: r.payload["data"] for r in rows}
    assert data["incident.role_assigned"]["user"] == {"id": responder.id, "name": responder.name}
    assert data["incident.role_assigned"]["role"] == role.slug
    assert data["incident.status_changed"]["new_status"] == "identified"
    assert data["incident.update_posted"]["message"] == "A bad deploy"
    assert data["incident.update_posted"]["phase"] == "identified"
    assert data["incident.severity_changed"]["new"] == "SEV2"
    assert data["incident.edited"]["fields"] == ["title"]
    # Each body is a snapshot of the incident as it stood after that change.
    assert rows[0].payload["incident"]["title"] == "Checkout is down"
    assert rows[-1].payload["incident"]["title"] == "Checkout errors"
    assert rows[-1].payload["incident"]["status"] == "closed"
    assert len({r.payload["id"] for r in rows}) == len(rows)
    assert all(r.payload["id"] == r.uuid for r in rows)
    db.rollback()


def test_every_described_event_is_subscribed_and_every_kind_is_in_the_api() -> None:
    bus = build_bus()
    for event_type in EVENT_TYPES:
        handlers = bus.handlers(event_type)
        assert any(getattr(h, "func", None) is on_event for h in handlers), event_type
    assert set(typing.get_args(EventName)) == set(payloads.EVENT_KINDS)


def test_the_documentation_names_every_kind() -> None:
    doc = (Path(__file__).resolve().parents[2] / "docs" / "webhooks.md").read_text()
    for kind in [*payloads.EVENT_KINDS, payloads.TEST_EVENT]:
        assert f"| `{kind}` |" in doc, kind


def test_tocsin_check_warns_of_a_deleted_condition_and_a_failing_receiver(
    db: Session, admin: User, settings: Settings, container: Container
) -> None:
    team = catalog.create_team(db, name="Gone soon")
    db.commit()
    subscribe(db, settings, "http://127.0.0.1:9/", name="stale", team_ids=[team.id])
    db.delete(team)
    db.commit()
    subscribe(db, settings, "http://127.0.0.1:9/", name="unreachable")
    incidents.declare(db, by=admin, title="Nobody listens")
    db.commit()
    container.runner(name="test").run_until_idle()
    messages = [f.message for f in build_checks().run(db, utcnow())]
    assert any("“stale” names a deleted team" in m for m in messages), messages
    assert any("“unreachable”: its last delivery failed" in m for m in messages), messages
