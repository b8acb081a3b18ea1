"""Migration 0018 folds the SQLite event writer's extra layouts for repeats back into one: the
counts it had not yet added to their alerts, and the repeats it had chained instead of
linking them by alert_id. Existing databases keep every count and every link."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from tests.alerts.conftest import downgraded
from tocsin.alerts import service as alerts
from tocsin.alerts.models import Alert, Event
from tocsin.bootstrap import Container
from tocsin.catalog import service as catalog
from tocsin.config import Settings
from tocsin.db import utcnow


def test_tallies_and_chained_repeats_are_folded_into_their_alerts(
    settings: Settings, container: Container, db: Session
) -> None:
    svc = catalog.create_service(db, name="Checkout")
    integration, _ = alerts.create_integration(db, service_id=svc.id, name="pd")
    then = utcnow() - timedelta(minutes=5)
    alert = Alert(
        integration_id=integration.id,
        service_id=svc.id,
        dedup_key="disk-full",
        summary="disk full",
        created_at=then,
        last_event_at=then,
        event_count=1,
    )
    db.add(alert)
    db.commit()
    alert_id, integration_id = alert.id, integration.id
    later = utcnow().replace(microsecond=0)
    db.close()
    with downgraded(settings, container, "0017"), container.engine.begin() as conn:
        for n in (1, 2):  # two chained repeats, out of ix_events_alert
            conn.execute(
                text(
                    "INSERT INTO events (id, integration_id, received_at, action, dedup_key,"
                    " summary, data, outcome, outcome_detail, repeat_of, previous_repeat)"
                    " VALUES (:id, :i, :at, 'trigger', 'disk-full', 's', '{}', 'deduplicated',"
                    " '', :alert, :previous)"
                ),
                {
                    "id": 100 + n,
                    "i": integration_id,
                    "at": later,
                    "alert": alert_id,
                    "previous": 0 if n == 1 else 101,
                },  # fmt: skip
            )
        conn.execute(
            text(
                "INSERT INTO alert_tallies (alert_id, events, last_event_at)"
                " VALUES (:alert, 2, :at)"
            ),
            {"alert": alert_id, "at": later},
        )
    # Upgraded again on leaving the block.
    with container.sessionmaker() as s:
        found = s.get(Alert, alert_id)
        assert found is not None and found.event_count == 3
        assert found.last_event_at.replace(microsecond=0) == later
        linked = s.scalars(select(Event.id).where(Event.alert_id == alert_id).order_by(Event.id))
        assert list(linked) == [101, 102]
        listed = alerts.events(s, alert_id=alert_id)
        assert [e.id for e in listed] == [102, 101]
