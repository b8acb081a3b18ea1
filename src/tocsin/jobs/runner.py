"""Running queued jobs: the engine's `Work` for the job queue.

A step claims due jobs one after another and runs each handler in the transaction that
claimed it: the claim is the row's lock (`FOR UPDATE SKIP LOCKED` on PostgreSQL; SQLite's
single writer), so a process that dies mid-run rolls back and leaves its jobs queued, and no
lease is needed. One transaction holds the jobs of one step (at most BATCH_LIMIT, for about
STEP_SECONDS), each handler in its own savepoint: a failing handler is rolled back to it and
its job is queued again with backoff (or failed after its attempts), while the others commit.
Sharing the transaction shares what the jobs read (the policy, the schedule, the person
paged), and the commit.

A handler that must reach the outside world returns a `Send` (see registry.py): its
transaction commits with the job still running and leased until the kind's timeout, the
send is performed in one of this runner's I/O threads, and its outcome is recorded and the
job marked done in a later step. A job whose lease expired (its process died mid-send) is
claimed again like a due one.

Periodic jobs are queued by every runner for the current and the next slot, once each
(their idempotency key absorbs the copies of other runners).
"""

from __future__ import annotations

import collections
import concurrent.futures
import os
import secrets
import socket
import threading
import time
import traceback
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

import structlog
from sqlalchemy import func, or_, select, text, update
from sqlalchemy.orm import Session, sessionmaker

from tocsin.db import UTCDateTime, rebind, transaction, utcnow
from tocsin.jobs import wake
from tocsin.jobs.engine import STEP_SECONDS
from tocsin.jobs.models import DONE, FAILED, QUEUED, RUNNING, Job
from tocsin.jobs.queue import enqueue
from tocsin.jobs.registry import CURRENT_RUN, JobKind, JobRegistry, RunInfo, Send

log = structlog.get_logger("tocsin.jobs")

# Jobs one step runs, or sends it records, in one transaction at most.
BATCH_LIMIT = 50


class JobMetricsSink(Protocol):
    """Where a runner reports what it does (observability.metrics.JobMetrics)."""

    def job_started(self, kind: str, lateness_seconds: float) -> None: ...
    def job_finished(self, kind: str, outcome: str, seconds: float) -> None: ...
    def job_timed_out(self, kind: str) -> None: ...


@dataclass(frozen=True)
class Claimed:
    id: int
    kind: str
    payload: dict[str, Any]
    attempts: int
    run_at: datetime


@dataclass
class _Sent:
    """A send under way in an I/O thread, then waiting to be recorded."""

    job: Claimed
    send: Send
    started: float
    timeout: float
    result: Any = None
    error: BaseException | None = None
    timed_out: bool = False


def default_name() -> str:
    return f"{socket.gethostname()[:40]}:{os.getpid()}:{secrets.token_hex(2)}"


def _as_utc(value: Any) -> datetime | None:
    """An aggregate's value (SQLite returns text) as an aware UTC datetime."""
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return UTCDateTime().process_result_value(value, None)


