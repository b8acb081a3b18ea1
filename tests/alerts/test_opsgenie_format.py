"""The Opsgenie Alert API wire format: parsing, limits, identifiers and response shapes."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tocsin.alerts.models import Alert
from tocsin.alerts.opsgenie import (
    UNPROCESSABLE,
    OpsgenieInvalid,
    accepted,
    api_key,
    dedup_key_for,
    error_body,
    parse_action,
    parse_create,
    parse_note,
    parse_update,
    request_status,
)
from tocsin.alerts.opsgenie_alerts import alert_body, parse_query, parse_search
from tocsin.alerts.pagerduty import EventInvalid, ParsedEvent

AM_ALIAS = "d4061866" + "0" * 52 + "be36"
AM_SOURCE = "http://alertmanager.example.com:9093/#/alerts?receiver=all"
# The create body Alertmanager 0.25 sent (interop.md 2c), with the alias written out in full.
AM_CREATE = {
    "alias": AM_ALIAS,
    "message": "[FIRING:2] HighLatency (node critical)",
    "description": "p99 latency above 2s\nAlerts Firing:\n…",
    "details": {"alertname": "HighLatency", "job": "node", "severity": "critical"},
    "source": AM_SOURCE,
    "responders": [{"name": "web-oncall", "type": "team"}],
    "tags": ["team-web", "prod"],
    "priority": "P2",
}


def fields_of(call: Any, *args: Any) -> dict[str, str]:
    with pytest.raises(OpsgenieInvalid) as caught:
        call(*args)
    assert caught.value.message == UNPROCESSABLE
    assert caught.value.errors  # the PagerDuty-style list is filled too
    return caught.value.fields


def test_alertmanager_create_body() -> None:
    event = parse_create(AM_CREATE, routing_key="k")
    assert event.routing_key == "k"
    assert event.action == "trigger"
    assert event.dedup_key == AM_ALIAS
    assert event.summary == "[FIRING:2] HighLatency (node critical)"
    assert event.severity == "error"
    assert event.source == AM_SOURCE
    assert event.details == {
        "description": AM_CREATE["description"],
        "details": AM_CREATE["details"],
        "tags": ["team-web", "prod"],
        "priority": "P2",
        "responders": [{"type": "team", "name": "web-oncall"}],
    }
    assert event.links == [{"href": AM_SOURCE, "text": "source"}]
    assert event.note == ""


def test_create_defaults() -> None:
    event = parse_create({"message": "disk full"})
    assert event.dedup_key is None  # the caller generates one
    assert event.severity == "warning"  # P3
    assert event.source == "opsgenie"
    assert event.details == {}
    assert event.links == []


@pytest.mark.parametrize(
    ("priority", "severity"),
    [("P1", "critical"), ("P2", "error"), ("P3", "warning"), ("P4", "info"), ("P5", "info")],
)
def test_priority_maps_to_severity(priority: str, severity: str) -> None:
    assert parse_create({"message": "m", "priority": priority}).severity == severity


def test_create_keeps_note_user_entity_and_url_details() -> None:
    event = parse_create(
        {
            "message": "m",
            "note": "see runbook",
            "user": "ci",
            "entity": "db-1",
            "details": {"url": "https://grafana.example/d/1", "count": 3, "ok": True},
        }
    )
    assert event.note == "see runbook"
    assert event.details["user"] == "ci"
    assert event.details["entity"] == "db-1"
    # Numbers and booleans are kept as their JSON text rather than refusing the alert.
    assert event.details["details"] == {
        "url": "https://grafana.example/d/1",
        "count": "3",
        "ok": "true",
    }
    assert event.links == [{"href": "https://grafana.example/d/1", "text": "url"}]


def test_long_source_is_truncated_not_refused() -> None:
    source = "http://alertmanager.example.com:9093/#/alerts?receiver=" + "r" * 100
    event = parse_create({"message": "m", "source": source})
    assert event.source == source[:100]
    assert event.links == [{"href": source, "text": "source"}]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"message": None}, "message"),
        ({"message": "   "}, "message"),
        ({"message": "x" * 131}, "message"),
        ({"message": 5}, "message"),
        ({"alias": "a" * 513}, "alias"),
        ({"description": "d" * 15001}, "description"),
        ({"entity": "e" * 513}, "entity"),
        ({"user": "u" * 101}, "user"),
        ({"note": "n" * 25001}, "note"),
        ({"priority": "P6"}, "priority"),
        ({"priority": {"P1": 1}}, "priority"),
        ({"tags": [f"t{i}" for i in range(21)]}, "tags"),
        ({"tags": ["t" * 51]}, "tags"),
        ({"tags": "a,b"}, "tags"),
        ({"actions": [f"a{i}" for i in range(11)]}, "actions"),
        ({"details": {"k": "v" * 8000}}, "details"),
        ({"details": ["k"]}, "details"),
        ({"details": {"nested": {"a": "b"}}}, "details.nested"),
        ({"responders": [{"type": "team", "name": "t"}] * 51}, "responders"),
        ({"responders": [{"type": "team"}]}, "responders[0]"),
        ({"responders": [{"type": "robot", "name": "r"}]}, "responders[0]"),
        ({"visibleTo": [{"type": "schedule", "name": "s"}]}, "visibleTo[0]"),
        ({"source": ["s"]}, "source"),
    ],
)
def test_create_limits(change: dict[str, Any], field: str) -> None:
    fields = fields_of(parse_create, {**AM_CREATE, **change})
    assert field in fields
    assert list(fields) == [field]  # the rest of the captured body is valid


def test_create_limits_are_inclusive() -> None:
    body = {
        "message": "x" * 130,
        "alias": "a" * 512,
        "description": "d" * 15000,
        "tags": [f"{i:02d}" + "t" * 48 for i in range(20)],
        "details": {"k": "v" * 7999},
        "entity": "e" * 512,
        "note": "n" * 25000,
        "responders": [{"type": "user", "username": "u@example.com"}] * 50,
        "actions": [f"a{i}" for i in range(10)],
    }
    assert parse_create(body).summary == "x" * 130


def test_create_reports_every_bad_field_at_once() -> None:
    fields = fields_of(parse_create, {"message": "", "priority": "urgent", "tags": [1]})
    assert fields == {
        "message": "can not be empty",
        "priority": "should be one of [ P1, P2, P3, P4, P5 ]",
        "tags": "should be a list of strings",
    }


@pytest.mark.parametrize("body", [None, [], "message", 3, True])
def test_create_body_must_be_an_object(body: Any) -> None:
    assert fields_of(parse_create, body) == {"body": "should be a JSON object"}


def test_long_alias_digest_is_stable_and_distinct() -> None:
    alias = "a" * 300
    other = "a" * 299 + "b"
    assert dedup_key_for(alias) == dedup_key_for(alias)
    assert dedup_key_for(alias).startswith("sha256:")
    assert len(dedup_key_for(alias)) == 7 + 64
    assert dedup_key_for(alias) != dedup_key_for(other)
    assert dedup_key_for("a" * 255) == "a" * 255
    assert dedup_key_for("a" * 256).startswith("sha256:")
    event = parse_create({"message": "m", "alias": alias})
    assert event.dedup_key == dedup_key_for(alias)
    assert event.details["alias"] == alias  # the original is kept
    # Closing by that alias finds the same key.
    assert parse_action("close", alias, "alias", None).dedup_key == event.dedup_key
    # A short alias is its own key and is not repeated in details.
    assert "alias" not in parse_create({"message": "m", "alias": "short"}).details


def test_alias_with_lone_surrogate_is_digested() -> None:
    alias = json.loads('"\\ud800' + "x" * 300 + '"')
    assert dedup_key_for(alias).startswith("sha256:")


def test_close_by_alias_as_alertmanager_sends_it() -> None:
    event = parse_action("close", AM_ALIAS, "alias", {"source": AM_SOURCE}, routing_key="k")
    assert event.action == "resolve"
    assert event.dedup_key == AM_ALIAS
    assert event.alert_id is None
    assert event.source == AM_SOURCE
    assert event.routing_key == "k"


@pytest.mark.parametrize(
    ("action", "expected"),
    [("close", "resolve"), ("acknowledge", "acknowledge"), ("unacknowledge", "unacknowledge")],
)
@pytest.mark.parametrize("identifier_type", [None, "", "id", "ID"])
def test_actions_by_id(action: str, expected: str, identifier_type: str | None) -> None:
    event = parse_action(action, "42", identifier_type, None)
    assert event.action == expected
    assert event.alert_id == 42
    assert event.dedup_key is None
    assert event.source == "opsgenie"


def test_action_body_user_source_note() -> None:
    body = {"user": "alice", "source": "cli", "note": "looking"}
    event = parse_action("acknowledge", "deploy-1", "alias", body)
    assert (event.note, event.source, event.details) == ("looking", "cli", {"user": "alice"})
    assert parse_action("acknowledge", "deploy-1", "alias", {}).note == ""


@pytest.mark.parametrize(
    ("args", "field", "words"),
    [
        (("close", "7", "tiny", None), "identifierType", "tiny ids are not supported"),
        (("close", "7", "name", None), "identifierType", "id, alias"),
        (("close", "abc", "id", None), "identifier", "integers"),
        (("close", "abc", None, None), "identifier", "integers"),
        (("close", "-3", "id", None), "identifier", "integers"),
        (("close", "²", "id", None), "identifier", "integers"),
        (("close", "9" * 5000, "id", None), "identifier", "integers"),
        (("close", "99999999999999999999", "id", None), "identifier", "integers"),
        (("close", "", "alias", None), "identifier", "empty"),
        (("close", "a" * 513, "alias", None), "identifier", "512"),
        (("snooze", "7", "id", None), "action", "close, acknowledge, unacknowledge"),
        (("close", "7", "id", ["source"]), "body", "JSON object"),
        (("close", "7", "id", {"note": "n" * 25001}), "note", "25000"),
        (("close", "7", "id", {"user": 1}), "user", "string"),
    ],
)
def test_action_errors(args: tuple[Any, ...], field: str, words: str) -> None:
    fields = fields_of(parse_action, *args)
    assert words in fields[field]


@pytest.mark.parametrize(
    ("header", "key"),
    [
        ("GenieKey abc-123", "abc-123"),
        ("geniekey abc-123", "abc-123"),
        ("  GENIEKEY   abc-123  ", "abc-123"),
        (None, None),
        ("", None),
        ("GenieKey", None),
        ("GenieKey ", None),
        ("Bearer abc-123", None),
        ("abc-123", None),
        ("GenieKey abc 123", None),
    ],
)
def test_api_key(header: str | None, key: str | None) -> None:
    assert api_key(header) == key


def test_accepted_and_error_shapes() -> None:
    assert accepted("r-1", 0.25) == {
        "result": "Request will be processed",
        "took": 0.25,
        "requestId": "r-1",
    }
    assert error_body("Could not authenticate", 0.0, "r-2") == {
        "message": "Could not authenticate",
        "took": 0.0,
        "requestId": "r-2",
    }
    assert error_body(UNPROCESSABLE, 0.01, "r-3", {"message": "can not be empty"}) == {
        "message": UNPROCESSABLE,
        "errors": {"message": "can not be empty"},
        "took": 0.01,
        "requestId": "r-3",
    }


def test_request_status_shape() -> None:
    when = datetime(2026, 11, 1, 12, 0, 0, 123456, tzinfo=timezone(timedelta(hours=2)))
    body = request_status(
        "r-1",
        action="trigger",
        success=True,
        processed_at=when,
        integration_id=7,
        took=0.01,
        alert_id=42,
        alias="a",
    )
    assert body == {
        "data": {
            "success": True,
            "action": "Create",
            "processedAt": "2026-11-01T10:00:00.123Z",
            "integrationId": "7",
            "isSuccess": True,
            "status": "Created alert",
            "alertId": "42",
            "alias": "a",
        },
        "took": 0.01,
        "requestId": "r-1",
    }


@pytest.mark.parametrize(
    ("action", "name", "status"),
    [
        ("resolve", "Close", "Closed alert"),
        ("acknowledge", "Acknowledge", "Acknowledged alert"),
        ("unacknowledge", "UnAcknowledge", "UnAcknowledged alert"),
    ],
)
def test_request_status_actions(action: str, name: str, status: str) -> None:
    data = request_status(
        "r",
        action=action,
        success=True,
        processed_at=datetime(2026, 1, 1),
        integration_id="i",
        took=0.0,
    )["data"]
    assert (data["action"], data["status"]) == (name, status)
    assert data["processedAt"] == "2026-01-01T00:00:00.000Z"  # naive is taken as UTC
    assert "alertId" not in data and "alias" not in data


def test_request_status_failure() -> None:
    data = request_status(
        "r",
        action="resolve",
        success=False,
        processed_at=datetime.now(UTC),
        integration_id="i",
        took=0.0,
        status="Alert does not exist",
        alias="gone",
    )["data"]
    assert data["success"] is False and data["isSuccess"] is False
    assert data["status"] == "Alert does not exist"


class _Response:
    """What opsgenie-sdk's ApiClient.deserialize reads from an HTTP response."""

    def __init__(self, body: dict[str, Any]) -> None:
        self.data = json.dumps({**body, "url": "http://tocsin/opsgenie/v2/alerts"})


