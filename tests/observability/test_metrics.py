"""Requests served outside FastAPI's middleware (the raw ingestion endpoint) are counted by
route and status in /metrics, like every other request."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from tocsin.alerts import service as alerts
from tocsin.catalog import service as catalog


def _count(text: str, status: int) -> float:
    prefix = f'tocsin_http_requests_total{{method="POST",route="/v2/enqueue",status="{status}"}} '
    for line in text.splitlines():
        if line.startswith(prefix):
            return float(line[len(prefix) :])
    return 0.0


def test_ingestion_requests_are_counted_by_status(api: TestClient, db: Session) -> None:
    svc = catalog.create_service(db, name="Counted")
    _, key = alerts.create_integration(db, service_id=svc.id, name="pd")
    db.commit()
    event = {
        "routing_key": key,
        "event_action": "trigger",
        "dedup_key": "disk",
        "payload": {"summary": "disk full", "source": "db-1", "severity": "error"},
    }
    before = api.get("/metrics").text
    for _ in range(3):
        assert api.post("/v2/enqueue", json=event).status_code == 202
    assert api.post("/v2/enqueue", json={"routing_key": key}).status_code == 400
    after = api.get("/metrics").text
    assert _count(after, 202) - _count(before, 202) == 3
    assert _count(after, 400) - _count(before, 400) == 1


def test_drills_are_counted_apart_from_real_incidents(api: TestClient) -> None:
    """A game day never shows up among real incidents (dashboards and alert rules on
    tocsin_incidents need no filter); it has its own series."""
    for drill in (False, True, True):
        made = api.post("/api/v1/incidents", json={"title": "x", "drill": drill})
        assert made.status_code == 201
    metrics = api.get("/metrics").text
    assert 'tocsin_incidents{severity="none",status="triggered"} 1.0' in metrics
    assert 'tocsin_drill_incidents{severity="none",status="triggered"} 2.0' in metrics
    ref = api.get("/api/v1/incidents", params={"drills": "false"}).json()["items"][0]["reference"]
    assert api.patch(f"/api/v1/incidents/{ref}", json={"drill": True}).status_code == 200
    metrics = api.get("/metrics").text
    assert 'tocsin_incidents{severity="none",status="triggered"}' not in metrics
    assert 'tocsin_drill_incidents{severity="none",status="triggered"} 3.0' in metrics
