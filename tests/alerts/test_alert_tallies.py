"""Under load the SQLite event writer counts repeats in alert_tallies instead of rewriting each
alert's row in every commit; the counts reach the alerts as soon as no frame waits, at least
once a second, and after a crash, and none is lost or counted twice."""

from __future__ import annotations

import socket
import sqlite3
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from alembic import command
from fastapi.testclient import TestClient
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from tocsin.alerts import service as alerts
from tocsin.alerts.models import Alert, AlertTally, Event
from tocsin.alerts.writer_process import COLUMNS, FOLD_SECONDS, Writer, _Frame, sqlite_time
from tocsin.app import create_app
from tocsin.bootstrap import Container, build
from tocsin.catalog import service as catalog
from tocsin.config import Settings
from tocsin.db import utcnow
from tocsin.migrate import alembic_config, upgrade


@pytest.fixture
def database(settings: Settings) -> str:
    path = settings.sqlite_path()
    if path is None:
        pytest.skip("alert tallies are the SQLite event writer's")
    return str(path)


@pytest.fixture
def open_alert(db: Session) -> tuple[int, int]:
    """(integration id, alert id) of an open alert with one event, made through the ORM (so no
    writer process is running)."""
    svc = catalog.create_service(db, name="Checkout")
    integration, _ = alerts.create_integration(db, service_id=svc.id, name="pd")
    alert = Alert(
        integration_id=integration.id,
        service_id=svc.id,
        dedup_key="disk-full",
        summary="disk full",
        created_at=utcnow() - timedelta(minutes=5),
        last_event_at=utcnow() - timedelta(minutes=5),
    )
    db.add(alert)
    db.commit()
    return integration.id, alert.id


@pytest.fixture
def writer(database: str, tmp_path: Path) -> Iterator[Writer]:
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(tmp_path / "w.sock"))
    listener.listen()
    listener.setblocking(False)
    w = Writer(listener, database)
    yield w
    w.checkpointer.stop()
    w._close_db()
    listener.close()


def _repeats(integration_id: int, n: int, start_ms: int = 0) -> _Frame:
    """A frame of n repeat triggers of "disk-full", a millisecond apart."""
    base = utcnow()
    rows = []
    for i in range(n):
        row = dict.fromkeys(COLUMNS)
        row.update(
            integration_id=integration_id,
            received_at=sqlite_time(base + timedelta(milliseconds=start_ms + i)),
            action="trigger",
            dedup_key="disk-full",
            summary="disk full",
            data="{}",
            raw="{}",
            outcome="pending",
            outcome_detail="",
        )
        rows.append([row[c] for c in COLUMNS])
    return _Frame(None, 1, rows)  # type: ignore[arg-type]


def _state(db: Session, alert_id: int) -> tuple[int, int, int]:
    """(the alert's event_count, rows in alert_tallies, events deduplicated into it)."""
    db.rollback()  # a new snapshot: what has been committed since
    alert = db.get(Alert, alert_id)
    assert alert is not None
    tallies = db.scalar(select(func.count()).select_from(AlertTally)) or 0
    deduplicated = db.scalar(
        select(func.count())
        .select_from(Event)
        .where(Event.alert_id == alert_id, Event.outcome == "deduplicated")
    )
    return alert.event_count, tallies, deduplicated or 0


def test_counts_wait_in_tallies_while_frames_keep_coming_and_reach_the_alert_when_none_waits(
    db: Session, open_alert: tuple[int, int], writer: Writer
) -> None:
    integration_id, alert_id = open_alert
    behind = _repeats(integration_id, 1)
    writer.waiting = [behind]  # a frame arrived while these were being committed
    for n in range(3):
        writer._commit([_repeats(integration_id, 5, start_ms=10 * n)])
    # Every event is stored and settled; only the alert's row has not been rewritten.
    assert _state(db, alert_id) == (1, 3, 15)

    writer.waiting = []  # the last frame of the burst: nothing behind it
    writer._commit([_repeats(integration_id, 2, start_ms=100)])
    assert _state(db, alert_id) == (18, 0, 17)
    alert = db.get(Alert, alert_id)
    assert alert is not None
    newest = db.scalar(select(func.max(Event.received_at)).where(Event.alert_id == alert_id))
    assert alert.last_event_at == newest


def test_a_second_of_deferring_is_the_most_even_when_frames_never_stop(
    db: Session, open_alert: tuple[int, int], writer: Writer
) -> None:
    integration_id, alert_id = open_alert
    writer.waiting = [_repeats(integration_id, 1)]
    writer._commit([_repeats(integration_id, 4)])
    assert _state(db, alert_id) == (1, 1, 4)
    writer.folded_at = time.monotonic() - FOLD_SECONDS - 0.1
    writer._commit([_repeats(integration_id, 4, start_ms=10)])  # frames still waiting
    assert _state(db, alert_id) == (9, 0, 8)


def test_tallies_left_by_a_killed_writer_are_added_up_by_the_next_one(
    settings: Settings, db: Session, open_alert: tuple[int, int], writer: Writer
) -> None:
    integration_id, alert_id = open_alert
    writer.waiting = [_repeats(integration_id, 1)]
    writer._commit([_repeats(integration_id, 6)])
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
    writer.waiting = [_repeats(integration_id, 1)]
    writer._commit([_repeats(integration_id, 3)])
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
    config = alembic_config(settings)
    try:
        with container.engine.begin() as conn:
            config.attributes["connection"] = conn
            command.downgrade(config, "0015")
        db.rollback()
        alert = db.get(Alert, alert_id)
        assert alert is not None and alert.event_count == 6 and alert.last_event_at == newest
    finally:
        db.close()
        upgrade(container.engine, settings)
