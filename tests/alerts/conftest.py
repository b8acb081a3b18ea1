"""Fixtures for tests that drive the SQLite event writer process's Writer directly."""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy.orm import Session

from tocsin.alerts import service as alerts
from tocsin.alerts.models import Alert
from tocsin.alerts.writer_process import COLUMNS, Writer, _Frame, sqlite_time
from tocsin.bootstrap import Container
from tocsin.catalog import service as catalog
from tocsin.config import Settings
from tocsin.db import utcnow
from tocsin.migrate import alembic_config, upgrade


@pytest.fixture
def database(settings: Settings) -> str:
    path = settings.sqlite_path()
    if path is None:
        pytest.skip("the event writer process is SQLite's")
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


def repeat_frame(
    integration_id: int, n: int, start_ms: int = 0, key: str = "disk-full", action: str = "trigger"
) -> _Frame:
    """A frame of n triggers (or other actions) of `key`, a millisecond apart (repeats, if
    its alert is open)."""
    base = utcnow()
    rows = []
    for i in range(n):
        row = dict.fromkeys(COLUMNS)
        row.update(
            integration_id=integration_id,
            received_at=sqlite_time(base + timedelta(milliseconds=start_ms + i)),
            action=action,
            dedup_key=key,
            summary=key,
            data="{}",
            raw="{}",
            outcome="pending",
            outcome_detail="",
        )
        rows.append([row[c] for c in COLUMNS])
    return _Frame(None, 1, rows)  # type: ignore[arg-type]


@contextlib.contextmanager
def downgraded(settings: Settings, container: Container, revision: str) -> Iterator[None]:
    """The test database migrated down to `revision` inside the block, and back up after."""
    config = alembic_config(settings)
    try:
        with container.engine.begin() as conn:
            config.attributes["connection"] = conn
            command.downgrade(config, revision)
        yield
    finally:
        upgrade(container.engine, settings)