def test_opsgenie_sdk_reads_our_bodies() -> None:
    sdk = pytest.importorskip("opsgenie_sdk")
    client = sdk.ApiClient(sdk.Configuration())
    created = client.deserialize(_Response(accepted("r-1", 0.2)), "SuccessResponse")
    assert (created.request_id, created.took) == ("r-1", 0.2)
    status = request_status(
        "r-1",
        action="trigger",
        success=True,
        processed_at=datetime(2026, 11, 1, tzinfo=UTC),
        integration_id="7",
        took=0.0,
        alert_id=42,
    )
    got = client.deserialize(_Response(status), "GetRequestStatusResponse")
    # retrieve_result() stops polling on is_success and takes the alert id from alert_id.
    assert got.data.is_success is True
    assert got.data.alert_id == "42"
    assert got.data.processed_at == datetime(2026, 11, 1, tzinfo=UTC)


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(), inner, max_size=5),
    max_leaves=20,
)
# Objects that use the real field names, so the property reaches past the first check.
create_like = st.fixed_dictionaries(
    {},
    optional={
        name: json_values | st.text()
        for name in (
            "message",
            "alias",
            "description",
            "responders",
            "visibleTo",
            "actions",
            "tags",
            "details",
            "entity",
            "source",
            "priority",
            "user",
            "note",
        )
    },
)


