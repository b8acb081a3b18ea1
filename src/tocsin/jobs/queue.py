"""Writing and changing jobs. Callers enqueue inside their own transaction; nothing runs
until it commits, and a rollback discards the job with the change that caused it.

Delivery is at least once: a job runs again if its worker dies (or loses its lease) before
committing the job's transaction. Whatever a handler writes to the database is in that
transaction, so it happens once; anything it does outside (an email, an HTTP call) can
happen twice, and must be made idempotent by the handler (for example with a key the
receiver deduplicates on, or a database row written before sending and checked after).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from tocsin.db import rows_affected, utcnow
from tocsin.errors import Conflict, NotFound, ValidationFailed
from tocsin.jobs.models import CANCELLED, FAILED, QUEUED, Job
from tocsin.jobs.wake import job_written

KEY_MAX = 200


def enqueue(
    session: Session,
    kind: str,
    payload: dict[str, Any],
    *,
    run_at: datetime | None = None,
    key: str | None = None,
) -> Job:
    """Queue a job in the caller's transaction, to run at `run_at` (now by default).

    With a `key`, the job is queued only if no job with that key exists yet (in any state,
    until finished jobs are purged after `job_retention_days`); otherwise nothing is written
    and the existing job is returned unchanged. Compare `job.kind`/`job.payload` or check
    `job.state` if that matters to the caller. Concurrent transactions enqueueing the same
    key are safe: one inserts, the others get its job once it commits. Nothing is ever
    raised for a duplicate, and the caller's transaction is never broken by one.
    """
    when = run_at or utcnow()
    if when.tzinfo is None:
        raise ValidationFailed("run_at must be an aware datetime", field="run_at")
    if key is None:
        job = Job(kind=kind, payload=payload, run_at=when)
        session.add(job)
        job_written(session)
        return job
    if not key or len(key) > KEY_MAX:
        raise ValidationFailed(f"a job key is 1 to {KEY_MAX} characters", field="key")
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    values = {
        "kind": kind,
        "payload": payload,
        "key": key,
        "run_at": when,
        "state": QUEUED,
        "attempts": 0,
        "last_error": "",
        "created_at": utcnow(),
    }
    statement = (
        insert(Job)
        .values(**values)
        .on_conflict_do_nothing(index_elements=["key"])
        .returning(Job.id)
    )
    new_id = session.execute(statement).scalar()
    if new_id is not None:
        job_written(session)
        found = session.get(Job, new_id)
    else:
        found = session.scalar(select(Job).where(Job.key == key))
    assert found is not None  # inserted, or the conflicting row committed before we read
    return found


def cancel(
    session: Session,
    *,
    kind: str | None = None,
    key_prefix: str | None = None,
    payload: Mapping[str, str | int] | None = None,
    reason: str = "cancelled",
) -> int:
    """Cancel queued jobs (including ones waiting for a retry) that match every filter given:
    `kind`, a key starting with `key_prefix`, and/or `payload` fields equal to the values
    given (strings or integers). Returns how many were cancelled.

    A job already running is not interrupted: its handler must check the state it acts on
    (for example, a page for an incident acknowledged meanwhile sends nothing). At least
    one filter is required.
    """
    if kind is None and not key_prefix and not payload:
        raise ValidationFailed("say which jobs to cancel", field="kind")
    conditions = [Job.state == QUEUED]
    if kind is not None:
        conditions.append(Job.kind == kind)
    if key_prefix:
        escaped = key_prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        conditions.append(Job.key.like(escaped + "%", escape="\\"))
    for name, value in (payload or {}).items():
        field = Job.payload[name]
        if isinstance(value, bool) or not isinstance(value, int | str):
            raise ValidationFailed("payload values to match are strings or integers", field=name)
        conditions.append(
            field.as_integer() == value if isinstance(value, int) else field.as_string() == value
        )
    result = session.execute(
        update(Job)
        .where(*conditions)
        .values(state=CANCELLED, finished_at=utcnow(), last_error=reason[:4000])
        .execution_options(synchronize_session=False)
    )
    return rows_affected(result)


def cancel_job(session: Session, job_id: int, *, reason: str = "cancelled") -> Job:
    """Cancel one queued job."""
    job = session.get(Job, job_id)
    if job is None:
        raise NotFound(f"no job {job_id}")
    if job.state != QUEUED:
        raise Conflict(f"job {job_id} is {job.state}; only queued jobs can be cancelled")
    job.state = CANCELLED
    job.finished_at = utcnow()
    job.last_error = reason[:4000]
    session.flush()
    return job


def retry(session: Session, job_id: int) -> Job:
    """Queue a failed or cancelled job again, to run now with a fresh count of attempts."""
    job = session.get(Job, job_id)
    if job is None:
        raise NotFound(f"no job {job_id}")
    if job.state not in (FAILED, CANCELLED):
        raise Conflict(f"job {job_id} is {job.state}; only failed or cancelled jobs are retried")
    job.state = QUEUED
    job.attempts = 0
    job.run_at = utcnow()
    job.finished_at = None
    job.leased_by = None
    job.lease_expires_at = None
    session.flush()
    job_written(session)
    return job


def queued_count(session: Session, kind: str | None = None) -> int:
    query = select(func.count(Job.id)).where(Job.state == QUEUED)
    if kind is not None:
        query = query.where(Job.kind == kind)
    return int(session.scalar(query) or 0)
