"""Recurrence memory on the incident page: earlier incidents sharing a service or an alert
dedup key, with the follow-ups they left open."""

from __future__ import annotations

import html
from datetime import timedelta

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from tests.conftest import browser_login
from tocsin.alerts import service as alerts
from tocsin.alerts.models import Alert
from tocsin.catalog import service as catalog
from tocsin.catalog.models import User
from tocsin.db import utcnow
from tocsin.incidents import actions
from tocsin.incidents import service as incidents
from tocsin.incidents.models import Incident

FAILOVER = "INC-1's follow-up “add failover for the payment provider” is 40 days overdue"


def _alert(db: Session, incident: Incident, key: str, service_id: int) -> None:
    integration, _ = alerts.create_integration(db, service_id=service_id, name=f"pd-{key}")
    db.add(
        Alert(
            integration_id=integration.id,
            service_id=service_id,
            incident_id=incident.id,
            dedup_key=key,
            summary="Disk full on db-1",
        )
    )
    db.flush()


def test_the_incident_page_recalls_earlier_incidents_and_their_open_follow_ups(
    client: TestClient, db: Session, admin: User, responder: User
) -> None:
    today = utcnow().date()
    gateway = catalog.create_service(db, name="Gateway")
    search = catalog.create_service(db, name="Search")
    edge = catalog.create_service(db, name="Edge")

    def follow_up(incident: Incident, title: str, **kw: object) -> None:
        actions.add_action_item(db, incident, title=title, kind="follow_up", by=admin, **kw)

    inc1 = incidents.declare(db, by=admin, title="Payments down", service_ids=[gateway.id])
    follow_up(inc1, "add failover for the payment provider", due_date=today - timedelta(40))
    old = actions.add_action_item(db, inc1, title="Old cleanup", kind="follow_up", by=admin)
    actions.update_action_item(db, old, {"status": "done"}, by=admin)
    inc2 = incidents.declare(db, by=admin, title="Search slow", service_ids=[search.id])
    follow_up(inc2, "Tune the index")
    inc3 = incidents.declare(db, by=admin, title="Disk full")
    _alert(db, inc3, "disk-full-db-1", edge.id)
    follow_up(inc3, "Grow the disk")
    inc4 = incidents.declare(
        db, by=admin, title="Card data exposed", service_ids=[gateway.id], restricted=True
    )
    follow_up(inc4, "Rotate the card keys")
    now = incidents.declare(db, by=admin, title="Payments down again", service_ids=[gateway.id])
    _alert(db, now, "disk-full-db-1", edge.id)
    db.commit()

    browser_login(client, admin.email)
    page = html.unescape(client.get(f"/incidents/{now.reference}").text)
    assert "Earlier incidents like this" in page
    assert FAILOVER in page
    assert "shares Gateway" in page
    assert "INC-3's follow-up “Grow the disk” is open, with no due date" in page
    assert "same alert" in page
    assert "Rotate the card keys" in page  # the admin may see the restricted INC-4
    assert "Tune the index" not in page and "INC-2" not in page  # nothing in common
    assert "Old cleanup" not in page  # done
    assert "Earlier incidents like this" not in client.get(f"/incidents/{inc1.reference}").text

    client.cookies.clear()
    browser_login(client, responder.email)
    page = html.unescape(client.get(f"/incidents/{now.reference}").text)
    assert FAILOVER in page
    assert "Rotate the card keys" not in page and "Card data exposed" not in page