def _parses_or_invalid(call: Any, *args: Any, **kwargs: Any) -> None:
    try:
        result = call(*args, **kwargs)
    except EventInvalid as exc:
        assert exc.errors and exc.message
    else:
        assert isinstance(result, ParsedEvent)


@settings(max_examples=300, deadline=None)
@given(data=json_values | create_like)
def test_any_json_creates_or_is_invalid(data: Any) -> None:
    _parses_or_invalid(parse_create, data)


@settings(max_examples=300, deadline=None)
@given(
    action=st.sampled_from(["close", "acknowledge", "unacknowledge", "snooze"]) | st.text(),
    identifier=st.text() | st.integers(min_value=0).map(str),
    identifier_type=st.none() | st.sampled_from(["id", "alias", "tiny", "ALIAS"]) | st.text(),
    data=json_values
    | st.fixed_dictionaries({}, optional={k: json_values for k in ("user", "source", "note")}),
)
def test_any_json_action_parses_or_is_invalid(
    action: str, identifier: str, identifier_type: str | None, data: Any
) -> None:
    _parses_or_invalid(parse_action, action, identifier, identifier_type, data)


# --- updates, notes, searches and alert shapes -------------------------------------------


def test_alertmanager_update_bodies() -> None:
    """What Alertmanager 0.25 sends with update_alerts: true, after each create."""
    message = parse_update("message", AM_ALIAS, "alias", {"message": AM_CREATE["message"]})
    assert (message.action, message.dedup_key) == ("message", AM_ALIAS)
    assert message.details == {"message": AM_CREATE["message"]}
    described = parse_update(
        "description", AM_ALIAS, "alias", {"description": AM_CREATE["description"]}
    )
    assert described.details == {"description": AM_CREATE["description"]}
    # A template that renders nothing clears the description rather than failing the update.
    assert parse_update("description", AM_ALIAS, "alias", {"description": ""}).details == {
        "description": ""
    }


