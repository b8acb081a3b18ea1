"""Runs queued jobs, each in its own transaction, under a lease other workers respect.

One `Worker` per process: a dispatcher thread claims due jobs (several per round trip, up to
the free slots) and hands them to `concurrency` runner threads. It sleeps until the earliest
`run_at` of the queue, the poll interval, or a wake-up (a job committed in this process, or
`NOTIFY tocsin_jobs` on PostgreSQL), whichever comes first. A lease renewer keeps the leases
of running jobs alive; a job whose worker died is taken over once its lease expires.
"""

from __future__ import annotations

import os
import queue as queue_module
import secrets
import socket
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

import structlog
from sqlalchemy import event, func, or_, select, text, update
from sqlalchemy.orm import Session, sessionmaker

from tocsin.db import UTCDateTime, rebind, transaction, utcnow
from tocsin.jobs import wake
from tocsin.jobs.models import DONE, FAILED, QUEUED, RUNNING, Job
from tocsin.jobs.queue import enqueue
from tocsin.jobs.registry import CURRENT_RUN, JobKind, JobRegistry, RunInfo

log = structlog.get_logger("tocsin.worker")


class JobMetricsSink(Protocol):
    """Where a worker reports what it does (observability.metrics.JobMetrics)."""

    def job_started(self, kind: str, lateness_seconds: float) -> None: ...
    def job_finished(self, kind: str, outcome: str, seconds: float) -> None: ...
    def job_timed_out(self, kind: str) -> None: ...


class LeaseLost(Exception):
    """The job's lease went to another worker before this run committed."""


@dataclass(frozen=True)
class Claimed:
    id: int
    kind: str
    payload: dict[str, Any]
    attempts: int
    run_at: datetime
    claimed_at: datetime


@dataclass
class _Running:
    job: Claimed
    started: float
    timeout: float
    timed_out: bool = False


def default_name() -> str:
    return f"{socket.gethostname()[:40]}:{os.getpid()}:{secrets.token_hex(2)}"


