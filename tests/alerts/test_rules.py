"""Routing, suppression, maintenance windows, grouping and severity mapping: what a user sets
on a service decides what its events become, and each event says why."""

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
from tocsin.errors import ValidationFailed
from tocsin.incidents.models import Incident


@pytest.fixture
def setup(db: Session) -> dict[str, Any]:
    web = catalog.create_service(db, name="Web")
    database = catalog.create_service(db, name="Database")
    integration, key = alerts.create_integration(db, service_id=web.id, name="prom")
    db.commit()
    return {"web": web.id, "db": database.id, "integration": integration, "key": key}


def _send(client: TestClient, key: str, dedup: str, **payload: Any) -> None:
    body = {
        "routing_key": key,
        "event_action": "trigger",
        "dedup_key": dedup,
        "payload": {"summary": f"alert {dedup}", "source": "prom", "severity": "error"} | payload,
    }
    assert client.post("/v2/enqueue", json=body).status_code == 202


def _event(container: Container, dedup: str) -> Event:
    settle(container)
    with container.sessionmaker() as s:
        found = s.scalars(select(Event).where(Event.dedup_key == dedup)).first()
        assert found is not None
        return found


def test_routing_rule_sends_matching_events_to_another_service(
    client: TestClient, db: Session, setup: dict[str, Any], container: Container
) -> None:
    alerts.set_routing_rules(
        db,
        setup["integration"],
        [
            {
                "matchers": [{"field": "details.team", "op": "equals", "value": "dba"}],
                "service_id": setup["db"],
            }
        ],
    )
    db.commit()
    _send(client, setup["key"], "slow-query", custom_details={"team": "dba"})
    _send(client, setup["key"], "http-5xx", custom_details={"team": "web"})
    assert _event(container, "slow-query").service_id == setup["db"]
    assert _event(container, "http-5xx").service_id == setup["web"]
    with container.sessionmaker() as s:
        routed = s.scalars(select(Alert).where(Alert.dedup_key == "slow-query")).one()
        incident = s.get(Incident, routed.incident_id)
        assert [svc.name for svc in incident.services] == ["Database"]  # type: ignore[union-attr]


def test_suppression_drop_and_downgrade(
    client: TestClient, db: Session, setup: dict[str, Any], container: Container
) -> None:
    drop = alerts.create_suppression_rule(
        db,
        service_id=setup["web"],
        name="noisy canary",
        matchers=[{"field": "summary", "op": "contains", "value": "canary"}],
    )
    alerts.create_suppression_rule(
        db,
        service_id=setup["web"],
        name="staging is never urgent",
        matchers=[{"field": "source", "op": "matches", "value": "^staging-"}],
        action="downgrade",
        severity="info",
    )
    db.commit()
    _send(client, setup["key"], "canary-1", summary="canary probe failed")
    _send(client, setup["key"], "stg-1", source="staging-web-1", severity="critical")
    dropped = _event(container, "canary-1")
    assert dropped.outcome == "suppressed" and dropped.rule_id == drop.id
    assert "noisy canary" in dropped.outcome_detail
    lowered = _event(container, "stg-1")
    assert lowered.outcome == "created_alert" and "lowered to info" in lowered.outcome_detail
    with container.sessionmaker() as s:
        alert = s.scalars(select(Alert)).one()  # the canary made none
        incident = s.get(Incident, alert.incident_id)
        assert alert.severity == "info" and incident.severity.name == "SEV4"  # type: ignore[union-attr]
        assert incident.urgency == "low"  # type: ignore[union-attr]


def test_maintenance_window_holds_events(
    client: TestClient, db: Session, setup: dict[str, Any], container: Container, admin: Any
) -> None:
    window = alerts.start_maintenance(
        db, service_id=setup["web"], by=admin, minutes=30, reason="kernel upgrade"
    )
    db.commit()
    _send(client, setup["key"], "during")
    held = _event(container, "during")
    assert held.outcome == "maintenance" and held.maintenance_window_id == window.id
    assert "kernel upgrade" in held.outcome_detail and "nobody was paged" in held.outcome_detail
    alerts.end_maintenance(db, alerts.get_maintenance_window(db, window.id))
    db.commit()
    _send(client, setup["key"], "after")
    assert _event(container, "after").outcome == "created_alert"
    with pytest.raises(ValidationFailed):
        alerts.start_maintenance(db, service_id=setup["web"], by=admin)  # no end given


