"""The Opsgenie Alert API subset, driven by the official opsgenie-sdk client, unchanged."""

from __future__ import annotations

from typing import Any

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
from tocsin.incidents import queries
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
    no_key = httpx.post(url, json={"message": "x"}, timeout=30)
    assert no_key.status_code == 401 and "requestId" in no_key.json()
    wrong = httpx.post(
        url, json={"message": "x"}, headers={"Authorization": "GenieKey nope"}, timeout=30
    )
    assert wrong.status_code == 401
    invalid = httpx.post(url, json={"message": ""}, headers=auth, timeout=30)
    assert invalid.status_code == 422 and "message" in invalid.json()["errors"]
    garbage = httpx.post(url, content=b"{nope", headers=auth, timeout=30)
    assert garbage.status_code == 400 and "requestId" in garbage.json()
    tiny = httpx.post(f"{url}/abc/close?identifierType=tiny", json={}, headers=auth, timeout=30)
    assert tiny.status_code == 422
    unknown = httpx.get(
        f"{url}/requests/00000000-0000-0000-0000-000000000000", headers=auth, timeout=30
    )
    assert unknown.status_code == 404


def test_closing_an_unknown_alert_is_reported_not_failed(live_server: str, genie_key: str) -> None:
    api = _api(live_server, genie_key)
    config_polls = api.api_client.configuration
    config_polls.short_polling_max_retries = 0  # one look is enough: the answer is final
    response = api.close_alert(identifier="never-opened", identifier_type="alias")
    result = response.retrieve_result()
    assert result.data.is_success is False
    assert result.data.status == "Alert does not exist"


def _create(api: opsgenie_sdk.AlertApi, **fields: Any) -> str:
    """Create an alert through the SDK; its Tocsin alert id, once applied."""
    created = api.create_alert(create_alert_payload=opsgenie_sdk.CreateAlertPayload(**fields))
    result = created.retrieve_result()
    assert result.data.is_success, result.data.status
    return str(result.data.alert_id)


def test_sdk_reads_updates_and_notes(
    live_server: str, genie_key: str, container: Container
) -> None:
    api = _api(live_server, genie_key)
    disk = _create(
        api,
        message="Disk almost full on db-1",
        alias="db-disk",
        description="92% used",
        priority="P3",
        tags=["db", "prod"],
        details={"host": "db-1"},
        entity="db-1",
    )
    latency = _create(api, message="API latency above 2 s", alias="api-latency", priority="P2")

    got = api.get_alert(identifier=disk).data
    assert (got.id, got.alias, got.message) == (disk, "db-disk", "Disk almost full on db-1")
    assert (got.status, got.acknowledged, got.count) == ("open", False, 1)
    assert (got.priority, got.tags, got.entity) == ("P3", ["db", "prod"], "db-1")
    assert got.description == "92% used" and got.details == {"host": "db-1"}
    assert got.integration.name == "Opsgenie" and got.created_at is not None
    assert api.get_alert(identifier="db-disk", identifier_type="alias").data.id == disk

    # Updates by alias, as Alertmanager sends them, and by id, each reported as done.
    priority = api.update_alert_priority(
        identifier="db-disk",
        identifier_type="alias",
        update_alert_priority_payload=opsgenie_sdk.UpdateAlertPriorityPayload(priority="P1"),
    ).retrieve_result()
    assert priority.data.is_success and priority.data.action == "UpdatePriority"
    message = api.update_alert_message(
        identifier=disk,
        update_alert_message_payload=opsgenie_sdk.UpdateAlertMessagePayload(
            message="Disk full on db-1"
        ),
    ).retrieve_result()
    assert message.data.is_success
    described = api.update_alert_description(
        identifier="db-disk",
        identifier_type="alias",
        update_alert_description_payload=opsgenie_sdk.UpdateAlertDescriptionPayload(
            description="99% used"
        ),
    ).retrieve_result()
    assert described.data.is_success
    note = api.add_note(
        identifier="db-disk",
        identifier_type="alias",
        add_note_to_alert_payload=opsgenie_sdk.AddNoteToAlertPayload(
            user="ops-bot", note="Rotated the WAL archive"
        ),
    ).retrieve_result()
    assert note.data.is_success and note.data.action == "AddNote"
    got = api.get_alert(identifier=disk).data
    assert (got.priority, got.message, got.description) == ("P1", "Disk full on db-1", "99% used")
    with container.sessionmaker() as s:
        alert = s.get(Alert, int(disk))
        assert alert is not None and alert.severity == "critical"
        incident = s.get(Incident, alert.incident_id)
        entries = [(e.summary, e.body) for e in queries.timeline(s, incident) if e.kind == "alert"]
        assert (
            "Note from the sender by ops-bot on alert " + disk + ": Disk full on db-1",
            "Rotated the WAL archive",
        ) in entries
        assert any("priority changed by the sender to P1" in summary for summary, _ in entries)
        assert any("message changed by the sender: Disk full on db-1" in s_ for s_, _ in entries)
        updates = list(
            s.scalars(
                select(Event.outcome).where(
                    Event.action.in_(["priority", "message", "description", "note"])
                )
            )
        )
        assert updates == ["updated"] * 4

    # Search, sort, paging and counts.
    first = api.list_alerts(query="status:open", limit=1, sort="createdAt", order="asc")
    assert [a.id for a in first.data] == [disk] and first.paging.next
    assert "offset=1" in first.paging.next
    assert [a.alias for a in api.list_alerts(query="tag:prod").data] == ["db-disk"]
    assert [a.id for a in api.list_alerts(query="priority:P1").data] == [disk]
    assert [a.id for a in api.list_alerts(query="priority=P2").data] == [latency]
    assert [a.id for a in api.list_alerts(query="latency").data] == [latency]
    assert [a.id for a in api.list_alerts(query='message:"disk full"').data] == [disk]
    assert [a.id for a in api.list_alerts(query="NOT alias:db-disk").data] == [latency]
    newest_first = [a.id for a in api.list_alerts().data]
    assert newest_first == [latency, disk]
    assert api.count_alerts(query="status:open").data.count == 2
    api.close_alert(identifier="api-latency", identifier_type="alias").retrieve_result()
    settle(container)
    assert api.count_alerts(query="status:closed").data.count == 1
    assert api.count_alerts(query="status:open AND acknowledged:false").data.count == 1
    closed = api.get_alert(identifier=latency).data
    assert closed.status == "closed" and closed.report.close_time is not None

    # What Opsgenie answers for an alert that is not there.
    with pytest.raises(opsgenie_sdk.ApiException) as missing:
        api.get_alert(identifier="never-seen", identifier_type="alias")
    assert missing.value.status == 404
    api.api_client.configuration.short_polling_max_retries = 0
    noted = api.add_note(
        identifier="never-seen",
        identifier_type="alias",
        add_note_to_alert_payload=opsgenie_sdk.AddNoteToAlertPayload(note="hello?"),
    ).retrieve_result()
    assert noted.data.is_success is False and noted.data.status == "Alert does not exist"


