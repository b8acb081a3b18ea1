"""The engine's event writer: what the inbox holds is committed in one transaction and
applied in that same transaction, in order; a failure to apply never loses an accepted event;
a failure to store never answers 2xx."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session, sessionmaker

from tests.conftest import settle
from tocsin.alerts import apply as apply_module
from tocsin.alerts import service as alerts
from tocsin.alerts.inbox import Overloaded
from tocsin.alerts.models import Alert, Event, Integration
from tocsin.alerts.pagerduty import ParsedEvent
from tocsin.alerts.pipeline import event_row
from tocsin.alerts.writer import EventWriter
from tocsin.bootstrap import Container
from tocsin.catalog import service as catalog
from tocsin.db import utcnow
from tocsin.incidents.models import TimelineEntry


@pytest.fixture
def integration_id(db: Session) -> int:
    svc = catalog.create_service(db, name="Checkout")
    integration, _ = alerts.create_integration(db, service_id=svc.id, name="Prometheus via PD")
    db.commit()
    return integration.id


@pytest.fixture
def writer(container: Container) -> EventWriter:
    return EventWriter(container.sessionmaker, container.inbox)


def _rows(
    integration_id: int, *events: tuple[str, str], severity: str = "warning"
) -> list[dict[str, object]]:
    start = utcnow()
    return [
        event_row(
            integration_id,
            ParsedEvent(
                routing_key="",
                action=action,
                dedup_key=key,
                summary=f"{action} {key}",
                source="db-1",
                severity=severity,
            ),
            raw="{}",
            received_at=start + timedelta(milliseconds=n),
        )
        for n, (action, key) in enumerate(events)
    ]


def _write(
    container: Container,
    writer: EventWriter,
    integration_id: int,
    *events: tuple[str, str],
    severity: str = "warning",
) -> None:
    """Accept these (action, dedup key) events as one request, and run the engine's step."""

    async def accept() -> None:
        future = container.inbox.submit(_rows(integration_id, *events, severity=severity))
        assert await asyncio.to_thread(writer.step)
        await future

    asyncio.run(accept())


def _outcomes(container: Container) -> list[tuple[str, str, int | None]]:
    with container.sessionmaker() as s:
        return [
            (e.action, e.outcome, e.alert_id) for e in s.scalars(select(Event).order_by(Event.id))
        ]


def test_a_repeat_is_applied_in_the_transaction_that_stores_it(
    container: Container, writer: EventWriter, integration_id: int
) -> None:
    _write(container, writer, integration_id, ("trigger", "disk-full"))
    _write(container, writer, integration_id, ("trigger", "disk-full"), ("trigger", "disk-full"))
    # Nothing else ran: the counts are exact the moment the request is answered.
    with container.sessionmaker() as s:
        alert = s.scalars(select(Alert)).one()
        repeats = list(s.scalars(select(Event).where(Event.id > 1).order_by(Event.id)))
        assert [r.outcome for r in repeats] == ["deduplicated", "deduplicated"]
        assert all(r.alert_id == alert.id and r.processed_at is not None for r in repeats)
        assert repeats[0].outcome_detail == f"deduplicated into open alert {alert.id}"
        assert alert.event_count == 3 and alert.last_event_at == repeats[-1].received_at
        integration = s.get(Integration, integration_id)
        assert integration is not None and integration.last_event_at == repeats[-1].received_at


def test_in_one_batch_events_of_a_key_apply_in_order(
    container: Container, writer: EventWriter, integration_id: int
) -> None:
    _write(container, writer, integration_id, ("trigger", "disk-full"), ("trigger", "cpu-high"))
    _write(
        container,
        writer,
        integration_id,
        ("trigger", "disk-full"),
        ("resolve", "disk-full"),
        ("trigger", "disk-full"),
        ("trigger", "cpu-high"),
        ("trigger", "new-key"),
    )
    with container.sessionmaker() as s:
        by_key: dict[str, list[tuple[str, int]]] = {}
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


def test_what_the_budget_leaves_pending_is_applied_next_in_order(
    container: Container, integration_id: int
) -> None:
    writer = EventWriter(container.sessionmaker, container.inbox, apply_seconds=0.0)
    keys = [("trigger", f"k{n % 7}") for n in range(60)]
    _write(container, writer, integration_id, *keys)
    outcomes = [o for _, o, _ in _outcomes(container)]
    assert outcomes.count("pending") == 60 - apply_module.MIN_PER_BATCH
    assert outcomes[: apply_module.MIN_PER_BATCH].count("pending") == 0
    while writer.step():  # the engine's next steps, with an empty inbox
        pass
    with container.sessionmaker() as s:
        counts = sorted(a.event_count for a in s.scalars(select(Alert)))
    assert counts == [8, 8, 8, 9, 9, 9, 9]
    assert "pending" not in [o for _, o, _ in _outcomes(container)]


