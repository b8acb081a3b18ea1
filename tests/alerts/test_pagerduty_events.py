"""PagerDuty Events API v2, inbound: what existing senders do must work unchanged."""

from __future__ import annotations

import json
import threading
import warnings

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tests.conftest import settle
from tocsin.alerts import service as alerts
from tocsin.alerts.models import Alert, Event
from tocsin.bootstrap import Container
from tocsin.catalog import service as catalog
from tocsin.incidents import queries
from tocsin.incidents.models import Incident


@pytest.fixture
def routing_key(db: Session) -> str:
    svc = catalog.create_service(db, name="Checkout")
    _, key = alerts.create_integration(db, service_id=svc.id, name="Prometheus via PD")
    db.commit()
    return key


def _trigger(key: str, dedup: str | None = "disk-full", **payload: str) -> dict:  # type: ignore[type-arg]
    body: dict = {
        "routing_key": key,
        "event_action": "trigger",  # type: ignore[type-arg]
        "payload": {
            "summary": "Disk full on db-1",
            "source": "db-1",
            "severity": "critical",
            **payload,
        },
    }
    if dedup:
        body["dedup_key"] = dedup
    return body


def test_trigger_dedup_ack_resolve(
    client: TestClient, routing_key: str, container: Container
) -> None:
    first = client.post("/v2/enqueue", json=_trigger(routing_key))
    assert first.status_code == 202
    assert first.json() == {
        "status": "success",
        "message": "Event processed",
        "dedup_key": "disk-full",
    }
    assert client.post("/v2/enqueue", json=_trigger(routing_key)).status_code == 202
    ack = client.post(
        "/v2/enqueue",
        json={"routing_key": routing_key, "event_action": "acknowledge", "dedup_key": "disk-full"},
    )
    assert ack.status_code == 202 and ack.json()["dedup_key"] == "disk-full"
    settle(container)
    with container.sessionmaker() as s:
        alert = s.scalars(select(Alert)).one()
        assert alert.event_count == 2 and alert.status == "acknowledged"
        incident = s.get(Incident, alert.incident_id)
        assert incident.status == "acknowledged" and incident.severity.name == "SEV1"
        assert [e.outcome for e in s.scalars(select(Event).order_by(Event.id))] == [
            "created_alert",
            "deduplicated",
            "acknowledged",
        ]
    client.post(
        "/v2/enqueue",
        json={"routing_key": routing_key, "event_action": "resolve", "dedup_key": "disk-full"},
    )
    settle(container)
    with container.sessionmaker() as s:
        incident = s.scalars(select(Incident)).one()
        assert incident.status == "resolved"  # its only alert resolved
        kinds = [e.summary for e in queries.timeline(s, incident) if e.kind == "alert"]
        assert kinds == [
            "Alert triggered: Disk full on db-1",
            "Alert acknowledged by the sender: Disk full on db-1",
            "Alert resolved: Disk full on db-1",
        ]
    # After a resolve, the same key opens a new alert (and a new incident).
    client.post("/v2/enqueue", json=_trigger(routing_key))
    settle(container)
    with container.sessionmaker() as s:
        assert s.scalar(select(func.count(Alert.id))) == 2
        assert s.scalar(select(func.count(Incident.id))) == 2


def test_keyless_trigger_gets_a_generated_key(client: TestClient, routing_key: str) -> None:
    response = client.post("/v2/enqueue", json=_trigger(routing_key, dedup=None))
    assert response.status_code == 202 and len(response.json()["dedup_key"]) == 32


def test_resolve_without_open_alert_is_recorded_as_ignored(
    client: TestClient, routing_key: str, container: Container
) -> None:
    response = client.post(
        "/v2/enqueue",
        json={"routing_key": routing_key, "event_action": "resolve", "dedup_key": "nope"},
    )
    assert response.status_code == 202
    settle(container)
    with container.sessionmaker() as s:
        event = s.scalars(select(Event)).one()
        assert event.outcome == "ignored" and "no open alert" in event.outcome_detail


