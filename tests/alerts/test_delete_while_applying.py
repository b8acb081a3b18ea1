"""Deleting an integration or a service while the event processor is applying its events.

Both deletions cascade to events and alerts the processor may have locked, and the processor
takes key-share locks on the integration and service rows: on PostgreSQL the two could deadlock
(a 500 for the person deleting). Deletion takes the processor's lock first, so it waits for the
running batch instead.
"""

from __future__ import annotations

import threading
import time

import pytest
from sqlalchemy import func, select, text

from tests.conftest import BACKEND
from tocsin.alerts import service as alerts
from tocsin.alerts.models import Integration
from tocsin.bootstrap import Container
from tocsin.catalog import service as catalog
from tocsin.catalog.models import Service
from tocsin.db import EVENT_PROCESSOR_LOCK

pytestmark = pytest.mark.skipif(
    BACKEND != "postgres", reason="advisory locks and row-lock deadlocks are PostgreSQL's"
)


def _waiting_for_processor_lock(container: Container) -> bool:
    with container.engine.connect() as conn:
        waiting = conn.scalar(
            text(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'"
                " AND NOT granted AND objid = :low"
            ),
            {"low": EVENT_PROCESSOR_LOCK & 0xFFFFFFFF},
        )
    return bool(waiting)


def _delete_behind_the_processor(container: Container, delete) -> None:  # type: ignore[no-untyped-def]
    """Hold the processor's lock as a running batch does, start `delete` in another
    transaction, check it waits for the lock, then let the batch finish."""
    outcome: list[BaseException | None] = []

    def run() -> None:
        try:
            with container.sessionmaker.begin() as session:
                delete(session)
            outcome.append(None)
        except BaseException as exc:  # reported to the test below
            outcome.append(exc)

    with container.sessionmaker.begin() as batch:
        batch.execute(select(func.pg_advisory_xact_lock(EVENT_PROCESSOR_LOCK)))
        worker = threading.Thread(target=run)
        worker.start()
        deadline = time.monotonic() + 10
        while not _waiting_for_processor_lock(container):
            assert worker.is_alive(), f"the deletion did not wait for the processor: {outcome}"
            assert time.monotonic() < deadline, "the deletion never asked for the lock"
            time.sleep(0.02)
        assert not outcome  # still waiting while the batch holds the lock
    worker.join(10)
    assert outcome == [None]


def test_deleting_an_integration_waits_for_the_running_batch(container: Container) -> None:
    with container.sessionmaker.begin() as session:
        svc = catalog.create_service(session, name="Checkout")
        integration, _key = alerts.create_integration(session, service_id=svc.id, name="PD")
        integration_id = integration.id

    def delete(session):  # type: ignore[no-untyped-def]
        alerts.delete_integration(session, session.get(Integration, integration_id))

    _delete_behind_the_processor(container, delete)
    with container.sessionmaker() as session:
        assert session.get(Integration, integration_id) is None


def test_deleting_a_service_waits_for_the_running_batch(container: Container) -> None:
    with container.sessionmaker.begin() as session:
        service_id = catalog.create_service(session, name="Search").id

    def delete(session):  # type: ignore[no-untyped-def]
        catalog.delete_service(session, session.get(Service, service_id))

    _delete_behind_the_processor(container, delete)
    with container.sessionmaker() as session:
        assert session.get(Service, service_id) is None
