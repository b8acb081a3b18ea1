"""Runs queued jobs, each in its own transaction, under a lease other workers respect."""

from __future__ import annotations

import os
import socket
import threading
import traceback
from datetime import timedelta

import structlog
from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from tocsin.db import transaction, utcnow
from tocsin.jobs.models import Job
from tocsin.jobs.registry import JobRegistry

log = structlog.get_logger("tocsin.worker")


class Worker:
    def __init__(
        self,
        factory: sessionmaker[Session],
        registry: JobRegistry,
        *,
        lease_seconds: int = 60,
        poll_seconds: float = 1.0,
        name: str | None = None,
    ) -> None:
        self.factory = factory
        self.registry = registry
        self.lease = timedelta(seconds=lease_seconds)
        self.poll_seconds = poll_seconds
        self.name = name or f"{socket.gethostname()}:{os.getpid()}:{threading.get_ident()}"
        self._stop = threading.Event()

    def claim(self) -> Job | None:
        """Lease one due job: queued and due, or running with an expired lease (dead worker)."""
        now = utcnow()
        with transaction(self.factory) as session:
            due = (
                select(Job.id)
                .where(
                    or_(
                        (Job.state == "queued") & (Job.run_at <= now),
                        (Job.state == "running") & (Job.lease_expires_at < now),
                    )
                )
                .order_by(Job.run_at, Job.id)
                .limit(1)
                # PostgreSQL: concurrent workers skip rows another one is claiming.
                # SQLite ignores this; its single writer lock serialises claims instead.
                .with_for_update(skip_locked=True)
            )
            job_id = session.scalar(due)
            if job_id is None:
                return None
            session.execute(
                update(Job)
                .where(Job.id == job_id)
                .values(
                    state="running",
                    leased_by=self.name,
                    lease_expires_at=now + self.lease,
                    attempts=Job.attempts + 1,
                )
            )
            return session.get(Job, job_id)

    def run_one(self) -> bool:
        """Claim and run a single job. Returns False when nothing was due."""
        job = self.claim()
        if job is None:
            return False
        kind = self.registry.get(job.kind)
        bound = log.bind(job_id=job.id, job_kind=job.kind, attempt=job.attempts)
        if kind is None:
            self._finish(job.id, state="failed", error=f"unknown job kind {job.kind!r}")
            bound.error("job.unknown_kind")
            return True
        try:
            with transaction(self.factory) as session:
                kind.handler(session, dict(job.payload))
                session.execute(
                    update(Job)
                    .where(Job.id == job.id, Job.leased_by == self.name)
                    .values(state="done", finished_at=utcnow(), last_error="")
                )
            bound.info("job.done")
        except Exception as exc:  # a failing job must never stop the worker
            error = "".join(traceback.format_exception_only(exc)).strip()
            if job.attempts >= kind.max_attempts:
                self._finish(job.id, state="failed", error=error)
                bound.error("job.failed", error=error)
            else:
                delay = timedelta(seconds=kind.backoff(job.attempts))
                self._finish(job.id, state="queued", error=error, run_at=utcnow() + delay)
                bound.warning("job.retry", error=error, retry_in=delay.total_seconds())
        return True

    def _finish(self, job_id: int, *, state: str, error: str, run_at=None) -> None:  # type: ignore[no-untyped-def]
        values: dict[str, object] = {
            "state": state,
            "last_error": error[:4000],
            "leased_by": None,
            "lease_expires_at": None,
        }
        if run_at is not None:
            values["run_at"] = run_at
        if state == "failed":
            values["finished_at"] = utcnow()
        with transaction(self.factory) as session:
            session.execute(update(Job).where(Job.id == job_id).values(**values))

    def run_until_idle(self, limit: int = 1000) -> int:
        """Run due jobs until none is left (tests, `tocsin worker --once`)."""
        count = 0
        while count < limit and self.run_one():
            count += 1
        return count

    def run_forever(self) -> None:
        log.info("worker.started", worker=self.name)
        while not self._stop.is_set():
            try:
                busy = self.run_one()
            except Exception:  # database briefly unavailable: wait and try again
                log.exception("worker.claim_failed")
                busy = False
            if not busy:
                self._stop.wait(self.poll_seconds)
        log.info("worker.stopped", worker=self.name)

    def stop(self) -> None:
        self._stop.set()

    def start_thread(self) -> threading.Thread:
        thread = threading.Thread(target=self.run_forever, name="tocsin-worker", daemon=True)
        thread.start()
        return thread
