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
import contextlib
import functools
import hashlib
import operator
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec
import structlog
from sqlalchemy import Engine, delete, func, select, update
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from tocsin.alerts.models import PENDING, Event, Outcome
from tocsin.alerts.pagerduty import DEDUP_MAX, SEVERITIES, SUMMARY_MAX, ParsedEvent
from tocsin.alerts.repeats import settle
from tocsin.db import EVENT_PROCESSOR_LOCK, transaction, utcnow, wait_for_event_processor

log = structlog.get_logger("tocsin.ingest")

PROCESSOR_LOCK = EVENT_PROCESSOR_LOCK
_encoder = msgspec.json.Encoder()


class Overloaded(Exception):
    """Too many events are waiting to be written: the sender should retry later (429)."""


def _clean(value: Any) -> Any:
    """The value without NUL characters, which PostgreSQL text refuses and nobody means."""
    if isinstance(value, str):
        return value.replace("\x00", "\ufffd") if "\x00" in value else value
    if isinstance(value, dict):
        return {_clean(k): _clean(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_clean(v) for v in value]
    return value


def _fit_key(value: str | None, limit: int) -> str | None:
    """A key that fits its column: a longer one becomes its digest, so it still matches."""
    if value is None or len(value) <= limit:
        return value
    return "sha256:" + hashlib.sha256(value.encode("utf-8", "replace")).hexdigest()


def clean_event(event: ParsedEvent) -> ParsedEvent:
    """Make an accepted event storable on every backend, whatever its format's parser let
    through (in place; returns it): no NUL characters, every field within its column."""
    for name in ("action", "dedup_key", "summary", "severity", "source", "group_key", "note"):
        value = getattr(event, name)
        if isinstance(value, str) and "\x00" in value:
            setattr(event, name, _clean(value))
    event.dedup_key = _fit_key(event.dedup_key, DEDUP_MAX)
    event.group_key = _fit_key(event.group_key, 1024)
    event.summary = event.summary[:SUMMARY_MAX]
    event.source = event.source[:255]
    if event.severity not in SEVERITIES:
        event.severity = "error"
    if event.details:
        event.details = _clean(event.details)
    if event.links:
        event.links = _clean(event.links)
    return event


def event_row(
    integration_id: int,
    event: ParsedEvent,
    *,
    raw: str | None,
    received_at: datetime,
    request_id: str | None = None,
) -> dict[str, Any]:
    """The row one accepted event becomes, still pending."""
    clean_event(event)
    if raw is not None and "\x00" in raw:
        raw = raw.replace("\x00", "\ufffd")
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
        "alert_id": None,
        "service_id": None,
        "processed_at": None,
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


_COLUMNS = (
    "integration_id",
    "received_at",
    "action",
    "dedup_key",
    "summary",
    "data",
    "raw",
    "request_id",
    "outcome",
    "outcome_detail",
    # Set only on rows settled as they are written (repeats of an open alert, repeats.py).
    "alert_id",
    "service_id",
    "processed_at",
)


_row_values = operator.itemgetter(*_COLUMNS)

# A processor transaction stops taking events after this long: on SQLite it holds the only
# write lock, and accepting events waits for it.
BATCH_SECONDS = 0.02


class WriteTurn:
    """Who writes next within this process, on SQLite (a single writer).

    SQLite makes a writer that finds the database locked sleep and retry with growing pauses,
    so a processor committing batch after batch could starve the event writer for long
    stretches. Both take this lock instead, and the processor steps aside whenever the event
    writer is waiting: accepting events always goes first. On PostgreSQL it does nothing.
    """

    def __init__(self, *, enabled: bool) -> None:
        self.enabled = enabled
        self._lock = threading.Lock()
        self._priority_waiting = 0

    @contextmanager
    def first(self) -> Iterator[None]:
        """The event writer's turn: ahead of the processor."""
        if not self.enabled:
            yield
            return
        self._priority_waiting += 1
        try:
            with self._lock:
                yield
        finally:
            self._priority_waiting -= 1

    @contextmanager
    def after(self) -> Iterator[None]:
        """The processor's turn: only once the event writer is not waiting."""
        if not self.enabled:
            yield
            return
        for _ in range(200):  # at most ~0.2 s of politeness, then take a turn anyway
            if not self._priority_waiting:
                break
            time.sleep(0.001)
        with self._lock:
            yield


class EventWriter:
    """Group commit for accepted events, from async code.

    Each request adds its rows to the batch being gathered and awaits a future; while one batch
    is being committed (in a single writer thread) the next one gathers, so under load each
    commit (and its fsync) carries the rows of every request that arrived meanwhile.

    The writer thread talks to the database through the DB-API (one executemany for the rows;
    on SQLite a connection of its own, on PostgreSQL one from the pool per batch): at
    thousands of events a second, per-row ORM or Core processing, and every extra hand-over
    of the GIL between this thread and the event loop, cost more than the disk. On SQLite,
    repeats of an open alert are settled in the same transaction (repeats.py), so the
    processor only sees the events that need it.
    """

    def __init__(
        self, engine: Engine, *, max_waiting: int = 50_000, turn: WriteTurn | None = None
    ) -> None:
        self._engine = engine
        self._turn = turn or WriteTurn(enabled=False)
        self.max_waiting = max_waiting
        self.on_commit: Callable[[], None] = lambda: None
        self._executor = concurrent.futures.ThreadPoolExecutor(
            max_workers=1, thread_name_prefix="tocsin-event-writer"
        )
        self._loop: asyncio.AbstractEventLoop | None = None
        self._gathering: list[tuple[list[dict[str, Any]], asyncio.Future[None]]] = []
        self._flusher: asyncio.Task[None] | None = None
        self._stopped = False
        # The writer thread's own connection, and the engine it came from.
        self._conn: Any = None
        self._conn_engine: Engine | None = None
        self.waiting = 0
        self.batches = 0
        self.rows = 0

    async def write(self, rows: list[dict[str, Any]]) -> None:
        """Return once these rows are committed; raise what the commit raised."""
        if not rows:
            return
        if self._stopped:
            raise Overloaded("Tocsin is shutting down")
        if self.waiting + len(rows) > self.max_waiting:
            raise Overloaded(f"{self.waiting} events are waiting to be written")
        loop = asyncio.get_running_loop()
        if loop is not self._loop:  # a new event loop (tests start several): start afresh
            self._loop, self._gathering, self._flusher = loop, [], None
        future: asyncio.Future[None] = loop.create_future()
        self._gathering.append((rows, future))
        self.waiting += len(rows)
        if self._flusher is None:
            self._flusher = loop.create_task(self._flush())
        await future

    async def _flush(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            while self._gathering:
                batch, self._gathering = self._gathering, []
                rows = [row for item, _ in batch for row in item]
                try:
                    pending = await loop.run_in_executor(self._executor, self._commit, rows)
                except Exception as exc:
                    log.error("ingest.write_failed", error=str(exc), events=len(rows))
                    for _, future in batch:
                        if not future.done():
                            future.set_exception(exc)
                else:
                    self.batches += 1
                    self.rows += len(rows)
                    for _, future in batch:
                        if not future.done():
                            future.set_result(None)
                    if pending:
                        self.on_commit()
                finally:
                    self.waiting -= len(rows)
        finally:
            self._flusher = None

    def _connection(self) -> Any:
        """SQLite: the writer thread's own DB-API connection, kept checked out of the pool."""
        if self._conn is not None and self._conn_engine is not self._engine:
            self._drop_connection()
        if self._conn is None:
            conn = self._engine.raw_connection()
            # Every accepted event is on disk before its 2xx (the pool's other connections
            # may use NORMAL for work that can be redone).
            conn.cursor().execute("PRAGMA synchronous=FULL")
            self._conn, self._conn_engine = conn, self._engine
        return self._conn

    def _drop_connection(self) -> None:
        conn, self._conn, self._conn_engine = self._conn, None, None
        if conn is not None:
            # It may be broken: never hand it back to the pool (and if even that fails,
            # it is unusable anyway).
            with contextlib.suppress(Exception):
                conn.invalidate()

    def _commit(self, rows: list[dict[str, Any]]) -> bool:
        """Write the rows in one transaction; returns whether any is left pending."""
        if not rows:
            return False
        if self._engine.dialect.name != "sqlite":
            return self._commit_postgres(rows)
        with self._turn.first():
            conn = self._connection()
            try:
                cursor = conn.cursor()
                cursor.execute("BEGIN IMMEDIATE")
                pending = settle(cursor, rows, now=utcnow(), stamp=_sqlite_time)
                cursor.executemany(_insert_sql("?"), [_params(row, True) for row in rows])
                cursor.execute("COMMIT")
            except BaseException:
                with contextlib.suppress(Exception):  # the connection is dropped just below
                    conn.cursor().execute("ROLLBACK")
                self._drop_connection()
                raise
        return pending

    def _commit_postgres(self, rows: list[dict[str, Any]]) -> bool:
        """PostgreSQL: a connection from the pool for each batch (checked with a ping, so a
        server restart or an idle timeout costs nothing); the processor applies every row."""
        conn = self._engine.raw_connection()
        try:
            conn.cursor().executemany(_insert_sql("%s"), [_params(row, False) for row in rows])
            conn.commit()
        except BaseException:
            with contextlib.suppress(Exception):  # invalidated just below
                conn.rollback()
            conn.invalidate()
            raise
        finally:
            conn.close()
        return True

    async def aclose(self) -> None:
        """Write what is gathered, then refuse further writes."""
        self._stopped = True
        if self._flusher is not None:
            await asyncio.shield(self._flusher)

    def stop(self) -> None:
        self._stopped = True
        with contextlib.suppress(Exception):  # shutting down (or already shut down)
            self._executor.submit(self._close_connection).result(timeout=10)
        self._executor.shutdown(wait=True)

    def _close_connection(self) -> None:
        conn, self._conn, self._conn_engine = self._conn, None, None
        if conn is not None:
            conn.close()


@functools.cache
def _insert_sql(mark: str) -> str:
    marks = ", ".join(mark for _ in _COLUMNS)
    return f"INSERT INTO events ({', '.join(_COLUMNS)}) VALUES ({marks})"


def _params(row: dict[str, Any], sqlite: bool) -> tuple[Any, ...]:
    values = _row_values(row)
    if not sqlite:
        return values  # type: ignore[no-any-return]
    return (values[0], _sqlite_time(values[1]), *values[2:])


def _sqlite_time(value: datetime) -> str:
    """SQLAlchemy's SQLite storage format for our UTC datetimes (YYYY-MM-DD HH:MM:SS.ffffff)."""
    if value.tzinfo is not UTC:
        value = value.astimezone(UTC)
    return value.isoformat(" ", "microseconds")[:26]


def _take_lock(session: Session) -> bool:
    if session.get_bind().dialect.name != "postgresql":
        return True  # SQLite: BEGIN IMMEDIATE already made this the only writer
    return bool(session.scalar(select(func.pg_try_advisory_xact_lock(PROCESSOR_LOCK))))


def wait_for_processor_lock(session: Session) -> None:
    """Take the processor's lock, waiting for the running batch (periodic jobs that apply
    events, such as the heartbeat check, must not apply them alongside the processor)."""
    wait_for_event_processor(session)


def process_batch(
    factory: sessionmaker[Session], limit: int = 500, *, budget_seconds: float | None = None
) -> int:
    """Apply up to `limit` pending events in id order; returns how many were applied.

    With a budget, the batch commits after about that long even if events remain, so that
    the transaction (and SQLite's write lock) is never held long against accepting events.

    If applying the batch fails, the events are retried one at a time so that one bad event
    cannot hold up the rest; an event that fails alone is marked `failed` with the error.
    """
    from tocsin.alerts.apply import Applier

    try:
        with transaction(factory) as session:
            if not _take_lock(session):
                return 0
            return Applier(session).apply_pending(limit, budget_seconds=budget_seconds)
    except Exception as exc:
        log.warning("ingest.batch_failed", error=str(exc))
    return _one_at_a_time(factory, limit)


def _one_at_a_time(factory: sessionmaker[Session], limit: int) -> int:
    from tocsin.alerts.apply import Applier

    done = 0
    while done < limit:
        event_id: int | None = None
        try:
            with transaction(factory) as session:
                if not _take_lock(session):
                    return done
                event = session.scalar(select(Event).where(PENDING).order_by(Event.id).limit(1))
                if event is None:
                    return done
                event_id = event.id
                Applier(session).apply_all([event])
        except OperationalError:
            raise  # the database, not the event: leave it pending and try again later
        except Exception as exc:
            if event_id is None:
                raise
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
        return int(session.scalar(select(func.count()).select_from(Event).where(PENDING)) or 0)


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
    events other processes wrote), and does the periodic work (retention)."""

    def __init__(
        self,
        factory: sessionmaker[Session],
        *,
        poll_seconds: float = 1.0,
        housekeeping: Callable[[Session], None] | None = None,
        housekeeping_seconds: float = 5.0,
        turn: WriteTurn | None = None,
        gather_seconds: float = 0.0,
    ) -> None:
        self._factory = factory
        self._gather_seconds = gather_seconds
        self._turn = turn or WriteTurn(enabled=False)
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
                while not self._stop.is_set():
                    started = time.monotonic()
                    with self._turn.after():
                        applied = process_batch(self._factory, budget_seconds=BATCH_SECONDS)
                    if applied == 0:
                        break
                    took = time.monotonic() - started
                    if not self._gather_seconds:
                        continue
                    if applied < 100 and took < BATCH_SECONDS * 0.75:
                        # A trickle under load: let events gather for a moment, so that each
                        # transaction applies many and the event writer is interrupted (on
                        # SQLite) less often. Costs at most this delay.
                        self._stop.wait(self._gather_seconds)
                    else:
                        # A backlog: keep applying, but leave the event loop (which shares
                        # the GIL) as much time as the batch took, so that accepting events
                        # stays fast while a storm of new alerts is applied.
                        self._stop.wait(min(took, 0.05))
                if (
                    self._housekeeping is not None
                    and time.monotonic() - last_housekeeping >= self._housekeeping_every
                ):
                    last_housekeeping = time.monotonic()
                    with self._turn.after(), transaction(self._factory) as session:
                        if _take_lock(session):
                            self._housekeeping(session)
            except Exception as exc:  # keep the thread alive: the database may come back
                log.error("ingest.processor_error", error=str(exc))
                self._stop.wait(1.0)
