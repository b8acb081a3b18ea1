"""The demo's alerting: integrations, a suppression rule, a maintenance window and a few
received events."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy.orm import Session

from tocsin.alerts import service as alerts
from tocsin.alerts.apply import Applier
from tocsin.alerts.models import Event
from tocsin.alerts.pagerduty import ParsedEvent
from tocsin.alerts.pipeline import event_row
from tocsin.catalog.models import Service, User
from tocsin.db import utcnow


def seed_alerting(session: Session, admin: User, services: dict[str, Service]) -> None:
    """Integrations with a few received events, so the Alerts pages have something to show:
    one alert that opened an incident, its repeats, a suppressed event and a held one."""
    search = services["Search"]
    prometheus, _ = alerts.create_integration(
        session, service_id=search.id, name="Prometheus (PagerDuty format)"
    )
    alerts.create_integration(
        session, service_id=services["Public API"].id, name="Alertmanager", type="alertmanager"
    )
    alerts.create_integration(
        session,
        service_id=services["Notifications"].id,
        name="Nightly digest job",
        type="heartbeat",
        config={"interval_seconds": 86400, "grace_seconds": 3600},
    )
    alerts.create_suppression_rule(
        session,
        service_id=search.id,
        name="Ignore the canary index",
        matchers=[{"field": "source", "op": "equals", "value": "search-canary"}],
    )
    window = alerts.start_maintenance(
        session,
        service_id=search.id,
        by=admin,
        starts_at=utcnow() - timedelta(minutes=50),
        minutes=30,
        reason="Reindexing",
    )
    stamps = [utcnow() - timedelta(minutes=m) for m in (40, 12, 11, 10, 9)]
    sent = [
        ("index-lag", "Index lag above 5 minutes", "search-indexer", stamps[0]),
        ("p99", "Search p99 latency above 800 ms", "search-api-2", stamps[1]),
        ("p99", "Search p99 latency above 800 ms", "search-api-2", stamps[2]),
        ("p99", "Search p99 latency above 800 ms", "search-api-2", stamps[3]),
        ("canary", "Canary query returned no results", "search-canary", stamps[4]),
    ]
    rows = []
    for dedup, summary, source, when in sent:
        event = ParsedEvent(
            routing_key="",
            action="trigger",
            dedup_key=dedup,
            summary=summary,
            severity="warning" if dedup == "index-lag" else "error",
            source=source,
        )
        raw = (
            '{"routing_key": "<routing key>", "event_action": "trigger", '
            f'"dedup_key": "{dedup}", "payload": {{"summary": "{summary}", '
            f'"source": "{source}", "severity": "{event.severity}"}}}}'
        )
        rows.append(Event(**event_row(prometheus.id, event, raw=raw, received_at=when)))
    session.add_all(rows)
    session.flush()
    assert window.id
    Applier(session).apply_all(rows)
