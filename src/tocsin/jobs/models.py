"""ORM models for queued jobs and for the probe job's record of its runs."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from tocsin.db import Base, utcnow

QUEUED, RUNNING, DONE, FAILED, CANCELLED = "queued", "running", "done", "failed", "cancelled"
STATES = (QUEUED, RUNNING, DONE, FAILED, CANCELLED)


class Job(Base):
    __tablename__ = "jobs"
    __table_args__ = (
        Index("ix_jobs_due", "state", "run_at"),
        # NULL keys never collide, so only jobs queued with a key are deduplicated.
        Index("ix_jobs_key", "key", unique=True),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(64))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # Idempotency key: a second enqueue with the same key queues nothing.
    key: Mapped[str | None] = mapped_column(String(200), default=None)
    # queued -> running -> done | failed (queued again while attempts remain); queued ->
    # cancelled
    state: Mapped[str] = mapped_column(String(16), default=QUEUED)
    run_at: Mapped[datetime] = mapped_column(default=utcnow)
    attempts: Mapped[int] = mapped_column(default=0)
    leased_by: Mapped[str | None] = mapped_column(String(64), default=None)
    lease_expires_at: Mapped[datetime | None] = mapped_column(default=None)
    # When the latest attempt started (lateness is started_at - run_at).
    started_at: Mapped[datetime | None] = mapped_column(default=None)
    last_error: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(default=None)


class JobProbeRun(Base):
    """One committed run of a `jobs.probe` job. No unique constraint on purpose: a job that
    ran twice would show as two rows (the multi-worker tests count them)."""

    __tablename__ = "job_probe_runs"
    __table_args__ = (Index("ix_job_probe_runs_token", "token"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    token: Mapped[str] = mapped_column(String(64))
    job_id: Mapped[int]
    attempt: Mapped[int]
    worker: Mapped[str] = mapped_column(String(64))
    queued_at: Mapped[datetime]
    ran_at: Mapped[datetime] = mapped_column(default=utcnow)