def test_an_event_that_cannot_be_applied_is_still_stored_and_the_others_applied(
    container: Container, writer: EventWriter, integration_id: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = apply_module.Applier.apply

    def apply(self: apply_module.Applier, stored: Event) -> None:
        if stored.dedup_key == "poison":
            raise RuntimeError("a bug in applying")
        real(self, stored)

    monkeypatch.setattr(apply_module.Applier, "apply", apply)
    # Answered (the request's future is done without an error): the events are on disk.
    _write(container, writer, integration_id, ("trigger", "a"), ("trigger", "poison"))
    assert [o for _, o, _ in _outcomes(container)] == ["pending", "pending"]
    while writer.step():
        pass
    outcomes = _outcomes(container)
    assert [o for _, o, _ in outcomes] == ["created_alert", "failed"]
    with container.sessionmaker() as s:
        failed = s.scalars(select(Event).where(Event.outcome == "failed")).one()
        assert "a bug in applying" in failed.outcome_detail


def test_a_database_that_cannot_store_answers_with_the_error_never_2xx(
    container: Container, writer: EventWriter, integration_id: int, tmp_path: object
) -> None:
    if container.engine.dialect.name == "sqlite":
        url = f"sqlite:///{tmp_path}/missing/nowhere/x.db"
    else:
        url = "postgresql+psycopg://nobody:wrong@127.0.0.1:1/none"
    writer.durable = sessionmaker(bind=create_engine(url))

    async def accept() -> BaseException | None:
        future = container.inbox.submit(_rows(integration_id, ("trigger", "lost")))
        await asyncio.to_thread(writer.step)
        try:
            await future
        except Exception as exc:
            return exc
        return None

    assert asyncio.run(accept()) is not None
    assert _outcomes(container) == []
    assert container.inbox.waiting == 0


def test_the_inbox_refuses_past_its_bound_and_after_it_closes(
    container: Container, integration_id: int
) -> None:
    container.inbox.max_waiting = 2

    async def submit(n: int) -> None:
        container.inbox.submit(_rows(integration_id, *[("trigger", "x")] * n))

    with pytest.raises(Overloaded):
        asyncio.run(submit(3))
    container.inbox.close()
    with pytest.raises(Overloaded, match="shutting down"):
        asyncio.run(submit(1))


def test_following_events_never_skips_one_still_waiting(
    container: Container, writer: EventWriter, integration_id: int
) -> None:
    """Events written by another process wait until an engine applies them: a follower
    (`tocsin events tail`, the API's after_id) stops before the first waiting one, whatever its
    filters, or it would pass over it for good."""
    _write(container, writer, integration_id, ("trigger", "disk-full"))
    with container.sessionmaker.begin() as s:  # another process stored these, not applied yet
        for row in _rows(integration_id, ("trigger", "cpu-high"), ("trigger", "disk-full")):
            s.add(Event(**row))
    with container.sessionmaker() as s:
        service_id = s.get(Integration, integration_id).service_id  # type: ignore[union-attr]

    def follow(**filters: object) -> list[tuple[str | None, str]]:
        with container.sessionmaker() as s:
            found = alerts.events(s, after_id=0, **filters)  # type: ignore[arg-type]
            return [(e.dedup_key, e.outcome) for e in found]

    assert follow(service_id=service_id) == [("disk-full", "created_alert")]
    assert follow() == [("disk-full", "created_alert")]
    assert ("cpu-high", "pending") in follow(outcome="pending")
    settle(container)
    assert follow(service_id=service_id) == [
        ("disk-full", "created_alert"),
        ("cpu-high", "created_alert"),
        ("disk-full", "deduplicated"),
    ]
    assert follow(outcome="pending") == []


def test_an_alert_resolved_elsewhere_between_repeats_takes_no_more_events(
    container: Container, writer: EventWriter, integration_id: int
) -> None:
    _write(container, writer, integration_id, ("trigger", "cpu"))
    _write(container, writer, integration_id, ("trigger", "cpu"))
    with container.sessionmaker() as s:  # a person resolves it, on another connection
        alert = s.scalars(select(Alert)).one()
        first = alert.id
        alert.status = "resolved"
        alert.resolved_at = utcnow()
        s.commit()
    _write(container, writer, integration_id, ("trigger", "cpu"))
    outcomes = _outcomes(container)
    assert outcomes[:2] == [("trigger", "created_alert", first), ("trigger", "deduplicated", first)]
    action, outcome, alert_id = outcomes[2]
    assert (action, outcome) == ("trigger", "created_alert") and alert_id not in (None, first)


def test_a_repeat_at_a_higher_severity_raises_the_alerts_and_never_lowers_it(
    container: Container, writer: EventWriter, integration_id: int
) -> None:
    _write(container, writer, integration_id, ("trigger", "disk"), severity="warning")
    _write(container, writer, integration_id, ("trigger", "disk"), severity="critical")
    _write(container, writer, integration_id, ("trigger", "disk"), severity="info")
    with container.sessionmaker() as s:
        alert = s.scalars(select(Alert)).one()
        assert alert.severity == "critical" and alert.event_count == 3
        assert alert.incident_id is not None
        entries = [
            e.summary
            for e in s.scalars(
                select(TimelineEntry).where(TimelineEntry.incident_id == alert.incident_id)
            )
        ]
    assert "Alert severity raised from warning to critical: trigger disk" in entries
    assert [o for _, o, _ in _outcomes(container)] == [
        "created_alert",
        "deduplicated",
        "deduplicated",
    ]
