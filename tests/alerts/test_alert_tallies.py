"""Under load the SQLite event writer counts repeats in alert_tallies instead of rewriting each
alert's row in every commit; the counts reach the alerts as soon as no frame waits, at least
once a second, and after a crash, and none is lost or counted twice."""

from __future__ import annotations

import sqlite3
import time
from datetime import timedelta

from fastapi.testclient import TestClient
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from tests.alerts.conftest import downgraded, repeat_frame
from tocsin.alerts import service as alerts
from tocsin.alerts.models import Alert, AlertTally, Event
from tocsin.alerts.writer_process import FOLD_SECONDS, Writer
from tocsin.app import create_app
from tocsin.bootstrap import Container, build
from tocsin.config import Settings
from tocsin.db import utcnow


def _state(db: Session, alert_id: int) -> tuple[int, int, int]:
    """(the alert's event_count, rows in alert_tallies, events deduplicated into it)."""
    db.rollback()  # a new snapshot: what has been committed since
    alert = db.get(Alert, alert_id)
    assert alert is not None
    tallies = db.scalar(select(func.count()).select_from(AlertTally)) or 0
    # As a user lists them (the writer chains them rather than index them: chains.py).
    deduplicated = alerts.events(db, alert_id=alert_id, outcome="deduplicated", limit=500)
    return alert.event_count, tallies, len(deduplicated)


def test_counts_wait_in_tallies_while_frames_keep_coming_and_reach_the_alert_when_none_waits(
    db: Session, open_alert: tuple[int, int], writer: Writer
) -> None:
    integration_id, alert_id = open_alert
    behind = repeat_frame(integration_id, 1)
    writer.waiting = [behind]  # a frame arrived while these were being committed
    for n in range(3):
        writer._commit([repeat_frame(integration_id, 5, start_ms=10 * n)])
    # Every event is stored and settled; only the alert's row has not been rewritten.
    assert _state(db, alert_id) == (1, 3, 15)

    writer.waiting = []  # the last frame of the burst: nothing behind it
    writer._commit([repeat_frame(integration_id, 2, start_ms=100)])
    assert _state(db, alert_id) == (18, 0, 17)
    alert = db.get(Alert, alert_id)
    assert alert is not None
    newest = db.scalar(select(func.max(Event.received_at)).where(Event.repeat_of == alert_id))
    assert alert.last_event_at == newest


def test_a_second_of_deferring_is_the_most_even_when_frames_never_stop(
    db: Session, open_alert: tuple[int, int], writer: Writer
) -> None:
    integration_id, alert_id = open_alert
    writer.waiting = [repeat_frame(integration_id, 1)]
    writer._commit([repeat_frame(integration_id, 4)])
    assert _state(db, alert_id) == (1, 1, 4)
    writer.folded_at = time.monotonic() - FOLD_SECONDS - 0.1
    writer._commit([repeat_frame(integration_id, 4, start_ms=10)])  # frames still waiting
    assert _state(db, alert_id) == (9, 0, 8)


def test_tallies_left_by_a_killed_writer_are_added_up_by_the_next_one(
    settings: Settings, db: Session, open_alert: tuple[int, int], writer: Writer
) -> None:
    integration_id, alert_id = open_alert
    writer.waiting = [repeat_frame(integration_id, 1)]
    writer._commit([repeat_frame(integration_id, 6)])
    writer._close_db()  # as if killed here: its counts are only in alert_tallies
    assert _state(db, alert_id) == (1, 1, 6)

    # A web process starts (and with it a writer process, which finds them while it is idle
    # and adds them up without waiting for an event).
    built = build(settings)
    try:
        with TestClient(create_app(built.settings, container=built)) as client:
            client.get("/healthz")
            deadline = time.monotonic() + 10
            while _state(db, alert_id) != (7, 0, 6) and time.monotonic() < deadline:
                time.sleep(0.05)
            assert _state(db, alert_id) == (7, 0, 6)
    finally:
        built.close()


def test_a_database_without_the_table_counts_on_each_alert(
    database: str, db: Session, open_alert: tuple[int, int], writer: Writer
) -> None:
    integration_id, alert_id = open_alert
    with sqlite3.connect(database) as conn:
        conn.execute("DROP TABLE alert_tallies")
    writer.waiting = [repeat_frame(integration_id, 1)]
    writer._commit([repeat_frame(integration_id, 3)])
    db.rollback()
    assert db.get(Alert, alert_id).event_count == 4  # type: ignore[union-attr]
    assert not writer.tallies
    assert (
        db.execute(text("SELECT name FROM sqlite_master WHERE name = 'alert_tallies'")).all() == []
    )


def test_a_downgrade_adds_up_what_is_left_before_the_table_goes(
    settings: Settings, container: Container, db: Session, open_alert: tuple[int, int]
) -> None:
    _, alert_id = open_alert
    newest = utcnow()
    db.add_all(
        [
            AlertTally(alert_id=alert_id, events=3, last_event_at=newest - timedelta(seconds=1)),
            AlertTally(alert_id=alert_id, events=2, last_event_at=newest),
        ]
    )
    db.commit()
    with downgraded(settings, container, "0015"):
        db.rollback()
        # Only the columns that the downgraded schema still has.
        count, last = db.execute(
            select(Alert.event_count, Alert.last_event_at).where(Alert.id == alert_id)
        ).one()
        assert count == 6 and last == newest
        db.close()
