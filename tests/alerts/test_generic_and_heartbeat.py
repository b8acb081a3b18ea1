"""Generic JSON webhooks through their mapping, and heartbeats that alert when pings stop."""

from __future__ import annotations

from datetime import timedelta

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.conftest import settle
from tocsin.alerts import service as alerts
from tocsin.alerts.heartbeat import check_heartbeats
from tocsin.alerts.models import Alert, Event, Integration
from tocsin.bootstrap import Container
from tocsin.catalog import service as catalog
from tocsin.db import transaction, utcnow
from tocsin.incidents.models import Incident

ZABBIX = {
    "mapping": {
        "summary": "subject",
        "dedup_key": "eventid",
        "severity": "severity",
        "action": "status",
        "source": "host",
        "severity_map": {"disaster": "critical", "high": "error", "average": "warning"},
        "action_map": {"PROBLEM": "trigger", "OK": "resolve"},
    }
}


def test_generic_webhook_follows_its_mapping(
    client: TestClient, db: Session, container: Container
) -> None:
    svc = catalog.create_service(db, name="Zabbix hosts")
    _, key = alerts.create_integration(
        db, service_id=svc.id, name="Zabbix", type="webhook", config=ZABBIX
    )
    db.commit()
    problem = {
        "subject": "Disk full on web-3",
        "eventid": "7781",
        "severity": "Disaster",
        "status": "PROBLEM",
        "host": "web-3",
    }
    assert client.post(f"/hooks/{key}", json=problem).status_code == 202
    settle(container)
    with container.sessionmaker() as s:
        alert = s.scalars(select(Alert)).one()
        assert (alert.dedup_key, alert.severity, alert.source) == ("7781", "critical", "web-3")
        assert s.get(Incident, alert.incident_id).severity.name == "SEV1"  # type: ignore[union-attr]
    assert client.post(f"/hooks/{key}", json={**problem, "status": "OK"}).status_code == 202
    settle(container)
    with container.sessionmaker() as s:
        assert s.scalars(select(Alert)).one().status == "resolved"


def test_unreadable_body_is_kept_and_still_alerts(
    client: TestClient, db: Session, container: Container
) -> None:
    svc = catalog.create_service(db, name="Cron")
    _, key = alerts.create_integration(db, service_id=svc.id, name="cron", type="webhook")
    db.commit()
    response = client.post(f"/hooks/{key}", content=b"backup failed: exit 3")
    assert response.status_code == 202
    settle(container)
    with container.sessionmaker() as s:
        event = s.scalars(select(Event)).one()
        assert event.raw == "backup failed: exit 3" and event.outcome == "created_alert"
        alert = s.scalars(select(Alert)).one()
        assert alert.summary.startswith("Unreadable event from cron")


def test_invalid_mapping_is_refused(db: Session) -> None:
    svc = catalog.create_service(db, name="Bad")
    try:
        alerts.create_integration(
            db,
            service_id=svc.id,
            name="broken",
            type="webhook",
            config={"mapping": {"summary": "foo["}},
        )
    except Exception as exc:
        assert "summary" in str(exc) and "JMESPath" in str(exc)
    else:
        raise AssertionError("an invalid JMESPath expression was accepted")


def test_heartbeat_missed_then_back(client: TestClient, db: Session, container: Container) -> None:
    svc = catalog.create_service(db, name="Alertmanager itself")
    integration, key = alerts.create_integration(
        db,
        service_id=svc.id,
        name="Watchdog",
        type="heartbeat",
        config={"interval_seconds": 60, "grace_seconds": 30},
    )
    db.commit()
    integration_id = integration.id
    assert client.get(f"/heartbeat/{key}").status_code == 202
    settle(container)

    def last_ping(seconds_ago: int) -> int:
        with transaction(container.sessionmaker) as s:
            heartbeat = s.get(Integration, integration_id)
            assert heartbeat is not None
            heartbeat.last_event_at = utcnow() - timedelta(seconds=seconds_ago)
            return check_heartbeats(s, utcnow())

    assert last_ping(80) == 0  # within interval + grace: nothing is due
    assert last_ping(95) == 1  # past it: one alert…
    assert last_ping(200) == 0  # …not one per check
    with container.sessionmaker() as s:
        alert = s.scalars(select(Alert)).one()
        assert alert.dedup_key == "heartbeat" and alert.status == "triggered"
        assert "Watchdog" in alert.summary and alert.severity == "critical"
    assert client.post(f"/heartbeat/{key}").status_code == 202  # the next ping resolves it
    settle(container)
    with container.sessionmaker() as s:
        assert s.scalars(select(Alert)).one().status == "resolved"
        assert s.get(Integration, integration_id).last_event_at is not None  # type: ignore[union-attr]
    unknown = client.get("/heartbeat/" + "0" * 32)
    assert unknown.status_code == 404 and unknown.json()["errors"] == ["unknown integration key"]
    svc = catalog.create_service(db, name="Not a heartbeat")
    _, pd_key = alerts.create_integration(db, service_id=svc.id, name="pd")
    db.commit()
    wrong = client.post(f"/heartbeat/{pd_key}")
    assert wrong.status_code == 404 and "pagerduty integration" in wrong.json()["message"]
