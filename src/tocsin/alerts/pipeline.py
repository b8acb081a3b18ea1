"""From a request to a durable event row, and from event rows to alerts and incidents.

Accepting: an ingestion endpoint validates the body, turns it into event rows and hands them to
the EventWriter, which writes the rows of every request that arrived meanwhile in one
transaction (group commit: one fsync for the whole batch) and only then lets each request
answer 2xx. A 2xx therefore means the event is on disk; a failed commit answers 503.

Applying: the EventProcessor takes pending events in id order and applies them (alerts,
incidents, timeline) in batches. One processor at a time applies events across all processes
(a PostgreSQL advisory lock; SQLite's single writer), so events for one alert apply in the order
they were stored, and the unique index on open alerts stays the last word on deduplication.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import asdict
from datetime import datetime, timedelta
from typing import Any

import msgspec
import structlog
from sqlalchemy import Engine, delete, func, insert, select, update
from sqlalchemy.orm import Session, sessionmaker

from tocsin.alerts.models import Event, Outcome
from tocsin.alerts.pagerduty import ParsedEvent
from tocsin.db import transaction, utcnow

log = structlog.get_logger("tocsin.ingest")

# Any constant works; it only has to be the same in every Tocsin process.
PROCESSOR_LOCK = 0x70C5_1A17
_encoder = msgspec.json.Encoder()


class Overloaded(Exception):
    """Too many events are waiting to be written: the sender should retry later (429)."""


def event_row(
    integration_id: int,
    event: ParsedEvent,
    *,
    raw: str | None,
    received_at: datetime,
    request_id: str | None = None,
) -> dict[str, Any]:
    """The row one accepted event becomes, still pending."""
    return {
        "integration_id": integration_id,
        "received_at": received_at,
        "action": event.action,
        "dedup_key": event.dedup_key,
        "summary": event.summary,
        "data": _encoder.encode(event).decode(),
        "raw": raw,
        "request_id": request_id,
        "outcome": Outcome.pending.value,
        "outcome_detail": "",
    }


def decode_event(data: str) -> ParsedEvent:
    """The normalized event stored in `events.data`."""
    try:
        return msgspec.json.decode(data, type=ParsedEvent)
    except msgspec.ValidationError:
        # Rows written before the pipeline existed hold the received body instead.
        return ParsedEvent(routing_key="", action="trigger", dedup_key=None)


def as_dict(event: ParsedEvent) -> dict[str, Any]:
    return asdict(event)


class EventWriter:
    """Group commit for accepted events. `submit` from any thread, `write` from async code."""

    def __init__(
        self,
        engine: Engine,
        *,
        max_batch: int = 2000,
        max_waiting: int = 50_000,
        on_commit: Callable[[], None] | None = None,
    ) -> None:
        self._engine = engine
        self._max_batch = max_batch
        self.max_waiting = max_waiting
        self._on_commit = on_commit or (lambda: None)
        self._queue: queue.SimpleQueue[
            tuple[list[dict[str, Any]], concurrent.futures.Future[None]] | None
        ] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._waiting = 0
        self._thread: threading.Thread | None = None
        self._stopped = False
        self.batches = 0
        self.rows = 0

    @property
    def waiting(self) -> int:
        return self._waiting

    def submit(self, rows: list[dict[str, Any]]) -> concurrent.futures.Future[None]:
        """Queue rows for the next commit; the future completes once they are committed."""
        future: concurrent.futures.Future[None] = concurrent.futures.Future()
        with self._lock:
            if self._stopped:
                raise Overloaded("Tocsin is shutting down")
            if self._waiting + len(rows) > self.max_waiting:
                raise Overloaded(f"{self._waiting} events are waiting to be written")
            self._waiting += len(rows)
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="tocsin-event-writer", daemon=True
                )
                self._thread.start()
        self._queue.put((rows, future))
        return future

    async def write(self, rows: list[dict[str, Any]]) -> None:
        """Wait until these rows are committed; raises what the commit raised."""
        await asyncio.wrap_future(self.submit(rows))

    def stop(self, timeout: float = 10.0) -> None:
        """Write what is queued, then stop. Later submits are refused."""
        with self._lock:
            self._stopped = True
            thread = self._thread
        if thread is not None:
            self._queue.put(None)
            thread.join(timeout)

    def _run(self) -> None:
        stopping = False
        while not stopping:
            item = self._queue.get()
            if item is None:
                break
            batch = [item]
            count = len(item[0])
            # Everything that arrived while the previous batch was committing goes together.
            while count < self._max_batch:
                try:
                    nxt = self._queue.get_nowait()
                except queue.Empty:
                    break
                if nxt is None:
                    stopping = True
                    break
                batch.append(nxt)
                count += len(nxt[0])
            self._commit(batch, count)

    def _commit(
        self,
        batch: list[tuple[list[dict[str, Any]], concurrent.futures.Future[None]]],
        count: int,
    ) -> None:
        rows = [row for item, _ in batch for row in item]
        try:
            with self._engine.begin() as conn:
                conn.execute(insert(Event), rows)
        except Exception as exc:
            log.error("ingest.write_failed", error=str(exc), events=count)
            for _, future in batch:
                future.set_exception(exc)
        else:
            self.batches += 1
            self.rows += count
            for _, future in batch:
                future.set_result(None)
            self._on_commit()
        finally:
            with self._lock:
                self._waiting -= count


def _take_lock(session: Session) -> bool:
    if session.get_bind().dialect.name != "postgresql":
        return True  # SQLite: BEGIN IMMEDIATE already made this the only writer
    return bool(session.scalar(select(func.pg_try_advisory_xact_lock(PROCESSOR_LOCK))))


def process_batch(factory: sessionmaker[Session], limit: int = 500) -> int:
    """Apply up to `limit` pending events in id order; returns how many were applied.

    If applying the batch fails, the events are retried one at a time so that one bad event
    cannot hold up the rest; an event that fails alone is marked `failed` with the error.
    """
    from tocsin.alerts.apply import Applier

    try:
        with transaction(factory) as session:
            if not _take_lock(session):
                return 0
            events = list(
                session.scalars(
                    select(Event)
                    .where(Event.outcome == Outcome.pending.value)
                    .order_by(Event.id)
                    .limit(limit)
                )
            )
            if not events:
                return 0
            Applier(session).apply_all(events)
            return len(events)
    except Exception as exc:
        log.warning("ingest.batch_failed", error=str(exc))
    return _one_at_a_time(factory, limit)


def _one_at_a_time(factory: sessionmaker[Session], limit: int) -> int:
    from tocsin.alerts.apply import Applier

    done = 0
    while done < limit:
        try:
            with transaction(factory) as session:
                if not _take_lock(session):
                    return done
                event = session.scalar(
                    select(Event)
                    .where(Event.outcome == Outcome.pending.value)
                    .order_by(Event.id)
                    .limit(1)
                )
                if event is None:
                    return done
                event_id = event.id
                Applier(session).apply_all([event])
        except Exception as exc:
            log.error("ingest.event_failed", event_id=event_id, error=str(exc))
            with transaction(factory) as session:
                session.execute(
                    update(Event)
                    .where(Event.id == event_id)
                    .values(
                        outcome=Outcome.failed.value,
                        outcome_detail=f"could not be applied: {exc}"[:2000],
                        processed_at=utcnow(),
                    )
                )
        done += 1
    return done


def pending_count(factory: sessionmaker[Session]) -> int:
    with factory() as session:
        return int(
            session.scalar(
                select(func.count())
                .select_from(Event)
                .where(Event.outcome == Outcome.pending.value)
            )
            or 0
        )


def drain(factory: sessionmaker[Session], timeout: float = 30.0) -> None:
    """Apply every pending event now (another process may be applying some meanwhile)."""
    deadline = time.monotonic() + timeout
    while True:
        while process_batch(factory) > 0:
            pass
        if pending_count(factory) == 0:
            return
        if time.monotonic() > deadline:
            raise TimeoutError("pending events were not applied in time")
        time.sleep(0.02)


def purge(session: Session, *, now: datetime, raw_days: int, event_days: int) -> tuple[int, int]:
    """Drop raw bodies past their retention, and events past theirs; returns both counts."""
    cleared = session.execute(
        update(Event)
        .where(Event.raw.is_not(None), Event.received_at < now - timedelta(days=raw_days))
        .values(raw=None)
    ).rowcount
    deleted = session.execute(
        delete(Event).where(
            Event.received_at < now - timedelta(days=event_days),
            Event.outcome != Outcome.pending.value,
        )
    ).rowcount
    return int(cleared or 0), int(deleted or 0)


class EventProcessor:
    """A thread that applies pending events as soon as they are written (and polls for
    events other processes wrote), and does the periodic work: heartbeats, retention."""

    def __init__(
        self,
        factory: sessionmaker[Session],
        *,
        poll_seconds: float = 1.0,
        housekeeping: Callable[[Session], None] | None = None,
        housekeeping_seconds: float = 5.0,
    ) -> None:
        self._factory = factory
        self._poll = poll_seconds
        self._housekeeping = housekeeping
        self._housekeeping_every = housekeeping_seconds
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def wake(self) -> None:
        self._wake.set()

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._run, name="tocsin-event-processor", daemon=True
            )
            self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def _run(self) -> None:
        last_housekeeping = 0.0
        while not self._stop.is_set():
            self._wake.wait(self._poll)
            self._wake.clear()
            try:
                while not self._stop.is_set() and process_batch(self._factory) > 0:
                    pass
                if (
                    self._housekeeping is not None
                    and time.monotonic() - last_housekeeping >= self._housekeeping_every
                ):
                    last_housekeeping = time.monotonic()
                    with transaction(self._factory) as session:
                        if _take_lock(session):
                            self._housekeeping(session)
            except Exception as exc:  # keep the thread alive: the database may come back
                log.error("ingest.processor_error", error=str(exc))
                self._stop.wait(1.0)