class Worker:
    def __init__(
        self,
        factory: sessionmaker[Session],
        registry: JobRegistry,
        *,
        lease_seconds: int = 60,
        poll_seconds: float = 0.5,
        concurrency: int = 1,
        name: str | None = None,
        metrics: JobMetricsSink | None = None,
        listen: bool = True,
        write_turn: Callable[[], AbstractContextManager[Any]] | None = None,
    ) -> None:
        engine = factory.kw["bind"]
        self.engine = engine
        # The worker's commits skip their own fsync (SQLite: synchronous=NORMAL in WAL;
        # PostgreSQL: synchronous_commit=off). A machine crash can then lose the last few,
        # each whole: a lost claim leaves its job queued, a lost run leaves it to run again,
        # which at-least-once delivery allows. The database stays consistent either way.
        self.factory = rebind(factory, engine.execution_options(sqlite_synchronous="NORMAL"))
        self._turns: _TurnsOnBegin | None = None
        if engine.dialect.name == "sqlite":
            # One writer: the worker's transactions take turns in-process from their first
            # statement to their end (waiting on a lock is prompt where SQLite's busy handler
            # sleeps in growing steps). The embedded worker shares the ingestion's turn, so
            # accepting events still goes first.
            if write_turn is None:
                lock = threading.Lock()
                write_turn = lambda: lock  # noqa: E731
            self._turns = _TurnsOnBegin(self.factory, write_turn)
        elif engine.dialect.name == "postgresql":
            # Likewise on PostgreSQL: the worker's commits do not wait for their WAL flush.
            event.listen(self.factory.kw["bind"], "begin", _asynchronous_commit)
        self.registry = registry
        self.lease = timedelta(seconds=lease_seconds)
        self.poll_seconds = poll_seconds
        self.concurrency = max(1, concurrency)
        self.name = (name or default_name())[:64]
        self.metrics = metrics
        self.listen = listen
        self.is_postgres = self.engine.dialect.name == "postgresql"
        # Reads that decide whether to claim must not take SQLite's write lock.
        self._reader = rebind(factory, self.engine.execution_options(sqlite_begin="DEFERRED"))
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._lock = threading.Lock()
        self._running: dict[int, _Running] = {}
        self._busy = 0
        self._ensured: dict[str, datetime] = {}
        self.listener: wake.Listener | None = None

    @contextmanager
    def _write(self) -> Iterator[Session]:
        try:
            with transaction(self.factory) as session:
                yield session
        finally:
            if self._turns is not None:
                self._turns.release()  # in case the transaction ended without an event

    # -- claiming ----------------------------------------------------------------------------

    def claim_many(self, limit: int) -> list[Claimed]:
        """Lease up to `limit` due jobs in one statement: queued and due, or running with an
        expired lease (their worker died)."""
        now = utcnow()
        due = (
            select(Job.id)
            .where(
                or_(
                    (Job.state == QUEUED) & (Job.run_at <= now),
                    (Job.state == RUNNING) & (Job.lease_expires_at < now),
                )
            )
            .order_by(Job.run_at, Job.id)
            .limit(limit)
            # PostgreSQL: concurrent workers skip rows another one is claiming.
            # SQLite ignores this; its single writer lock serialises claims instead.
            .with_for_update(skip_locked=True)
        )
        with self._write() as session:
            rows = session.execute(
                update(Job)
                .where(Job.id.in_(due))
                .values(
                    state=RUNNING,
                    leased_by=self.name,
                    lease_expires_at=now + self.lease,
                    attempts=Job.attempts + 1,
                    started_at=now,
                )
                .returning(Job.id, Job.kind, Job.payload, Job.attempts, Job.run_at)
                .execution_options(synchronize_session=False)
            ).all()
        claimed = [Claimed(r[0], r[1], dict(r[2] or {}), r[3], r[4], now) for r in rows]
        claimed.sort(key=lambda c: (c.run_at, c.id))
        return claimed

    def claim(self) -> Claimed | None:
        """Lease one due job."""
        found = self.claim_many(1)
        return found[0] if found else None

    def next_wakeup(self) -> datetime | None:
        """When something is next due: the earliest queued run_at or lease expiry."""
        with self._reader() as session:
            queued = select(func.min(Job.run_at)).where(Job.state == QUEUED).scalar_subquery()
            leases = (
                select(func.min(Job.lease_expires_at)).where(Job.state == RUNNING).scalar_subquery()
            )
            first, lease = session.execute(select(queued, leases)).one()
        # SQLite returns the aggregate as text; read it back through the column type.
        times = [_as_utc(t) for t in (first, lease) if t is not None]
        return min(times) if times else None

    # -- running -----------------------------------------------------------------------------

    def run_job(self, job: Claimed) -> str:
        """Run one claimed job; returns its outcome (done, retry, failed, lease_lost)."""
        kind = self.registry.get(job.kind)
        bound = log.bind(job_id=job.id, job_kind=job.kind, attempt=job.attempts)
        if self.metrics is not None:
            late = (utcnow() - job.run_at).total_seconds()
            self.metrics.job_started(job.kind, max(0.0, late))
        if kind is None:
            self._finish(job, state=FAILED, error=f"unknown job kind {job.kind!r}")
            bound.error("job.unknown_kind")
            return self._report(job.kind, "failed", 0.0)
        if job.attempts > kind.max_attempts:
            error = (
                f"gave up after {job.attempts - 1} attempts; the last did not finish "
                "(its worker died or the run timed out)"
            )
            self._finish(job, state=FAILED, error=error)
            bound.error("job.failed", error=error)
            return self._report(job.kind, "failed", 0.0)
        started = time.monotonic()
        with self._lock:
            self._running[job.id] = _Running(job, started, kind.timeout_seconds)
        try:
            outcome = self._execute(job, kind, bound)
        finally:
            with self._lock:
                self._running.pop(job.id, None)
        return self._report(job.kind, outcome, time.monotonic() - started)

    def _execute(self, job: Claimed, kind: JobKind, bound: Any) -> str:
        token = CURRENT_RUN.set(RunInfo(job.id, job.kind, job.attempts, self.name, job.run_at))
        try:
            return self._execute_in(job, kind, bound)
        finally:
            CURRENT_RUN.reset(token)

    def _execute_in(self, job: Claimed, kind: JobKind, bound: Any) -> str:
        try:
            with self._write() as session:
                if self.is_postgres:
                    ms = max(1, int(kind.timeout_seconds * 1000))
                    session.execute(text(f"SET LOCAL statement_timeout = {ms}"))
                kind.handler(session, dict(job.payload))
                marked = session.execute(
                    update(Job)
                    .where(*self._still_ours(job))
                    .values(state=DONE, finished_at=utcnow(), last_error="", lease_expires_at=None)
                    .execution_options(synchronize_session=False)
                )
                if marked.rowcount != 1:  # type: ignore[attr-defined]
                    raise LeaseLost()
            bound.info("job.done")
            return "done"
        except LeaseLost:
            bound.warning("job.lease_lost", note="another worker took it over; rolled back")
            return "lease_lost"
        except Exception as exc:  # a failing job must never stop the worker
            error = "".join(traceback.format_exception_only(exc)).strip()
            if job.attempts >= kind.max_attempts:
                self._finish(job, state=FAILED, error=error)
                bound.error("job.failed", error=error)
                return "failed"
            delay = timedelta(seconds=kind.backoff(job.attempts))
            self._finish(job, state=QUEUED, error=error, run_at=utcnow() + delay)
            bound.warning("job.retry", error=error, retry_in=delay.total_seconds())
            return "retry"

    def _still_ours(self, job: Claimed) -> list[Any]:
        return [
            Job.id == job.id,
            Job.state == RUNNING,
            Job.leased_by == self.name,
            Job.attempts == job.attempts,
        ]

    def _report(self, kind: str, outcome: str, seconds: float) -> str:
        if self.metrics is not None:
            self.metrics.job_finished(kind, outcome, seconds)
        return outcome

    def _finish(
        self, job: Claimed, *, state: str, error: str, run_at: datetime | None = None
    ) -> None:
        values: dict[str, object] = {
            "state": state,
            "last_error": error[:4000],
            "lease_expires_at": None,
        }
        if state == QUEUED:
            values["leased_by"] = None
        if run_at is not None:
            values["run_at"] = run_at
        if state == FAILED:
            values["finished_at"] = utcnow()
        with self._write() as session:
            session.execute(
                update(Job)
                .where(*self._still_ours(job))
                .values(**values)
                .execution_options(synchronize_session=False)
            )

    def run_one(self) -> bool:
        """Claim and run a single job. Returns False when nothing was due."""
        job = self.claim()
        if job is None:
            return False
        self.run_job(job)
        return True

    def run_until_idle(self, limit: int = 1000) -> int:
        """Run due jobs one after another until none is left (tests, `tocsin worker --once`).
        Periodic jobs are not queued here; `schedule_periodic` does that."""
        count = 0
        with self._renewing():
            while count < limit and self.run_one():
                count += 1
        return count

    # -- periodic jobs -----------------------------------------------------------------------

    def schedule_periodic(self, now: datetime | None = None) -> int:
        """Queue the current and next slot of every periodic job not yet queued by this
        worker (other workers' copies are absorbed by the idempotency key). Returns how many
        kinds were checked against the database."""
        now = now or utcnow()
        todo = [p for p in self.registry.periodic if self._ensured.get(p.kind) != p.slot(now)]
        if not todo:
            return 0
        with self._write() as session:
            for periodic in todo:
                slot = periodic.slot(now)
                for start in (slot, slot + periodic.every):
                    payload = {**periodic.payload, "slot": start.isoformat()}
                    enqueue(session, periodic.kind, payload, run_at=start, key=periodic.key(start))
        for periodic in todo:
            self._ensured[periodic.kind] = periodic.slot(now)
        return len(todo)

    # -- leases ------------------------------------------------------------------------------

    def renew_leases(self) -> int:
        """Extend the leases of this worker's running jobs, except those past their timeout
        (reported once, then left to expire so another worker retries them)."""
        now = time.monotonic()
        with self._lock:
            running = list(self._running.values())
        keep = []
        for item in running:
            if now - item.started > item.timeout:
                if not item.timed_out:
                    item.timed_out = True
                    log.error(
                        "job.timeout",
                        job_id=item.job.id,
                        job_kind=item.job.kind,
                        timeout_seconds=item.timeout,
                    )
                    if self.metrics is not None:
                        self.metrics.job_timed_out(item.job.kind)
                continue
            keep.append(item.job)
        if not keep:
            return 0
        with self._write() as session:
            result = session.execute(
                update(Job)
                .where(
                    Job.id.in_([j.id for j in keep]),
                    Job.state == RUNNING,
                    Job.leased_by == self.name,
                )
                .values(lease_expires_at=utcnow() + self.lease)
                .execution_options(synchronize_session=False)
            )
        return int(result.rowcount or 0)  # type: ignore[attr-defined]

    @contextmanager
    def _renewing(self) -> Iterator[None]:
        stop = threading.Event()
        every = max(0.5, self.lease.total_seconds() / 3)

        def run() -> None:
            while not stop.wait(every):
                try:
                    self.renew_leases()
                except Exception as exc:  # the database is back soon, or the lease expires
                    log.warning("worker.renew_failed", error=str(exc))

        thread = threading.Thread(target=run, name="tocsin-job-leases", daemon=True)
        thread.start()
        try:
            yield
        finally:
            stop.set()
            thread.join(timeout=5)

    # -- the loop ----------------------------------------------------------------------------

    def wake(self) -> None:
        self._wake.set()

    def run_forever(self) -> None:
        """Run jobs until `stop()`: `concurrency` at a time, each as soon as it is due."""
        log.info("worker.started", worker=self.name, concurrency=self.concurrency)
        jobs: queue_module.Queue[Claimed | None] = queue_module.Queue()
        runners = [
            threading.Thread(target=self._runner, args=(jobs,), name=f"tocsin-job-{i}", daemon=True)
            for i in range(self.concurrency)
        ]
        for runner in runners:
            runner.start()
        unsubscribe = wake.subscribe(self.engine, self.wake)
        if self.is_postgres and self.listen:
            self.listener = wake.Listener(self.engine, self.wake)
            self.listener.start()
        try:
            with self._renewing():
                self._dispatch(jobs)
        finally:
            unsubscribe()
            if self.listener is not None:
                self.listener.stop()
            for _ in runners:
                jobs.put(None)
            deadline = time.monotonic() + 30
            for runner in runners:  # let running jobs finish; a stuck one is left to its lease
                runner.join(timeout=max(0.0, deadline - time.monotonic()))
            log.info("worker.stopped", worker=self.name)

    def _dispatch(self, jobs: queue_module.Queue[Claimed | None]) -> None:
        backlog = False  # the last claim filled every free slot: more are likely due
        while not self._stop.is_set():
            self._wake.clear()
            timeout = self.poll_seconds
            try:
                self.schedule_periodic()
                with self._lock:
                    free = self.concurrency - self._busy
                if free > 0:
                    now = utcnow()
                    due = None if backlog else self.next_wakeup()
                    if backlog or (due is not None and due <= now):
                        claimed = self.claim_many(free)
                        backlog = len(claimed) == free
                        with self._lock:
                            self._busy += len(claimed)
                        for job in claimed:
                            jobs.put(job)
                        if claimed:
                            continue  # more may be due: look again at once
                        # Nothing after all: another worker took them; look again soon.
                        timeout = 0.0 if due is None else min(self.poll_seconds, 0.05)
                    elif due is not None:
                        timeout = min(self.poll_seconds, (due - now).total_seconds())
            except Exception as exc:  # database briefly unavailable: wait and try again
                log.error("worker.claim_failed", error=str(exc))
                backlog = False
                timeout = max(self.poll_seconds, 1.0)
            self._wake.wait(max(0.0, timeout))

    def _runner(self, jobs: queue_module.Queue[Claimed | None]) -> None:
        while True:
            job = jobs.get()
            if job is None:
                return
            try:
                self.run_job(job)
            except Exception as exc:  # the database failed while recording the outcome
                log.error("job.not_recorded", job_id=job.id, error=str(exc))
            finally:
                with self._lock:
                    self._busy -= 1
                self._wake.set()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()

    def start_thread(self) -> threading.Thread:
        thread = threading.Thread(target=self.run_forever, name="tocsin-worker", daemon=True)
        thread.start()
        return thread


def _asynchronous_commit(conn: Any) -> None:
    conn.exec_driver_sql("SET LOCAL synchronous_commit = off")


class _TurnsOnBegin:
    """Take `turn` when a transaction of these sessions begins on the database (its first
    statement: a handler's work before that runs alongside others), and give it back once it
    has committed or rolled back."""

    def __init__(
        self, factory: sessionmaker[Session], turn: Callable[[], AbstractContextManager[Any]]
    ) -> None:
        self._turn = turn
        self._held = threading.local()
        # Listeners local to the worker's own engine options and sessions.
        event.listen(factory.kw["bind"], "begin", self._begin)
        event.listen(factory, "after_commit", self._end)
        event.listen(factory, "after_rollback", self._end)

    def _begin(self, conn: Any) -> None:
        self.release()
        held = self._turn()
        held.__enter__()
        self._held.turn = held

    def _end(self, session: Session) -> None:
        self.release()

    def release(self) -> None:
        held = getattr(self._held, "turn", None)
        if held is not None:
            self._held.turn = None
            held.__exit__(None, None, None)


def _as_utc(value: Any) -> datetime:
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    result = UTCDateTime().process_result_value(value, None)
    assert result is not None
    return result
