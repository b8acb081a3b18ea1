"""The Opsgenie Alert API subset, driven by the official opsgenie-sdk client, unchanged."""

from __future__ import annotations

import httpx
import opsgenie_sdk
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.conftest import settle
from tocsin.alerts import service as alerts
from tocsin.alerts.models import Alert, Event
from tocsin.bootstrap import Container
from tocsin.catalog import service as catalog
from tocsin.catalog.models import User
from tocsin.incidents import service as incidents
from tocsin.incidents.models import Incident


@pytest.fixture
def genie_key(db: Session) -> str:
    svc = catalog.create_service(db, name="Payments")
    _, key = alerts.create_integration(db, service_id=svc.id, name="Opsgenie", type="opsgenie")
    db.commit()
    return key


def _api(base: str, key: str) -> opsgenie_sdk.AlertApi:
    config = opsgenie_sdk.Configuration()
    config.host = f"{base}/opsgenie"
    config.api_key["Authorization"] = key
    config.retry_enabled = False  # a failure should fail the test, not wait 30 s and retry
    return opsgenie_sdk.AlertApi(opsgenie_sdk.ApiClient(config))


def test_sdk_create_ack_close(live_server: str, genie_key: str, container: Container) -> None:
    api = _api(live_server, genie_key)
    created = api.create_alert(
        create_alert_payload=opsgenie_sdk.CreateAlertPayload(
            message="Payment gateway timeouts",
            alias="gateway-timeouts",
            description="p95 above 3 s",
            priority="P1",
            tags=["payments"],
            details={"region": "eu-west-1"},
        )
    )
    assert created.request_id
    result = created.retrieve_result()
    assert result.data.is_success and result.data.action == "Create"
    alert_id = result.data.alert_id
    settle(container)
    with container.sessionmaker() as s:
        alert = s.get(Alert, int(alert_id))
        assert alert is not None and alert.dedup_key == "gateway-timeouts"
        incident = s.get(Incident, alert.incident_id)
        assert incident is not None and incident.severity.name == "SEV1"  # P1 → critical
        assert incident.title == "Payment gateway timeouts"
    # A repeat with the same alias deduplicates, as in Opsgenie.
    again = api.create_alert(
        create_alert_payload=opsgenie_sdk.CreateAlertPayload(
            message="Payment gateway timeouts", alias="gateway-timeouts"
        )
    ).retrieve_result()
    assert again.data.is_success and again.data.alert_id == alert_id
    # Acknowledge by id (the default identifier type), then close by alias.
    ack = api.acknowledge_alert(
        identifier=alert_id,
        acknowledge_alert_payload=opsgenie_sdk.AcknowledgeAlertPayload(note="on it"),
    ).retrieve_result()
    assert ack.data.is_success and ack.data.action == "Acknowledge"
    closed = api.close_alert(identifier="gateway-timeouts", identifier_type="alias")
    assert closed.retrieve_result().data.is_success
    settle(container)
    with container.sessionmaker() as s:
        alert = s.get(Alert, int(alert_id))
        assert alert is not None and alert.status == "resolved" and alert.event_count == 2
        assert s.get(Incident, alert.incident_id).status == "resolved"  # type: ignore[union-attr]
        outcomes = list(s.scalars(select(Event.outcome).order_by(Event.id)))
        assert outcomes == ["created_alert", "deduplicated", "acknowledged", "resolved"]


def test_errors_use_opsgenie_shapes(live_server: str, genie_key: str) -> None:
    url = f"{live_server}/opsgenie/v2/alerts"
    auth = {"Authorization": f"GenieKey {genie_key}"}
    no_key = httpx.post(url, json={"message": "x"})
    assert no_key.status_code == 401 and "requestId" in no_key.json()
    wrong = httpx.post(url, json={"message": "x"}, headers={"Authorization": "GenieKey nope"})
    assert wrong.status_code == 401
    invalid = httpx.post(url, json={"message": ""}, headers=auth)
    assert invalid.status_code == 422 and "message" in invalid.json()["errors"]
    garbage = httpx.post(url, content=b"{nope", headers=auth)
    assert garbage.status_code == 400 and "requestId" in garbage.json()
    tiny = httpx.post(f"{url}/abc/close?identifierType=tiny", json={}, headers=auth)
    assert tiny.status_code == 422
    unknown = httpx.get(f"{url}/requests/00000000-0000-0000-0000-000000000000", headers=auth)
    assert unknown.status_code == 404


def test_closing_an_unknown_alert_is_reported_not_failed(live_server: str, genie_key: str) -> None:
    api = _api(live_server, genie_key)
    config_polls = api.api_client.configuration
    config_polls.short_polling_max_retries = 0  # one look is enough: the answer is final
    response = api.close_alert(identifier="never-opened", identifier_type="alias")
    result = response.retrieve_result()
    assert result.data.is_success is False
    assert result.data.status == "Alert does not exist"


def test_request_status_never_names_the_incident(
    live_server: str, genie_key: str, container: Container, db: Session, admin: User
) -> None:
    """The sender holds an integration key, not a person's login: what it reads back says what
    became of its alert, never which incident (restricted or not) the alert went to."""
    api = _api(live_server, genie_key)
    payload = opsgenie_sdk.CreateAlertPayload(message="Vault audit anomaly", alias="vault")
    created = api.create_alert(create_alert_payload=payload)
    assert created.retrieve_result().data.is_success
    settle(container)
    incident = db.scalars(select(Incident)).one()
    incidents.edit(db, incident, {"restricted": True}, by=admin)
    db.commit()
    closed = api.close_alert(identifier="vault", identifier_type="alias")
    assert closed.retrieve_result().data.is_success
    settle(container)
    auth = {"Authorization": f"GenieKey {genie_key}"}
    for request_id in (created.request_id, closed.request_id):
        url = f"{live_server}/opsgenie/v2/alerts/requests/{request_id}"
        answer = httpx.get(url, headers=auth)
        assert answer.status_code == 200 and answer.json()["data"]["success"] is True
        assert incident.reference not in answer.text and "incident" not in answer.text.lower()