@pytest.mark.parametrize(
    ("body", "error"),
    [
        (b"{not json", "JSON parse error"),
        (b'["a list"]', "JSON parse error"),
        (b'{"routing_key": "x", "event_action": "explode"}', "'event_action' must be one of"),
        (b'{"event_action": "trigger", "payload": {}}', "'routing_key' is missing"),
    ],
)
def test_bad_events_get_pagerduty_400s(client: TestClient, body: bytes, error: str) -> None:
    response = client.post(
        "/v2/enqueue", content=body, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 400
    data = response.json()
    assert set(data) == {"status", "message", "errors"}
    assert any(error in e for e in data["errors"])


def test_field_limits_and_unknown_keys(client: TestClient, routing_key: str) -> None:
    long = client.post("/v2/enqueue", json=_trigger(routing_key, summary="x" * 1025))
    assert long.status_code == 400 and "longer than 1024" in long.json()["errors"][0]
    huge = client.post(
        "/v2/enqueue",
        content=b'{"x":"' + b"a" * (600 * 1024) + b'"}',
        headers={"Content-Type": "application/json"},
    )
    assert huge.status_code == 400
    unknown = client.post("/v2/enqueue", json=_trigger("0" * 32))
    assert unknown.status_code == 400 and unknown.json()["errors"] == ["Invalid routing key"]


def test_change_events_are_recorded(
    client: TestClient, routing_key: str, container: Container
) -> None:
    response = client.post(
        "/v2/change/enqueue",
        json={"routing_key": routing_key, "payload": {"summary": "Deployed checkout v42"}},
    )
    assert response.status_code == 202
    body = response.json()
    assert body["status"] == "success" and body["message"] == "Change event processed"
    settle(container)
    with container.sessionmaker() as s:
        event = s.scalars(select(Event)).one()
        assert event.outcome == "recorded" and event.request_id == body["id"]
        assert s.scalar(select(func.count(Alert.id))) == 0


def test_pdpyras_change_event_keeps_everything_and_gets_an_id(
    live_server: str, routing_key: str, container: Container
) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pdpyras is deprecated and says so on import
        import pdpyras

        session = pdpyras.ChangeEventsAPISession(routing_key)
        session.url = live_server
        change_id = session.submit(
            "Deployed checkout v42",
            source="ci-runner-7",
            custom_details={"build": 42, "commit": "9f1c2e", "tests": {"passed": 812}},
            links=[{"href": "https://ci.example.com/builds/42", "text": "Build 42"}],
            timestamp="2026-11-20T10:15:00Z",
        )
    assert change_id  # pdpyras returns the id of the 202 body
    settle(container)
    with container.sessionmaker() as s:
        event = s.scalars(select(Event)).one()
        assert event.action == "change" and event.outcome == "recorded"
        assert event.request_id == change_id
        data = json.loads(event.data)
        assert data["summary"] == "Deployed checkout v42" and data["source"] == "ci-runner-7"
        assert data["details"] == {"build": 42, "commit": "9f1c2e", "tests": {"passed": 812}}
        assert data["links"] == [{"href": "https://ci.example.com/builds/42", "text": "Build 42"}]
        assert data["timestamp"].startswith("2026-11-20T10:15:00")
        assert routing_key not in event.data and routing_key not in (event.raw or "")


def test_change_events_refuse_keys_as_pagerduty_does(
    client: TestClient, routing_key: str, db: Session, container: Container
) -> None:
    change = {"payload": {"summary": "Deployed"}}
    unknown = client.post("/v2/change/enqueue", json={"routing_key": "0" * 32, **change})
    assert unknown.status_code == 400
    assert unknown.json() == {
        "status": "invalid event",
        "message": "Event object is invalid",
        "errors": ["Invalid routing key"],
    }
    # The same answer /v2/enqueue gives.
    enqueue = client.post("/v2/enqueue", json=_trigger("0" * 32))
    assert enqueue.status_code == 400 and enqueue.json() == unknown.json()
    svc = catalog.create_service(db, name="Elsewhere")
    _, hook_key = alerts.create_integration(db, service_id=svc.id, name="am", type="alertmanager")
    db.commit()
    other = client.post("/v2/change/enqueue", json={"routing_key": hook_key, **change})
    assert other.status_code == 400 and "alertmanager integration" in other.json()["errors"][0]
    # A refused change of a known key is kept, with why.
    bad = {"routing_key": routing_key, "payload": {"summary": "x", "timestamp": "yesterday"}}
    refused = client.post("/v2/change/enqueue", json=bad)
    assert refused.status_code == 400 and "payload.timestamp" in refused.json()["errors"][0]
    settle(container)
    with container.sessionmaker() as s:
        kept = s.scalars(select(Event)).one()
        assert kept.outcome == "rejected" and "payload.timestamp" in kept.outcome_detail
        assert routing_key not in (kept.raw or "")


def test_concurrent_triggers_for_one_key_make_one_alert(
    container: Container, routing_key: str, live_server: str
) -> None:
    barrier = threading.Barrier(4)
    codes: list[int] = []

    def send() -> None:
        with httpx.Client(base_url=live_server, timeout=30) as http:
            barrier.wait()
            for _ in range(5):
                codes.append(
                    http.post("/v2/enqueue", json=_trigger(routing_key, dedup="same")).status_code
                )

    threads = [threading.Thread(target=send) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert codes == [202] * 20
    settle(container)
    with container.sessionmaker() as s:
        alert = s.scalars(select(Alert)).one()
        assert alert.event_count == 20
        assert s.scalar(select(func.count(Incident.id))) == 1


def test_pdpyras_client_works_unchanged(
    live_server: str, routing_key: str, container: Container
) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pdpyras is deprecated and says so on import
        import pdpyras

        session = pdpyras.EventsAPISession(routing_key)
        session.url = live_server
        dedup = session.trigger("Queue backlog above 10k", "worker-3", severity="warning")
        session.acknowledge(dedup)
        session.resolve(dedup)
    settle(container)
    with container.sessionmaker() as s:
        alert = s.scalars(select(Alert)).one()
        assert alert.dedup_key == dedup and alert.status == "resolved"
        assert alert.severity == "warning"


def test_refused_event_of_a_known_key_is_kept_with_its_reason(
    client: TestClient, routing_key: str, container: Container
) -> None:
    body = {"routing_key": routing_key, "event_action": "trigger", "payload": {"source": "x"}}
    response = client.post("/v2/enqueue", json=body)
    assert response.status_code == 400
    settle(container)
    with container.sessionmaker() as s:
        event = s.scalars(select(Event)).one()
        assert event.outcome == "rejected" and "payload.summary" in event.outcome_detail
        assert event.raw is not None and routing_key not in event.raw  # the key is a secret
        assert s.scalar(select(func.count(Alert.id))) == 0


def test_trigger_images_are_kept_like_pagerduty(
    live_server: str, routing_key: str, container: Container
) -> None:
    """Images need an https `src` (PagerDuty's rule); `href` and `alt` are optional. One that
    breaks the rule is left out and the page still happens."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import pdpyras

        session = pdpyras.EventsAPISession(routing_key)
        session.url = live_server
        dedup = session.trigger(
            "Latency above 2 s",
            "web-1",
            severity="error",
            images=[
                {
                    "src": "https://grafana.example.com/render/latency.png",
                    "href": "https://grafana.example.com/d/latency",
                    "alt": "p99 latency, last hour",
                },
                {"src": "https://grafana.example.com/render/errors.png"},
                {"src": "http://insecure.example.com/chart.png", "alt": "not https"},
                {"href": "https://no-src.example.com"},
                {"src": "https://ok.example.com/a.png", "href": "javascript:alert(1)"},
            ],
        )
    settle(container)
    with container.sessionmaker() as s:
        alert = s.scalars(select(Alert)).one()
        assert alert.dedup_key == dedup
        assert alert.images == [
            {
                "src": "https://grafana.example.com/render/latency.png",
                "href": "https://grafana.example.com/d/latency",
                "alt": "p99 latency, last hour",
            },
            {"src": "https://grafana.example.com/render/errors.png"},
            {"src": "https://ok.example.com/a.png"},
        ]
        event = s.scalars(select(Event)).one()
        assert len(json.loads(event.data)["images"]) == 3


def test_images_are_in_the_alerts_api(
    api: TestClient, routing_key: str, container: Container
) -> None:
    image = {"src": "https://charts.example.com/q.png", "alt": "queue depth"}
    body = _trigger(routing_key) | {"images": [image]}
    assert api.post("/v2/enqueue", json=body).status_code == 202
    settle(container)
    [alert] = api.get("/api/v1/incidents/INC-1/alerts").json()["items"]
    assert alert["images"] == [image]


def test_a_summary_of_only_spaces_still_opens_an_incident(
    client: TestClient, routing_key: str, container: Container
) -> None:
    """PagerDuty takes any non-empty summary; one of spaces gives the incident a stand-in
    title instead of failing to open it."""
    sent = client.post("/v2/enqueue", json=_trigger(routing_key, "blank", summary="   "))
    assert sent.status_code == 202
    settle(container)
    with container.sessionmaker() as s:
        event = s.scalars(select(Event)).one()
        assert event.outcome != "failed", event.outcome_detail
        incident = s.scalars(select(Incident)).one()
        assert incident.title == "Alert"
