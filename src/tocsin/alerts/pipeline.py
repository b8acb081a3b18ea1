"""From a request to an event row, and from event rows to alerts and incidents.

Accepting: an ingestion endpoint validates the body and turns it into event rows (event_row),
which the event writer commits in groups before the request answers 2xx (writing.py).

Applying: the EventProcessor takes pending events in id order and applies them (alerts,
incidents, timeline) in batches. One processor at a time applies events across all processes
(a PostgreSQL advisory lock; SQLite's single writer), so events for one alert apply in the order
they were stored, and the unique index on open alerts stays the last word on deduplication.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable
from dataclasses import asdict
from datetime import datetime, timedelta
from typing import Any

import msgspec
import structlog
from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from tocsin.alerts.apply import Applier
from tocsin.alerts.models import PENDING, Event, Outcome, RepeatMark
from tocsin.alerts.pagerduty import DEDUP_MAX, SEVERITIES, SUMMARY_MAX, ParsedEvent
from tocsin.alerts.writing import WriteTurn
from tocsin.db import EVENT_PROCESSOR_LOCK, transaction, utcnow, wait_for_event_processor

log = structlog.get_logger("tocsin.ingest")

PROCESSOR_LOCK = EVENT_PROCESSOR_LOCK
_encoder = msgspec.json.Encoder()


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
    through (in place; returns it): no NUL characters, every field within its column. (Its
    details and links lose theirs as `event_row` encodes them.)"""
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
    return event


def _encode_clean(event: ParsedEvent) -> str:
    """The event as stored in `events.data`, without NUL characters in its details and links
    (keys too). Encoding is much cheaper than rebuilding them, and JSON writes a NUL as an
    escape nobody writes otherwise: they are rebuilt only when the encoded event holds one."""
    data = _encoder.encode(event)
    if b"\\u0000" in data:
        event.details = _clean(event.details)
        event.links = _clean(event.links)
        data = _encoder.encode(event)
    return data.decode()


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
        "data": _encode_clean(event),
        "raw": raw,
        "request_id": request_id,
        "outcome": Outcome.pending.value,
        "outcome_detail": "",
        "alert_id": None,
        "service_id": None,
        "processed_at": None,
    }


def as_dict(event: ParsedEvent) -> dict[str, Any]:
    return asdict(event)


# A processor transaction stops taking events after this long: on SQLite it holds the only
# write lock, and accepting events waits for it.
BATCH_SECONDS = 0.02


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
    try:
        with transaction(factory) as session:
            if not _take_lock(session):
                return 0
            return Applier(session).apply_pending(limit, budget_seconds=budget_seconds)
    except Exception as exc:
        log.warning("ingest.batch_failed", error=str(exc))
    return _one_at_a_time(factory, limit)


def _one_at_a_time(factory: sessionmaker[Session], limit: int) -> int:
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
    if deleted:
        # The marks on chains of repeats (chains.py) that led to the events just deleted.
        gone = ~select(Event.id).where(Event.id == RepeatMark.event_id).exists()
        session.execute(delete(RepeatMark).where(gone))
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
        self._last_housekeeping = 0.0
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

    def _anything_pending(self) -> bool:
        """Whether any event waits to be applied (a read: no write lock, no turn)."""
        engine = self._factory.kw["bind"].execution_options(sqlite_begin="DEFERRED")
        with engine.connect() as conn:
            return conn.execute(select(Event.id).where(PENDING).limit(1)).first() is not None

    def _housekeep_if_due(self) -> None:
        if self._housekeeping is None:
            return
        if time.monotonic() - self._last_housekeeping < self._housekeeping_every:
            return
        self._last_housekeeping = time.monotonic()
        with self._turn.after(), transaction(self._factory) as session:
            if _take_lock(session):
                self._housekeeping(session)

    def _run(self) -> None:
        while not self._stop.is_set():
            woken = self._wake.wait(self._poll)
            self._wake.clear()
            try:
                # Polling for events other processes wrote: look before taking a turn at the
                # write lock (a turn makes SQLite's event writer hold back, for nothing).
                if not woken and not self._anything_pending():
                    self._housekeep_if_due()
                    continue
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
                self._housekeep_if_due()
            except Exception as exc:  # keep the thread alive: the database may come back
                log.error("ingest.processor_error", error=str(exc))
                self._stop.wait(1.0)