def test_every_opsgenie_path_answers_json(live_server: str, genie_key: str, db: Session) -> None:
    base = f"{live_server}/opsgenie/v2/alerts"
    auth = {"Authorization": f"GenieKey {genie_key}"}
    for method, url in [
        ("DELETE", f"{base}/abc"),
        ("PATCH", base),
        ("PUT", base),
        ("DELETE", f"{base}/requests/abc"),
    ]:
        response = httpx.request(method, url, headers=auth)
        assert response.status_code == 405, (method, url)
        assert response.headers["content-type"] == "application/json"
        assert "requestId" in response.json() and response.headers["allow"]
    nowhere = httpx.get(f"{live_server}/opsgenie/v2/heartbeats", headers=auth, timeout=30)
    assert nowhere.status_code == 404 and "requestId" in nowhere.json()
    unknown_field = httpx.put(
        f"{base}/abc/colour?identifierType=alias", json={}, headers=auth, timeout=30
    )
    assert unknown_field.status_code == 404 and "requestId" in unknown_field.json()
    bad_query = httpx.get(
        base, params={"query": "status:open OR status:closed"}, headers=auth, timeout=30
    )
    assert bad_query.status_code == 422 and "query" in bad_query.json()["errors"]
    bad_limit = httpx.get(base, params={"limit": "500", "sort": "colour"}, headers=auth, timeout=30)
    assert bad_limit.status_code == 422
    assert set(bad_limit.json()["errors"]) == {"limit", "sort"}
    empty_message = httpx.put(
        f"{base}/abc/message?identifierType=alias", json={"message": ""}, headers=auth, timeout=30
    )
    assert empty_message.status_code == 422 and "message" in empty_message.json()["errors"]

    # A wrong key is Opsgenie's 401 on every path, before anything else is looked at; the key
    # of another type of integration is its 403 (code 40301).
    svc = catalog.create_service(db, name="Elsewhere")
    _, pd_key = alerts.create_integration(db, service_id=svc.id, name="pd")
    db.commit()
    for method, url in [
        ("GET", base),
        ("GET", f"{base}/count"),
        ("GET", f"{base}/1"),
        ("POST", f"{base}/abc/notes?identifierType=alias"),
        ("PUT", f"{base}/abc/priority?identifierType=alias"),
        ("POST", f"{base}/abc/snooze"),
        ("DELETE", f"{base}/abc"),
        ("GET", f"{live_server}/opsgenie/v2/heartbeats"),
    ]:
        for headers in ({}, {"Authorization": "GenieKey " + "0" * 32}):
            response = httpx.request(method, url, headers=headers, json={})
            assert response.status_code == 401, (method, url, headers)
            assert response.json()["message"] == "Could not authenticate"
        other = httpx.request(method, url, headers={"Authorization": f"GenieKey {pd_key}"})
        assert other.status_code == 403 and other.json()["code"] == 40301


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
        answer = httpx.get(url, headers=auth, timeout=30)
        assert answer.status_code == 200 and answer.json()["data"]["success"] is True
        assert incident.reference not in answer.text and "incident" not in answer.text.lower()