class JobRunner:
    """Claims and runs due jobs, a step's worth per transaction; performs their sends in I/O
    threads."""

    def __init__(
        self,
        factory: sessionmaker[Session],
        registry: JobRegistry,
        *,
        name: str | None = None,
        io_threads: int = 8,
        lease_seconds: float = 60.0,
        poll_seconds: float = 0.5,
        metrics: JobMetricsSink | None = None,
        listen: bool = True,
    ) -> None:
        engine = factory.kw["bind"]
        # Job transactions skip their own fsync (SQLite: synchronous=NORMAL in WAL;
        # PostgreSQL: synchronous_commit=off). A machine crash can then lose the last few,
        # each whole: a lost run leaves its job to run again, which at-least-once allows.
        self.factory = rebind(
            factory, engine.execution_options(sqlite_synchronous="NORMAL", pg_async_commit=True)
        )
        self._reader = rebind(factory, engine.execution_options(sqlite_begin="DEFERRED"))
        self.engine = engine
        self.is_postgres = engine.dialect.name == "postgresql"
        self.registry = registry
        self.name = (name or default_name())[:64]
        self.io_threads = max(1, io_threads)
        self.lease = timedelta(seconds=lease_seconds)
        self.poll_seconds = poll_seconds
        self.metrics = metrics
        self.listen = listen
        self.on_ready: Any = lambda: None  # the engine's wake, once started
        self._pool: concurrent.futures.ThreadPoolExecutor | None = None
        self._sent: collections.deque[_Sent] = collections.deque()
        self._in_flight: dict[int, _Sent] = {}
        self._next_renewal = 0.0
        self._lock = threading.Lock()
        self._next_look = 0.0  # monotonic time at which a claim may find something
        self._wake_count = 0  # changes on every wake: a look that began before it is stale
        self._ensured: dict[str, datetime] = {}
        self._unsubscribe: Any = None
        self.listener: wake.Listener | None = None

    # -- the engine's Work -------------------------------------------------------------------

    def start(self) -> None:
        self._unsubscribe = wake.subscribe(self.engine, self.woken)
        if self.is_postgres and self.listen:
            self.listener = wake.Listener(self.engine, self.woken)
            self.listener.start()

    def woken(self) -> None:
        """A job was committed (here, or NOTIFY from elsewhere): look for due jobs now."""
        self._wake_count += 1
        self._next_look = 0.0
        self.on_ready()

    def step(self) -> bool:
        """Record the sends that finished, then run due jobs, for about STEP_SECONDS."""
        deadline = time.monotonic() + STEP_SECONDS
        recorded = self._record_batch(deadline) > 0
        if recorded and time.monotonic() > deadline:
            return True
        self.schedule_periodic()
        self._renew_if_due()
        ran = time.monotonic() >= self._next_look and self._run_batch(deadline) > 0
        return recorded or ran

    def due_in(self) -> float | None:
        if self._sent:
            return 0.0
        wait = min(self._next_look - time.monotonic(), self.poll_seconds)
        if self._in_flight:
            wait = min(wait, self._next_renewal - time.monotonic())
        return max(0.0, wait)

    def close(self) -> None:
        """Wait for the sends under way (bounded by their own timeouts) and record them."""
        if self._unsubscribe is not None:
            self._unsubscribe()
        if self.listener is not None:
            self.listener.stop()
        if self._pool is not None:
            self._pool.shutdown(wait=True)
        while self._record_batch(deadline=float("inf")):
            pass

    # -- for tests and `tocsin worker --once` --------------------------------------------------

    def run_one(self) -> bool:
        """Claim and run one due job, performing and recording its send at once."""
        self._next_look = 0.0
        return self._run_next(inline=True)

    def run_until_idle(self, limit: int = 1000) -> int:
        """Run due jobs one after another until none is left; returns how many ran. Periodic
        jobs are not queued here; `schedule_periodic` does that."""
        count = 0
        while count < limit and self.run_one():
            count += 1
        return count

    # -- claiming and running ------------------------------------------------------------------

    def _claim(self, session: Session, now: datetime) -> Job | None:
        return session.scalar(
            select(Job)
            .where(
                or_(
                    (Job.state == QUEUED) & (Job.run_at <= now),
                    (Job.state == RUNNING) & (Job.lease_expires_at < now),
                )
            )
            .order_by(Job.run_at, Job.id)
            .limit(1)
            # PostgreSQL: concurrent runners skip a row another one holds. SQLite ignores
            # it; its single writer serialises claims instead.
            .with_for_update(skip_locked=True)
        )

    def _claim_and_run(self, session: Session) -> tuple[Claimed, str, Send | None] | None:
        """Claim one due job in `session` and run it; None when none is due."""
        now = utcnow()
        job = self._claim(session, now)
        if job is None:
            return None
        claimed = Claimed(job.id, job.kind, dict(job.payload or {}), job.attempts + 1, job.run_at)
        job.attempts = claimed.attempts
        job.started_at = now
        if self.metrics is not None:
            self.metrics.job_started(job.kind, max(0.0, (now - job.run_at).total_seconds()))
        outcome, send = self._run_in(session, job, claimed)
        return claimed, outcome, send

    def _note_idle(self, wakes: int) -> None:
        """Nothing was due: note when to look again (unless a wake came meanwhile, which may
        be for a job that look could not see yet)."""
        look = time.monotonic() + self._seconds_to_next_due()
        if self._wake_count == wakes:
            self._next_look = look

    def _run_next(self, *, inline: bool) -> bool:
        """Claim one due job and run it in its own transaction; False when none is due."""
        started = time.monotonic()
        wakes = self._wake_count
        with transaction(self.factory) as session:
            ran = self._claim_and_run(session)
        if ran is None:
            self._note_idle(wakes)
            return False
        self._after_commit(*ran, started, inline=inline)
        return True

    def _run_batch(self, deadline: float) -> int:
        """Claim and run due jobs in one transaction until none is due, BATCH_LIMIT ran, the
        step's time is up or the sends would exceed the I/O threads; returns how many ran."""
        wakes = self._wake_count
        ran: list[tuple[Claimed, str, Send | None, float]] = []
        idle = False
        with self._lock:
            free = self.io_threads - len(self._in_flight)
        if free <= 0:
            return 0  # recorded sends free a thread and wake the engine
        with transaction(self.factory) as session:
            while len(ran) < BATCH_LIMIT and free > 0:
                started = time.monotonic()
                one = self._claim_and_run(session)
                if one is None:
                    idle = True
                    break
                ran.append((*one, started))
                if one[2] is not None:
                    free -= 1  # recorded sends free a thread and wake the engine
                if time.monotonic() >= deadline:
                    break
        if idle:
            self._note_idle(wakes)
        for claimed, outcome, send, started in ran:
            self._after_commit(claimed, outcome, send, started, inline=False)
        return len(ran)

    def _after_commit(
        self, claimed: Claimed, outcome: str, send: Send | None, started: float, *, inline: bool
    ) -> None:
        """A job's transaction committed: report it, or perform its send."""
        if send is None:
            self._report(claimed.kind, outcome, time.monotonic() - started)
            return
        kind = self.registry.get(claimed.kind)
        sent = _Sent(claimed, send, started, kind.timeout_seconds if kind else 0.0)
        if inline:
            self._perform(sent)
            self._record(sent)
        else:
            self._submit(sent)

    def _run_in(self, session: Session, job: Job, claimed: Claimed) -> tuple[str, Send | None]:
        """Run the handler inside the claim's transaction; returns (outcome, send)."""
        kind = self.registry.get(job.kind)
        bound = log.bind(job_id=job.id, job_kind=job.kind, attempt=claimed.attempts)
        if kind is None:
            self._fail(job, f"unknown job kind {job.kind!r}")
            bound.error("job.unknown_kind")
            return "failed", None
        if job.state == RUNNING and claimed.attempts > kind.max_attempts:
            error = f"gave up after {job.attempts - 1} attempts; the last did not finish"
            self._fail(job, error)
            bound.error("job.failed", error=error)
            return "failed", None
        if self.is_postgres:
            ms = max(1, int(kind.timeout_seconds * 1000))
            session.execute(text(f"SET LOCAL statement_timeout = {ms}"))
        token = CURRENT_RUN.set(RunInfo(job.id, job.kind, claimed.attempts, self.name, job.run_at))
        try:
            with session.begin_nested():
                send = kind.handler(session, dict(claimed.payload))
        except Exception as exc:  # a failing job must never stop the engine
            return self._failed(job, kind, exc, bound), None
        finally:
            CURRENT_RUN.reset(token)
        if send is not None:
            job.state = RUNNING
            job.leased_by = self.name
            job.lease_expires_at = utcnow() + self.lease
            return "sending", send
        self._done(job)
        bound.info("job.done")
        return "done", None

    def _failed(self, job: Job, kind: JobKind, exc: BaseException, bound: Any) -> str:
        error = "".join(traceback.format_exception_only(exc)).strip()
        if job.attempts >= kind.max_attempts:
            self._fail(job, error)
            bound.error("job.failed", error=error)
            return "failed"
        delay = timedelta(seconds=kind.backoff(job.attempts))
        job.state = QUEUED
        job.run_at = utcnow() + delay
        job.leased_by = None
        job.lease_expires_at = None
        job.last_error = error[:4000]
        bound.warning("job.retry", error=error, retry_in=delay.total_seconds())
        return "retry"

    @staticmethod
    def _fail(job: Job, error: str) -> None:
        job.state = FAILED
        job.finished_at = utcnow()
        job.last_error = error[:4000]
        job.lease_expires_at = None

    @staticmethod
    def _done(job: Job) -> None:
        job.state = DONE
        job.finished_at = utcnow()
        job.last_error = ""
        job.lease_expires_at = None

    def _seconds_to_next_due(self) -> float:
        """Until the earliest queued run_at or lease expiry (at most the poll interval)."""
        with self._reader() as session:
            queued = select(func.min(Job.run_at)).where(Job.state == QUEUED).scalar_subquery()
            leases = (
                select(func.min(Job.lease_expires_at)).where(Job.state == RUNNING).scalar_subquery()
            )
            first, lease = session.execute(select(queued, leases)).one()
        times = [t for t in (_as_utc(first), _as_utc(lease)) if t is not None]
        if not times:
            return self.poll_seconds
        return max(0.0, min(self.poll_seconds, (min(times) - utcnow()).total_seconds()))

    # -- sends ---------------------------------------------------------------------------------

    def _submit(self, sent: _Sent) -> None:
        if self._pool is None:
            self._pool = concurrent.futures.ThreadPoolExecutor(
                max_workers=self.io_threads, thread_name_prefix="tocsin-send"
            )
        with self._lock:
            if not self._in_flight:
                self._next_renewal = time.monotonic() + self.lease.total_seconds() / 3
            self._in_flight[sent.job.id] = sent
        self._pool.submit(self._perform_then_queue, sent)

    def _perform_then_queue(self, sent: _Sent) -> None:
        self._perform(sent)
        self._sent.append(sent)
        self.on_ready()

    @staticmethod
    def _perform(sent: _Sent) -> None:
        try:
            sent.result = sent.send.perform()
        except Exception as exc:  # recorded as the send's outcome
            sent.error = exc

    def _record_batch(self, deadline: float) -> int:
        """Record the sends that finished, in one transaction (each in its own savepoint),
        until none is left, BATCH_LIMIT were recorded or the step's time is up. A send stays
        in flight (so counts against the I/O threads) until its record has committed: what a
        dying process sent twice is bounded by its I/O threads."""
        recorded: list[tuple[_Sent, str]] = []
        if not self._sent:
            return 0
        try:
            with transaction(self.factory) as session:
                while len(recorded) < BATCH_LIMIT and time.monotonic() < deadline:
                    try:
                        sent = self._sent.popleft()
                    except IndexError:
                        break
                    recorded.append((sent, "not_recorded"))  # until it is
                    recorded[-1] = (sent, self._record_in(session, sent))
        except Exception as exc:  # the database failed: the leases expire, the jobs run again
            log.error("job.not_recorded", jobs=[s.job.id for s, _ in recorded], error=str(exc))
            recorded = [(sent, "not_recorded") for sent, _ in recorded]
        with self._lock:
            for sent, _ in recorded:
                self._in_flight.pop(sent.job.id, None)
        for sent, outcome in recorded:
            self._report(sent.job.kind, outcome, time.monotonic() - sent.started)
        return len(recorded)

    def _renew_if_due(self) -> None:
        """Extend the leases of the sends under way, except those past their kind's timeout
        (reported once, then left to expire so that the job runs again elsewhere)."""
        now = time.monotonic()
        if not self._in_flight or now < self._next_renewal:
            return
        self._next_renewal = now + self.lease.total_seconds() / 3
        with self._lock:
            under_way = list(self._in_flight.values())
        keep = []
        for sent in under_way:
            if now - sent.started <= sent.timeout:
                keep.append(sent.job.id)
            elif not sent.timed_out:
                sent.timed_out = True
                log.error("job.timeout", job_id=sent.job.id, job_kind=sent.job.kind,
                          timeout_seconds=sent.timeout)  # fmt: skip
                if self.metrics is not None:
                    self.metrics.job_timed_out(sent.job.kind)
        if keep:
            with transaction(self.factory) as session:
                session.execute(
                    update(Job)
                    .where(Job.id.in_(keep), Job.state == RUNNING, Job.leased_by == self.name)
                    .values(lease_expires_at=utcnow() + self.lease)
                    .execution_options(synchronize_session=False)
                )

    def _record(self, sent: _Sent) -> None:
        """Record one send's outcome in a transaction of its own."""
        try:
            with transaction(self.factory) as session:
                outcome = self._record_in(session, sent)
        except Exception as exc:  # the database failed: the lease expires, the job runs again
            outcome = "not_recorded"
            log.error("job.not_recorded", jobs=[sent.job.id], error=str(exc))
        self._report(sent.job.kind, outcome, time.monotonic() - sent.started)

    def _record_in(self, session: Session, sent: _Sent) -> str:
        """Record a send's outcome and mark its job done, if the job is still this runner's;
        returns the outcome."""
        job = sent.job
        bound = log.bind(job_id=job.id, job_kind=job.kind, attempt=job.attempts)
        token = CURRENT_RUN.set(RunInfo(job.id, job.kind, job.attempts, self.name, job.run_at))
        try:
            row = session.scalar(
                select(Job)
                .where(
                    Job.id == job.id,
                    Job.state == RUNNING,
                    Job.leased_by == self.name,
                    Job.attempts == job.attempts,
                )
                .with_for_update()
            )
            if row is None:
                bound.warning("job.lease_lost", note="its lease expired; it runs again")
                return "lease_lost"
            try:
                with session.begin_nested():
                    sent.send.record(session, sent.result, sent.error)
            except Exception as exc:
                kind = self.registry.get(job.kind)
                assert kind is not None
                return self._failed(row, kind, exc, bound)
            self._done(row)
            bound.info("job.done")
            return "done"
        finally:
            CURRENT_RUN.reset(token)

    def _report(self, kind: str, outcome: str, seconds: float) -> None:
        if self.metrics is not None:
            self.metrics.job_finished(kind, outcome, seconds)

    # -- periodic jobs -----------------------------------------------------------------------

    def schedule_periodic(self, now: datetime | None = None) -> int:
        """Queue the current and next slot of every periodic job not yet queued by this
        runner (other runners' copies are absorbed by the idempotency key). Returns how many
        kinds were checked against the database."""
        now = now or utcnow()
        todo = [p for p in self.registry.periodic if self._ensured.get(p.kind) != p.slot(now)]
        if not todo:
            return 0
        with transaction(self.factory) as session:
            for periodic in todo:
                slot = periodic.slot(now)
                for start in (slot, slot + periodic.every):
                    payload = {**periodic.payload, "slot": start.isoformat()}
                    enqueue(session, periodic.kind, payload, run_at=start, key=periodic.key(start))
        for periodic in todo:
            self._ensured[periodic.kind] = periodic.slot(now)
        return len(todo)
