"""Storing accepted events and applying them: the engine's `Work` for alerts.

One step takes everything the inbox holds and commits it in one transaction (one
executemany, one fsync), applying pending events in id order in that same transaction when it
may (always on SQLite; on PostgreSQL when it gets the apply lock without waiting), within a
time budget. Only once that transaction has committed do the requests answer 2xx. If
applying fails, the rows are committed alone, pending, and answered; a later step applies
them, one at a time if a batch keeps failing, so that one bad event cannot hold up the rest.

When the inbox is empty, a step applies what is still pending (left over by the budget, or
written by another process).
"""

from __future__ import annotations

import time
from typing import Any

import structlog
from sqlalchemy import func, insert, select, update
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from tocsin.alerts.apply import Applier
from tocsin.alerts.inbox import Inbox
from tocsin.alerts.models import PENDING, Event, Outcome
from tocsin.alerts.pipeline import take_apply_lock
from tocsin.db import rebind, table_of, transaction, utcnow

log = structlog.get_logger("tocsin.ingest")

# How long one transaction may spend applying events: on SQLite it holds the only write lock.
APPLY_SECONDS = 0.02
# Events applied per transaction at most.
APPLY_LIMIT = 500
# How often to look for pending events that another process wrote.
LOOK_SECONDS = 1.0


def apply_batch(
    factory: sessionmaker[Session], limit: int = APPLY_LIMIT, *, budget: float | None = None
) -> int:
    """Apply up to `limit` pending events in id order in one transaction; returns how many.
    If the batch fails, its events are applied one at a time (an event that fails alone is
    marked `failed` with the error)."""
    try:
        with transaction(factory) as session:
            if not take_apply_lock(session):
                return 0
            return Applier(session).apply_pending(limit, budget_seconds=budget)
    except OperationalError:
        raise  # the database, not the events: they stay pending
    except Exception as exc:
        log.warning("ingest.batch_failed", error=str(exc))
    return _one_at_a_time(factory, limit)


def _one_at_a_time(factory: sessionmaker[Session], limit: int) -> int:
    done = 0
    while done < limit:
        event_id: int | None = None
        try:
            with transaction(factory) as session:
                if not take_apply_lock(session):
                    return done
                event = session.scalar(select(Event).where(PENDING).order_by(Event.id).limit(1))
                if event is None:
                    return done
                event_id = event.id
                Applier(session).apply_all([event])
        except OperationalError:
            raise
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
        while apply_batch(factory) > 0:
            pass
        if pending_count(factory) == 0:
            return
        if time.monotonic() > deadline:
            raise TimeoutError("pending events were not applied in time")
        time.sleep(0.02)


class EventWriter:
    """Commits what the inbox holds and applies pending events, one step at a time."""

    def __init__(
        self,
        factory: sessionmaker[Session],
        inbox: Inbox,
        *,
        apply_seconds: float = APPLY_SECONDS,
    ) -> None:
        # Accepted events are on disk before their 2xx (SQLite synchronous=FULL; PostgreSQL's
        # default synchronous_commit). Applying alone can be redone after a crash, so it skips
        # its own fsync; the next durable commit covers it on SQLite's one log.
        engine = factory.kw["bind"]
        self.durable = factory
        self.relaxed = rebind(
            factory, engine.execution_options(sqlite_synchronous="NORMAL", pg_async_commit=True)
        )
        self.reader = rebind(factory, engine.execution_options(sqlite_begin="DEFERRED"))
        self.inbox = inbox
        self.apply_seconds = apply_seconds
        self._pending = False  # known to wait: apply at once
        self._next_look = 0.0  # when to look (a read) for events another process stored
        self._insert = insert(table_of(Event))

    # -- the engine's Work -------------------------------------------------------------------

    def start(self) -> None:
        pass

    def step(self) -> bool:
        batch = self.inbox.take()
        if batch:
            self.write(batch)
            return True
        if not self._pending and time.monotonic() >= self._next_look:
            self._next_look = time.monotonic() + LOOK_SECONDS
            self._pending = self._anything_pending()
        if self._pending:
            applied = apply_batch(self.relaxed, budget=self.apply_seconds)
            self._pending = applied > 0
            return applied > 0
        return False

    def _anything_pending(self) -> bool:
        """Whether any event waits to be applied: a read, taking no write lock."""
        with self.reader() as session:
            return session.execute(select(Event.id).where(PENDING).limit(1)).first() is not None

    def due_in(self) -> float | None:
        if self.inbox.has_work or self._pending:
            return 0.0
        return max(0.0, self._next_look - time.monotonic())

    def close(self) -> None:
        """Write what the inbox still holds (it refuses new rows by now)."""
        while batch := self.inbox.take():
            self.write(batch)

    # -- writing -----------------------------------------------------------------------------

    def write(self, batch: list[Any]) -> None:
        """Commit a batch of submissions (applying what it may), then answer them."""
        # Copies: settling repeats fills them in, and a failed transaction must not leave the
        # originals looking applied.
        rows = [dict(row) for submission in batch for row in submission.rows]
        try:
            with transaction(self.durable) as session:
                applier = Applier(session) if take_apply_lock(session) else None
                settled = False
                if applier is not None:
                    applier.settle_new(rows)  # repeats are stored already applied
                    settled = applier.caught_up
                session.execute(self._insert, rows)
                if applier is not None and not settled:
                    applier.apply_pending(APPLY_LIMIT, budget_seconds=self.apply_seconds)
                elif applier is not None:
                    applier.finish()  # what settling counted
                self._pending = applier is None or not applier.caught_up
        except Exception as exc:
            log.warning("ingest.write_and_apply_failed", error=str(exc), events=len(rows))
            self._write_alone(batch)
            return
        self.inbox.done(batch)

    def _write_alone(self, batch: list[Any]) -> None:
        """Store the batch pending, as it came (a later step applies it)."""
        rows = [row for submission in batch for row in submission.rows]
        try:
            with transaction(self.durable) as session:
                session.execute(self._insert, rows)
        except Exception as exc:
            log.error("ingest.write_failed", error=str(exc), events=len(rows))
            self.inbox.done(batch, exc)
            return
        self._pending = True
        self.inbox.done(batch)