def test_priority_update_and_note() -> None:
    priority = parse_update("priority", "12", None, {"priority": "P1", "user": "ops"})
    assert (priority.alert_id, priority.severity) == (12, "critical")
    assert priority.details == {"priority": "P1", "user": "ops"}
    note = parse_note("db-disk", "alias", {"note": "Rotated the archive", "user": "ops"})
    assert (note.action, note.note, note.details) == (
        "note",
        "Rotated the archive",
        {"user": "ops"},
    )


@pytest.mark.parametrize(
    ("call", "field", "words"),
    [
        (lambda: parse_update("message", "a", "alias", {"message": ""}), "message", "empty"),
        (lambda: parse_update("message", "a", "alias", {"message": "m" * 131}), "message", "130"),
        (lambda: parse_update("priority", "a", "alias", {"priority": "P9"}), "priority", "P5"),
        (lambda: parse_update("priority", "a", "alias", None), "priority", "P1"),
        (lambda: parse_update("colour", "a", "alias", {}), "field", "message"),
        (lambda: parse_update("message", "abc", None, {"message": "x"}), "identifier", "alias"),
        (lambda: parse_note("a", "alias", {}), "note", "empty"),
        (lambda: parse_note("a", "alias", {"note": "n" * 25001}), "note", "25000"),
        (lambda: parse_note("a", "tiny", {"note": "x"}), "identifierType", "tiny"),
    ],
)
def test_update_and_note_errors(call: Any, field: str, words: str) -> None:
    assert words in fields_of(call)[field]


