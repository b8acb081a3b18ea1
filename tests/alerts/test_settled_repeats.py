"""Repeats of an open alert are settled in the transaction that stores them (SQLite), and never
out of turn: an earlier event for the same key that still waits holds them back."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.conftest import settle
from tocsin.alerts import service as alerts
from tocsin.alerts.models import Alert, Event, Integration
from tocsin.alerts.pagerduty import ParsedEvent
from tocsin.alerts.pipeline import event_row
from tocsin.bootstrap import Container
from tocsin.catalog import service as catalog
from tocsin.db import utcnow


@pytest.fixture
def integration_id(db: Session) -> int:
    svc = catalog.create_service(db, name="Checkout")
    integration, _ = alerts.create_integration(db, service_id=svc.id, name="Prometheus via PD")
    db.commit()
    return integration.id


def _write(container: Container, integration_id: int, *events: tuple[str, str]) -> None:
    """Accept these (action, dedup key) events in one batch, as the ingestion endpoints do."""
    start = utcnow()
    rows = [
        event_row(
            integration_id,
            ParsedEvent(
                routing_key="",
                action=action,
                dedup_key=key,
                summary=f"{action} {key}",
                source="db-1",
            ),
            raw="{}",
            received_at=start + timedelta(milliseconds=n),
        )
        for n, (action, key) in enumerate(events)
    ]
    asyncio.run(container.intake.writer.write(rows))


def _outcomes(container: Container) -> list[tuple[str, str, int | None]]:
    with container.sessionmaker() as s:
        return [
            (e.action, e.outcome, e.alert_ref) for e in s.scalars(select(Event).order_by(Event.id))
        ]


def test_a_repeat_is_settled_as_it_is_written(container: Container, integration_id: int) -> None:
    _write(container, integration_id, ("trigger", "disk-full"))
    settle(container)
    with container.sessionmaker() as s:
        alert = s.scalars(select(Alert)).one()
        alert_id = alert.id

    # The processor is not running: only the writer can have settled it.
    _write(container, integration_id, ("trigger", "disk-full"), ("trigger", "disk-full"))
    sqlite = container.engine.dialect.name == "sqlite"
    with container.sessionmaker() as s:
        repeats = list(s.scalars(select(Event).where(Event.id > 1).order_by(Event.id)))
        if sqlite:
            for repeat in repeats:
                assert repeat.outcome == "deduplicated"
                assert repeat.outcome_detail == f"deduplicated into open alert {alert_id}"
                assert repeat.alert_ref == alert_id and repeat.processed_at is not None
                assert repeat.service_id == s.get(Alert, alert_id).service_id  # type: ignore[union-attr]
            alert = s.get(Alert, alert_id)
            assert alert is not None and alert.event_count == 3
            assert alert.last_event_at == repeats[-1].received_at
            integration = s.get(Integration, integration_id)
            assert integration is not None
            assert integration.last_event_at == repeats[-1].received_at
        else:  # PostgreSQL: the processor applies them, to the same end
            assert [r.outcome for r in repeats] == ["pending", "pending"]

    settle(container)
    assert _outcomes(container) == [
        ("trigger", "created_alert", alert_id),
        ("trigger", "deduplicated", alert_id),
        ("trigger", "deduplicated", alert_id),
    ]
    with container.sessionmaker() as s:
        assert s.get(Alert, alert_id).event_count == 3  # type: ignore[union-attr]


def test_a_repeat_behind_a_waiting_resolve_waits_its_turn(
    container: Container, integration_id: int
) -> None:
    _write(container, integration_id, ("trigger", "disk-full"))
    settle(container)
    _write(container, integration_id, ("resolve", "disk-full"))
    # The alert is still open, but the resolve before this trigger has not been applied: the
    # trigger must open a new alert after it, not count on the one being resolved.
    _write(container, integration_id, ("trigger", "disk-full"))
    assert [o for _, o, _ in _outcomes(container)] == ["created_alert", "pending", "pending"]

    settle(container)
    with container.sessionmaker() as s:
        first, second = s.scalars(select(Alert).order_by(Alert.id)).all()
        assert first.status == "resolved" and first.event_count == 1
        assert second.status == "triggered" and second.event_count == 1
    assert _outcomes(container) == [
        ("trigger", "created_alert", first.id),
        ("resolve", "resolved", first.id),
        ("trigger", "created_alert", second.id),
    ]


def test_in_one_batch_a_resolve_holds_back_the_repeats_after_it(
    container: Container, integration_id: int
) -> None:
    _write(container, integration_id, ("trigger", "disk-full"), ("trigger", "cpu-high"))
    settle(container)
    _write(
        container,
        integration_id,
        ("trigger", "disk-full"),
        ("resolve", "disk-full"),
        ("trigger", "disk-full"),
        ("trigger", "cpu-high"),
        ("trigger", "new-key"),
    )
    expected_now = (
        ["deduplicated", "pending", "pending", "deduplicated", "pending"]
        if container.engine.dialect.name == "sqlite"
        else ["pending"] * 5
    )
    assert [o for _, o, _ in _outcomes(container)][2:] == expected_now

    settle(container)
    with container.sessionmaker() as s:
        by_key = {}
        for alert in s.scalars(select(Alert).order_by(Alert.id)):
            by_key.setdefault(alert.dedup_key, []).append((alert.status, alert.event_count))
    assert by_key == {
        "disk-full": [("resolved", 2), ("triggered", 1)],
        "cpu-high": [("triggered", 2)],
        "new-key": [("triggered", 1)],
    }
    assert [o for _, o, _ in _outcomes(container)][2:] == [
        "deduplicated",
        "resolved",
        "created_alert",
        "deduplicated",
        "created_alert",
    ]


def test_following_events_never_skips_one_still_waiting(
    container: Container, integration_id: int
) -> None:
    """A settled repeat can be stored after an earlier new alert that still waits for the
    processor: a follower (`tocsin events tail`, the API's after_id) must stop before the
    waiting one, whatever its filters, or it would pass over it for good."""
    _write(container, integration_id, ("trigger", "disk-full"))
    settle(container)
    _write(container, integration_id, ("trigger", "cpu-high"), ("trigger", "disk-full"))
    with container.sessionmaker() as s:
        service_id = s.get(Integration, integration_id).service_id  # type: ignore[union-attr]

    def follow(**filters: object) -> list[tuple[str | None, str]]:
        with container.sessionmaker() as s:
            found = alerts.events(s, after_id=0, **filters)  # type: ignore[arg-type]
            return [(e.dedup_key, e.outcome) for e in found]

    assert follow(service_id=service_id) == [("disk-full", "created_alert")]
    assert follow(outcome="deduplicated") == []
    assert follow() == [("disk-full", "created_alert")]
    assert ("cpu-high", "pending") in follow(outcome="pending")

    settle(container)
    assert follow(service_id=service_id) == [
        ("disk-full", "created_alert"),
        ("cpu-high", "created_alert"),
        ("disk-full", "deduplicated"),
    ]
    assert follow(outcome="deduplicated") == [("disk-full", "deduplicated")]
    assert follow(outcome="pending") == []


def test_an_alert_resolved_elsewhere_between_repeats_takes_no_more_events(
    container: Container, integration_id: int
) -> None:
    """The writer remembers which keys have an open alert, but only until another connection
    commits: an alert resolved by someone else is not written into afterwards."""
    _write(container, integration_id, ("trigger", "cpu"))
    settle(container)
    _write(container, integration_id, ("trigger", "cpu"))  # settled: the writer learns the alert
    settle(container)
    with container.sessionmaker() as s:  # a person resolves it, on another connection
        alert = s.scalars(select(Alert)).one()
        first = alert.id
        alert.status = "resolved"
        alert.resolved_at = utcnow()
        s.commit()
    _write(container, integration_id, ("trigger", "cpu"))
    settle(container)
    outcomes = _outcomes(container)
    assert outcomes[:2] == [("trigger", "created_alert", first), ("trigger", "deduplicated", first)]
    action, outcome, alert_id = outcomes[2]
    assert (action, outcome) == ("trigger", "created_alert") and alert_id not in (None, first)
