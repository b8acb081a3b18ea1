"""Recurrence memory on the incident page: earlier incidents sharing a service, an alert
dedup key or a meaningful alert label, with the follow-ups they left open."""

from __future__ import annotations

import html
from datetime import timedelta

from fastapi.testclient import TestClient
from sqlalchemy import event
from sqlalchemy.orm import Session

from tests.conftest import browser_login
from tocsin.alerts import service as alerts
from tocsin.alerts.models import Alert
from tocsin.catalog import service as catalog
from tocsin.catalog.models import User
from tocsin.db import utcnow
from tocsin.followups import recurrence
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


def _labelled(db: Session, incident: Incident, integration_id: int, **labels: str) -> None:
    """An Alertmanager alert of `incident` (its own dedup key) with these labels."""
    db.add(
        Alert(
            integration_id=integration_id,
            service_id=incident.services[0].id,
            incident_id=incident.id,
            dedup_key=f"fp-{incident.number}-{len(labels)}-{sorted(labels.items())}"[:255],
            summary=labels.get("alertname", "alert"),
            details={"labels": labels, "annotations": {}},
        )
    )
    db.flush()


def test_earlier_incidents_sharing_a_meaningful_alert_label_are_recalled(
    client: TestClient, db: Session, admin: User, responder: User
) -> None:
    services = [catalog.create_service(db, name=f"Service {n}") for n in range(5)]
    integrations = [
        alerts.create_integration(db, service_id=s.id, name="am", type="alertmanager")[0]
        for s in services
    ]

    def declare(n: int, title: str, **kw: object) -> Incident:
        return incidents.declare(db, by=admin, title=title, service_ids=[services[n].id], **kw)

    latency = declare(0, "Checkout slow")
    _labelled(db, latency, integrations[0].id, alertname="HighLatency", severity="warning")
    actions.add_action_item(
        db, latency, title="Cache the price lookups", kind="follow_up", by=admin
    )
    noise = declare(1, "Disk full on db-1")  # shares only severity and env: not listed
    _labelled(db, noise, integrations[1].id, alertname="DiskFull", severity="critical", env="prod")
    drill = declare(2, "Game day: latency", drill=True)
    _labelled(db, drill, integrations[2].id, alertname="HighLatency")
    hidden = declare(3, "Latency while exfiltrating", restricted=True)
    _labelled(db, hidden, integrations[3].id, instance="<script>api-1</script>")
    now = declare(4, "Checkout slow again")
    _labelled(
        db,
        now,
        integrations[4].id,
        alertname="HighLatency",
        severity="critical",
        env="prod",
        instance="<script>api-1</script>",
    )
    db.commit()

    browser_login(client, admin.email)
    raw = client.get(f"/incidents/{now.reference}").text
    assert "<script>api-1" not in raw  # a label is user text: escaped
    page = html.unescape(raw)
    assert f"{latency.reference}</a> Checkout slow" in page
    assert "same alertname=HighLatency" in page
    assert f"{latency.reference}'s follow-up “Cache the price lookups”" in page
    assert "same instance=<script>api-1</script>" in page  # the admin sees the restricted one
    assert noise.reference not in page and "DiskFull" not in page
    assert drill.reference not in page and "Game day" not in page

    client.cookies.clear()
    browser_login(client, responder.email)
    page = html.unescape(client.get(f"/incidents/{now.reference}").text)
    assert "same alertname=HighLatency" in page
    assert hidden.reference not in page and "instance=" not in page

    # The rule is a setting: with alertname ignored too, nothing ties them.
    found = recurrence.earlier_like(
        db, now, viewer=admin, ignored=recurrence.ignored_labels("alertname, Instance,env,severity")
    )
    assert found == []


def test_label_recurrence_costs_the_same_queries_however_many_incidents_match(
    db: Session, admin: User
) -> None:
    service = catalog.create_service(db, name="API")
    integration, _ = alerts.create_integration(
        db, service_id=service.id, name="am", type="alertmanager"
    )
    other = catalog.create_service(db, name="Other")

    def incident(n: int) -> Incident:
        made = incidents.declare(db, by=admin, title=f"Latency {n}", service_ids=[other.id])
        for host in range(3):
            _labelled(db, made, integration.id, alertname="HighLatency", instance=f"api-{host}")
        actions.add_action_item(db, made, title=f"Fix {n}", kind="follow_up", by=admin)
        return made

    incident(0)
    latest = incident(1)
    statements: list[str] = []

    def cost() -> list[recurrence.Earlier]:
        db.expire_all()
        subject = db.get(Incident, latest.id)
        assert subject is not None
        statements.clear()
        event.listen(db.get_bind(), "before_cursor_execute", listener)
        try:
            return recurrence.earlier_like(db, subject, viewer=admin)
        finally:
            event.remove(db.get_bind(), "before_cursor_execute", listener)

    listener = lambda *args: statements.append(args[2])  # noqa: E731
    found = cost()
    few = len(statements)
    assert [e.labels for e in found] == [
        ["alertname=HighLatency", "instance=api-0", "instance=api-1", "instance=api-2"]
    ]
    for n in range(2, 12):
        latest = incident(n)
    found = cost()
    assert len(found) == recurrence.SHOWN and all(e.follow_ups for e in found)
    assert len(statements) == few