@pytest.mark.parametrize(
    ("query", "terms"),
    [
        ("", []),
        ("status:open", [("status", ":", "open", False)]),
        (
            "status:open AND acknowledged:false",
            [("status", ":", "open", False), ("acknowledged", ":", "false", False)],
        ),
        (
            'message:"disk full" NOT tag:prod',
            [("message", ":", "disk full", False), ("tag", ":", "prod", True)],
        ),
        (
            "createdAt>=1700000000000 count>3",
            [("createdat", ">=", "1700000000000", False), ("count", ">", "3", False)],
        ),
        ("latency", [("", ":", "latency", False)]),
        ("tags=db", [("tag", "=", "db", False)]),
    ],
)
def test_search_queries(query: str, terms: list[tuple[str, str, str, bool]]) -> None:
    assert [(t.field, t.op, t.value, t.negated) for t in parse_query(query)] == terms


@pytest.mark.parametrize(
    ("query", "words"),
    [
        ("status:open OR status:closed", "OR"),
        ("(status:open)", "parentheses"),
        ("colour:red", "can not search by 'colour'"),
        ("status:maybe", "open or closed"),
        ("message>3", "takes : or ="),
        ("createdAt>yesterday", "epoch milliseconds"),
        ("priority:P7", "P1"),
        ("NOT", "NOT needs a term"),
    ],
)
def test_search_query_errors(query: str, words: str) -> None:
    assert words in fields_of(parse_query, query)["query"]


