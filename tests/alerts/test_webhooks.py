"""Alertmanager (version 4) and Grafana (version 1) webhooks posted to /hooks/{key}."""

from __future__ import annotations

import copy

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tests.conftest import settle
from tocsin.alerts import service as alerts
from tocsin.alerts.alertmanager import parse_webhook
from tocsin.alerts.models import Alert, Event
from tocsin.bootstrap import Container
from tocsin.catalog import service as catalog
from tocsin.incidents.models import Incident

FIRING = {
    "receiver": "tocsin",
    "status": "firing",
    "alerts": [
        {
            "status": "firing",
            "labels": {
                "alertname": "HighLatency",
                "instance": "web-1:9100",
                "severity": "critical",
            },
            "annotations": {"summary": "p99 latency above 2s"},
            "startsAt": "2026-11-22T11:17:09.354859717Z",
            "endsAt": "0001-01-01T00:00:00Z",
            "generatorURL": "http://prometheus.example.com:9090/graph?g0.expr=latency",
            "fingerprint": "c626d2275ab0f610",
        },
        {
            "status": "firing",
            "labels": {
                "alertname": "HighLatency",
                "instance": "web-2:9100",
                "severity": "critical",
            },
            "annotations": {"summary": "p99 latency above 2s"},
            "startsAt": "2026-11-22T11:17:09.354859717Z",
            "endsAt": "0001-01-01T00:00:00Z",
            "fingerprint": "d726d2275ab0f611",
        },
    ],
    "groupLabels": {"alertname": "HighLatency"},
    "commonLabels": {"alertname": "HighLatency", "severity": "critical"},
    "commonAnnotations": {"summary": "p99 latency above 2s"},
    "externalURL": "http://alertmanager.example.com:9093",
    "version": "4",
    "groupKey": '{}:{alertname="HighLatency"}',
    "truncatedAlerts": 0,
}


def _resolved(body: dict) -> dict:  # type: ignore[type-arg]
    done = copy.deepcopy(body)
    done["status"] = "resolved"
    for alert in done["alerts"]:
        alert["status"] = "resolved"
        alert["endsAt"] = "2026-11-22T11:27:09Z"
    return done


@pytest.fixture
def hook_keys(db: Session) -> dict[str, str]:
    svc = catalog.create_service(db, name="Web")
    keys = {}
    for kind in ("alertmanager", "grafana", "pagerduty"):
        _, keys[kind] = alerts.create_integration(db, service_id=svc.id, name=kind, type=kind)
    db.commit()
    return keys


def _outcomes(container: Container) -> list[str]:
    settle(container)
    with container.sessionmaker() as s:
        return list(s.scalars(select(Event.outcome).order_by(Event.id)))


def test_a_group_becomes_one_incident_and_resolves_together(
    client: TestClient, hook_keys: dict[str, str], container: Container
) -> None:
    url = f"/hooks/{hook_keys['alertmanager']}"
    response = client.post(url, json=FIRING, headers={"Authorization": "Bearer anything"})
    assert response.status_code == 202
    assert response.json() == {"status": "success", "sender": "alertmanager", "events": 2}
    assert client.post(url, json=FIRING).status_code == 202
    assert _outcomes(container) == ["created_alert"] * 2 + ["deduplicated"] * 2
    with container.sessionmaker() as s:
        assert s.scalar(select(func.count(Alert.id))) == 2
        incident = s.scalars(select(Incident)).one()
        assert incident.severity.name == "SEV1"
        assert incident.title == "p99 latency above 2s (web-1:9100)"
    # One alert resolves: the incident stays open; both: it resolves.
    partial = _resolved(FIRING)
    partial["alerts"] = partial["alerts"][:1]
    client.post(url, json=partial)
    settle(container)
    with container.sessionmaker() as s:
        assert s.scalars(select(Incident)).one().status == "triggered"
    assert client.post(url, json=_resolved(FIRING)).status_code == 202
    assert _outcomes(container)[-2:] == ["ignored", "resolved"]
    with container.sessionmaker() as s:
        assert s.scalars(select(Incident)).one().status == "resolved"
        links = s.scalars(select(Alert).order_by(Alert.id)).first().links  # type: ignore[union-attr]
        assert links[0]["href"].startswith("http://prometheus.example.com")


def test_grafana_version_1_is_recognised(
    client: TestClient, hook_keys: dict[str, str], container: Container
) -> None:
    body = copy.deepcopy(FIRING)
    body.update(version="1", orgId=1, state="alerting", title="[FIRING:2] HighLatency")
    body["alerts"][0]["dashboardURL"] = "https://grafana.example.com/d/abc"
    response = client.post(f"/hooks/{hook_keys['grafana']}", json=body)
    assert response.status_code == 202 and response.json()["sender"] == "grafana"
    settle(container)
    with container.sessionmaker() as s:
        assert s.scalar(select(func.count(Event.id))) == 2


def test_webhook_errors(
    client: TestClient, hook_keys: dict[str, str], container: Container
) -> None:
    # A key in the URL names the integration: unknown, disabled or of another type, the URL
    # names nothing that takes this, so 404 with the JSON error body.
    unknown = client.post("/hooks/" + "0" * 32, json=FIRING)
    assert unknown.status_code == 404 and unknown.json()["errors"] == ["unknown integration key"]
    wrong = client.post(f"/hooks/{hook_keys['pagerduty']}", json=FIRING)
    assert wrong.status_code == 404 and "pagerduty integration" in wrong.json()["message"]
    url = f"/hooks/{hook_keys['alertmanager']}"
    assert (
        client.post(url, content=b"{", headers={"Content-Type": "application/json"}).status_code
        == 400
    )
    assert client.post(url, json={"alerts": "no"}).status_code == 400
    bad_status = copy.deepcopy(FIRING)
    bad_status["alerts"][1]["status"] = "exploding"
    assert client.post(url, json=bad_status).status_code == 400
    settle(container)
    with container.sessionmaker() as s:
        # Nothing half-written: no alert. Each refused body of this integration is kept as a
        # `rejected` event with the reason, so "why didn't this page?" has an answer.
        assert s.scalar(select(func.count(Alert.id))) == 0
        rejected = list(s.scalars(select(Event).order_by(Event.id)))
        assert [e.outcome for e in rejected] == ["rejected"] * 3
        assert "JSON parse error" in rejected[0].outcome_detail
        assert "alerts[1].status must be firing or resolved" in rejected[2].outcome_detail
        assert rejected[2].raw is not None and "exploding" in rejected[2].raw


@pytest.mark.parametrize(
    ("starts_at", "expected"),
    [
        ("2026-11-22T11:17:09.354859717Z", "2026-11-22T11:17:09.354859+00:00"),
        ("2026-11-22T12:17:09.354859717+01:00", "2026-11-22T12:17:09.354859+01:00"),
        ("2026-11-22T11:17:09.5Z", "2026-11-22T11:17:09.500000+00:00"),
        ("2026-11-22T11:17:09Z", "2026-11-22T11:17:09+00:00"),
        ("2026-11-22T11:17:09.²Z", None),
        ("2026-11-22T11:17:09.٣Z", None),
    ],
)
def test_start_times_keep_their_offset_and_take_ascii_digits_only(
    starts_at: str, expected: str | None
) -> None:
    body = copy.deepcopy(FIRING)
    body["alerts"][0]["startsAt"] = starts_at
    _, [(event, _raw), _] = parse_webhook(body)
    assert (event.timestamp.isoformat() if event.timestamp else None) == expected
