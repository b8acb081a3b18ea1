"""The alerts REST API: integrations and their keys, rules, maintenance, settings, events."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from tests.conftest import api_as, settle
from tocsin.alerts import service as alerts
from tocsin.bootstrap import Container
from tocsin.catalog import service as catalog
from tocsin.catalog.models import User
from tocsin.incidents import queries
from tocsin.incidents import service as incidents


@pytest.fixture
def services(db: Session) -> dict[str, int]:
    web = catalog.create_service(db, name="Web")
    database = catalog.create_service(db, name="Database")
    db.commit()
    return {"web": web.id, "db": database.id}


def _integration(api: TestClient, service_id: int, **body: Any) -> dict[str, Any]:
    made = api.post("/api/v1/integrations", json={"service_id": service_id, "name": "prom", **body})
    assert made.status_code == 201, made.text
    return made.json()


def _send(client: TestClient, key: str, dedup: str, action: str = "trigger", **payload: Any) -> int:
    body = {
        "routing_key": key,
        "event_action": action,
        "dedup_key": dedup,
        "payload": {"summary": f"alert {dedup}", "source": "prom", "severity": "error"} | payload,
    }
    return client.post("/v2/enqueue", json=body, headers={"Authorization": ""}).status_code


def test_key_is_shown_once_and_works(
    api: TestClient, services: dict[str, int], container: Container
) -> None:
    made = _integration(api, services["web"])
    key = made["key"]
    assert len(key) == 32 and made["key_prefix"] == key[:8]
    assert made["url"] == "http://127.0.0.1:8080/v2/enqueue"
    assert made["enabled"] is True and made["last_event_at"] is None
    assert made["service"] == {"id": services["web"], "name": "Web"}

    shown = api.get(f"/api/v1/integrations/{made['id']}").json()
    assert "key" not in shown and key not in str(shown)
    listed = api.get("/api/v1/integrations", params={"service_id": services["web"]}).json()
    assert [i["id"] for i in listed["items"]] == [made["id"]] and key not in str(listed)
    assert (
        api.get("/api/v1/integrations", params={"service_id": services["db"]}).json()["items"] == []
    )

    assert _send(api, key, "disk-full") == 202
    settle(container)
    assert api.get(f"/api/v1/integrations/{made['id']}").json()["last_event_at"] is not None
    events = api.get("/api/v1/events", params={"integration_id": made["id"]}).json()
    assert [(e["dedup_key"], e["outcome"]) for e in events["items"]] == [
        ("disk-full", "created_alert")
    ]


def test_sender_urls_by_type(api: TestClient, services: dict[str, int]) -> None:
    hook = _integration(api, services["web"], type="alertmanager", name="am")
    assert hook["url"] == f"http://127.0.0.1:8080/hooks/{hook['key']}"
    assert api.get(f"/api/v1/integrations/{hook['id']}").json()["url"].endswith("/hooks/{key}")
    genie = _integration(api, services["web"], type="opsgenie", name="og")
    assert genie["url"] == "http://127.0.0.1:8080/opsgenie"
    beat = _integration(
        api, services["web"], type="heartbeat", name="cron", config={"interval_seconds": 60}
    )
    assert beat["url"].endswith(f"/heartbeat/{beat['key']}")
    assert beat["config"] == {"interval_seconds": 60, "grace_seconds": 60, "severity": "critical"}


def test_disable_rotate_and_delete_take_effect_at_once(
    api: TestClient, services: dict[str, int]
) -> None:
    made = _integration(api, services["web"])
    old = made["key"]
    assert _send(api, old, "a") == 202  # caches the key as valid
    disabled = api.patch(f"/api/v1/integrations/{made['id']}", json={"enabled": False})
    assert disabled.status_code == 200 and disabled.json()["enabled"] is False
    assert _send(api, old, "b") in (400, 404)
    assert api.patch(f"/api/v1/integrations/{made['id']}", json={"enabled": True}).json()["enabled"]
    assert _send(api, old, "c") == 202

    rotated = api.post(f"/api/v1/integrations/{made['id']}/rotate-key")
    assert rotated.status_code == 200
    new = rotated.json()["key"]
    assert new != old and rotated.json()["key_prefix"] == new[:8]
    assert _send(api, old, "d") in (400, 404)
    assert _send(api, new, "e") == 202

    assert api.delete(f"/api/v1/integrations/{made['id']}").status_code == 204
    assert _send(api, new, "f") in (400, 404)
    assert api.get(f"/api/v1/integrations/{made['id']}").status_code == 404


def test_integration_input_is_checked(api: TestClient, services: dict[str, int]) -> None:
    def error(response: Any, status: int) -> str:
        assert response.status_code == status, response.text
        return str(response.json()["error"]["message"])

    post = "/api/v1/integrations"
    assert "type" in error(api.post(post, json={"service_id": 1, "name": "x", "type": "x"}), 422)
    assert "no service" in error(api.post(post, json={"service_id": 999, "name": "x"}), 404)
    assert "name" in error(api.post(post, json={"service_id": services["web"], "name": ""}), 422)
    made = _integration(api, services["web"])
    settings = api.patch(f"/api/v1/integrations/{made['id']}", json={"config": {"x": 1}})
    assert "takes no settings" in error(settings, 422)
    assert error(api.patch(f"{post}/{made['id']}", json={"enabled": None}), 422)
    assert error(api.patch(f"{post}/{made['id']}", json={"service_id": 999}), 404)
    assert error(api.get(f"{post}/99999"), 404)
    assert error(api.post(f"{post}/{2**63}/rotate-key"), 422)
    bad_mapping = api.post(
        post,
        json={
            "service_id": services["web"],
            "name": "hook",
            "type": "webhook",
            "config": {"mapping": {"summary": "[[["}},
        },
    )
    assert "mapping" in error(bad_mapping, 422)


def test_routing_rules_round_trip(
    api: TestClient, services: dict[str, int], container: Container
) -> None:
    made = _integration(api, services["web"])
    rules = [
        {
            "matchers": [{"field": "details.team", "op": "equals", "value": "dba"}],
            "service_id": services["db"],
        }
    ]
    put = api.put(f"/api/v1/integrations/{made['id']}/routing-rules", json={"rules": rules})
    assert put.status_code == 200, put.text
    got = api.get(f"/api/v1/integrations/{made['id']}/routing-rules").json()
    assert got["total"] == 1 and got["items"][0]["service"]["name"] == "Database"
    assert got["items"][0]["matchers"] == rules[0]["matchers"]

    assert _send(api, made["key"], "slow-query", custom_details={"team": "dba"}) == 202
    settle(container)
    routed = api.get("/api/v1/events", params={"service_id": services["db"]}).json()["items"]
    assert [e["dedup_key"] for e in routed] == ["slow-query"]

    bad_field = [{"matchers": [{"field": "nope", "value": "x"}], "service_id": services["db"]}]
    refused = api.put(f"/api/v1/integrations/{made['id']}/routing-rules", json={"rules": bad_field})
    assert refused.status_code == 422 and "nope" in refused.json()["error"]["message"]
    no_matchers = [{"matchers": [], "service_id": services["db"]}]
    assert (
        api.put(
            f"/api/v1/integrations/{made['id']}/routing-rules", json={"rules": no_matchers}
        ).status_code
        == 422
    )
    cleared = api.put(f"/api/v1/integrations/{made['id']}/routing-rules", json={"rules": []})
    assert cleared.json() == {"items": [], "total": 0}


def test_suppression_rules_and_event_outcomes(
    api: TestClient, services: dict[str, int], container: Container
) -> None:
    made = _integration(api, services["web"])
    url = f"/api/v1/services/{services['web']}/suppression-rules"
    rule = api.post(
        url,
        json={
            "name": "noisy canary",
            "matchers": [{"field": "source", "op": "equals", "value": "canary"}],
        },
    )
    assert rule.status_code == 201, rule.text
    assert rule.json()["action"] == "drop" and rule.json()["position"] == 0
    assert _send(api, made["key"], "canary-1", source="canary") == 202
    assert _send(api, made["key"], "real-1") == 202
    settle(container)
    suppressed = api.get("/api/v1/events", params={"outcome": "suppressed"}).json()["items"]
    assert [e["dedup_key"] for e in suppressed] == ["canary-1"]
    assert suppressed[0]["rule_id"] == rule.json()["id"]
    assert "noisy canary" in suppressed[0]["outcome_detail"]

    detail = api.get(f"/api/v1/events/{suppressed[0]['id']}").json()
    assert detail["data"]["source"] == "canary"
    assert '"routing_key"' in detail["raw"]
    assert api.get("/api/v1/events/99999").status_code == 404

    patched = api.patch(
        f"/api/v1/suppression-rules/{rule.json()['id']}",
        json={"action": "downgrade", "severity": "info", "enabled": False},
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["severity"] == "info" and patched.json()["enabled"] is False
    needs_severity = api.patch(
        f"/api/v1/suppression-rules/{rule.json()['id']}", json={"severity": None}
    )
    assert needs_severity.status_code == 422
    bad = api.post(url, json={"name": "x", "matchers": [{"field": "source", "op": "like"}]})
    assert bad.status_code == 422
    assert api.post(url, json={"name": "x", "matchers": []}).status_code == 422
    assert api.get(url).json()["total"] == 1
    assert api.delete(f"/api/v1/suppression-rules/{rule.json()['id']}").status_code == 204
    assert api.get(url).json()["total"] == 0
    assert api.get("/api/v1/services/999/suppression-rules").status_code == 404


def test_events_follow_with_after_id_and_page_with_before_id(
    api: TestClient, services: dict[str, int], container: Container
) -> None:
    made = _integration(api, services["web"])
    for n in range(3):
        assert _send(api, made["key"], f"e{n}") == 202
    settle(container)
    newest = api.get("/api/v1/events", params={"limit": 2}).json()
    assert [e["dedup_key"] for e in newest["items"]] == ["e2", "e1"]
    older = api.get("/api/v1/events", params={"before_id": newest["before_id"]}).json()
    assert [e["dedup_key"] for e in older["items"]] == ["e0"] and older["before_id"] is None

    follow = api.get("/api/v1/events", params={"after_id": 0}).json()
    assert [e["dedup_key"] for e in follow["items"]] == ["e0", "e1", "e2"]
    nothing_new = api.get("/api/v1/events", params={"after_id": follow["after_id"]}).json()
    assert nothing_new["items"] == [] and nothing_new["after_id"] == follow["after_id"]
    assert _send(api, made["key"], "e1", action="resolve") == 202
    settle(container)
    new = api.get("/api/v1/events", params={"after_id": follow["after_id"]}).json()["items"]
    assert [(e["action"], e["outcome"]) for e in new] == [("resolve", "resolved")]
    assert api.get("/api/v1/events", params={"outcome": "panicked"}).status_code == 422


def test_incident_alerts_and_events(
    api: TestClient, services: dict[str, int], container: Container
) -> None:
    made = _integration(api, services["web"])
    assert _send(api, made["key"], "cpu") == 202
    assert _send(api, made["key"], "cpu") == 202
    settle(container)
    alerts = api.get("/api/v1/incidents/INC-1/alerts").json()
    assert alerts["total"] == 1
    alert = alerts["items"][0]
    assert alert["dedup_key"] == "cpu" and alert["event_count"] == 2
    assert alert["integration"]["name"] == "prom" and alert["status"] == "triggered"
    by_incident = api.get("/api/v1/events", params={"incident": "INC-1"}).json()["items"]
    assert [e["outcome"] for e in by_incident] == ["deduplicated", "created_alert"]
    by_alert = api.get("/api/v1/events", params={"alert_id": alert["id"]}).json()["items"]
    assert len(by_alert) == 2
    assert api.get("/api/v1/incidents/INC-9/alerts").status_code == 404
    assert api.get("/api/v1/events", params={"incident": "INC-9"}).status_code == 404


def test_alerts_list_filter_acknowledge_and_resolve(
    db: Session,
    responder: User,
    viewer: User,
    services: dict[str, int],
    client: TestClient,
    api: TestClient,
    container: Container,
) -> None:
    # Tokens first: the test's session writes before any event is sent.
    as_viewer = api_as(client, db, viewer)
    as_responder = api_as(client, db, responder)
    web = _integration(api, services["web"])
    pg = _integration(api, services["db"], name="pg")
    assert _send(api, web["key"], "cpu", summary="CPU high on web-1", severity="critical") == 202
    assert _send(api, web["key"], "cpu") == 202  # a repeat: counted on the alert
    assert _send(api, pg["key"], "lag", summary="Replication lag", severity="warning") == 202
    settle(container)
    listed = api.get("/api/v1/alerts").json()
    assert listed["total"] == 2 and listed["limit"] == 50 and listed["offset"] == 0
    assert {a["dedup_key"]: a["event_count"] for a in listed["items"]} == {"cpu": 2, "lag": 1}

    def keys(**params: Any) -> list[str]:
        response = api.get("/api/v1/alerts", params=params)
        assert response.status_code == 200, response.text
        return [a["dedup_key"] for a in response.json()["items"]]

    assert keys(service_id=services["db"]) == ["lag"]
    assert keys(integration_id=web["id"]) == ["cpu"]
    assert keys(severity=["critical", "info"]) == ["cpu"]
    assert keys(q="WEB-1") == ["cpu"]
    assert keys(q="la") == ["lag"]  # the dedup key too
    assert api.get("/api/v1/alerts", params={"status": "firing"}).status_code == 422
    assert api.get("/api/v1/alerts", params={"service_id": 2**64}).status_code == 422

    cpu = next(a for a in listed["items"] if a["dedup_key"] == "cpu")
    assert client.get(f"/api/v1/alerts/{cpu['id']}", headers=as_viewer).status_code == 200
    for action in ("acknowledge", "resolve"):
        url = f"/api/v1/alerts/{cpu['id']}/{action}"
        assert client.post(url, headers=as_viewer).status_code == 403
    acked = client.post(f"/api/v1/alerts/{cpu['id']}/acknowledge", headers=as_responder)
    assert acked.status_code == 200 and acked.json()["status"] == "acknowledged"
    again = client.post(f"/api/v1/alerts/{cpu['id']}/acknowledge", headers=as_responder)
    assert again.status_code == 409
    assert api.get(f"/api/v1/incidents/{cpu['incident_id']}").json()["status"] == "acknowledged"
    assert keys() == ["lag", "cpu"]  # triggered before acknowledged
    resolved = client.post(f"/api/v1/alerts/{cpu['id']}/resolve", headers=as_responder)
    assert resolved.status_code == 200 and resolved.json()["resolved_at"] is not None
    # Its incident's only alert: resolved with it, as a resolve event would have.
    assert api.get(f"/api/v1/incidents/{cpu['incident_id']}").json()["status"] == "resolved"
    assert (
        client.post(f"/api/v1/alerts/{cpu['id']}/resolve", headers=as_responder).status_code == 409
    )
    assert keys() == ["lag"]
    assert keys(status="resolved") == ["cpu"]
    assert keys(status="all") == ["lag", "cpu"]
    assert keys(status=["triggered", "resolved"]) == ["lag", "cpu"]
    assert api.get("/api/v1/alerts/999999").status_code == 404
    assert api.post("/api/v1/alerts/999999/resolve").status_code == 404


def test_maintenance_windows(
    api: TestClient, services: dict[str, int], container: Container
) -> None:
    made = _integration(api, services["web"])
    url = f"/api/v1/services/{services['web']}/maintenance-windows"
    started = api.post(url, json={"minutes": 30, "reason": "kernel upgrade"})
    assert started.status_code == 201, started.text
    window = started.json()
    assert window["active"] is True and window["reason"] == "kernel upgrade"
    assert _send(api, made["key"], "during") == 202
    settle(container)
    held = api.get("/api/v1/events", params={"outcome": "maintenance"}).json()["items"]
    assert held[0]["maintenance_window_id"] == window["id"]
    assert [w["id"] for w in api.get(url, params={"current": True}).json()["items"]] == [
        window["id"]
    ]
    ended = api.post(f"/api/v1/maintenance-windows/{window['id']}/end")
    assert ended.status_code == 200 and ended.json()["active"] is False
    assert api.get(url, params={"current": True}).json()["items"] == []

    assert api.post(url, json={}).status_code == 422  # no end
    naive = api.post(url, json={"ends_at": "2030-01-01T00:00:00"})
    assert naive.status_code == 422 and "time zone" in naive.json()["error"]["message"]
    backwards = api.post(
        url,
        json={"starts_at": "2030-01-02T00:00:00+00:00", "ends_at": "2030-01-01T00:00:00+00:00"},
    )
    assert backwards.status_code == 422
    assert api.post(url, json={"minutes": 0}).status_code == 422
    scheduled = api.post(url, json={"starts_at": "2030-01-01T00:00:00+00:00", "minutes": 60}).json()
    assert scheduled["active"] is False and scheduled["ends_at"].startswith("2030-01-01T01:00")
    assert api.post("/api/v1/maintenance-windows/99999/end").status_code == 404
    assert (
        api.post("/api/v1/services/999/maintenance-windows", json={"minutes": 5}).status_code == 404
    )


def test_alert_settings_round_trip(api: TestClient, services: dict[str, int]) -> None:
    url = f"/api/v1/services/{services['web']}/alert-settings"
    defaults = api.get(url).json()
    assert defaults == {
        "service_id": services["web"],
        "grouping": "auto",
        "group_fields": [],
        "group_window_minutes": 60,
        "auto_resolve": True,
        "severity_map": {},
        "urgency_map": {},
    }
    wanted = {
        "grouping": "fields",
        "group_fields": ["labels.cluster"],
        "group_window_minutes": 30,
        "auto_resolve": False,
        "severity_map": {"critical": "SEV1", "warning": "SEV4"},
        "urgency_map": {"warning": "high"},
    }
    put = api.put(url, json=wanted)
    assert put.status_code == 200, put.text
    assert api.get(url).json() == {"service_id": services["web"], **wanted}

    def refused(body: dict[str, Any]) -> str:
        response = api.put(url, json=body)
        assert response.status_code == 422, response.text
        return str(response.json()["error"]["message"])

    assert "group_fields" in refused({"grouping": "fields"})
    assert "SEV9" in refused({"severity_map": {"critical": "SEV9"}})
    assert refused({"urgency_map": {"critical": "urgent"}})
    assert refused({"severity_map": {"fatal": "SEV1"}})
    assert refused({"group_fields": ["nowhere"], "grouping": "fields"})
    assert refused({"colour": "red"})
    assert api.get("/api/v1/services/999/alert-settings").status_code == 404
    assert api.put("/api/v1/services/999/alert-settings", json={}).status_code == 404


def test_viewers_read_and_cannot_write(
    client: TestClient, api: TestClient, db: Session, services: dict[str, int], viewer: User
) -> None:
    made = _integration(api, services["web"])
    headers = api_as(client, db, viewer)
    web = services["web"]
    reads = [
        "/api/v1/integrations",
        f"/api/v1/integrations/{made['id']}",
        f"/api/v1/integrations/{made['id']}/routing-rules",
        "/api/v1/events",
        f"/api/v1/services/{web}/suppression-rules",
        f"/api/v1/services/{web}/maintenance-windows",
        f"/api/v1/services/{web}/alert-settings",
    ]
    for path in reads:
        assert client.get(path, headers=headers).status_code == 200, path
    writes = [
        ("POST", "/api/v1/integrations", {"service_id": web, "name": "x"}),
        ("PATCH", f"/api/v1/integrations/{made['id']}", {"enabled": False}),
        ("POST", f"/api/v1/integrations/{made['id']}/rotate-key", None),
        ("DELETE", f"/api/v1/integrations/{made['id']}", None),
        ("PUT", f"/api/v1/integrations/{made['id']}/routing-rules", {"rules": []}),
        ("POST", f"/api/v1/services/{web}/suppression-rules", {"name": "x", "matchers": []}),
        ("POST", f"/api/v1/services/{web}/maintenance-windows", {"minutes": 5}),
        ("PUT", f"/api/v1/services/{web}/alert-settings", {}),
    ]
    for method, path, body in writes:
        response = client.request(method, path, json=body, headers=headers)
        assert response.status_code == 403, (method, path, response.text)
    assert api.get(f"/api/v1/integrations/{made['id']}").json()["enabled"] is True


def test_responders_run_maintenance_but_do_not_configure(
    client: TestClient, api: TestClient, db: Session, services: dict[str, int], responder: User
) -> None:
    headers = api_as(client, db, responder)
    url = f"/api/v1/services/{services['web']}/maintenance-windows"
    started = client.post(url, json={"minutes": 5}, headers=headers)
    assert started.status_code == 201
    ended = client.post(f"/api/v1/maintenance-windows/{started.json()['id']}/end", headers=headers)
    assert ended.status_code == 200
    made = client.post(
        "/api/v1/integrations", json={"service_id": services["web"], "name": "x"}, headers=headers
    )
    assert made.status_code == 403


def test_endpoints_are_in_the_openapi_schema(api: TestClient) -> None:
    schema = api.get("/api/v1/openapi.json").json()
    paths = schema["paths"]
    for path in (
        "/api/v1/integrations",
        "/api/v1/integrations/{integration_id}/rotate-key",
        "/api/v1/integrations/{integration_id}/routing-rules",
        "/api/v1/events",
        "/api/v1/events/{event_id}",
        "/api/v1/incidents/{ref}/alerts",
        "/api/v1/services/{service_id}/suppression-rules",
        "/api/v1/suppression-rules/{rule_id}",
        "/api/v1/services/{service_id}/maintenance-windows",
        "/api/v1/maintenance-windows/{window_id}/end",
        "/api/v1/services/{service_id}/alert-settings",
        "/api/v1/alerts",
        "/api/v1/alerts/{alert_id}",
        "/api/v1/alerts/{alert_id}/acknowledge",
        "/api/v1/alerts/{alert_id}/resolve",
    ):
        assert path in paths, path
    created = paths["/api/v1/integrations"]["post"]["responses"]["201"]
    assert created["content"]["application/json"]["schema"]["$ref"].endswith("IntegrationWithKey")


def test_events_received_before_a_time_and_naive_times_refused(
    api: TestClient, db: Session, container: Container
) -> None:
    svc = catalog.create_service(db, name="Timed")
    _, key = alerts.create_integration(db, service_id=svc.id, name="pd")
    db.commit()
    body = {"routing_key": key, "event_action": "resolve", "dedup_key": "nothing-open"}
    assert api.post("/v2/enqueue", json=body).status_code == 202
    settle(container)
    past = api.get("/api/v1/events", params={"received_before": "2020-01-01T00:00:00Z"})
    assert past.json()["items"] == []
    future = api.get("/api/v1/events", params={"received_before": "2100-01-01T00:00:00Z"})
    assert [e["dedup_key"] for e in future.json()["items"]] == ["nothing-open"]
    naive = api.get("/api/v1/events", params={"received_before": "2020-01-01T00:00:00"})
    assert naive.status_code == 422


def test_rejected_events_are_listed_filtered_and_shown(
    api: TestClient, services: dict[str, int], container: Container
) -> None:
    made = _integration(api, services["web"])
    assert _send(api, made["key"], "fine") == 202
    refused = {"routing_key": made["key"], "event_action": "trigger", "payload": {"source": "x"}}
    assert api.post("/v2/enqueue", json=refused).status_code == 400
    settle(container)
    listed = api.get("/api/v1/events")
    assert listed.status_code == 200
    assert [e["outcome"] for e in listed.json()["items"]] == ["rejected", "created_alert"]
    only = api.get("/api/v1/events", params={"outcome": "rejected"})
    assert only.status_code == 200
    [event] = only.json()["items"]
    assert event["action"] == "rejected" and "payload.summary" in event["outcome_detail"]
    following = api.get("/api/v1/events", params={"after_id": 0})
    assert [e["outcome"] for e in following.json()["items"]] == ["created_alert", "rejected"]
    shown = api.get(f"/api/v1/events/{event['id']}")
    assert shown.status_code == 200 and shown.json()["outcome"] == "rejected"
    assert made["key"] not in (shown.json()["raw"] or "")


def test_events_name_a_restricted_incident_only_to_those_who_may_see_it(
    api: TestClient,
    db: Session,
    services: dict[str, int],
    container: Container,
    admin: User,
    responder: User,
) -> None:
    made = _integration(api, services["web"])
    assert _send(api, made["key"], "leak", summary="Vault audit anomaly") == 202
    settle(container)
    incident = queries.get_incident(db, "INC-1", viewer=admin)
    incidents.edit(db, incident, {"restricted": True}, by=admin)
    db.commit()
    assert _send(api, made["key"], "leak", action="resolve") == 202
    settle(container)
    outsider = api_as(api, db, responder)
    # Everyone reads the events; only those who may see the incident read which one it is.
    for headers, named in ((outsider, "a private incident"), ({}, "INC-1")):
        events = api.get("/api/v1/events", headers=headers).json()["items"]
        assert [e["outcome_detail"] for e in events] == [
            f"resolved alert 1; all its alerts resolved, so {named} too",
            f"created alert 1; opened {named}",
        ]
        first = api.get(f"/api/v1/events/{events[-1]['id']}", headers=headers).json()
        assert first["outcome_detail"] == f"created alert 1; opened {named}"
    assert api.get("/api/v1/events", params={"incident": "INC-1"}, headers=outsider).json() == {
        "error": {"status": 404, "message": "no incident INC-1"}
    }
    assert api.get("/api/v1/incidents/INC-1/alerts", headers=outsider).status_code == 404
    assert api.get("/api/v1/incidents/INC-1/alerts").json()["total"] == 1