def test_search_parameters() -> None:
    search = parse_search({"query": "status:open", "limit": "5", "offset": "10", "order": "asc"})
    assert (search.limit, search.offset, search.sort, search.descending) == (
        5,
        10,
        "createdAt",
        False,
    )
    assert parse_search({}).limit == 20
    fields = fields_of(
        parse_search,
        {"limit": "0", "offset": "-1", "sort": "x", "order": "up", "searchIdentifier": "s"},
    )
    assert set(fields) == {"limit", "offset", "sort", "order", "searchIdentifier"}


@settings(max_examples=300, deadline=None)
@given(query=st.text(max_size=60))
def test_any_query_parses_or_is_invalid(query: str) -> None:
    try:
        parse_query(query)
    except OpsgenieInvalid as exc:
        assert exc.fields["query"]


@settings(max_examples=200, deadline=None)
@given(
    name=st.sampled_from(["message", "description", "priority", "notes"]),
    identifier=st.text() | st.integers(min_value=0).map(str),
    identifier_type=st.none() | st.sampled_from(["id", "alias", "tiny"]) | st.text(),
    data=json_values
    | st.fixed_dictionaries(
        {}, optional={k: json_values for k in ("message", "description", "priority", "note")}
    ),
)
def test_any_json_update_parses_or_is_invalid(
    name: str, identifier: str, identifier_type: str | None, data: Any
) -> None:
    if name == "notes":
        _parses_or_invalid(parse_note, identifier, identifier_type, data)
    else:
        _parses_or_invalid(parse_update, name, identifier, identifier_type, data)


def test_opsgenie_sdk_reads_our_alert_shapes() -> None:
    sdk = pytest.importorskip("opsgenie_sdk")
    created = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)
    alert = Alert(
        id=42,
        integration_id=7,
        service_id=1,
        dedup_key="db-disk",
        status="resolved",
        summary="Disk full",
        severity="critical",
        source="prometheus",
        details={
            "description": "99%",
            "details": {"host": "db-1", "pct": 99},
            "tags": ["db"],
            "entity": "db-1",
            "responders": [{"type": "team", "name": "no id"}, {"type": "user", "id": "u-1"}],
        },
        event_count=3,
        created_at=created,
        last_event_at=created + timedelta(minutes=5),
        acknowledged_at=created + timedelta(minutes=1),
        resolved_at=created + timedelta(minutes=10),
    )
    client = sdk.ApiClient(sdk.Configuration())
    full = {"data": alert_body(alert, "Opsgenie", full=True), "took": 0.1, "requestId": "r"}
    got = client.deserialize(_Response(full), "GetAlertResponse").data
    assert (got.id, got.alias, got.status, got.acknowledged) == ("42", "db-disk", "closed", True)
    assert (got.priority, got.count, got.tags) == ("P1", 3, ["db"])
    assert got.details == {"host": "db-1", "pct": "99"}  # Opsgenie details are strings
    assert got.report.ack_time == 60_000 and got.report.close_time == 600_000
    assert [r.id for r in got.responders] == ["u-1"]  # the SDK needs an id
    assert got.updated_at == created + timedelta(minutes=10)
    listed = {
        "data": [alert_body(alert, "Opsgenie", full=False)],
        "paging": {"first": "http://x/?offset=0"},
        "took": 0.1,
        "requestId": "r",
    }
    page = client.deserialize(_Response(listed), "ListAlertsResponse")
    assert page.data[0].message == "Disk full" and page.paging.first
