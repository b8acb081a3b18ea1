"""Acknowledging and resolving alerts by hand follow the rules a sender's events follow, and
the alert list finds and orders what needs triage."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.conftest import settle
from tocsin.alerts import service as alerts
from tocsin.alerts.models import Alert, Event
from tocsin.bootstrap import Container
from tocsin.catalog import service as catalog
from tocsin.catalog.models import User
from tocsin.errors import InvalidTransition, ValidationFailed
from tocsin.incidents import queries
from tocsin.incidents.models import Incident


@pytest.fixture
def keys(db: Session) -> dict[str, Any]:
    """Two services with an integration each; the keys senders use."""
    web = catalog.create_service(db, name="Web")
    database = catalog.create_service(db, name="Database")
    prom, prom_key = alerts.create_integration(db, service_id=web.id, name="prom")
    pg, pg_key = alerts.create_integration(db, service_id=database.id, name="pg-exporter")
    db.commit()
    return {"web": web.id, "db": database.id, "prom": prom_key, "pg": pg_key,
            "prom_id": prom.id, "pg_id": pg.id}  # fmt: skip


def send(client: TestClient, key: str, dedup: str, action: str = "trigger", **payload: Any) -> None:
    body = {
        "routing_key": key,
        "event_action": action,
        "dedup_key": dedup,
        "payload": {"summary": f"alert {dedup}", "source": "prom", "severity": "error"} | payload,
    }
    assert client.post("/v2/enqueue", json=body).status_code == 202


def _alert(db: Session, dedup: str) -> Alert:
    db.rollback()
    return db.scalars(select(Alert).where(Alert.dedup_key == dedup)).one()


def resolve(container: Container, alert_id: int, by: User) -> tuple[bool, bool]:
    """Resolve by hand in a transaction of its own, as a request does (the test's session
    only reads: on SQLite it could not take the write lock after the event writer commits).
    Returns (it was the incident's last open alert, the incident was resolved)."""
    with container.sessionmaker.begin() as session:
        alert = alerts.get_alert(session, alert_id, for_update=True)
        done = alerts.resolve_alert(session, alert, by=session.get(User, by.id))
        return done.last_open, done.incident_resolved


def acknowledge(container: Container, alert_id: int, by: User) -> None:
    with container.sessionmaker.begin() as session:
        alert = alerts.get_alert(session, alert_id, for_update=True)
        alerts.acknowledge_alert(session, alert, by=session.get(User, by.id))


def test_resolving_the_last_alert_by_hand_resolves_its_incident_like_a_resolve_event(
    client: TestClient, db: Session, container: Container, admin: User, keys: dict[str, Any]
) -> None:
    # Web groups its alerts by source: cpu and mem make one incident; disk another.
    alerts.update_alert_settings(db, keys["web"], grouping="fields", group_fields=["source"])
    db.commit()
    send(client, keys["prom"], "cpu")
    send(client, keys["prom"], "mem")
    send(client, keys["pg"], "disk")
    settle(container)
    cpu, mem, disk = _alert(db, "cpu"), _alert(db, "mem"), _alert(db, "disk")
    assert cpu.incident_id == mem.incident_id != disk.incident_id

    # By hand, the first of two: the incident stays open.
    assert resolve(container, cpu.id, admin) == (False, False)
    # By hand, the last: resolved, as a resolve event would have done.
    assert resolve(container, mem.id, admin) == (True, True)
    db.rollback()
    incident = db.get(Incident, mem.incident_id)
    assert incident is not None and incident.status == "resolved"
    summaries = [e.summary for e in queries.timeline(db, incident)]
    assert "Alert resolved by Ada Admin: alert mem" in summaries
    assert any("changed the status from triggered to resolved" in s for s in summaries)

    # The other incident's alert resolved by its sender: the same rule, the same outcome.
    send(client, keys["pg"], "disk", action="resolve")
    settle(container)
    db.rollback()
    other = db.get(Incident, disk.incident_id)
    assert other is not None and other.status == "resolved"
    event = db.scalars(select(Event).where(Event.action == "resolve")).one()
    assert event.outcome == "resolved" and "so INC-2 too" in event.outcome_detail

    # A resolved alert's key is free again: the next trigger opens a new alert.
    with pytest.raises(InvalidTransition):
        resolve(container, mem.id, admin)
    send(client, keys["prom"], "mem")
    settle(container)
    db.rollback()
    assert len(db.scalars(select(Alert).where(Alert.dedup_key == "mem")).all()) == 2


def test_auto_resolve_off_leaves_the_incident_open(
    client: TestClient, db: Session, container: Container, admin: User, keys: dict[str, Any]
) -> None:
    alerts.update_alert_settings(db, keys["web"], auto_resolve=False)
    db.commit()
    send(client, keys["prom"], "cpu")
    settle(container)
    cpu = _alert(db, "cpu")
    assert resolve(container, cpu.id, admin) == (True, False)
    db.rollback()
    assert db.get(Incident, cpu.incident_id).status == "triggered"  # type: ignore[union-attr]


def test_acknowledging_by_hand_acknowledges_a_triggered_incident(
    client: TestClient, db: Session, container: Container, admin: User, keys: dict[str, Any]
) -> None:
    send(client, keys["prom"], "cpu")
    settle(container)
    acknowledge(container, _alert(db, "cpu").id, admin)
    cpu = _alert(db, "cpu")
    assert cpu.status == "acknowledged" and cpu.acknowledged_at is not None
    incident = db.get(Incident, cpu.incident_id)
    assert incident is not None and incident.status == "acknowledged"
    assert incident.acknowledged_at is not None
    summaries = [e.summary for e in queries.timeline(db, incident)]
    assert "Alert acknowledged by Ada Admin: alert cpu" in summaries
    with pytest.raises(InvalidTransition):
        acknowledge(container, cpu.id, admin)
    # A later acknowledge event from the sender finds it acknowledged already.
    send(client, keys["prom"], "cpu", action="acknowledge")
    settle(container)
    db.rollback()
    event = db.scalars(select(Event).where(Event.action == "acknowledge")).one()
    assert event.outcome_detail == f"alert {cpu.id} was already acked"


def test_the_list_puts_triggered_first_and_filters(
    client: TestClient, db: Session, container: Container, admin: User, keys: dict[str, Any]
) -> None:
    send(client, keys["prom"], "cpu-high", summary="CPU above 90% on web-1", severity="critical")
    send(client, keys["prom"], "disk_50%", summary="Disk 50% full", severity="warning")
    send(client, keys["pg"], "replication", summary="Replication lag", severity="error")
    send(client, keys["pg"], "old", summary="An old one", severity="info")
    settle(container)
    acknowledge(container, _alert(db, "cpu-high").id, admin)
    resolve(container, _alert(db, "old").id, admin)
    db.rollback()

    def keys_of(**filters: Any) -> list[str]:
        rows, total = alerts.search_alerts(db, alerts.AlertFilter(**filters))
        assert total == len(rows)
        return [a.dedup_key for a in rows]

    # Open ones by default: triggered (latest first), then acknowledged.
    assert keys_of() == ["replication", "disk_50%", "cpu-high"]
    assert keys_of(statuses=()) == ["replication", "disk_50%", "cpu-high", "old"]
    assert keys_of(statuses=("resolved",)) == ["old"]
    assert keys_of(service_ids=[keys["db"]]) == ["replication"]
    assert keys_of(integration_ids=[keys["prom_id"]]) == ["disk_50%", "cpu-high"]
    assert keys_of(severities=["critical", "warning"]) == ["disk_50%", "cpu-high"]
    assert keys_of(text="web-1") == ["cpu-high"]  # the summary, any case
    assert keys_of(text="REPLIC") == ["replication"]
    assert keys_of(text="k_50%") == ["disk_50%"]  # the dedup key
    assert keys_of(text="n_") == []  # LIKE's wildcards are taken literally ("on web-1")
    rows, total = alerts.search_alerts(db, alerts.AlertFilter(statuses=()), limit=2, offset=2)
    assert total == 4 and [a.dedup_key for a in rows] == ["cpu-high", "old"]
    with pytest.raises(ValidationFailed):
        alerts.search_alerts(db, alerts.AlertFilter(statuses=("firing",)))