def test_grouping_by_fields_and_auto_resolve_off(
    client: TestClient, db: Session, setup: dict[str, Any], container: Container
) -> None:
    alerts.update_alert_settings(
        db,
        setup["web"],
        grouping="fields",
        group_fields=["details.cluster"],
        group_window_minutes=30,
        auto_resolve=False,
        severity_map={"error": "SEV1"},
    )
    db.commit()
    _send(client, setup["key"], "a", custom_details={"cluster": "eu-1"})
    _send(client, setup["key"], "b", custom_details={"cluster": "eu-1"})
    _send(client, setup["key"], "c", custom_details={"cluster": "us-1"})
    settle(container)
    with container.sessionmaker() as s:
        by_key = {a.dedup_key: a.incident_id for a in s.scalars(select(Alert))}
        assert by_key["a"] == by_key["b"] != by_key["c"]
        details = {e.dedup_key: e.outcome_detail for e in s.scalars(select(Event))}
        assert "opened INC-" in details["a"] and "joined INC-" in details["b"]
        assert s.get(Incident, by_key["a"]).severity.name == "SEV1"  # type: ignore[union-attr]
    for key in ("a", "b"):
        resolve = {"routing_key": setup["key"], "event_action": "resolve", "dedup_key": key}
        client.post("/v2/enqueue", json=resolve)
    assert "auto-resolve is off" in _event_by_action(container, "b", "resolve").outcome_detail
    with container.sessionmaker() as s:
        assert s.get(Incident, by_key["a"]).status == "triggered"  # type: ignore[union-attr]


def _event_by_action(container: Container, dedup: str, action: str) -> Event:
    settle(container)
    with container.sessionmaker() as s:
        return s.scalars(
            select(Event).where(Event.dedup_key == dedup, Event.action == action)
        ).one()


def test_bad_rules_are_refused(db: Session, setup: dict[str, Any]) -> None:
    bad = [
        [{"field": "nowhere", "op": "equals", "value": "x"}],
        [{"field": "summary", "op": "matches", "value": "(unclosed"}],
        [{"field": "summary", "op": "resembles", "value": "x"}],
        "summary=x",
    ]
    for matchers in bad:
        with pytest.raises(ValidationFailed):
            alerts.create_suppression_rule(
                db,
                service_id=setup["web"],
                name="bad",
                matchers=matchers,  # type: ignore[arg-type]
            )
    with pytest.raises(ValidationFailed):
        alerts.update_alert_settings(db, setup["web"], severity_map={"error": "SEV9"})
    with pytest.raises(ValidationFailed):
        alerts.update_alert_settings(db, setup["web"], grouping="fields", group_fields=[])


def test_an_event_that_cannot_be_applied_is_marked_failed_and_the_rest_go_on(
    client: TestClient, db: Session, setup: dict[str, Any], container: Container
) -> None:
    from tocsin.alerts.models import RoutingRule

    broken_service = catalog.create_service(db, name="Broken")
    broken, broken_key = alerts.create_integration(db, service_id=broken_service.id, name="b")
    # A rule no service function would accept (an invalid regular expression), as if the
    # database had been edited by hand: applying any event of this integration raises.
    db.add(
        RoutingRule(
            integration_id=broken.id,
            position=0,
            matchers=[{"field": "summary", "op": "matches", "value": "("}],
            service_id=setup["web"],
        )
    )
    db.commit()
    _send(client, broken_key, "poison")
    _send(client, setup["key"], "healthy")
    failed = _event(container, "poison")
    assert failed.outcome == "failed" and "could not be applied" in failed.outcome_detail
    assert _event(container, "healthy").outcome == "created_alert"
